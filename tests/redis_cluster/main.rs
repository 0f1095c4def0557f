//! The redis handler on a Redis Cluster and behind Sentinel: real `redis-server` processes
//! (cluster nodes, a primary with a replica, sentinels) on free loopback ports, started and
//! stopped by `cement_ext::testing::{RedisCluster, RedisSentinels}`.
//!
//! Needs `redis-server` and `redis-cli` (`apt-get install redis-server`); the tests fail, never
//! skip, when one is missing (and `openssl` for the TLS cluster). Each test starts its own
//! cluster or sentinel group once and runs its steps on it, so the binary starts four groups in
//! all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cement::cache::Cache;
use cement::Error;
use cement_ext::redis::{RedisCacheHandler, RedisSettings};
use cement_ext::testing::{RedisCluster, RedisServer};

#[path = "../support/mod.rs"]
mod support;

mod async_face;
mod auth;
mod cluster;
mod config;
mod resharding;
mod sentinel;
mod tls;

/// Settings for a cluster with these seeds, under `prefix`, with short timeouts.
fn cluster_settings(seeds: Vec<String>, prefix: &str) -> RedisSettings {
    RedisSettings {
        cluster: Some(seeds),
        prefix: prefix.into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    }
}

/// How long a conformance run's calls may wait for a reply: long enough that a loaded
/// 2-core host never turns a slow reply into a conformance failure (the failover tests keep
/// their short timeouts, which they measure).
const CONFORMANCE_TIMEOUT: f64 = 5.0;

/// `settings` with [`CONFORMANCE_TIMEOUT`] for connecting and for each reply.
fn patient(settings: RedisSettings) -> RedisSettings {
    RedisSettings {
        connect_timeout: CONFORMANCE_TIMEOUT,
        response_timeout: CONFORMANCE_TIMEOUT,
        ..settings
    }
}

fn cache_with(settings: RedisSettings) -> Cache {
    let prefix = settings.prefix.clone();
    let handler = RedisCacheHandler::new(settings).expect("valid settings");
    Cache::new("redis", Box::new(handler), prefix, None)
}

/// A raw connection to one node (over TLS, trusting the node's CA, for a TLS node; the
/// handler, created first, has installed rustls' crypto provider).
fn raw(server: &RedisServer) -> redis::Connection {
    raw_client(server)
        .and_then(|c| c.get_connection())
        .expect("raw connection")
}

fn raw_client(server: &RedisServer) -> redis::RedisResult<redis::Client> {
    match server.tls() {
        None => redis::Client::open(server.url()),
        Some(files) => redis::Client::build_with_tls(
            server.url(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(files.ca()).expect("the CA file")),
            },
        ),
    }
}

/// The cluster's primaries as `port -> number of keys` (`DBSIZE` on each).
fn keys_per_primary(cluster: &RedisCluster) -> BTreeMap<u16, u64> {
    let mut counts = BTreeMap::new();
    for node in cluster.nodes() {
        let Ok(mut conn) = raw_client(node).and_then(|c| c.get_connection()) else {
            continue; // a killed node
        };
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap();
        let role: String = redis::from_redis_value(role[0].clone()).unwrap();
        if role == "master" {
            let n: u64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
            counts.insert(node.port(), n);
        }
    }
    counts
}

/// Records a call that failed during a failover (the kill was at `killed`): the error must be
/// typed (`Unavailable` or `Timeout`, so that the failure policy and the breaker see an
/// outage), and the outage must end within 120 s.
fn failed_during_failover(errors: &mut Vec<Error>, err: Error, killed: Instant) {
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }),
        "an untyped failure during the failover: {err:?}"
    );
    errors.push(err);
    assert!(
        killed.elapsed() < Duration::from_secs(120),
        "no recovery within 120 s; {} errors, the last: {:?}",
        errors.len(),
        errors.last()
    );
}

/// 1,000 keys `k0`…`k999` with every third one replaced by an absent key (`absent0`, …).
fn mixed_keys() -> Vec<String> {
    (0..1000)
        .map(|i| {
            if i % 3 == 0 {
                format!("absent{i}")
            } else {
                format!("k{i}")
            }
        })
        .collect()
}
