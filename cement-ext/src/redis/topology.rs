//! What the handler's connections lead to: one server, the primary that the sentinels name, or
//! a Redis Cluster ([Topologies](super#topologies)).
//!
//! The pool holds [`Conn`]s and opens them with an [`Opener`]; the handler's operations run on
//! a `Conn` whatever it leads to. Single-key commands go through [`redis::ConnectionLike`]
//! (a cluster connection routes them by key and follows `MOVED`/`ASK`); the batch forms and
//! `purge` differ per topology and are here. An async path plugs in by building its own
//! connection from the same [`Plan`].

use std::fmt;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{
    Cmd, Connection, ConnectionAddr, ConnectionInfo, ConnectionLike, IntoConnectionInfo,
    RedisResult, Value,
};

use super::config::{config_error, install_crypto_provider, RedisSettings, Resolved, Secret};
use super::{cluster, sentinel, set_cmd, PURGE_BATCH};

/// A connection the pool hands out: to one server (single or the sentinels' primary) or to a
/// whole cluster (one socket per node, opened as needed by the client).
pub(crate) enum Conn {
    Server(Connection),
    Cluster(Box<ClusterConnection>),
}

/// Opens one [`Conn`]; called by the pool on a helper thread, bounded by `connect_timeout`.
pub(crate) type Opener = Box<dyn Fn() -> RedisResult<Conn> + Send + Sync>;

/// Which topology the section names, with what each needs to connect.
pub(crate) enum Plan {
    /// One server (`url` or `host`/`port`).
    Single(redis::Client),
    /// Redis Cluster from seed nodes.
    Cluster(Box<ClusterClient>),
    /// The primary the sentinels name.
    Sentinel(sentinel::Sentinels),
}

/// The settings' topology: how to connect, and what messages call it.
pub(crate) struct Topology {
    pub(crate) plan: Plan,
    /// What errors name: `redis://host:port/db`, `redis cluster (seeds …)`, `redis primary
    /// "name" via sentinels …`; never a password.
    pub(crate) target: String,
    pub(crate) tls: bool,
    /// The password in effect, to scrub it from messages.
    pub(crate) password: Option<Secret>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("target", &self.target)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Topology {
    /// The topology of `settings`, whose single-server part is `resolved` (auth, TLS and
    /// timeouts are taken from it for every node and sentinel). Exactly one topology per
    /// section: two is an [`Error::Config`](cement::Error::Config) naming both keys.
    pub(crate) fn of(settings: &RedisSettings, resolved: Resolved) -> cement::Result<Topology> {
        let named = [
            ("url", settings.url.is_some()),
            ("cluster", settings.cluster.is_some()),
            ("sentinels", settings.sentinels.is_some()),
        ];
        let set: Vec<&str> = named
            .iter()
            .filter(|(_, on)| *on)
            .map(|(key, _)| *key)
            .collect();
        if set.len() > 1 {
            return Err(config_error(format!(
                "{} are both set, but a section names exactly one topology: `url` (or host/port) \
                 for one server, `cluster` for Redis Cluster, `sentinels` (with `sentinel_master`) \
                 for Sentinel; remove one of them",
                set.join(" and ")
            )));
        }
        if settings.sentinel_master.is_some() && settings.sentinels.is_none() {
            return Err(config_error(
                "sentinel_master is set but sentinels is not; list the sentinels as \
                 sentinels = [\"host:26379\", ...] or remove sentinel_master",
            ));
        }
        if let Some(seeds) = &settings.cluster {
            return cluster::plan(settings, &resolved, seeds);
        }
        if let Some(sentinels) = &settings.sentinels {
            return sentinel::plan(settings, &resolved, sentinels);
        }
        Ok(Topology {
            plan: Plan::Single(resolved.client),
            target: resolved.target,
            tls: resolved.tls,
            password: resolved.password,
        })
    }

    /// The opener the sync pool uses.
    pub(crate) fn opener(self, connect_timeout: Duration, response_timeout: Duration) -> Opener {
        match self.plan {
            Plan::Single(client) => Box::new(move || {
                let conn = client.get_connection_with_timeout(connect_timeout)?;
                conn.set_read_timeout(Some(response_timeout))?;
                conn.set_write_timeout(Some(response_timeout))?;
                Ok(Conn::Server(conn))
            }),
            Plan::Cluster(client) => {
                Box::new(move || Ok(Conn::Cluster(Box::new(client.get_connection()?))))
            }
            Plan::Sentinel(sentinels) => Box::new(move || {
                sentinels
                    .connect_primary(connect_timeout, response_timeout)
                    .map(Conn::Server)
            }),
        }
    }
}

/// A list key's nodes as connection addresses: `host:port` or a `redis://`/`rediss://` url.
/// `tls` (the section's `tls` key) makes `host:port` nodes TLS. An empty list or a malformed
/// node is an [`Error::Config`](cement::Error::Config) naming the key and the node.
pub(crate) fn parse_nodes(key: &str, nodes: &[String], tls: bool) -> cement::Result<Vec<Node>> {
    if nodes.is_empty() {
        return Err(config_error(format!(
            "{key} is an empty list; name at least one node as \"host:port\" (or a redis:// url)"
        )));
    }
    nodes
        .iter()
        .map(|node| parse_node(key, node, tls))
        .collect()
}

/// One node of a `cluster` or `sentinels` list.
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) info: ConnectionInfo,
    pub(crate) tls: bool,
    /// A password the node's url carries.
    pub(crate) password: Option<Secret>,
    /// `host:port`, as messages show it.
    pub(crate) shown: String,
}

fn parse_node(key: &str, node: &str, tls: bool) -> cement::Result<Node> {
    let shown = cement::config::redact_url(node.trim()).into_owned();
    let bad = |why: &str| {
        config_error(format!(
            "{key} has a malformed node {shown:?}: {why}; write \"host:port\" or \
             redis://[user[:password]@]host:port (rediss:// for TLS)"
        ))
    };
    let node = node.trim();
    if let Some((scheme, _)) = node.split_once("://") {
        if !matches!(scheme, "redis" | "rediss") {
            return Err(bad("the scheme must be redis:// or rediss://"));
        }
        let url = redis::parse_redis_url(node).ok_or_else(|| bad("not a valid url"))?;
        let password = url.password().map(Secret::new);
        let info = url
            .into_connection_info()
            .map_err(|_| bad("not a usable redis url"))?;
        let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        let shown = info.addr().to_string();
        return Ok(Node {
            info,
            tls,
            password,
            shown,
        });
    }
    let (host, port) = node
        .rsplit_once(':')
        .ok_or_else(|| bad("the port is missing"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return Err(bad("the host is empty or not a host name"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
    let addr = if tls {
        ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_string(), port)
    };
    let info = addr
        .into_connection_info()
        .map_err(|_| bad("not a usable address"))?;
    Ok(Node {
        shown: format!("{host}:{port}"),
        info,
        tls,
        password: None,
    })
}

/// The CA certificate(s) of `tls_ca_file`, for TLS clients.
pub(crate) fn root_cert(settings: &RedisSettings) -> cement::Result<Option<Vec<u8>>> {
    install_crypto_provider();
    settings
        .tls_ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|e| {
                config_error(format!("cannot read tls_ca_file {}: {e}", path.display()))
            })
        })
        .transpose()
}

/// A client for one node, with the CA when it is TLS.
pub(crate) fn client_for(info: ConnectionInfo, root: Option<&[u8]>) -> RedisResult<redis::Client> {
    match (info.addr(), root) {
        (ConnectionAddr::TcpTls { .. }, Some(root)) => redis::Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.to_vec()),
            },
        ),
        _ => redis::Client::open(info),
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Conn::Server(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Server(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Server(c) => c.req_command(cmd),
            Conn::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Server(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            Conn::Server(c) => c.supports_pipelining(),
            Conn::Cluster(c) => c.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Conn::Server(c) => c.check_connection(),
            Conn::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Conn::Server(c) => c.is_open(),
            Conn::Cluster(c) => c.is_open(),
        }
    }
}

/// The batch forms and `purge`: one command (or pipeline) on one server; on a cluster one
/// pipeline per node involved, sent to all nodes before any reply is read, results in key
/// order ([`cluster_batch`], which also follows `MOVED`/`ASK`). Multi-key commands are not
/// used on a cluster: redis-rs would split them per *slot*, one round trip each.
impl Conn {
    pub(crate) fn get_many(&mut self, keys: &[&str]) -> RedisResult<Vec<Option<Vec<u8>>>> {
        match self {
            Conn::Server(c) => redis::cmd("MGET").arg(keys).query(c),
            Conn::Cluster(c) => cluster_batch(c, keys.len(), true, |i| {
                redis::cmd("GET").arg(keys[i]).to_owned()
            })?
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<_, _>>()
            .map_err(Into::into),
        }
    }

    pub(crate) fn set_many(
        &mut self,
        entries: &[(&str, &[u8])],
        ttl: Option<Duration>,
    ) -> RedisResult<()> {
        match self {
            Conn::Server(c) => match ttl {
                None => {
                    let mut cmd = redis::cmd("MSET");
                    for (key, value) in entries {
                        cmd.arg(*key).arg(*value);
                    }
                    cmd.query(c)
                }
                Some(ttl) => {
                    let mut pipe = redis::pipe();
                    for (key, value) in entries {
                        pipe.add_command(set_cmd(key, value, Some(ttl))).ignore();
                    }
                    pipe.query(c)
                }
            },
            Conn::Cluster(c) => cluster_batch(c, entries.len(), true, |i| {
                let (key, value) = entries[i];
                set_cmd(key, value, ttl)
            })
            .map(drop),
        }
    }

    pub(crate) fn delete_many(&mut self, keys: &[&str]) -> RedisResult<u64> {
        match self {
            Conn::Server(c) => redis::cmd("UNLINK").arg(keys).query(c),
            Conn::Cluster(c) => {
                let replies = cluster_batch(c, keys.len(), false, |i| {
                    redis::cmd("UNLINK").arg(keys[i]).to_owned()
                })?;
                let removed: Vec<u64> = redis::from_redis_value(Value::Array(replies))?;
                Ok(removed.iter().sum())
            }
        }
    }

    /// `PERSIST key` + `EXISTS key` in one pipeline (one slot, so one node on a cluster).
    pub(crate) fn persist(&mut self, key: &str) -> RedisResult<bool> {
        match self {
            Conn::Server(c) => {
                let mut pipe = redis::pipe();
                pipe.cmd("PERSIST").arg(key).ignore();
                pipe.cmd("EXISTS").arg(key);
                pipe.query::<(bool,)>(c).map(|(exists,)| exists)
            }
            Conn::Cluster(c) => {
                let mut replies = cluster_batch(c, 2, true, |i| {
                    redis::cmd(["PERSIST", "EXISTS"][i]).arg(key).to_owned()
                })?;
                Ok(redis::from_redis_value(
                    replies.pop().unwrap_or(Value::Nil),
                )?)
            }
        }
    }

    /// `FLUSHDB`; on a cluster on every primary.
    pub(crate) fn flush(&mut self) -> RedisResult<()> {
        redis::cmd("FLUSHDB").query(self)
    }

    /// Every key matching `pattern`: `SCAN MATCH` + `UNLINK` in batches, on each primary of a
    /// cluster.
    pub(crate) fn purge_matching(&mut self, pattern: &str) -> RedisResult<()> {
        match self {
            Conn::Server(c) => scan_unlink(
                c,
                pattern,
                |c, cmd| cmd.query(c),
                |c, keys| redis::cmd("UNLINK").arg(keys).query::<u64>(c).map(drop),
            ),
            Conn::Cluster(c) => cluster::purge_matching(c, pattern),
        }
    }
}

/// Commands `0..n` (`cmd(i)` builds the i-th) as one cluster pipeline, one per node involved,
/// replies in order. redis-rs 1.8's sync cluster pipeline does not follow a redirection in a
/// pipeline: a command answered `ASK`/`MOVED` (every key already moved during a slot
/// migration), `TRYAGAIN` or `CLUSTERDOWN` fails the whole pipeline, the other replies lost.
/// Only then, those commands go again one by one, which follows the redirections: all of them
/// when `rerun_all` (idempotent commands whose replies are needed: `GET`, `SET`, `PERSIST` +
/// `EXISTS`), else only the redirected ones, the lost replies given as `Value::Int(0)`
/// (`UNLINK`, whose other keys are already gone: [`Conn::delete_many`] then counts a lower
/// bound). Any other error reply fails the batch.
fn cluster_batch(
    c: &mut ClusterConnection,
    n: usize,
    rerun_all: bool,
    cmd: impl Fn(usize) -> Cmd,
) -> RedisResult<Vec<Value>> {
    use redis::ServerErrorKind::{Ask, ClusterDown, Moved, TryAgain};
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..n {
        pipe.add_command(cmd(i));
    }
    let error = match pipe.query::<Vec<Value>>(c) {
        Ok(replies) => return Ok(replies),
        Err(error) => error,
    };
    let Some(failed) = error.clone().into_server_errors() else {
        return Err(error);
    };
    if !failed
        .iter()
        .all(|(_, e)| matches!(e.kind(), Some(Ask | Moved | TryAgain | ClusterDown)))
    {
        return Err(error);
    }
    if rerun_all {
        return (0..n).map(|i| cmd(i).query(c)).collect();
    }
    let mut replies = vec![Value::Int(0); n];
    for &(i, _) in failed.iter() {
        if let Some(reply) = replies.get_mut(i) {
            *reply = cmd(i).query(c)?;
        }
    }
    Ok(replies)
}

/// The `SCAN MATCH pattern COUNT n` loop of one server, `unlink` called with each non-empty
/// batch found. `scan` runs one `SCAN` on `conn` and returns `(cursor, keys)`.
pub(crate) fn scan_unlink<C: ?Sized>(
    conn: &mut C,
    pattern: &str,
    scan: impl Fn(&mut C, &Cmd) -> RedisResult<(u64, Vec<Vec<u8>>)>,
    unlink: impl Fn(&mut C, &[Vec<u8>]) -> RedisResult<()>,
) -> RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(PURGE_BATCH);
        let (next, keys) = scan(conn, &cmd)?;
        if !keys.is_empty() {
            unlink(conn, &keys)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
