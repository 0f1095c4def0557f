//! Turns `redis` client errors into [`cement::Error`]: refused, reset or dropped connections are
//! [`Error::Unavailable`], deadlines are [`Error::Timeout`], everything else is
//! [`Error::Backend`]. Every message names the server (never a password) and says what to
//! check.

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};

use cement::Error;

use super::config::{scrub, Secret};

/// The handler label, as errors name it: the one `#[cache_handler(label = ...)]` declares.
pub(crate) const BACKEND: &str =
    <super::RedisCacheHandler as cement::registry::RegisteredHandler>::LABEL;

/// What was going on when an error happened; it decides which timeout a message names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Opening a connection (TCP, TLS, handshake).
    Connect,
    /// Sending a command and reading its reply.
    Command,
}

/// What error messages may say about the server; built once per handler.
#[derive(Clone)]
pub(crate) struct ErrorContext {
    pub(crate) target: String,
    pub(crate) tls: bool,
    pub(crate) password: Option<Secret>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

impl fmt::Debug for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorContext")
            .field("target", &self.target)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

/// How an error leaves the connection it happened on.
pub(crate) fn keeps_connection(err: &RedisError) -> bool {
    // A server error reply or a reply of an unexpected type was read completely: the
    // connection is in step. Anything else (I/O, timeout, parse) may leave a half-read reply.
    // `READONLY` is the exception: the server is (now) a replica, as a primary demoted by a
    // failover is; the connection is of no further use for writes.
    !is_read_only(err)
        && matches!(
            err.kind(),
            ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
        )
}

fn is_read_only(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// Whether the error says that the connection had died before we used it (server restarted,
/// idle connection closed): then a fresh connection may well succeed.
/// A `READONLY` reply counts too: the pooled connections lead to a primary that a failover
/// demoted, and a fresh one leads to the primary the sentinels name now.
pub(crate) fn is_stale_connection(err: &RedisError) -> bool {
    (err.is_connection_dropped() && !err.is_timeout()) || is_read_only(err)
}

/// The cement error for a client error.
pub(crate) fn classify(err: &RedisError, ctx: &ErrorContext, phase: Phase) -> Error {
    let detail = scrub(&err.to_string(), ctx.password.as_ref());
    let target = &ctx.target;

    if err.is_timeout() {
        let message = match phase {
            Phase::Connect => format!(
                "no answer from {target} within connect_timeout = {:?} while connecting ({detail}); \
                 check that redis-server runs there and is reachable, or raise [cache.redis] connect_timeout",
                ctx.connect_timeout
            ),
            Phase::Command => format!(
                "{target} did not answer within response_timeout = {:?} ({detail}); the server may be \
                 hung or overloaded; raise [cache.redis] response_timeout for slow commands",
                ctx.response_timeout
            ),
        };
        return Error::timeout(BACKEND, message);
    }

    match err.kind() {
        ErrorKind::AuthenticationFailed => Error::backend(BACKEND, format!(
                "authentication to {target} failed ({detail}); check [cache.redis] username and password (or the url's)"
            )),
        ErrorKind::Server(ServerErrorKind::NoPerm) => Error::backend(BACKEND, format!(
                "{target} refused the command ({detail}); the ACL user needs access to this app's keys \
                 (its prefix) and to GET, SET, MGET, MSET, UNLINK, SCAN, EXISTS, PEXPIRE, PERSIST, \
                 EVALSHA and SCRIPT LOAD (the counters' script), and FLUSHDB for purge = \"db\""
            )),
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly,
        ) => Error::unavailable(BACKEND, format!("{target} cannot serve requests right now ({detail}); retry later")),
        // A redirection that redis-rs did not follow within its retries (its async cluster
        // client can hand one back while a failover moves the slot map): the slots are moving,
        // as during a failover or a resharding; the next calls see the new map.
        ErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask) => Error::unavailable(BACKEND, format!(
            "{target} is moving this key's slot to another node ({detail}); a failover or \
             resharding is under way; retry later"
        )),
        // A cluster whose slot map has a gap or points at a node it cannot reach: a failover
        // or resharding under way (redis-rs refreshes the map on the next calls).
        ErrorKind::ClusterConnectionNotFound => Error::unavailable(BACKEND, format!(
            "{target} has no reachable node for this key right now ({detail}); retry later"
        )),
        ErrorKind::Client if detail.contains("Missing slot coverage") => Error::unavailable(BACKEND, format!(
            "{target} has no node serving this key's slot right now ({detail}); a failover may \
             be under way; retry later"
        )),
        // redis-rs's cluster client reports nodes that refused its AUTH (or asked for one)
        // as an I/O failure to connect to each of them: a settings fault, not an outage.
        ErrorKind::Io
            if ["NOAUTH", "WRONGPASS", "AuthenticationFailed"]
                .iter()
                .any(|code| detail.contains(code)) =>
        {
            Error::backend(BACKEND, format!(
                "authentication to {target} failed ({detail}); the servers require a password: \
                 set or check [cache.redis] password (and username for an ACL user)"
            ))
        }
        // rustls refused the server's certificate (not signed by a trusted CA, or not for this
        // host): the settings are wrong, not the server down; retrying will not help.
        ErrorKind::Io if detail.contains("invalid peer certificate") => Error::backend(BACKEND, format!(
            "the TLS certificate of {target} is not trusted ({detail}); set [cache.redis] \
             tls_ca_file to the PEM file of the CA that signed the server's certificate (without it, \
             the system's root certificates are trusted), and connect by a name or IP address that \
             the certificate lists"
        )),
        ErrorKind::Io => {
            let tls_hint = if ctx.tls {
                "; for a TLS error, check that the server speaks TLS on that port and that \
                 [cache.redis] tls_ca_file holds the CA that signed its certificate"
            } else {
                ""
            };
            Error::unavailable(BACKEND, format!(
                    "cannot reach {target} ({detail}); is redis-server running there? \
                     ({}){tls_hint}",
                    where_to_set(target)
                ))
        }
        _ => {
            let hint = if err.to_string().contains("NOAUTH") {
                "; the server requires a password: set [cache.redis] password"
            } else {
                ""
            };
            Error::backend(BACKEND, format!("{target}: {detail}{hint}"))
        }
    }
}

/// The keys that name the servers of `target`'s topology.
fn where_to_set(target: &str) -> &'static str {
    if target.contains(" cluster (seeds ") {
        "check [cache.redis] cluster; a cluster failing over answers again within seconds"
    } else if target.contains(" via sentinels ") {
        "check [cache.redis] sentinels and sentinel_master; a failover takes a few seconds"
    } else {
        "set [cache.redis] host and port, or url"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn ctx() -> ErrorContext {
        ErrorContext {
            target: "redis://127.0.0.1:6379/0".into(),
            tls: false,
            password: Some(Secret::new("hunter22")),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
        }
    }

    fn io_err(kind: io::ErrorKind, text: &str) -> RedisError {
        RedisError::from(io::Error::new(kind, text.to_string()))
    }

    #[test]
    fn refused_and_reset_are_unavailable() {
        for kind in cement::error::CONNECTION_LOSS {
            let err = classify(&io_err(kind, "boom"), &ctx(), Phase::Command);
            assert!(matches!(err, Error::Unavailable { .. }), "{kind:?}: {err}");
            assert!(err.to_string().contains("127.0.0.1:6379"), "{err}");
        }
    }

    #[test]
    fn deadlines_are_timeouts_naming_the_right_setting() {
        for kind in [io::ErrorKind::TimedOut, io::ErrorKind::WouldBlock] {
            let err = classify(&io_err(kind, "slow"), &ctx(), Phase::Connect);
            assert!(matches!(err, Error::Timeout { .. }), "{err}");
            assert!(err.to_string().contains("connect_timeout"), "{err}");
            let err = classify(&io_err(kind, "slow"), &ctx(), Phase::Command);
            assert!(err.to_string().contains("response_timeout"), "{err}");
        }
    }

    #[test]
    fn other_errors_are_backend_errors_and_never_show_the_password() {
        let err = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "auth failed",
            "hunter22".to_string(),
        ));
        let e = classify(&err, &ctx(), Phase::Connect);
        assert!(matches!(e, Error::Backend { .. }), "{e}");
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("password"), "{shown}");
    }

    #[test]
    fn an_untrusted_certificate_is_a_backend_error_naming_tls_ca_file() {
        let ctx = ErrorContext {
            target: "rediss cluster (seeds 127.0.0.1:7000)".into(),
            tls: true,
            ..ctx()
        };
        // As redis-rs 1.8's cluster client words a refused certificate.
        let err = RedisError::from(io::Error::other(
            "Failed to connect to each cluster node (127.0.0.1:7000: invalid peer certificate: UnknownIssuer)",
        ));
        let e = classify(&err, &ctx, Phase::Connect);
        assert!(matches!(e, Error::Backend { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("[cache.redis] tls_ca_file"), "{text}");
        assert!(
            text.contains("UnknownIssuer") && text.contains("rediss cluster"),
            "{text}"
        );
    }

    #[test]
    fn a_cluster_or_primary_in_failover_is_unavailable() {
        let cases = [
            RedisError::from((ErrorKind::Client, "Missing slot coverage")),
            RedisError::from((ErrorKind::ClusterConnectionNotFound, "no connection")),
            RedisError::from((ErrorKind::Server(ServerErrorKind::ClusterDown), "down")),
            RedisError::from((ErrorKind::Server(ServerErrorKind::ReadOnly), "replica")),
            RedisError::from((
                ErrorKind::Server(ServerErrorKind::Moved),
                "Moved",
                "9507 127.0.0.1:45857".to_string(),
            )),
            RedisError::from((ErrorKind::Server(ServerErrorKind::Ask), "Ask")),
        ];
        for err in cases {
            let e = classify(&err, &ctx(), Phase::Command);
            assert!(matches!(e, Error::Unavailable { .. }), "{err}: {e}");
        }
        let read_only = RedisError::from((ErrorKind::Server(ServerErrorKind::ReadOnly), "x"));
        assert!(is_stale_connection(&read_only));
        assert!(!keeps_connection(&read_only));
    }

    #[test]
    fn stale_connections_are_recognised() {
        assert!(is_stale_connection(&io_err(io::ErrorKind::BrokenPipe, "x")));
        assert!(!is_stale_connection(&io_err(io::ErrorKind::TimedOut, "x")));
        assert!(!keeps_connection(&io_err(io::ErrorKind::TimedOut, "x")));
    }
}
