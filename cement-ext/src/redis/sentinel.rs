//! Sentinel: the current primary, asked of the sentinels each time a connection is opened.
//!
//! Discovery is done here rather than with redis-rs' `sentinel` feature, so that every step is
//! bounded by the section's timeouts: each sentinel in turn (one that is down or does not know
//! the master is skipped) answers `SENTINEL get-master-addr-by-name <name>`; the handler
//! connects there with the section's auth, TLS and `db` and checks with `ROLE` that the server
//! is a primary (a sentinel may lag a failover by a moment). Pooled connections to a primary
//! that died fail with an I/O error, and one to a primary demoted to a replica answers writes
//! with `READONLY`; either way the idle connections are dropped and the next one is opened to
//! the primary the sentinels name then.

use std::time::Duration;

use redis::{Connection, ConnectionAddr, ErrorKind, RedisError, RedisResult, ServerErrorKind};

use super::config::{config_error, RedisSettings, Resolved, Secret};
use super::topology::{client_for, parse_nodes, root_cert, Node, Plan, Topology};

/// The sentinels and what a primary's connection needs.
#[derive(Clone)]
pub(crate) struct Sentinels {
    sentinels: Vec<Node>,
    master: String,
    /// db, username and password for the primary.
    redis: redis::RedisConnectionInfo,
    /// TLS to the primary (`tls = true`).
    tls: bool,
    root: Option<Vec<u8>>,
}

pub(crate) fn plan(
    settings: &RedisSettings,
    resolved: &Resolved,
    sentinels: &[String],
) -> cement::Result<Topology> {
    let master = settings.sentinel_master.clone().ok_or_else(|| {
        config_error(
            "sentinels is set but sentinel_master is not; set sentinel_master to the name the \
             sentinels monitor the primary under (`sentinel monitor <name> ...`)",
        )
    })?;
    let nodes = parse_nodes("sentinels", sentinels, settings.tls)?;
    let tls = settings.tls;
    let any_tls = tls || nodes.iter().any(|n| n.tls);
    if !any_tls && settings.tls_ca_file.is_some() {
        return Err(config_error(
            "tls_ca_file is set but neither the primary (tls) nor the sentinels (rediss://) use TLS",
        ));
    }
    let root = if any_tls { root_cert(settings)? } else { None };
    let redis = resolved
        .client
        .get_connection_info()
        .redis_settings()
        .clone();
    let shown: Vec<&str> = nodes.iter().map(|n| n.shown.as_str()).collect();
    let mut target = format!(
        "redis{} primary \"{master}\" via sentinels {}",
        if tls { "s" } else { "" },
        shown.join(", ")
    );
    if let Some(user) = redis.username() {
        target.push_str(&format!(" as user \"{user}\""));
    }
    // Only one password can be scrubbed: the primary's. A sentinel url's own password is
    // never put into a message by this module.
    let password = redis.password().map(Secret::new);
    Ok(Topology {
        plan: Plan::Sentinel(Sentinels {
            sentinels: nodes,
            master,
            redis,
            tls,
            root,
        }),
        target,
        tls,
        password,
    })
}

impl Sentinels {
    /// A connection to the current primary, found through the first sentinel that names it.
    pub(crate) fn connect_primary(
        &self,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Connection> {
        let mut last: Option<RedisError> = None;
        for sentinel in &self.sentinels {
            let answer = self
                .client_of(sentinel)
                .and_then(|client| blocking(&client, connect_timeout, response_timeout))
                .and_then(|mut conn| self.ask().query(&mut conn));
            match self.named(sentinel, answer) {
                Ok(addr) => {
                    let (client, shown) = self.primary_client(addr)?;
                    let mut conn = blocking(&client, connect_timeout, response_timeout)?;
                    let role = redis::cmd("ROLE").query(&mut conn);
                    return self.check_role(role, &shown).map(|()| conn);
                }
                Err(err) => last = Some(err),
            }
        }
        Err(self.none_named(last))
    }

    /// The sentinels, in the order they are asked.
    pub(crate) fn nodes(&self) -> &[Node] {
        &self.sentinels
    }

    /// A client for one sentinel (its own url's auth, the section's CA).
    pub(crate) fn client_of(&self, sentinel: &Node) -> RedisResult<redis::Client> {
        client_for(sentinel.info.clone(), self.root.as_deref())
    }

    /// `SENTINEL get-master-addr-by-name <master>`: `nil` if the sentinel does not know it.
    pub(crate) fn ask(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("get-master-addr-by-name").arg(&self.master);
        cmd
    }

    /// The primary's address from one sentinel's answer to [`ask`](Self::ask); a sentinel
    /// that is down, does not answer or does not know the master is an error, logged, and
    /// the caller asks the next one.
    pub(crate) fn named(
        &self,
        sentinel: &Node,
        answer: RedisResult<Option<(String, u16)>>,
    ) -> RedisResult<(String, u16)> {
        let err = match answer {
            Ok(Some(addr)) => return Ok(addr),
            Ok(None) => RedisError::from((
                ErrorKind::Client,
                "no sentinel knows the master",
                format!(
                    "sentinel {} does not monitor a master named \"{}\"; check \
                     [cache.redis] sentinel_master",
                    sentinel.shown, self.master
                ),
            )),
            Err(err) => err,
        };
        tracing::debug!(target: "cement_ext::redis", "sentinel {} skipped: {err}", sentinel.shown);
        Err(err)
    }

    /// The error when no sentinel named a primary: the last sentinel's.
    pub(crate) fn none_named(&self, last: Option<RedisError>) -> RedisError {
        last.unwrap_or_else(|| RedisError::from((ErrorKind::Client, "no sentinels")))
    }

    /// A client for the primary at `addr`, with the section's auth, TLS and `db`, and the
    /// address as messages show it.
    pub(crate) fn primary_client(
        &self,
        (host, port): (String, u16),
    ) -> RedisResult<(redis::Client, String)> {
        let addr = if self.tls {
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host, port)
        };
        let shown = addr.to_string();
        let info = redis::IntoConnectionInfo::into_connection_info(addr)?
            .set_redis_settings(self.redis.clone());
        Ok((client_for(info, self.root.as_deref())?, shown))
    }

    /// Checks the primary's answer to `ROLE`: a server that is not (or no longer) a primary
    /// is a `READONLY` error (a sentinel may lag a failover by a moment).
    pub(crate) fn check_role(
        &self,
        role: RedisResult<Vec<redis::Value>>,
        shown: &str,
    ) -> RedisResult<()> {
        let role: Option<String> = role?
            .into_iter()
            .next()
            .and_then(|v| redis::from_redis_value(v).ok());
        if role.as_deref() == Some("master") {
            return Ok(());
        }
        Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "not a primary",
            format!(
                "the sentinels name {shown} as the primary of \"{}\", but it answers ROLE \
                 with {role:?} (a failover in progress?)",
                self.master
            ),
        )))
    }
}

/// A blocking connection through `client`, every step bounded by the section's timeouts.
fn blocking(
    client: &redis::Client,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> RedisResult<Connection> {
    let conn = client.get_connection_with_timeout(connect_timeout)?;
    conn.set_read_timeout(Some(response_timeout))?;
    conn.set_write_timeout(Some(response_timeout))?;
    Ok(conn)
}
