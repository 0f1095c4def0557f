//! [`RedisCluster`] (a Redis Cluster on free loopback ports) and [`RedisSentinels`] (a primary,
//! a replica and three sentinels), built from [`RedisServer`]s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use cement::testing::{ServerError, ServerProcess, ServerSpec};

use super::redis::{cli_error, redis_cli, redis_cli_at, tls_args};
use super::{RedisServer, TlsFiles};

/// How long a cluster or a sentinel group may take to settle after its processes started.
const SETTLE_DEADLINE: Duration = Duration::from_secs(60);

/// `--cluster-node-timeout` of the cluster nodes, in milliseconds: a killed primary is replaced
/// by its replica a few seconds later (the default, 15 s, makes failover tests slow).
///
/// ```
/// assert_eq!(cement_ext::testing::CLUSTER_NODE_TIMEOUT_MS, 3000);
/// ```
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 3000;

/// A Redis Cluster of `primaries` primaries (each with `replicas` replicas) on free loopback
/// ports, created with `redis-cli --cluster create` and ready (`cluster_state:ok` on every
/// node) when [`start`](Self::start) returns. Every node is killed on drop.
///
/// ```
/// use cement_ext::testing::RedisCluster;
///
/// let cluster = RedisCluster::start(3, 0)?;
/// assert_eq!(cluster.nodes().len(), 3);
/// assert!(cluster.seeds()[0].starts_with("127.0.0.1:"));
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `primaries × (1 + replicas)` cluster nodes (`primaries` at least 3, as redis-cli
    /// requires), joins them with `redis-cli --cluster create … --cluster-replicas <replicas>`
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start(primaries: usize, replicas: usize) -> Result<Self, ServerError> {
        Self::start_with(primaries, replicas, None)
    }

    /// [`start`](Self::start), but every node speaks only TLS with `files`' certificate
    /// ([`ServerBuilder::tls`](super::ServerBuilder::tls)): clients, the cluster bus
    /// (`--tls-cluster yes`) and replication. The slot map names the TLS ports. Clients need
    /// `tls = true` (or `rediss://` seeds) and `tls_ca_file` = [`TlsFiles::ca`].
    ///
    /// ```
    /// use cement_ext::testing::{RedisCluster, TlsFiles};
    ///
    /// let files = TlsFiles::generate()?;
    /// let cluster = RedisCluster::start_tls(3, 0, &files)?;
    /// assert!(cluster.nodes()[0].url().starts_with("rediss://127.0.0.1:"));
    /// # Ok::<(), cement::testing::ServerError>(())
    /// ```
    pub fn start_tls(
        primaries: usize,
        replicas: usize,
        files: &TlsFiles,
    ) -> Result<Self, ServerError> {
        Self::start_with(primaries, replicas, Some(files))
    }

    fn start_with(
        primaries: usize,
        replicas: usize,
        tls: Option<&TlsFiles>,
    ) -> Result<Self, ServerError> {
        let count = primaries * (1 + replicas);
        let nodes = (0..count)
            .map(|_| {
                let builder = RedisServer::builder()
                    .args(["--cluster-enabled", "yes"])
                    .args(["--cluster-config-file", "nodes.conf"])
                    .args([
                        "--cluster-node-timeout".to_string(),
                        CLUSTER_NODE_TIMEOUT_MS.to_string(),
                    ]);
                match tls {
                    Some(files) => builder.tls(files),
                    None => builder,
                }
                .start()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cli = redis_cli(tls);
        cli.arg("--cluster").arg("create");
        cli.args(nodes.iter().map(|n| n.host_spec()));
        cli.args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"]);
        let output = cli.output().map_err(|e| cli_error(e, "--cluster create"))?;
        if !output.status.success() {
            return Err(ServerError::Protocol {
                server: "redis cluster",
                what: format!(
                    "redis-cli --cluster create failed ({}): {}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            });
        }
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok()?;
        Ok(cluster)
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self) -> Result<(), ServerError> {
        for node in &self.nodes {
            if TcpStream::connect(node.addr()).is_err() {
                continue; // killed by the test
            }
            wait_for(
                node.addr(),
                node.tls(),
                "CLUSTER INFO",
                "redis cluster",
                |info| info.contains("cluster_state:ok"),
            )?;
        }
        Ok(())
    }

    /// `127.0.0.1:PORT` of every node, primaries and replicas: the `cluster` setting.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.host_spec()).collect()
    }

    /// The nodes, in the order they were started (redis-cli makes the first `primaries` of
    /// them primaries, but a failover changes that: ask `CLUSTER NODES`).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The nodes, to kill or restart one.
    pub fn nodes_mut(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }
}

/// A primary, one replica of it and three sentinels monitoring it under
/// [`MASTER`](Self::MASTER) (quorum 2, `down-after-milliseconds 1000`, `failover-timeout
/// 3000`), all on free loopback ports; ready when [`start`](Self::start) returns (the replica
/// in sync, every sentinel knowing the replica and the other two). Killed on drop.
///
/// ```
/// use cement_ext::testing::RedisSentinels;
///
/// let group = RedisSentinels::start()?;
/// assert_eq!(group.sentinel_seeds().len(), 3);
/// assert_ne!(group.primary().port(), group.replica().port());
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct RedisSentinels {
    primary: RedisServer,
    replica: RedisServer,
    sentinels: Vec<ServerProcess>,
}

impl RedisSentinels {
    /// The name the sentinels monitor the primary under.
    pub const MASTER: &'static str = "cementmaster";

    /// Starts the primary, the replica and the three sentinels, and waits until they agree.
    pub fn start() -> Result<Self, ServerError> {
        Self::start_with(None)
    }

    /// [`start`](Self::start), but every process speaks only TLS with `files`' certificate: the
    /// primary and the replica ([`ServerBuilder::tls`](super::ServerBuilder::tls), replication
    /// over TLS) and the sentinels (`port 0`, `tls-port`, and `tls-replication yes`, with which
    /// they reach the servers and each other over TLS). Clients need `tls = true` (or
    /// `rediss://` sentinels and `tls = true` for the primary) and `tls_ca_file` =
    /// [`TlsFiles::ca`].
    ///
    /// ```
    /// use cement_ext::testing::{RedisSentinels, TlsFiles};
    ///
    /// let files = TlsFiles::generate()?;
    /// let group = RedisSentinels::start_tls(&files)?;
    /// assert!(group.primary().url().starts_with("rediss://"));
    /// # Ok::<(), cement::testing::ServerError>(())
    /// ```
    pub fn start_tls(files: &TlsFiles) -> Result<Self, ServerError> {
        Self::start_with(Some(files))
    }

    fn start_with(tls: Option<&TlsFiles>) -> Result<Self, ServerError> {
        let server = || match tls {
            Some(files) => RedisServer::builder().tls(files),
            None => RedisServer::builder(),
        };
        let primary = server().start()?;
        let replica = server()
            .args(["--replicaof".to_string(), "127.0.0.1".to_string()])
            .arg(primary.port().to_string())
            .start()?;
        wait_for(
            replica.addr(),
            tls,
            "INFO replication",
            "redis replica",
            |info| info.contains("master_link_status:up"),
        )?;
        let primary_port = primary.port();
        let sentinels = (0..3)
            .map(|_| ServerProcess::start(sentinel_spec(primary_port, tls)))
            .collect::<Result<Vec<_>, _>>()?;
        for sentinel in &sentinels {
            wait_for(
                sentinel.addr(),
                tls,
                "INFO sentinel",
                "redis sentinel",
                |info| info.contains("status=ok") && info.contains("slaves=1,sentinels=3"),
            )?;
        }
        Ok(RedisSentinels {
            primary,
            replica,
            sentinels,
        })
    }

    /// `127.0.0.1:PORT` of each sentinel: the `sentinels` setting.
    pub fn sentinel_seeds(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| s.host_spec()).collect()
    }

    /// The primary the group started with.
    pub fn primary(&self) -> &RedisServer {
        &self.primary
    }

    /// The primary, to kill it.
    pub fn primary_mut(&mut self) -> &mut RedisServer {
        &mut self.primary
    }

    /// The replica the sentinels promote when the primary dies.
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// The sentinels, to kill one.
    pub fn sentinels_mut(&mut self) -> &mut [ServerProcess] {
        &mut self.sentinels
    }
}

fn sentinel_spec(primary_port: u16, tls: Option<&TlsFiles>) -> ServerSpec {
    let mut spec = ServerSpec::new("redis-sentinel", "redis-server", b"PING\r\n", |reply| {
        reply.starts_with(b"+PONG")
    })
    .binary_env("CEMENT_REDIS_BIN");
    if let Some(files) = tls.cloned() {
        spec = spec.probe(move |addr| {
            redis_cli_at(addr, Some(&files), &["PING"]).is_ok_and(|r| r.starts_with("PONG"))
        });
    }
    let tls_args = tls.map(tls_args);
    spec.args(move |port, dir| {
        // Sentinel rewrites its config file, so it gets one of its own in its directory.
        let conf = dir.join("sentinel.conf");
        let master = RedisSentinels::MASTER;
        let text = format!(
            "sentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {master} 1000\n\
             sentinel failover-timeout {master} 3000\n"
        );
        // A write failure shows as the sentinel refusing to start, with its log.
        let _ = std::fs::write(&conf, text);
        let mut args: Vec<String> = vec![
            conf.display().to_string(),
            "--sentinel".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--daemonize".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--logfile".into(),
            String::new(),
        ];
        if let Some(tls_args) = &tls_args {
            // The later `--port` wins: no plain-text listener.
            args.extend(["--port".into(), "0".into(), "--tls-port".into()]);
            args.push(port.to_string());
            args.extend(tls_args.iter().cloned());
        }
        args
    })
}

/// Sends `command` to `addr` until its reply satisfies `done`, for at most
/// [`SETTLE_DEADLINE`]: inline over TCP, or through `redis-cli --tls` to a TLS server.
fn wait_for(
    addr: SocketAddr,
    tls: Option<&TlsFiles>,
    command: &str,
    server: &'static str,
    done: impl Fn(&str) -> bool,
) -> Result<(), ServerError> {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let mut last = String::new();
    while Instant::now() < deadline {
        let reply = match tls {
            None => inline(addr, command).map_err(|e| e.to_string()),
            Some(_) => {
                let words: Vec<&str> = command.split_whitespace().collect();
                redis_cli_at(addr, tls, &words)
            }
        };
        match reply {
            Ok(reply) if done(&reply) => return Ok(()),
            Ok(reply) => last = reply,
            Err(err) => last = err,
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(ServerError::Protocol {
        server,
        what: format!(
            "{command} on {addr} did not settle within {SETTLE_DEADLINE:?}; last reply: {last}"
        ),
    })
}

/// One inline command and its reply (a status, an error or a bulk string), as text.
fn inline(addr: SocketAddr, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        if reply.first() != Some(&b'$') {
            break;
        }
        let len: usize = String::from_utf8_lossy(&reply[1..end]).parse().unwrap_or(0);
        if reply.len() >= end + 2 + len + 2 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
