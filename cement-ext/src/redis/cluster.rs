//! Redis Cluster: the client built from `cluster = [...]`, and `purge` on every primary.
//!
//! Keys go where redis puts them (CRC16 slot of the key; no hash tag is added). Single-key
//! commands are routed by redis-rs' `ClusterConnection`, which follows `MOVED` and `ASK`
//! and refreshes its slot map; the batch forms are one pipeline per node
//! ([`Conn`](super::topology::Conn)). `SCAN` cannot be routed by key, so `purge` asks a
//! primary for the cluster's primaries (`CLUSTER NODES`) and scans each of them by address.

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisError, RedisResult, TlsMode};

use super::config::{config_error, RedisSettings, Resolved, Secret};
use super::topology::{parse_nodes, root_cert, scan_unlink, Plan, Topology};

/// How often a command is retried while the cluster answers `CLUSTERDOWN`/`TRYAGAIN` or a node
/// cannot be reached, and the longest wait between two tries. redis-rs' defaults (16 tries,
/// waits up to 655 s) would hold a call for minutes during a failover; the failure policy and
/// the breaker should see the outage instead.
const RETRIES: u32 = 3;
const MIN_RETRY_WAIT_MS: u64 = 10;
const MAX_RETRY_WAIT_MS: u64 = 250;

/// The cluster client for `seeds` (the `cluster` key), with the section's auth, TLS and
/// timeouts.
pub(crate) fn plan(
    settings: &RedisSettings,
    resolved: &Resolved,
    seeds: &[String],
) -> cement::Result<Topology> {
    if settings.db != 0 {
        return Err(config_error(format!(
            "db = {} with cluster: Redis Cluster has only database 0; remove db",
            settings.db
        )));
    }
    let nodes = parse_nodes("cluster", seeds, settings.tls)?;
    let tls = nodes.iter().any(|n| n.tls);
    if nodes.iter().any(|n| n.tls != tls) {
        return Err(config_error(
            "cluster mixes redis:// and rediss:// nodes; a cluster is either TLS or not",
        ));
    }
    if !tls && settings.tls_ca_file.is_some() {
        return Err(config_error(
            "tls_ca_file is set but the cluster is not TLS; set tls = true or use rediss:// nodes",
        ));
    }
    let base = resolved.client.get_connection_info().redis_settings();
    let username = base.username().map(str::to_string);
    let password = base
        .password()
        .map(Secret::new)
        .or_else(|| nodes.iter().find_map(|n| n.password.clone()));
    let mut builder = ClusterClient::builder(nodes.iter().map(|n| n.info.clone()))
        .connection_timeout(resolved.connect_timeout)
        .response_timeout(resolved.response_timeout)
        .retries(RETRIES)
        .min_retry_wait(MIN_RETRY_WAIT_MS)
        .max_retry_wait(MAX_RETRY_WAIT_MS);
    if let Some(user) = &username {
        builder = builder.username(user);
    }
    if let Some(password) = &password {
        builder = builder.password(password.expose());
    }
    if tls {
        builder = builder.tls(TlsMode::Secure);
        if let Some(root) = root_cert(settings)? {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root),
            });
        }
    }
    let shown: Vec<&str> = nodes.iter().map(|n| n.shown.as_str()).collect();
    let mut target = format!(
        "redis{} cluster (seeds {})",
        if tls { "s" } else { "" },
        shown.join(", ")
    );
    if let Some(user) = &username {
        target.push_str(&format!(" as user \"{user}\""));
    }
    let client = builder
        .build()
        .map_err(|e| config_error(format!("cannot use {target}: {e}")))?;
    Ok(Topology {
        plan: Plan::Cluster(Box::new(client)),
        target,
        tls,
        password,
    })
}

/// `SCAN MATCH pattern` + `UNLINK` on every primary. The keys one primary returns are in its
/// slots, so each batch's `UNLINK`s are one pipeline to that node.
pub(crate) fn purge_matching(conn: &mut ClusterConnection, pattern: &str) -> RedisResult<()> {
    for (host, port) in primaries(conn)? {
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
        scan_unlink(
            conn,
            pattern,
            |conn, cmd| {
                let reply = conn.route_command(cmd, routing.clone())?;
                redis::from_redis_value(reply).map_err(RedisError::from)
            },
            |conn, keys| {
                let mut pipe = redis::cluster::cluster_pipe();
                for key in keys {
                    pipe.cmd("UNLINK").arg(key).ignore();
                }
                pipe.query(conn)
            },
        )?;
    }
    Ok(())
}

/// The address of every primary that is not marked failed, from `CLUSTER NODES` of a primary.
fn primaries(conn: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let reply = conn.route_command(
        &redis::cmd("CLUSTER").arg("NODES").to_owned(),
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
    )?;
    let text: String = redis::from_redis_value(reply)?;
    Ok(parse_primaries(&text))
}

/// Lines `<id> <ip:port@cport[,hostname]> <flags> …`: the primaries (`master`, not `fail`).
pub(crate) fn parse_primaries(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let addr = fields.nth(1)?;
            let flags = fields.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.contains(&"fail") || flags.contains(&"noaddr") {
                return None;
            }
            let addr = addr.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
            (!host.is_empty()).then(|| (host.to_string(), port))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_give_the_live_primaries() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003,node3 master - 0 1426238318243 3 connected 10923-16383
6ec2 127.0.0.1:30005@40005 master,fail - 1426238316232 1426238315728 5 disconnected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
";
        assert_eq!(
            parse_primaries(text),
            vec![
                ("127.0.0.1".to_string(), 30002),
                ("127.0.0.1".to_string(), 30003),
                ("127.0.0.1".to_string(), 30001),
            ]
        );
    }
}
