//! The redis cache handler against real `redis-server` processes on free loopback ports.
//!
//! Needs `redis-server` (and `openssl` for the TLS test): `apt-get install redis-server openssl`.
//! The tests fail, never skip, when a binary is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cement::cache::{Cache, CacheHandler, Capabilities};
use cement::testing::BlackHole;
use cement::{Builder, Error, Meta};
use cement_ext::redis::{PurgeMode, RedisCacheHandler, RedisSettings, Secret};
use cement_ext::testing::RedisServer;
use serde::{Deserialize, Serialize};

const PASSWORD: &str = "hunter2-Pa55w0rd";

// ---------------------------------------------------------------------------------------------
// helpers

fn settings(port: u16, prefix: &str) -> RedisSettings {
    RedisSettings {
        port,
        prefix: prefix.into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    }
}

fn cache_with(settings: RedisSettings) -> Cache {
    let prefix = settings.prefix.clone();
    let handler = RedisCacheHandler::new(settings).expect("valid settings");
    Cache::new("redis", Box::new(handler), prefix, None)
}

fn cache(port: u16, prefix: &str) -> Cache {
    cache_with(settings(port, prefix))
}

/// An app with the redis handler, set up through the framework (config layers, registry).
fn app(label: &str, server: &RedisServer) -> Builder {
    Builder::new(
        Meta::new(label)
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
    .set("cache.redis", "port", server.port())
}

fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("raw connection")
}

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

// ---------------------------------------------------------------------------------------------
// the contract

#[test]
fn conformance_suite() {
    let server = RedisServer::start().unwrap();
    cement::testing::conformance::run_all(&cache(server.port(), "conf:"));
}

#[test]
fn conformance_suite_through_an_app() {
    let server = RedisServer::start().unwrap();
    let app = app("rd_conformance", &server).setup().unwrap();
    assert_eq!(app.cache().handler_label(), "redis");
    assert_eq!(app.cache().prefix(), "rd_conformance:");
    cement::testing::conformance::run_all(app.cache());
    app.close().unwrap();
}

#[derive(cement::App)]
#[app(label = "rd_test", extensions = ["redis"], cache_handler = "redis", handlers = [RedisCacheHandler])]
struct RdApp;

#[test]
fn a_derived_app_resolves_the_redis_handler() {
    let server = RedisServer::start().unwrap();
    let app = RdApp::builder()
        .set("cache.redis", "port", server.port())
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "redis");
    app.cache().set("k", &[1, 2, 3]).unwrap();
    assert_eq!(
        app.cache().get::<Vec<i32>>("k").unwrap(),
        Some(vec![1, 2, 3])
    );
    // Stored under the prefixed key, in cement's envelope (0xCE, version, codec) + JSON.
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("rd_test:k")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\xCE\x01\x01[1,2,3]"[..]));
    // The handler's own defaults fill what the app left unset.
    assert_eq!(
        app.config().get::<String>("cache.redis", "host").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        app.config().get::<String>("cache.redis", "purge").unwrap(),
        "prefix"
    );
    app.close().unwrap();
}

#[test]
fn the_handler_needs_the_redis_extension() {
    let err = Builder::new(
        Meta::new("rd_noext")
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
    .setup()
    .unwrap_err();
    assert!(matches!(err, Error::HandlerNotLoaded { .. }), "{err}");
    assert!(
        err.to_string().contains("extensions = [\"redis\"]"),
        "{err}"
    );
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    age: u8,
    tags: Vec<String>,
    score: Option<f64>,
}

#[test]
fn values_round_trip_typed() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "typed:");
    c.set("int", &1001).unwrap();
    assert_eq!(c.get::<i64>("int").unwrap(), Some(1001)); // Cement returned "1001"
    c.set("bool", &false).unwrap();
    assert_eq!(c.get::<bool>("bool").unwrap(), Some(false));
    c.set("float", &0.1f64).unwrap();
    assert_eq!(c.get::<f64>("float").unwrap(), Some(0.1));
    c.set("unit", &None::<u8>).unwrap();
    assert_eq!(c.get::<Option<u8>>("unit").unwrap(), Some(None));
    let p = Profile {
        name: "Zoë".into(),
        age: 42,
        tags: vec!["a".into(), "".into()],
        score: Some(-1.5),
    };
    c.set("profile", &p).unwrap();
    assert_eq!(c.get::<Profile>("profile").unwrap(), Some(p));
    let bytes: Vec<u8> = (0..=255).collect();
    c.set("bytes", &bytes).unwrap();
    assert_eq!(c.get::<Vec<u8>>("bytes").unwrap(), Some(bytes));
}

#[test]
fn any_key_is_binary_safe_and_cannot_inject_commands() {
    let server = RedisServer::start().unwrap();
    let mut raw = raw(&server);
    redis::cmd("SET")
        .arg("sentinel")
        .arg("1")
        .query::<()>(&mut raw)
        .unwrap();
    let c = cache(server.port(), "keys:");
    for key in [
        "a b",
        "x\r\nFLUSHALL\r\n",
        "tab\tnul\0",
        "émoji 🎉",
        "",
        "*",
        "[x]",
    ] {
        c.set(key, key).unwrap();
        assert_eq!(
            c.get::<String>(key).unwrap().as_deref(),
            Some(key),
            "{key:?}"
        );
    }
    let sentinel: Option<String> = redis::cmd("GET").arg("sentinel").query(&mut raw).unwrap();
    assert_eq!(sentinel.as_deref(), Some("1"));
}

#[test]
fn delete_reports_whether_the_key_existed() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "del:");
    assert!(!c.delete("k").unwrap());
    c.set("k", "v").unwrap();
    assert!(c.delete("k").unwrap());
    assert!(!c.delete("k").unwrap());
    assert_eq!(c.get::<String>("k").unwrap(), None);
}

#[test]
fn ttls_have_millisecond_precision() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "ttl:");
    c.set_with_ttl("short", "v", Duration::from_millis(1500))
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("ttl:short")
        .query(&mut raw(&server))
        .unwrap();
    assert!(pttl > 500 && pttl <= 1500, "PTTL {pttl}");
    c.set_with_ttl("tiny", "v", Duration::from_millis(150))
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.get::<String>("tiny").unwrap(), None);
    // A sub-millisecond TTL rounds up, never down to "never".
    c.handler()
        .set("ttl:micro", b"v", Some(Duration::from_micros(10)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.handler().get("ttl:micro").unwrap(), None);
    // No TTL: no expiry.
    c.set("forever", "v").unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("ttl:forever")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(pttl, -1);
}

#[test]
fn expire_time_from_config_is_the_default_ttl() {
    let server = RedisServer::start().unwrap();
    let app = app("rd_expire", &server)
        .set("cache.redis", "expire_time", 300)
        .setup()
        .unwrap();
    app.cache().set("k", "v").unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("rd_expire:k")
        .query(&mut raw(&server))
        .unwrap();
    assert!(pttl > 290_000 && pttl <= 300_000, "PTTL {pttl}");
    app.close().unwrap();
}

#[test]
fn config_comes_from_env_with_cement_names() {
    let server = RedisServer::start().unwrap();
    let app = Builder::new(
        Meta::new("rd_env")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([
        ("RD_ENV_CACHE_REDIS_PORT", server.port().to_string()),
        ("RD_ENV_CACHE_REDIS_DB", "3".to_string()),
        ("RD_ENV_CACHE_REDIS_PREFIX", "custom:".to_string()),
        ("RD_ENV_CACHE_REDIS_RESPONSE_TIMEOUT", "0.25".to_string()),
    ])
    .setup()
    .unwrap();
    app.cache().set("k", &7).unwrap();
    let mut raw = raw(&server);
    redis::cmd("SELECT").arg(3).query::<()>(&mut raw).unwrap();
    let stored: Option<String> = redis::cmd("GET").arg("custom:k").query(&mut raw).unwrap();
    assert_eq!(stored.as_deref(), Some("7"));
    app.close().unwrap();
}

#[test]
fn bad_config_is_reported_with_its_key() {
    let err = Builder::new(
        Meta::new("rd_badcfg")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([("RD_BADCFG_CACHE_REDIS_PURGE", "everything")])
    .setup()
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("purge"), "{msg}");
}

#[test]
fn a_misspelt_key_is_an_error_not_a_silent_default() {
    let server = RedisServer::start().unwrap();
    let err = app("rd_typo", &server)
        .set("cache.redis", "pasword", PASSWORD)
        .setup()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("pasword") && msg.contains("password"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// purge

#[test]
fn purge_removes_only_this_apps_keys() {
    let server = RedisServer::start().unwrap();
    let app_a = app("rd_app_a", &server).setup().unwrap();
    let app_b = app("rd_app_b", &server).setup().unwrap();
    redis::cmd("SET")
        .arg("unrelated")
        .arg("x")
        .query::<()>(&mut raw(&server))
        .unwrap();
    for i in 0..2500 {
        app_a.cache().set(&format!("k{i}"), &i).unwrap();
    }
    app_b.cache().set("k1", "b's").unwrap();
    reset_stats(&server);
    app_a.cache().purge().unwrap();
    // In batches, with SCAN and UNLINK; never KEYS or FLUSHDB (checked before this test's own
    // KEYS below).
    assert!(
        calls(&server, "scan") > 1,
        "purge should scan in several steps"
    );
    assert!(
        calls(&server, "unlink") >= 3,
        "2500 keys should be unlinked in batches"
    );
    assert_eq!(
        calls(&server, "keys") + calls(&server, "flushdb") + calls(&server, "flushall"),
        0
    );
    assert_eq!(raw_keys(&server, "rd_app_a:*"), Vec::<String>::new());
    assert_eq!(
        app_b.cache().get::<String>("k1").unwrap().as_deref(),
        Some("b's")
    );
    assert_eq!(raw_keys(&server, "*"), ["rd_app_b:k1", "unrelated"]);
    app_a.close().unwrap();
    app_b.close().unwrap();
}

#[test]
fn purge_escapes_glob_characters_in_the_prefix() {
    let server = RedisServer::start().unwrap();
    // Unescaped, `x[yz]*:*` would also match `xy:…` and `xz\…` keys.
    let weird = cache(server.port(), "x[yz]*:");
    let plain = cache(server.port(), "xy:");
    let backslash = cache(server.port(), "xz\\?:");
    weird.set("k", &1).unwrap();
    plain.set("k", &2).unwrap();
    backslash.set("k", &3).unwrap();
    weird.purge().unwrap();
    assert_eq!(weird.get::<i32>("k").unwrap(), None);
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(2));
    assert_eq!(backslash.get::<i32>("k").unwrap(), Some(3));
    backslash.purge().unwrap();
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn purge_db_flushes_the_selected_database_only() {
    let server = RedisServer::start().unwrap();
    let mut raw = raw(&server);
    redis::cmd("SET")
        .arg("db0key")
        .arg("x")
        .query::<()>(&mut raw)
        .unwrap();
    let c = cache_with(RedisSettings {
        db: 2,
        purge: PurgeMode::Db,
        ..settings(server.port(), "p:")
    });
    c.set("k", &1).unwrap();
    redis::cmd("SELECT").arg(2).query::<()>(&mut raw).unwrap();
    redis::cmd("SET")
        .arg("foreign")
        .arg("x")
        .query::<()>(&mut raw)
        .unwrap();
    c.purge().unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut raw).unwrap(), 0);
    redis::cmd("SELECT").arg(0).query::<()>(&mut raw).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut raw).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// batches

#[test]
fn batch_operations_are_native() {
    let server = RedisServer::start().unwrap();
    let c = cache(server.port(), "batch:");
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let entries: Vec<(&str, usize)> = refs.iter().copied().zip(0..).collect();

    reset_stats(&server);
    c.set_many(&entries).unwrap();
    assert_eq!((calls(&server, "mset"), calls(&server, "set")), (1, 0));
    let got = c.get_many::<usize>(&refs).unwrap();
    assert_eq!(got, (0..100).map(Some).collect::<Vec<_>>());
    assert_eq!((calls(&server, "mget"), calls(&server, "get")), (1, 0));
    let mixed = c.get_many::<usize>(&["k1", "missing", "k2"]).unwrap();
    assert_eq!(mixed, [Some(1), None, Some(2)]);
    assert_eq!(c.delete_many(&["k0", "k1", "missing"]).unwrap(), 2);
    assert_eq!(calls(&server, "unlink"), 1);

    // With a TTL: one pipeline of SET … PX.
    let handler = c.handler();
    let pairs: Vec<(&str, &[u8])> = vec![("batch:t1", b"1"), ("batch:t2", b"2")];
    handler
        .set_many(&pairs, Some(Duration::from_secs(60)))
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("batch:t2")
        .query(&mut raw(&server))
        .unwrap();
    assert!(pttl > 50_000 && pttl <= 60_000, "PTTL {pttl}");
    assert_eq!(
        handler.get_many(&[]).unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    handler.set_many(&[], None).unwrap();
    assert_eq!(handler.delete_many(&[]).unwrap(), 0);
}

#[test]
fn oversized_values_are_refused_before_sending() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        max_value_size: 16,
        ..settings(server.port(), "big:")
    });
    let err = c.set("k", &"x".repeat(100)).unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { limit: 16, .. }),
        "{err}"
    );
    assert_eq!(c.get::<String>("k").unwrap(), None);
    // A real 2 MiB value is fine with the default limit.
    let big = cache(server.port(), "big2:");
    let value = "y".repeat(2 << 20);
    big.set("k", &value).unwrap();
    assert_eq!(big.get::<String>("k").unwrap(), Some(value));
}

// ---------------------------------------------------------------------------------------------
// add, counters, touch, exists

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

// ---------------------------------------------------------------------------------------------
// failures and recovery

#[test]
fn app_starts_while_the_server_is_down_and_recovers_when_it_comes_up() {
    let mut server = RedisServer::start().unwrap();
    server.kill().unwrap();
    let app = app("rd_lazy", &server)
        .set("cache.redis", "connect_timeout", 5.0)
        .setup()
        .expect("setup must not connect");
    let started = Instant::now();
    let err = app.cache().get::<String>("k").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    // Fail fast: a refused connection is reported at once, not after connect_timeout.
    assert_within(started, Duration::from_secs(4), "a refused connection");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(msg.contains("redis-server running"), "{msg}");

    server.restart().unwrap();
    app.cache().set("k", "back").unwrap();
    assert_eq!(
        app.cache().get::<String>("k").unwrap().as_deref(),
        Some("back")
    );
    app.close().unwrap();
}

#[test]
fn kill_call_restart_call_recovers() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "rs:");
    // Open several pooled connections, so that several are stale after the restart.
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in 0..50 {
                    c.set(&format!("{t}:{i}"), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(c.get::<i32>("0:1").unwrap(), Some(1));

    server.kill().unwrap();
    let started = Instant::now();
    let err = c.get::<i32>("0:1").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_within(started, Duration::from_secs(2), "a call to a killed server");
    let err = c.set("x", &1).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    server.restart().unwrap();
    // The first call after the restart already works: stale pooled connections are replaced.
    c.set("after", "restart").unwrap();
    assert_eq!(
        c.get::<String>("after").unwrap().as_deref(),
        Some("restart")
    );
    assert_eq!(c.get::<i32>("0:1").unwrap(), None); // no persistence: the data is gone
    for i in 0..20 {
        c.get::<i32>(&format!("3:{i}")).unwrap();
    }
}

#[test]
fn restart_without_a_failed_call_in_between_is_invisible() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "rs2:");
    c.set("k", &1).unwrap();
    server.restart().unwrap();
    // The pooled connection died with the old server; the call reconnects transparently.
    c.set("k", &2).unwrap();
    assert_eq!(c.get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn black_hole_server_times_out_within_the_configured_timeout() {
    let hole = BlackHole::start().unwrap();
    let timeout = Duration::from_millis(300);
    let c = cache_with(RedisSettings {
        port: hole.port(),
        prefix: "bh:".into(),
        connect_timeout: timeout.as_secs_f64(),
        response_timeout: timeout.as_secs_f64(),
        ..Default::default()
    });
    for op in ["get", "set", "delete", "purge", "get_many"] {
        let started = Instant::now();
        let result = match op {
            "get" => c.get::<i32>("k").map(drop),
            "set" => c.set("k", &1),
            "delete" => c.delete("k").map(drop),
            "purge" => c.purge(),
            _ => c.get_many::<i32>(&["a", "b"]).map(drop),
        };
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{op}: {err}");
        assert!(err.to_string().contains("connect_timeout"), "{op}: {err}");
        // Connecting (TCP, then the handshake's round trips) is bounded as a whole: well under
        // the 0.6-1.3 s an unbounded handshake took; generous for a loaded CI machine.
        assert_within(started, timeout * 4, op);
    }
    assert!(hole.accepted() >= 1);
}

#[test]
fn a_hung_server_times_out_on_response_and_then_recovers() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        response_timeout: 0.2,
        ..settings(server.port(), "hung:")
    });
    c.set("k", &1).unwrap();
    // Stop the server from answering anyone for 1.5 s.
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .query::<()>(&mut raw(&server))
        .unwrap();
    let started = Instant::now();
    let err = c.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("response_timeout"), "{err}");
    assert_within(started, Duration::from_millis(1200), "a paused server");
    std::thread::sleep(Duration::from_millis(1600));
    // The timed-out connection (with a reply still on its way) was dropped, not reused.
    assert_eq!(c.get::<i32>("k").unwrap(), Some(1));
    c.set("k2", &2).unwrap();
    assert_eq!(c.get::<i32>("k2").unwrap(), Some(2));
}

#[test]
fn an_exhausted_pool_waits_then_times_out() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        pool_size: 1,
        connect_timeout: 0.3,
        response_timeout: 5.0,
        ..settings(server.port(), "pool:")
    });
    c.set("k", &1).unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1200)
        .query::<()>(&mut raw(&server))
        .unwrap();
    std::thread::scope(|s| {
        let busy = s.spawn(|| c.get::<i32>("k"));
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let err = c.get::<i32>("k").unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("pool_size"), "{err}");
        assert_within(
            started,
            Duration::from_secs(1),
            "waiting for a pooled connection",
        );
        assert_eq!(busy.join().unwrap().unwrap(), Some(1));
    });
}

#[test]
fn eight_threads_of_mixed_operations_lose_nothing() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        pool_size: 4, // fewer connections than threads: they must share
        response_timeout: 5.0,
        connect_timeout: 5.0,
        ..settings(server.port(), "mt:")
    });
    let errors = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (c, errors) = (&c, &errors);
            s.spawn(move || {
                for i in 0..1000usize {
                    let key = format!("{t}:{i}");
                    let ok = match i % 5 {
                        0 | 1 => c.set(&key, &(t, i)).is_ok(),
                        2 => c
                            .get::<(usize, usize)>(&format!("{t}:{}", i - 1))
                            .map(|v| v == Some((t, i - 1)))
                            .unwrap_or(false),
                        3 => {
                            let prev = [format!("{t}:{}", i - 3), format!("{t}:{}", i - 2)];
                            let refs: Vec<&str> = prev.iter().map(String::as_str).collect();
                            c.get_many::<(usize, usize)>(&refs)
                                .map(|v| v == [Some((t, i - 3)), Some((t, i - 2))])
                                .unwrap_or(false)
                        }
                        _ => c.delete(&format!("{t}:{}", i - 4)).unwrap_or(false),
                    };
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    // Every thread set keys i%5 ∈ {0,1} and deleted the i%5 == 0 ones: 200 remain per thread.
    assert_eq!(raw_keys(&server, "mt:*").len(), 8 * 200);
    for t in 0..8usize {
        assert_eq!(
            c.get::<(usize, usize)>(&format!("{t}:996")).unwrap(),
            Some((t, 996))
        );
        assert_eq!(c.get::<(usize, usize)>(&format!("{t}:995")).unwrap(), None);
    }
}

#[test]
fn close_releases_connections_and_refuses_calls() {
    let server = RedisServer::start().unwrap();
    let handler = RedisCacheHandler::new(settings(server.port(), "close:")).unwrap();
    handler.set("close:k", b"v", None).unwrap();
    handler.close().unwrap();
    let err = handler.get("close:k").unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// auth and secrecy

#[test]
fn requirepass_auth() {
    let server = RedisServer::builder()
        .arg("--requirepass")
        .arg(PASSWORD)
        .start()
        .unwrap();

    let none = cache(server.port(), "auth:");
    let err = none.get::<i32>("k").unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");

    let wrong = cache_with(RedisSettings {
        password: Some(Secret::new("not-the-password")),
        ..settings(server.port(), "auth:")
    });
    let err = wrong.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("check [cache.redis] username and password"),
        "{err}"
    );
    assert!(
        !format!("{err} {err:?}").contains("not-the-password"),
        "{err:?}"
    );

    let right = cache_with(RedisSettings {
        password: Some(Secret::new(PASSWORD)),
        ..settings(server.port(), "auth:")
    });
    right.set("k", &1).unwrap();
    assert_eq!(right.get::<i32>("k").unwrap(), Some(1));

    // The same through a url, and through the app's config.
    let by_url = cache_with(RedisSettings {
        url: Some(format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port())),
        ..settings(1, "auth:")
    });
    assert_eq!(by_url.get::<i32>("k").unwrap(), Some(1));
    let app = Builder::new(
        Meta::new("rd_auth")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([
        ("RD_AUTH_CACHE_REDIS_PORT", server.port().to_string()),
        ("RD_AUTH_CACHE_REDIS_PASSWORD", PASSWORD.to_string()),
    ])
    .setup()
    .unwrap();
    app.cache().set("k", &2).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(2));
    app.close().unwrap();
}

#[test]
fn acl_user_limited_to_its_key_pattern() {
    let server = RedisServer::start().unwrap();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "cacheuser",
            "on",
            &format!(">{PASSWORD}"),
            "~rd_acl:*",
            "+@all",
        ])
        .query::<()>(&mut raw(&server))
        .unwrap();
    let app = app("rd_acl", &server)
        .set("cache.redis", "username", "cacheuser")
        .set("cache.redis", "password", PASSWORD)
        .setup()
        .unwrap();
    app.cache().set("k", &1).unwrap();
    app.cache().set_many(&[("a", 1), ("b", 2)]).unwrap();
    assert_eq!(
        app.cache().get_many::<i32>(&["a", "b"]).unwrap(),
        [Some(1), Some(2)]
    );
    // The counters' script, add, touch and exists work within the user's key pattern.
    assert_eq!(app.cache().incr("n", 2).unwrap(), 2);
    assert!(app.cache().add("once", &1).unwrap());
    assert!(app.cache().touch("once", None).unwrap());
    assert!(app.cache().exists("n").unwrap());
    app.cache().purge().unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), None);
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query(
            &mut redis::Client::open(format!(
                "redis://cacheuser:{PASSWORD}@{}",
                server.host_spec()
            ))
            .unwrap()
            .get_connection()
            .unwrap(),
        )
        .unwrap();
    assert_eq!(whoami, "cacheuser");

    // A prefix outside the user's key pattern is refused, with a message that says why.
    let other = cache_with(RedisSettings {
        username: Some("cacheuser".into()),
        password: Some(Secret::new(PASSWORD)),
        ..settings(server.port(), "other:")
    });
    let err = other.set("k", &1).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("ACL user needs access"), "{err}");

    // Wrong password for the ACL user.
    let wrong = cache_with(RedisSettings {
        url: Some(format!(
            "redis://cacheuser:wrong-{PASSWORD}@{}",
            server.host_spec()
        )),
        ..settings(1, "rd_acl:")
    });
    let err = wrong.get::<i32>("k").unwrap_err();
    assert!(err.to_string().contains("authentication"), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
    app.close().unwrap();
}

#[test]
fn the_password_is_never_printed() {
    let server = RedisServer::builder()
        .arg("--requirepass")
        .arg(PASSWORD)
        .start()
        .unwrap();
    let app = app("rd_secret", &server)
        .set("cache.redis", "password", PASSWORD)
        .setup()
        .unwrap();
    let mut shown = vec![
        format!("{:?}", app.cache()),
        format!("{:?}", app.cache().handler_label()),
    ];

    let url = format!("redis://user:{PASSWORD}@127.0.0.1:{}/0", server.port());
    let settings = RedisSettings {
        url: Some(url.clone()),
        password: Some(Secret::new(PASSWORD)),
        ..Default::default()
    };
    shown.push(format!("{settings:?}"));
    shown.push(format!("{}", Secret::new(PASSWORD)));
    let handler = RedisCacheHandler::new(settings).unwrap();
    shown.push(format!("{handler:?}"));
    shown.push(handler.target().to_string());
    // Errors: auth failure (user does not exist), refused connection, timeout, bad url.
    let err = handler.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let mut down = RedisServer::start().unwrap();
    down.kill().unwrap();
    let refused = RedisCacheHandler::new(RedisSettings {
        url: Some(format!("redis://:{PASSWORD}@127.0.0.1:{}/0", down.port())),
        ..Default::default()
    })
    .unwrap();
    let err = refused.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let hole = BlackHole::start().unwrap();
    let hung = RedisCacheHandler::new(RedisSettings {
        port: hole.port(),
        password: Some(Secret::new(PASSWORD)),
        connect_timeout: 0.2,
        ..Default::default()
    })
    .unwrap();
    let err = hung.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let err = RedisCacheHandler::new(RedisSettings {
        url: Some(format!("redis//{PASSWORD}@nowhere")),
        ..Default::default()
    })
    .unwrap_err();
    shown.push(format!("{err} {err:?}"));

    for text in &shown {
        assert!(!text.contains(PASSWORD), "password printed: {text}");
    }
    app.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A CA and a server certificate for `localhost` / `127.0.0.1`, made with the `openssl` CLI.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn generate() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cement-redis-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("cannot run openssl ({e}); install it: apt-get install openssl")
                });
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=cement test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ];
        ca.extend(ec);
        ca.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&ca);
        let mut csr = vec![
            "req",
            "-new",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ];
        csr.extend(ec);
        openssl(&csr);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "ext.cnf",
        ]);
        Certificates { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tls_with_a_ca_file() {
    let certs = Certificates::generate();
    let tls_port = free_port();
    let server = RedisServer::builder()
        .args(["--tls-port".to_string(), tls_port.to_string()])
        .args([
            "--tls-cert-file",
            &certs.path("server.crt"),
            "--tls-key-file",
            &certs.path("server.key"),
        ])
        .args([
            "--tls-ca-cert-file",
            &certs.path("ca.crt"),
            "--tls-auth-clients",
            "no",
        ])
        .start()
        .unwrap();
    assert!(Path::new(&certs.path("ca.crt")).exists());

    // rediss:// url + CA file.
    let c = cache_with(RedisSettings {
        url: Some(format!("rediss://localhost:{tls_port}")),
        tls_ca_file: Some(certs.path("ca.crt").into()),
        ..settings(1, "tls:")
    });
    c.set("k", "over tls").unwrap();
    assert_eq!(c.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // tls = true with host/port (an IP address in the certificate's SANs).
    let c2 = cache_with(RedisSettings {
        tls: true,
        tls_ca_file: Some(certs.path("ca.crt").into()),
        ..settings(tls_port, "tls:")
    });
    assert_eq!(c2.get::<String>("k").unwrap().as_deref(), Some("over tls"));
    // The plain port sees the same data.
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("tls:k")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\xCE\x01\x01\"over tls\""[..]));

    // Without the CA, the certificate is not trusted: a clear error, no panic.
    let untrusted = cache_with(RedisSettings {
        url: Some(format!("rediss://localhost:{tls_port}")),
        ..settings(1, "tls:")
    });
    let err = untrusted.get::<String>("k").unwrap_err();
    assert!(err.to_string().contains("tls_ca_file"), "{err}");
    // Plain redis:// against the TLS port fails too (reset or timeout), without hanging.
    let plain = cache(tls_port, "tls:");
    let started = Instant::now();
    let err = plain.get::<String>("k").unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }),
        "{err}"
    );
    assert_within(started, Duration::from_secs(3), "plain text to a TLS port");
}
