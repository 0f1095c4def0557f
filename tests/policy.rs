//! The failure policy and the circuit breaker against real servers killed mid-run (issue 5):
//! reads miss, writes drop, deletes raise, an outage costs `breaker_failures` backend calls per
//! cooldown instead of one per call, the stats count all of it, and everything recovers when
//! the server is back.

use std::time::Duration;

use cement::{App, Application, Error};
use cement_ext::testing::{MemcachedServer, RedisServer};

#[path = "support/mod.rs"]
mod support;

// The derive links cement-ext, whose extensions these apps load by label.
#[derive(App)]
#[app(label = "policy_anchor")]
struct Anchor;

fn app(label: &str, extension: &str, settings: &[(&str, cement::config::Value)]) -> Application {
    let section = format!("cache.{extension}");
    let mut builder = support::app(label, extension)
        .set(&section, "on_read_error", "miss")
        .set(&section, "on_write_error", "drop")
        .set(&section, "breaker_failures", 2)
        .set(&section, "breaker_cooldown", 2.0)
        .set(&section, "connect_timeout", 0.5)
        .set(&section, "response_timeout", 0.5);
    for (key, value) in settings {
        builder = builder.set(&section, key, value.clone());
    }
    let _ = Anchor::meta();
    builder.setup().expect("setup")
}

/// Kills the server mid-run and checks what the policy and the breaker make of the outage.
fn outage(app: &Application, kill: &mut dyn FnMut(), restart: &mut dyn FnMut()) {
    let cache = app.cache();
    cache.set("k", "before").unwrap();
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("before"));

    kill();
    // Reads miss and writes are dropped instead of failing the caller...
    for _ in 0..10 {
        assert_eq!(cache.get::<String>("k").unwrap(), None);
        cache.set("k", "during").unwrap();
    }
    // ...deletes still raise (a failed delete would serve stale data later)...
    assert!(matches!(
        cache.delete("k"),
        Err(Error::Unavailable { .. } | Error::Timeout { .. })
    ));
    // ...atomic operations raise too: their answer cannot be made up.
    assert!(cache.incr("n", 1).is_err());

    let stats = cache.stats();
    // 24 calls during the outage; after 2 consecutive failures the breaker refuses the rest
    // at once, without touching the network.
    assert!(stats.breaker_rejections >= 15, "{stats:?}");
    assert_eq!(stats.errors_absorbed, 20, "{stats:?}");
    assert_eq!(stats.ops["get"].errors, 10, "{stats:?}");

    restart();
    // Still open for the rest of the cooldown; then the next call goes through and succeeds.
    std::thread::sleep(Duration::from_millis(2100));
    cache.set("k", "after").unwrap();
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("after"));
    let rejected = cache.stats().breaker_rejections;
    for _ in 0..5 {
        assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("after"));
    }
    assert_eq!(
        cache.stats().breaker_rejections,
        rejected,
        "the breaker closed again"
    );
}

#[test]
fn redis_outage_under_the_policy_and_breaker() {
    let server = RedisServer::start().unwrap();
    let app = app("policy_redis", "redis", &[("port", server.port().into())]);
    let server = std::cell::RefCell::new(server);
    outage(
        &app,
        &mut || server.borrow_mut().kill().unwrap(),
        &mut || server.borrow_mut().restart().unwrap(),
    );
}

#[test]
fn memcached_outage_under_the_policy_and_breaker() {
    let server = MemcachedServer::start().unwrap();
    let app = app(
        "policy_memcached",
        "memcached",
        &[("hosts", vec![server.host_spec()].into())],
    );
    let server = std::cell::RefCell::new(server);
    outage(
        &app,
        &mut || server.borrow_mut().kill().unwrap(),
        &mut || server.borrow_mut().restart().unwrap(),
    );
}

#[test]
fn stats_count_real_traffic() {
    let server = RedisServer::start().unwrap();
    let app = app("stats_redis", "redis", &[("port", server.port().into())]);
    let cache = app.cache();
    cache.set("a", &vec![1u8; 100]).unwrap();
    cache.get::<Vec<u8>>("a").unwrap();
    cache.get::<Vec<u8>>("missing").unwrap();
    cache.set_many(&[("b", 1u64), ("c", 2u64)]).unwrap();
    cache.get_many::<u64>(&["b", "c", "d"]).unwrap();
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (3, 2), "{stats:?}");
    assert_eq!(stats.ops["set"].calls, 1);
    assert_eq!(stats.ops["get_many"].calls, 1);
    assert!(
        stats.bytes_written > 100 && stats.bytes_read > 100,
        "{stats:?}"
    );
    assert_eq!(stats.total_errors(), 0);
    assert_eq!(stats.hit_ratio(), Some(0.6));
}
