//! Turns `memcache::exp` client errors into [`cement::Error`]: refused, reset or dropped
//! connections are [`Error::Unavailable`], deadlines are [`Error::Timeout`], keys the server
//! cannot take are [`Error::InvalidKey`], an item over the server's size limit is
//! [`Error::ValueTooLarge`], everything else is [`Error::Backend`]. Every message names the
//! server and says what to check.

use std::io;
use std::time::Duration;

use memcache::exp;

use cement::Error;

/// The handler label, as errors name it: the one `#[cache_handler(label = ...)]` declares.
pub(crate) const BACKEND: &str =
    <super::MemcachedCacheHandler as cement::registry::RegisteredHandler>::LABEL;

/// What error messages may say about the server and the limits in force.
#[derive(Clone, Debug)]
pub(crate) struct ErrorContext {
    /// `host:port` of the server.
    pub(crate) server: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

/// The cement error for a client error on the server described by `ctx`. `value_size` is the
/// size of the item being stored, if any (for a server-side "too large").
pub(crate) fn classify(
    err: &exp::Error,
    ctx: &ErrorContext,
    value_size: Option<usize>,
    limit: usize,
) -> Error {
    let server = &ctx.server;
    // A request that was written but not answered: classify by what went wrong, and say that
    // it may have been applied.
    let (inner, ambiguous) = match err {
        exp::Error::Ambiguous { source, .. } => (source.as_ref(), true),
        other => (other, false),
    };
    let maybe = if ambiguous {
        " (the request was sent; it may or may not have been applied)"
    } else {
        ""
    };
    match inner {
        exp::Error::Timeout { .. } => timeout(ctx, maybe),
        exp::Error::Io(io) => match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                if io.to_string().contains("pool exhausted") {
                    Error::timeout(BACKEND, format!(
                            "all connections to memcached at {server} stayed busy for connect_timeout ({:?}); \
                             raise [cache.memcached] pool_size or connect_timeout",
                            ctx.connect_timeout
                        ))
                } else {
                    timeout(ctx, maybe)
                }
            }
            kind if cement::error::is_connection_loss(kind) => Error::unavailable(BACKEND, format!(
                    "memcached at {server}: {io}{maybe}; check that the server runs and that [cache.memcached] \
                     hosts names it"
                )),
            _ => backend(format!("memcached at {server}: i/o error: {io}{maybe}")),
        },
        exp::Error::Server(message) if message.contains("too large") => Error::ValueTooLarge {
            backend: BACKEND,
            size: value_size.unwrap_or(0),
            limit,
            by_server: true,
        },
        exp::Error::Server(message) => backend(format!(
            "memcached at {server} answered SERVER_ERROR {message}{maybe}"
        )),
        exp::Error::Rejected(message) => backend(format!(
            "memcached at {server} rejected a command: {message}{maybe}"
        )),
        exp::Error::Usage(message) if message.contains("key") => Error::InvalidKey {
            key: String::new(),
            reason: format!("{message}; use the app's cache facade, which maps keys to memcached's rules"),
        },
        other => backend(format!("memcached at {server}: {other}{maybe}")),
    }
}

fn timeout(ctx: &ErrorContext, maybe: &str) -> Error {
    Error::timeout(BACKEND, format!(
            "memcached at {} did not answer within response_timeout ({:?}) or connect_timeout ({:?}){maybe}; \
             check the server's health and the network, or raise the timeouts in [cache.memcached]",
            ctx.server, ctx.response_timeout, ctx.connect_timeout
        ))
}

fn backend(message: String) -> Error {
    Error::backend(BACKEND, message)
}

/// The error for a server that cannot even be resolved or set up.
pub(crate) fn unresolvable(ctx: &ErrorContext, err: &exp::Error) -> Error {
    Error::unavailable(
        BACKEND,
        format!(
            "cannot resolve memcached server {}: {err}; check [cache.memcached] hosts",
            ctx.server
        ),
    )
}

/// A malformed or unexpected reply from the server (protocol-level).
pub(crate) fn unexpected(ctx: &ErrorContext, what: &str) -> Error {
    backend(format!(
        "memcached at {} sent an unexpected reply: {what}",
        ctx.server
    ))
}

/// Whether the server refused an increment or decrement because the stored value is not a
/// number (`CLIENT_ERROR cannot increment or decrement non-numeric value`).
pub(crate) fn is_non_numeric(err: &exp::Error) -> bool {
    let inner = match err {
        exp::Error::Ambiguous { source, .. } => source.as_ref(),
        other => other,
    };
    matches!(inner, exp::Error::Rejected(message) if message.contains("non-numeric"))
}

/// `incr`/`decr` on a value that is not a counter.
pub(crate) fn not_a_counter(key: &str) -> Error {
    Error::InvalidArgument(format!(
        "the value under key {key:?} is not a counter (an unsigned integer in ASCII digits), so \
         memcached cannot increment or decrement it; create counters with incr, or set them to an \
         unsigned integer"
    ))
}

/// An atomic operation that kept meeting concurrent changes of its key (purges, deletes,
/// other writers) and gave up after `attempts` tries.
pub(crate) fn contended(ctx: &ErrorContext, operation: &str, key: &str, attempts: usize) -> Error {
    backend(format!(
        "memcached at {}: {operation} on key {key:?} met a concurrent change of the key (a purge, a \
         delete or another writer) {attempts} times in a row and gave up; nothing is left half done, \
         try again",
        ctx.server
    ))
}

/// A failure of the raw `flush_all` exchange.
pub(crate) fn flush_failed(ctx: &ErrorContext, err: &io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => timeout(ctx, ""),
        kind if cement::error::is_connection_loss(kind) => Error::unavailable(
            BACKEND,
            format!(
                "memcached at {}: flush_all failed: {err}; check that the server runs",
                ctx.server
            ),
        ),
        _ => backend(format!(
            "memcached at {}: flush_all failed: {err}",
            ctx.server
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext {
        ErrorContext {
            server: "127.0.0.1:11211".into(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
        }
    }

    fn classify_io(kind: io::ErrorKind) -> Error {
        classify(&exp::Error::Io(io::Error::from(kind)), &ctx(), None, 100)
    }

    #[test]
    fn refused_and_reset_are_unavailable() {
        for kind in cement::error::CONNECTION_LOSS {
            let err = classify_io(kind);
            assert!(
                matches!(
                    err,
                    Error::Unavailable {
                        backend: "memcached",
                        ..
                    }
                ),
                "{kind:?}: {err}"
            );
            assert!(err.to_string().contains("127.0.0.1:11211"), "{err}");
        }
    }

    #[test]
    fn deadlines_are_timeouts() {
        assert!(matches!(
            classify_io(io::ErrorKind::TimedOut),
            Error::Timeout { .. }
        ));
        let err = classify(
            &exp::Error::Timeout { key: b"k".to_vec() },
            &ctx(),
            None,
            100,
        );
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("500ms"), "{err}");
        let ambiguous = exp::Error::Ambiguous {
            key: b"k".to_vec(),
            source: Box::new(exp::Error::Io(io::Error::from(io::ErrorKind::TimedOut))),
        };
        let err = classify(&ambiguous, &ctx(), None, 100);
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(
            err.to_string().contains("may or may not have been applied"),
            "{err}"
        );
    }

    #[test]
    fn server_too_large_is_value_too_large() {
        let err = exp::Error::Ambiguous {
            key: b"k".to_vec(),
            source: Box::new(exp::Error::Server("object too large for cache".into())),
        };
        assert!(matches!(
            classify(&err, &ctx(), Some(2000), 1000),
            Error::ValueTooLarge {
                size: 2000,
                limit: 1000,
                by_server: true,
                ..
            }
        ));
    }

    #[test]
    fn non_numeric_refusals_are_recognised_bare_or_ambiguous() {
        let bare = exp::Error::Rejected("cannot increment or decrement non-numeric value".into());
        assert!(is_non_numeric(&bare));
        let wrapped = exp::Error::Ambiguous {
            key: b"k".to_vec(),
            source: Box::new(exp::Error::Rejected(
                "cannot increment or decrement non-numeric value".into(),
            )),
        };
        assert!(is_non_numeric(&wrapped));
        assert!(!is_non_numeric(&exp::Error::Rejected(
            "bad data chunk".into()
        )));
        let err = not_a_counter("app:text");
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("app:text"), "{err}");
    }

    #[test]
    fn key_usage_is_invalid_key_and_the_rest_backend() {
        let err = classify(
            &exp::Error::Usage("key exceeds 250 bytes on the wire"),
            &ctx(),
            None,
            1,
        );
        assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
        let err = classify(&exp::Error::Protocol("garbage".into()), &ctx(), None, 1);
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        let err = classify(
            &exp::Error::Rejected("bad data chunk".into()),
            &ctx(),
            None,
            1,
        );
        assert!(matches!(err, Error::Backend { .. }), "{err}");
    }
}
