//! The redis cache handler against real `redis-server` processes on free loopback ports, one
//! test binary split by area over `tests/support`.
//!
//! Needs `redis-server` (and `openssl` for the TLS test): `apt-get install redis-server openssl`.
//! The tests fail, never skip, when a binary is missing.

use std::time::{Duration, Instant};

use cement_ext::testing::RedisServer;

use crate::support::redis::raw;

#[path = "../support/mod.rs"]
mod support;

mod atomic;
mod auth;
mod batches;
mod config;
mod conformance;
mod failures;
mod purge;
mod tls;
mod values;

const PASSWORD: &str = "hunter2-Pa55w0rd";

fn raw_keys(server: &RedisServer, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query(&mut raw(server))
        .unwrap();
    keys.sort();
    keys
}

/// How many times the server ran `command` since the last `CONFIG RESETSTAT`.
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut raw(server))
        .unwrap();
    let wanted = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&wanted))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn reset_stats(server: &RedisServer) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query::<()>(&mut raw(server))
        .unwrap();
}

#[track_caller]
fn assert_within(started: Instant, limit: Duration, what: &str) {
    let took = started.elapsed();
    assert!(took <= limit, "{what} took {took:?}, more than {limit:?}");
}
