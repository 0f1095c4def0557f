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
            let addr = match self.ask(sentinel, connect_timeout, response_timeout) {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    last = Some(RedisError::from((
                        ErrorKind::Client,
                        "no sentinel knows the master",
                        format!(
                            "sentinel {} does not monitor a master named \"{}\"; check \
                             [cache.redis] sentinel_master",
                            sentinel.shown, self.master
                        ),
                    )));
                    continue;
                }
                Err(err) => {
                    tracing::debug!(target: "cement_ext::redis", "sentinel {} skipped: {err}", sentinel.shown);
                    last = Some(err);
                    continue;
                }
            };
            return self.open(addr, connect_timeout, response_timeout);
        }
        Err(last.unwrap_or_else(|| RedisError::from((ErrorKind::Client, "no sentinels"))))
    }

    /// `SENTINEL get-master-addr-by-name`: `None` if this sentinel does not know the name.
    fn ask(
        &self,
        sentinel: &Node,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Option<(String, u16)>> {
        let client = client_for(sentinel.info.clone(), self.root.as_deref())?;
        let mut conn = client.get_connection_with_timeout(connect_timeout)?;
        conn.set_read_timeout(Some(response_timeout))?;
        conn.set_write_timeout(Some(response_timeout))?;
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master)
            .query::<Option<(String, u16)>>(&mut conn)
    }

    /// Connects to `addr` and checks that it is a primary.
    fn open(
        &self,
        (host, port): (String, u16),
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Connection> {
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
        let client = client_for(info, self.root.as_deref())?;
        let mut conn = client.get_connection_with_timeout(connect_timeout)?;
        conn.set_read_timeout(Some(response_timeout))?;
        conn.set_write_timeout(Some(response_timeout))?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn)?;
        let role: Option<String> = role
            .into_iter()
            .next()
            .and_then(|v| redis::from_redis_value(v).ok());
        if role.as_deref() != Some("master") {
            return Err(RedisError::from((
                ErrorKind::Server(ServerErrorKind::ReadOnly),
                "not a primary",
                format!(
                    "the sentinels name {shown} as the primary of \"{}\", but it answers ROLE \
                     with {role:?} (a failover in progress?)",
                    self.master
                ),
            )));
        }
        Ok(conn)
    }
}
