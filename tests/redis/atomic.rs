//! Atomic operations: add, counters (the script), touch, exists.

use std::time::Duration;

use cement::cache::Capabilities;
use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, cache, cache_with, raw, settings};
use crate::{calls, reset_stats};

fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(&mut raw(server)).unwrap()
}

fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(&mut raw(server)).unwrap()
}

fn raw_set(server: &RedisServer, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<()>(&mut raw(server))
        .unwrap();
}

#[test]
fn every_optional_operation_is_declared() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "caps:");
    assert_eq!(c.capabilities(), Capabilities::ALL);
}

#[test]
fn add_is_set_nx_with_an_optional_ttl() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "add:");
    reset_stats(&server);
    assert!(c
        .add_with_ttl("lease", &"owner-1", Duration::from_secs(60))
        .unwrap());
    let left = pttl(&server, "add:lease");
    assert!(left > 0 && left <= 60_000, "PTTL {left}");
    // A second add neither stores nor touches the TTL.
    assert!(!c
        .add_with_ttl("lease", &"owner-2", Duration::from_secs(600))
        .unwrap());
    // One SET (NX) per add, nothing else.
    assert_eq!(calls(&server, "set"), 2);
    assert_eq!(calls(&server, "get") + calls(&server, "exists"), 0);
    assert_eq!(
        c.get::<String>("lease").unwrap().as_deref(),
        Some("owner-1")
    );
    assert!(pttl(&server, "add:lease") <= 60_000);

    // Without a TTL (expire_time = 0): no expiry.
    assert!(c.add("forever", &1).unwrap());
    assert_eq!(pttl(&server, "add:forever"), -1);

    // An expired key is absent: add stores again.
    assert!(c
        .handler()
        .add("add:short", b"1", Some(Duration::from_millis(50)))
        .unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.handler().add("add:short", b"2", None).unwrap());
    assert_eq!(raw_get(&server, "add:short").as_deref(), Some(&b"2"[..]));
}

#[test]
fn add_refuses_oversized_values_before_sending() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        max_value_size: 16,
        ..settings(server.port(), "addbig:")
    });
    let err = c.add("k", &"x".repeat(100)).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert!(!c.exists("k").unwrap());
}

#[test]
fn counters_are_ascii_digits_and_one_script_call() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ctr:");
    reset_stats(&server);
    assert_eq!(c.incr("n", 5).unwrap(), 5);
    assert_eq!(c.incr("n", 2).unwrap(), 7);
    assert_eq!(c.decr("n", 3).unwrap(), 4);
    // One EVALSHA per step, after the one SCRIPT LOAD that the first step's NOSCRIPT caused.
    assert_eq!(calls(&server, "evalsha"), 4);
    assert_eq!(calls(&server, "script|load"), 1);
    assert_eq!(calls(&server, "incrby") + calls(&server, "decrby"), 0);
    // Stored as digits, read back typed, and a set of an unsigned integer makes a counter.
    assert_eq!(raw_get(&server, "ctr:n").as_deref(), Some(&b"4"[..]));
    assert_eq!(c.get::<u64>("n").unwrap(), Some(4));
    c.set("m", &41u64).unwrap();
    assert_eq!(c.incr("m", 1).unwrap(), 42);
    // Leading zeros, as another program may write them, are read as the number.
    raw_set(&server, "ctr:padded", b"007");
    assert_eq!(c.incr("padded", 1).unwrap(), 8);
    assert_eq!(raw_get(&server, "ctr:padded").as_deref(), Some(&b"8"[..]));
    // incr by 0 of a missing key creates it at 0.
    assert_eq!(c.incr("zero", 0).unwrap(), 0);
    assert_eq!(raw_get(&server, "ctr:zero").as_deref(), Some(&b"0"[..]));
}

#[test]
fn decr_stops_at_zero() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ctr0:");
    assert_eq!(c.incr("n", 3).unwrap(), 3);
    assert_eq!(c.decr("n", 10).unwrap(), 0);
    assert_eq!(c.decr("n", 1).unwrap(), 0);
    assert_eq!(raw_get(&server, "ctr0:n").as_deref(), Some(&b"0"[..]));
    // A missing key starts from 0 and stays there.
    assert_eq!(c.decr("fresh", 5).unwrap(), 0);
    assert_eq!(c.get::<u64>("fresh").unwrap(), Some(0));
    c.set("big", &u64::MAX).unwrap();
    assert_eq!(c.decr("big", u64::MAX - 1).unwrap(), 1);
    assert_eq!(c.decr("big", u64::MAX).unwrap(), 0);
}

#[test]
fn counters_cover_the_whole_u64_range_and_refuse_overflow() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ctr64:");
    // Past i64::MAX, where redis' own INCRBY gives up.
    c.set("n", &(i64::MAX as u64)).unwrap();
    assert_eq!(c.incr("n", 1).unwrap(), i64::MAX as u64 + 1);
    assert_eq!(
        c.incr("n", u64::MAX - (i64::MAX as u64 + 1)).unwrap(),
        u64::MAX
    );
    assert_eq!(c.get::<u64>("n").unwrap(), Some(u64::MAX));
    let err = c.incr("n", 1).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ctr64:n") && msg.contains("u64::MAX") && msg.contains("unchanged"),
        "{msg}"
    );
    assert_eq!(c.get::<u64>("n").unwrap(), Some(u64::MAX));
    assert_eq!(c.decr("n", 1).unwrap(), u64::MAX - 1);
    // Carries through every digit.
    c.set("nines", &9_999_999_999u64).unwrap();
    assert_eq!(c.incr("nines", 1).unwrap(), 10_000_000_000);
    assert_eq!(c.decr("nines", 1).unwrap(), 9_999_999_999);
    assert_eq!(c.decr("nines", 9_999_999_998).unwrap(), 1);
    // More than u64::MAX is not a counter.
    raw_set(&server, "ctr64:huge", b"18446744073709551616");
    assert!(matches!(c.incr("huge", 1), Err(Error::InvalidArgument(_))));
}

#[test]
fn incr_of_a_value_that_is_not_a_counter_is_invalid_argument() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "nc:");
    c.set("json", "text").unwrap(); // enveloped: starts with 0xCE
    c.set("negative", &-5i32).unwrap();
    c.set("float", &1.5f64).unwrap();
    raw_set(&server, "nc:raw_negative", b"-5");
    raw_set(&server, "nc:empty", b"");
    raw_set(&server, "nc:spaces", b" 12");
    redis::cmd("RPUSH")
        .arg("nc:list")
        .arg("1")
        .query::<()>(&mut raw(&server))
        .unwrap();
    for key in [
        "json",
        "negative",
        "float",
        "raw_negative",
        "empty",
        "spaces",
        "list",
    ] {
        for result in [c.incr(key, 1), c.decr(key, 1)] {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{key}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("\"nc:{key}\"")) && msg.contains("not a counter"),
                "{key}: {msg}"
            );
        }
    }
    // Nothing was changed.
    assert_eq!(c.get::<String>("json").unwrap().as_deref(), Some("text"));
    assert_eq!(
        raw_get(&server, "nc:raw_negative").as_deref(),
        Some(&b"-5"[..])
    );
}

#[test]
fn a_counter_gets_its_ttl_when_created_and_keeps_it() {
    let server = RedisServer::start().unwrap();
    let app = app("rd_ctr_ttl", &server)
        .set("cache.redis", "expire_time", 300)
        .setup()
        .unwrap();
    let c = app.cache();
    assert_eq!(c.incr("hits", 1).unwrap(), 1);
    let created = pttl(&server, "rd_ctr_ttl:hits");
    assert!(created > 0 && created <= 300_000, "PTTL {created}");
    // Later steps keep the remaining TTL rather than restart or drop it, whatever TTL they
    // are given.
    c.handler()
        .incr("rd_ctr_ttl:hits", 1, Some(Duration::from_secs(9000)))
        .unwrap();
    assert_eq!(c.decr("hits", 1).unwrap(), 1);
    let kept = pttl(&server, "rd_ctr_ttl:hits");
    assert!(kept > 0 && kept <= created, "PTTL {kept} after {created}");
    // A counter made by set without a TTL stays without one.
    c.handler().set("rd_ctr_ttl:plain", b"1", None).unwrap();
    assert_eq!(c.incr("plain", 1).unwrap(), 2);
    assert_eq!(pttl(&server, "rd_ctr_ttl:plain"), -1);
    // The TTL is in milliseconds: a short one expires the counter.
    c.handler()
        .incr("rd_ctr_ttl:short", 1, Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!c.exists("short").unwrap());
    assert_eq!(c.incr("short", 1).unwrap(), 1);
    app.close().unwrap();
}

#[test]
fn the_counter_script_is_reloaded_after_script_flush_and_restart() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ns:");
    assert_eq!(c.incr("n", 1).unwrap(), 1);
    reset_stats(&server);
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut raw(&server))
        .unwrap();
    assert_eq!(c.incr("n", 1).unwrap(), 2);
    assert_eq!(c.decr("n", 1).unwrap(), 1);
    assert_eq!(calls(&server, "script|load"), 1, "loaded once again");

    // A restart loses the scripts (and, without persistence, the data) and the pooled
    // connections: the first step after it reconnects, reloads and counts from 0.
    server.restart().unwrap();
    assert_eq!(c.incr("n", 5).unwrap(), 5);
    assert_eq!(c.incr("n", 5).unwrap(), 10);
    assert_eq!(calls(&server, "script|load"), 1);
    assert_eq!(calls(&server, "evalsha"), 3); // the NOSCRIPT one, its repeat, the next step
}

#[test]
fn touch_sets_or_removes_the_ttl_and_reports_existence() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "touch:");
    c.set_with_ttl("k", "v", Duration::from_secs(60)).unwrap();
    // None removes the TTL…
    assert!(c.touch("k", None).unwrap());
    assert_eq!(pttl(&server, "touch:k"), -1);
    // …and on a key that has none (PERSIST answers 0 there) still says the key exists.
    assert!(c.touch("k", None).unwrap());
    assert_eq!(pttl(&server, "touch:k"), -1);
    // Some(ttl) sets a new one in milliseconds, without rewriting the value.
    assert!(c.touch("k", Some(Duration::from_millis(30_500))).unwrap());
    let left = pttl(&server, "touch:k");
    assert!(left > 0 && left <= 30_500, "PTTL {left}");
    assert_eq!(c.get::<String>("k").unwrap().as_deref(), Some("v"));
    // A missing key: false, and nothing is created.
    assert!(!c.touch("missing", None).unwrap());
    assert!(!c.touch("missing", Some(Duration::from_secs(1))).unwrap());
    assert!(!c.exists("missing").unwrap());
    // A zero TTL is refused by the facade; a sub-millisecond one rounds up, never to "never".
    assert!(matches!(
        c.touch("k", Some(Duration::ZERO)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(c
        .handler()
        .touch("touch:k", Some(Duration::from_micros(10)))
        .unwrap());
    std::thread::sleep(Duration::from_millis(50));
    assert!(!c.exists("k").unwrap());
}

#[test]
fn exists_does_not_read_the_value() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ex:");
    c.set("big", &"x".repeat(1 << 20)).unwrap();
    reset_stats(&server);
    assert!(c.exists("big").unwrap());
    assert!(!c.exists("none").unwrap());
    assert_eq!((calls(&server, "exists"), calls(&server, "get")), (2, 0));
    // A value the facade could not decode still exists.
    raw_set(&server, "ex:foreign", b"\xff not ours");
    assert!(c.exists("foreign").unwrap());
}

#[test]
fn eight_threads_incrementing_one_counter_lose_nothing() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        pool_size: 4, // fewer connections than threads: they must share
        response_timeout: 5.0,
        connect_timeout: 5.0,
        ..settings(server.port(), "race:")
    });
    let mut seen: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..100)
                        .map(|_| c.incr("n", 1).unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(c.get::<u64>("n").unwrap(), Some(800));
    // Every step saw a value no other step saw: 1 to 800, each once.
    seen.sort_unstable();
    assert_eq!(seen, (1..=800).collect::<Vec<u64>>());
    // And concurrent adds: exactly one winner.
    let winners = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let c = &c;
                s.spawn(move || c.add("lock", &t).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum::<usize>()
    });
    assert_eq!(winners, 1);
}

#[test]
fn new_operations_fail_cleanly_while_the_server_is_down_and_recover() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "down:");
    assert_eq!(c.incr("n", 1).unwrap(), 1);
    server.kill().unwrap();
    let results = [
        c.add("a", &1).map(drop),
        c.incr("n", 1).map(drop),
        c.decr("n", 1).map(drop),
        c.touch("n", None).map(drop),
        c.touch("n", Some(Duration::from_secs(1))).map(drop),
        c.exists("n").map(drop),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    }
    server.restart().unwrap();
    assert!(c.add("a", &1).unwrap());
    assert_eq!(c.incr("n", 2).unwrap(), 2);
    assert!(c.touch("n", None).unwrap());
    assert!(c.exists("n").unwrap());
}
