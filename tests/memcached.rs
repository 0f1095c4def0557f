//! The memcached cache handler against real `memcached` processes on free loopback ports.
//!
//! Needs `memcached` (`apt-get install memcached`); the tests fail, never skip, when it is
//! missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cement::cache::{Cache, CacheHandler, Capabilities, KeyRules};
use cement::testing::BlackHole;
use cement::{Builder, Error, Meta};
use cement_ext::memcached::{MemcachedCacheHandler, MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

// ---------------------------------------------------------------------------------------------
// helpers

fn settings(hosts: &[String], prefix: &str) -> MemcachedSettings {
    MemcachedSettings {
        hosts: hosts.to_vec(),
        prefix: prefix.into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    }
}

fn handler_with(settings: MemcachedSettings) -> MemcachedCacheHandler {
    MemcachedCacheHandler::new(settings).expect("valid settings")
}

fn cache_with(settings: MemcachedSettings) -> Cache {
    let prefix = settings.prefix.clone();
    Cache::new("memcached", Box::new(handler_with(settings)), prefix, None)
}

fn cache(hosts: &[String], prefix: &str) -> Cache {
    cache_with(settings(hosts, prefix))
}

fn hosts(servers: &[&MemcachedServer]) -> Vec<String> {
    servers.iter().map(|s| s.host_spec()).collect()
}

/// An app with the memcached handler, set up through the framework (config layers, registry).
fn app(label: &str) -> Builder {
    Builder::new(
        Meta::new(label)
            .extensions(["memcached"])
            .cache_handler("memcached")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
}

/// For each key, whether `server` holds it (`mg <key>` pipelined over one connection).
fn held_by(server: &MemcachedServer, keys: &[String]) -> Vec<bool> {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = String::new();
    for key in keys {
        request.push_str(&format!("mg {key}\r\n"));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    keys.iter()
        .map(|key| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            match line.trim_end() {
                "HD" => true,
                "EN" => false,
                other => panic!("unexpected reply {other:?} for {key}"),
            }
        })
        .collect()
}

/// A cache call, boxed so that several can be listed.
type Call<'a> = Box<dyn Fn() -> cement::Result<()> + 'a>;

/// Asserts that `call` failed with a timeout (or unavailability) within a few times the
/// configured timeouts.
fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    bound: Duration,
    call: impl FnOnce() -> cement::Result<T>,
) -> Error {
    let started = Instant::now();
    let result = call();
    let elapsed = started.elapsed();
    let err = result.expect_err(&format!("{what} should fail"));
    println!("{what}: failed after {elapsed:?}: {err}");
    assert!(
        elapsed < bound,
        "{what} took {elapsed:?} to fail (bound {bound:?}): {err}"
    );
    err
}

// ---------------------------------------------------------------------------------------------
// the contract

#[test]
fn conformance_suite_one_server() {
    let server = MemcachedServer::start().unwrap();
    let app = app("mc_conformance")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "memcached");
    cement::testing::conformance::run_all(app.cache());
}

#[test]
fn conformance_suite_three_servers() {
    let servers = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let cache = cache(&hosts(&[&servers[0], &servers[1], &servers[2]]), "mc3:");
    cement::testing::conformance::run_all(&cache);
}

#[test]
fn conformance_suite_server_purge_mode() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&[server.host_spec()], "mcs:")
    });
    cement::testing::conformance::run_all(&cache);
}

/// The seed's "Working with Caches", through `#[derive(App)]`, plus Cement's own memcached tests.
#[test]
fn derived_app_works_like_cements_memcached_tests() {
    #[derive(cement::App)]
    #[app(label = "mc_test", extensions = ["memcached"], cache_handler = "memcached")]
    struct McApp;

    let server = MemcachedServer::start().unwrap();
    let app = McApp::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .setup()
        .unwrap();
    app.run().unwrap();
    let cache = app.cache();
    // test_memcached_set: ints round-trip as ints
    cache.set("key", &1001).unwrap();
    assert_eq!(cache.get::<i32>("key").unwrap(), Some(1001));
    // test_memcached_delete / get: delete reports presence; misses use the fallback
    assert!(cache.delete("key").unwrap());
    assert!(!cache.delete("key").unwrap());
    assert_eq!(cache.get::<i32>("key").unwrap(), None);
    assert_eq!(cache.get_or("key", 1234).unwrap(), 1234);
    // test_memcached_purge
    cache.set("key", &1002).unwrap();
    cache.purge().unwrap();
    assert_eq!(cache.get::<i32>("key").unwrap(), None);
    // the prefix defaults to "<app label>:"
    assert_eq!(cache.prefix(), "mc_test:");
    assert_eq!(cache.handler().key_rules(), KeyRules::MEMCACHED);
    app.close().unwrap();
}

#[test]
fn bytes_round_trip_at_the_handler_level() {
    let server = MemcachedServer::start().unwrap();
    let handler = handler_with(settings(&[server.host_spec()], "h:"));
    for value in [&b""[..], b"\0\r\n\xff", &[7u8; 100_000]] {
        handler.set("h:k", value, None).unwrap();
        assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(value));
    }
    assert!(handler.delete("h:k").unwrap());
    assert!(!handler.delete("h:k").unwrap());
    assert_eq!(handler.get("h:k").unwrap(), None);
    handler.close().unwrap();
    // usable again after close: it reconnects
    handler.set("h:k", b"again", None).unwrap();
    assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(&b"again"[..]));
}

// ---------------------------------------------------------------------------------------------
// config

#[test]
fn hosts_from_a_comma_string_and_the_environment() {
    let (a, b) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let app = app("mc_env")
        .env_vars([(
            "MC_ENV_CACHE_MEMCACHED_HOSTS",
            format!("{} , {}", a.host_spec(), b.host_spec()),
        )])
        .setup()
        .unwrap();
    let hosts: Vec<String> = app.config().get("cache.memcached", "hosts").unwrap();
    assert_eq!(hosts, [a.host_spec(), b.host_spec()]);
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    for key in &keys {
        app.cache().set(key, key).unwrap();
    }
    // both servers got some of the keys
    let wire: Vec<String> = keys.iter().map(|k| format!("mc_env:{k}")).collect();
    assert!(held_by(&a, &wire).iter().any(|&h| h));
    assert!(held_by(&b, &wire).iter().any(|&h| h));
    for key in &keys {
        assert_eq!(
            app.cache().get::<String>(key).unwrap().as_deref(),
            Some(key.as_str())
        );
    }
}

#[test]
fn malformed_hosts_are_config_errors_naming_entry_and_origin() {
    let err = app("mc_bad")
        .env_vars([("MC_BAD_CACHE_MEMCACHED_HOSTS", "127.0.0.1:11211,,cache2")])
        .setup()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(
        msg.contains("hosts entry 2") && msg.contains("empty"),
        "{msg}"
    );
    assert!(msg.contains("MC_BAD_CACHE_MEMCACHED_HOSTS"), "{msg}");

    let err = app("mc_bad2")
        .set("cache.memcached", "hosts", vec!["cache1:port"])
        .setup()
        .unwrap_err()
        .to_string();
    assert!(err.contains("port \"port\" is not a number"), "{err}");

    let err = app("mc_bad3")
        .set("cache.memcached", "purge", "all")
        .setup()
        .unwrap_err()
        .to_string();
    assert!(err.contains("purge") && err.contains("all"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// keys

#[test]
fn keys_cannot_inject_commands() {
    let server = MemcachedServer::start().unwrap();
    assert_eq!(
        server.command("set sentinel 0 0 1\r\nS").unwrap(),
        "STORED\r\n"
    );
    let flushes = server.stat("cmd_flush").unwrap();
    let cache = cache(&[server.host_spec()], "inj:");
    let handler = handler_with(settings(&[server.host_spec()], "inj:"));
    let evil = [
        "a\r\nflush_all\r\n",
        "a 0 0 1\r\nx\r\nflush_all\r\nset b 0 0 1\r\nz",
        "x\r\nflush_all",
        "x\nflush_all",
        "x\rflush_all",
        "k\0flush_all",
        "mg sentinel\r\nmd sentinel",
        "b",
        " leading space",
        "tab\tflush_all",
    ];
    for (i, key) in evil.iter().enumerate() {
        // through the facade (mapped keys) ...
        cache.set(key, &i).unwrap();
        assert_eq!(cache.get::<usize>(key).unwrap(), Some(i), "{key:?}");
        // ... and straight to the handler (the client base64-encodes unsafe keys)
        handler.set(key, key.as_bytes(), None).unwrap();
        assert_eq!(
            handler.get(key).unwrap().as_deref(),
            Some(key.as_bytes()),
            "{key:?}"
        );
    }
    // every key is its own entry
    for (i, key) in evil.iter().enumerate() {
        assert_eq!(cache.get::<usize>(key).unwrap(), Some(i), "{key:?}");
        assert!(cache.delete(key).unwrap(), "{key:?}");
        assert!(handler.delete(key).unwrap(), "{key:?}");
    }
    assert_eq!(
        server.stat("cmd_flush").unwrap(),
        flushes,
        "a key ran flush_all"
    );
    assert_eq!(
        server.command("get sentinel").unwrap(),
        "VALUE sentinel 0 1\r\nS\r\nEND\r\n"
    );
    assert_eq!(
        server.command("mg b").unwrap(),
        "EN\r\n",
        "a key created key `b`"
    );
    // the connection stayed in step: plain keys still work
    cache.set("plain", "ok").unwrap();
    assert_eq!(cache.get::<String>("plain").unwrap().as_deref(), Some("ok"));
}

#[test]
fn long_and_unicode_keys() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "uk:");
    let long = "é".repeat(400);
    let keys = ["héllo wörld", "日本語のキー", long.as_str(), "emoji 🦀"];
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, &i).unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(cache.get::<usize>(key).unwrap(), Some(i), "{key}");
    }
    // a safe non-ASCII key is sent as it is, not expanded
    let wire = KeyRules::MEMCACHED.wire_key("uk:", "日本語のキー").unwrap();
    assert_eq!(server.command(&format!("mg {wire}")).unwrap(), "HD\r\n");
    // the handler refuses what memcached cannot take, before sending
    let handler = handler_with(settings(&[server.host_spec()], "uk:"));
    let err = handler.set(&"k".repeat(251), b"v", None).unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------------
// distribution

/// Three real servers: record where keys land, remove one, add one, and measure what moved.
#[test]
fn consistent_hashing_moves_about_one_nth_of_the_keys() {
    let s = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let three = hosts(&[&s[0], &s[1], &s[2]]);
    let cache3 = cache(&three, "ring:");
    const N: usize = 3000;
    let keys: Vec<String> = (0..N).map(|i| format!("key:{i}")).collect();
    let entries: Vec<(&str, usize)> = keys.iter().map(String::as_str).zip(0..).collect();
    cache3.set_many(&entries).unwrap();

    // Every key is on exactly one server, and each server has a fair share.
    let wire: Vec<String> = keys.iter().map(|k| format!("ring:{k}")).collect();
    let on: Vec<Vec<bool>> = s[..3].iter().map(|server| held_by(server, &wire)).collect();
    for i in 0..N {
        assert_eq!(
            on.iter().filter(|held| held[i]).count(),
            1,
            "{} is not on exactly one server",
            keys[i]
        );
    }
    let shares: Vec<usize> = on
        .iter()
        .map(|held| held.iter().filter(|&&h| h).count())
        .collect();
    println!("3 servers: keys per server {shares:?} of {N}");
    for share in &shares {
        assert!(*share > N / 6, "unbalanced: {shares:?}");
    }

    // Remove the middle server: only its keys move (they miss on the survivors).
    let two = vec![three[0].clone(), three[2].clone()];
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let found = cache(&two, "ring:").get_many::<usize>(&refs).unwrap();
    let moved = found.iter().filter(|v| v.is_none()).count();
    println!(
        "removing 1 of 3 servers moved {moved} of {N} keys ({:.1}%; the removed server held {})",
        100.0 * moved as f64 / N as f64,
        shares[1]
    );
    assert_eq!(moved, shares[1], "keys of surviving servers moved");
    for (i, value) in found.iter().enumerate() {
        if let Some(value) = value {
            assert_eq!(*value, i);
        }
    }

    // Add a fourth server: only keys that now belong to it move.
    let four = hosts(&[&s[0], &s[1], &s[2], &s[3]]);
    let found = cache(&four, "ring:").get_many::<usize>(&refs).unwrap();
    let moved = found.iter().filter(|v| v.is_none()).count();
    println!(
        "adding a 4th server moved {moved} of {N} keys ({:.1}%)",
        100.0 * moved as f64 / N as f64
    );
    assert!(moved > N / 8 && moved < N * 3 / 8, "{moved} of {N} moved");

    // The order of `hosts` does not matter.
    let mut reversed = three.clone();
    reversed.reverse();
    let found = cache(&reversed, "ring:").get_many::<usize>(&refs).unwrap();
    assert!(
        found.iter().all(Option::is_some),
        "reordering hosts lost keys"
    );
}

#[test]
fn batch_operations_span_servers() {
    let s = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let cache = cache(&hosts(&[&s[0], &s[1], &s[2]]), "batch:");
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let entries: Vec<(&str, String)> = keys
        .iter()
        .map(|k| (k.as_str(), k.to_uppercase()))
        .step_by(2)
        .collect();
    cache.set_many(&entries).unwrap();
    let mut refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    refs.push("k0"); // a key twice
    let got = cache.get_many::<String>(&refs).unwrap();
    assert_eq!(got.len(), refs.len());
    for (key, value) in refs.iter().zip(&got) {
        let n: usize = key[1..].parse().unwrap();
        let expected = n.is_multiple_of(2).then(|| key.to_uppercase());
        assert_eq!(value, &expected, "{key}");
    }
    assert_eq!(cache.delete_many(&refs).unwrap(), 250);
    assert!(cache
        .get_many::<String>(&refs)
        .unwrap()
        .iter()
        .all(Option::is_none));
    assert_eq!(cache.delete_many(&refs).unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// values and TTLs

#[test]
fn values_over_the_limit_fail_before_sending_and_the_connection_stays_usable() {
    let server = MemcachedServer::start().unwrap(); // -I 1m, the default
    let handler = handler_with(settings(&[server.host_spec()], "big:"));
    let key = "big:value";
    // The largest value that fits the server's 1 MiB item limit under this key.
    let fits = 1024 * 1024 - key.len() - 63;
    let value = vec![b'v'; fits];
    handler.set(key, &value, None).unwrap();
    assert_eq!(handler.get(key).unwrap().map(|v| v.len()), Some(fits));
    let sets_before = server.stat("cmd_set").unwrap();
    for size in [fits + 1, 1024 * 1024, 1024 * 1024 + 1, 5 * 1024 * 1024] {
        let err = handler.set(key, &vec![b'x'; size], None).unwrap_err();
        assert!(
            matches!(err, Error::ValueTooLarge { backend: "memcached", size: s, limit } if s == size && limit == fits),
            "{size}: {err}"
        );
    }
    assert_eq!(
        server.stat("cmd_set").unwrap(),
        sets_before,
        "an oversized value was sent"
    );
    // the earlier value is intact and the handler works on
    assert_eq!(handler.get(key).unwrap().map(|v| v.len()), Some(fits));
    handler.set("big:small", b"s", None).unwrap();
    assert_eq!(
        handler.get("big:small").unwrap().as_deref(),
        Some(&b"s"[..])
    );

    // Through the facade too (the JSON-encoded size counts).
    let cache = cache(&[server.host_spec()], "big:");
    let err = cache.set("huge", &"x".repeat(2 * 1024 * 1024)).unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    cache.set("after", "fine").unwrap();
    assert_eq!(
        cache.get::<String>("after").unwrap().as_deref(),
        Some("fine")
    );
}

#[test]
fn a_server_with_a_smaller_item_limit_rejects_cleanly() {
    // The config says 1 MiB but this server takes 512 KiB items: the server's rejection is a
    // ValueTooLarge too, and nothing is left out of step.
    let server = MemcachedServer::builder()
        .arg("-I")
        .arg("512k")
        .start()
        .unwrap();
    let handler = handler_with(settings(&[server.host_spec()], "lim:"));
    let err = handler
        .set("lim:k", &vec![0u8; 700 * 1024], None)
        .unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { size, .. } if size == 700 * 1024),
        "{err}"
    );
    handler.set("lim:k", b"small", None).unwrap();
    assert_eq!(
        handler.get("lim:k").unwrap().as_deref(),
        Some(&b"small"[..])
    );
}

#[test]
fn ttls_round_up_and_long_ones_are_absolute() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "ttl:");
    let ttl_of = |key: &str| -> i64 {
        let reply = server.command(&format!("mg ttl:{key} t")).unwrap();
        let token = reply
            .trim_end()
            .strip_prefix("HD t")
            .unwrap_or_else(|| panic!("{key}: {reply:?}"));
        token.parse().unwrap()
    };
    // sub-second parts round up: 1.5 s is 2 s
    cache
        .set_with_ttl("short", &1, Duration::from_millis(1500))
        .unwrap();
    assert!((1..=2).contains(&ttl_of("short")), "{}", ttl_of("short"));
    // 10 ms is one second, never 0 = "never" (-1); it may have expired already
    cache
        .set_with_ttl("tiny", &1, Duration::from_millis(10))
        .unwrap();
    let reply = server.command("mg ttl:tiny t").unwrap();
    assert!(
        matches!(reply.as_str(), "HD t0\r\n" | "HD t1\r\n" | "EN\r\n"),
        "{reply:?}"
    );
    // 31 days: sent as an absolute time, so memcached keeps it ~31 days (not expired at once)
    let month = Duration::from_secs(31 * 24 * 3600);
    cache.set_with_ttl("long", &2, month).unwrap();
    let left = ttl_of("long");
    assert!(
        left > 31 * 24 * 3600 - 60 && left <= 31 * 24 * 3600,
        "{left}"
    );
    assert_eq!(cache.get::<i32>("long").unwrap(), Some(2));
    // no TTL: never
    cache.set("forever", &3).unwrap();
    assert_eq!(ttl_of("forever"), -1);
    // the short one is gone after its two seconds (memcached's clock ticks once a second)
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(cache.get::<i32>("short").unwrap(), None);
    assert_eq!(cache.get::<i32>("forever").unwrap(), Some(3));
}

#[test]
fn expire_time_from_config_is_the_default_ttl() {
    let server = MemcachedServer::start().unwrap();
    let app = app("mc_expire")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .set("cache.memcached", "expire_time", 300)
        .setup()
        .unwrap();
    assert_eq!(app.cache().default_ttl(), Some(Duration::from_secs(300)));
    app.cache().set("k", &1).unwrap();
    let reply = server.command("mg mc_expire:k t").unwrap();
    let left: i64 = reply
        .trim_end()
        .strip_prefix("HD t")
        .unwrap()
        .parse()
        .unwrap();
    assert!((290..=300).contains(&left), "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// purge

#[test]
fn purge_removes_only_this_prefix() {
    let server = MemcachedServer::start().unwrap();
    let flushes = server.stat("cmd_flush").unwrap();
    let (a, b) = (
        cache(&[server.host_spec()], "a:"),
        cache(&[server.host_spec()], "b:"),
    );
    a.set("k", "a").unwrap();
    b.set("k", "b").unwrap();
    a.purge().unwrap();
    assert_eq!(a.get::<String>("k").unwrap(), None);
    assert!(!a.delete("k").unwrap(), "delete found a purged value");
    assert_eq!(b.get::<String>("k").unwrap().as_deref(), Some("b"));
    assert_eq!(
        server.stat("cmd_flush").unwrap(),
        flushes,
        "prefix purge flushed the server"
    );
    // the namespace works on after a purge, and purging twice is fine
    a.set("k", "a2").unwrap();
    assert_eq!(a.get::<String>("k").unwrap().as_deref(), Some("a2"));
    a.purge().unwrap();
    a.purge().unwrap();
    assert_eq!(a.get::<String>("k").unwrap(), None);
    let many = a.get_many::<String>(&["k", "x"]).unwrap();
    assert_eq!(many, [None, None]);
}

#[test]
fn purge_by_another_process_is_seen_at_once() {
    let server = MemcachedServer::start().unwrap();
    // Two handlers with the same prefix stand for two processes of one app.
    let (one, two) = (
        cache(&[server.host_spec()], "app:"),
        cache(&[server.host_spec()], "app:"),
    );
    one.set("k1", &1).unwrap();
    assert_eq!(two.get::<i32>("k1").unwrap(), Some(1));
    two.purge().unwrap();
    assert_eq!(one.get::<i32>("k1").unwrap(), None);
    // `one` still has the old generation cached for writes: its store must notice and re-stamp
    let other = cache(&[server.host_spec()], "app:");
    other.set("warm", &0).unwrap();
    two.purge().unwrap();
    other.set("k2", &2).unwrap();
    assert_eq!(other.get::<i32>("k2").unwrap(), Some(2));
    assert_eq!(two.get::<i32>("k2").unwrap(), Some(2));
    assert_eq!(two.get::<i32>("warm").unwrap(), None);
}

#[test]
fn losing_the_generation_turns_values_into_misses_never_stale_hits() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "gen:");
    cache.set("k", &1).unwrap();
    // The generation key is evicted (here: deleted by hand).
    assert_eq!(server.command("delete gen:#~gen").unwrap(), "DELETED\r\n");
    assert_eq!(cache.get::<i32>("k").unwrap(), None);
    // writes create a new generation and work again
    cache.set("k", &2).unwrap();
    assert_eq!(cache.get::<i32>("k").unwrap(), Some(2));
    // a purge followed by the loss of the generation cannot bring purged values back
    cache.set("old", &3).unwrap();
    cache.purge().unwrap();
    assert_eq!(server.command("delete gen:#~gen").unwrap(), "DELETED\r\n");
    cache.set("new", &4).unwrap();
    assert_eq!(cache.get::<i32>("old").unwrap(), None);
    assert_eq!(cache.get::<i32>("new").unwrap(), Some(4));
    // flush_all by someone else: all misses, then fine again
    assert_eq!(server.command("flush_all").unwrap(), "OK\r\n");
    assert_eq!(cache.get::<i32>("new").unwrap(), None);
    cache.set("new", &5).unwrap();
    assert_eq!(cache.get::<i32>("new").unwrap(), Some(5));
}

#[test]
fn purge_server_mode_flushes_every_server() {
    let (s1, s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let all = hosts(&[&s1, &s2]);
    let flushing = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&all, "f:")
    });
    let bystander = cache(&all, "other:");
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for key in &keys {
        flushing.set(key, key).unwrap();
        bystander.set(key, key).unwrap();
    }
    let before = (s1.stat("cmd_flush").unwrap(), s2.stat("cmd_flush").unwrap());
    flushing.purge().unwrap();
    assert_eq!(
        (s1.stat("cmd_flush").unwrap(), s2.stat("cmd_flush").unwrap()),
        (before.0 + 1, before.1 + 1)
    );
    for key in &keys {
        assert_eq!(flushing.get::<String>(key).unwrap(), None);
        assert_eq!(
            bystander.get::<String>(key).unwrap(),
            None,
            "flush_all spares nothing"
        );
    }
    // no generation key in server mode
    assert_eq!(s1.command("mg f:#~gen").unwrap(), "EN\r\n");
    flushing.set("k", "v").unwrap();
    assert_eq!(s1.command("mg f:#~gen").unwrap(), "EN\r\n");
    assert_eq!(flushing.get::<String>("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn server_and_prefix_mode_values_do_not_mix() {
    let server = MemcachedServer::start().unwrap();
    let prefix_mode = cache(&[server.host_spec()], "mix:");
    let server_mode = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&[server.host_spec()], "mix:")
    });
    prefix_mode.set("p", &1).unwrap();
    server_mode.set("s", &2).unwrap();
    assert_eq!(server_mode.get::<i32>("p").unwrap(), None);
    assert_eq!(prefix_mode.get::<i32>("s").unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// failures

#[test]
fn starts_while_the_server_is_down_and_recovers_by_itself() {
    let mut server = MemcachedServer::start().unwrap();
    server.kill().unwrap();
    let app = app("mc_down")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .set("cache.memcached", "connect_timeout", 0.5)
        .set("cache.memcached", "response_timeout", 0.5)
        .setup()
        .expect("setup must not need the server");
    let bound = Duration::from_secs(3);
    let err = assert_fails_fast("get while down", bound, || app.cache().get::<i32>("k"));
    assert!(
        matches!(
            err,
            Error::Unavailable {
                backend: "memcached",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&server.host_spec()), "{err}");
    let err = assert_fails_fast("set while down", bound, || app.cache().set("k", &1));
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let err = assert_fails_fast("purge while down", bound, || app.cache().purge());
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    server.restart().unwrap();
    app.cache().set("k", &1).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(1));

    // kill, call, restart on the same port, call: the pooled connections recover by themselves
    server.kill().unwrap();
    let err = assert_fails_fast("get after kill", bound, || app.cache().get::<i32>("k"));
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    server.restart().unwrap();
    assert_eq!(
        app.cache().get::<i32>("k").unwrap(),
        None,
        "a restarted memcached is empty"
    );
    app.cache().set("k", &2).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn host_names_are_resolved_when_first_used() {
    let server = MemcachedServer::start().unwrap();
    // A name that does not resolve: setup works, calls say what is wrong.
    let unresolvable = cache(&["no-such-host.invalid".to_string()], "dns:");
    let err = unresolvable.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains("no-such-host.invalid:11211"),
        "{err}"
    );
    // A name that does: `localhost`.
    let cache = cache(&[format!("localhost:{}", server.port())], "dns:");
    cache.set("k", &1).unwrap();
    assert_eq!(cache.get::<i32>("k").unwrap(), Some(1));
}

#[test]
fn a_black_hole_server_times_out_every_call() {
    let hole = BlackHole::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let cache = cache_with(MemcachedSettings {
            connect_timeout: 0.3,
            response_timeout: 0.3,
            purge,
            ..settings(&[hole.host_spec()], "bh:")
        });
        // connect (0.3 s) + exchange (0.3 s) at most; allow a few times that
        let bound = Duration::from_secs(3);
        let checks: Vec<(&str, Call<'_>)> = vec![
            ("get", Box::new(|| cache.get::<i32>("k").map(drop))),
            ("set", Box::new(|| cache.set("k", &1))),
            ("delete", Box::new(|| cache.delete("k").map(drop))),
            (
                "get_many",
                Box::new(|| cache.get_many::<i32>(&["a", "b"]).map(drop)),
            ),
            (
                "set_many",
                Box::new(|| cache.set_many(&[("a", 1), ("b", 2)])),
            ),
            ("purge", Box::new(|| cache.purge())),
        ];
        for (what, call) in checks {
            let err = assert_fails_fast(what, bound, call);
            assert!(
                matches!(
                    err,
                    Error::Timeout {
                        backend: "memcached",
                        ..
                    }
                ),
                "{purge:?} {what}: {err}"
            );
        }
    }
    assert!(hole.accepted() > 0);
}

#[test]
fn one_server_down_fails_only_its_keys() {
    let (s1, mut s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let all = hosts(&[&s1, &s2]);
    let handler = handler_with(settings(&all, "part:"));
    let keys: Vec<String> = (0..40).map(|i| format!("part:{i}")).collect();
    for key in &keys {
        handler.set(key, key.as_bytes(), None).unwrap();
    }
    s2.kill().unwrap();
    let mut ok = 0;
    for key in &keys {
        match handler.get(key) {
            Ok(value) => {
                assert_eq!(handler.server_for(key), s1.host_spec());
                assert_eq!(value.as_deref(), Some(key.as_bytes()));
                ok += 1;
            }
            Err(err) => {
                assert_eq!(handler.server_for(key), s2.host_spec());
                assert!(matches!(err, Error::Unavailable { .. }), "{err}");
            }
        }
    }
    assert!(ok > 0 && ok < keys.len(), "{ok}");
    // purge reports the dead server but purges the live one
    assert!(handler.purge().is_err());
    let live = keys
        .iter()
        .find(|k| handler.server_for(k) == s1.host_spec())
        .unwrap();
    assert_eq!(handler.get(live).unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// atomic operations: add, counters, touch, exists

/// What memcached says is left of `wire_key`'s TTL (`mg <key> t`): seconds, `-1` for never;
/// `None` when the key is missing.
fn remaining_ttl(server: &MemcachedServer, wire_key: &str) -> Option<i64> {
    let reply = server.command(&format!("mg {wire_key} t")).unwrap();
    if reply.starts_with("EN") {
        return None;
    }
    let ttl = reply
        .split_whitespace()
        .find_map(|flag| flag.strip_prefix('t'))
        .and_then(|t| t.parse().ok());
    assert!(ttl.is_some(), "unexpected reply {reply:?}");
    ttl
}

fn server_mode(hosts: &[String], prefix: &str) -> Cache {
    cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(hosts, prefix)
    })
}

#[test]
fn counters_are_native_stamped_and_restart_after_a_purge() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "ctr:");
    assert_eq!(cache.capabilities(), Capabilities::ALL);
    assert_eq!(cache.incr("hits", 5).unwrap(), 5);
    // memcached's own counter: raw digits, stamped with the generation like every value
    let wire = cache.wire_key("hits").unwrap();
    let raw = server.command(&format!("mg {wire} v f")).unwrap();
    assert!(
        raw.starts_with("VA 1 f") && !raw.starts_with("VA 1 f0 ") && raw.ends_with("\r\n5\r\n"),
        "{raw:?}"
    );
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(5));
    cache.set("set", &41u64).unwrap();
    assert_eq!(cache.incr("set", 1).unwrap(), 42);

    cache.purge().unwrap();
    assert_eq!(cache.get::<u64>("hits").unwrap(), None);
    assert!(!cache.exists("hits").unwrap());
    assert_eq!(
        cache.incr("hits", 2).unwrap(),
        2,
        "a purged counter starts over"
    );
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(2));
    cache.purge().unwrap();
    assert_eq!(cache.decr("hits", 1).unwrap(), 0);
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(0));
    // a purged value that is not a number is absent too, not an error
    cache.set("text", "words").unwrap();
    cache.purge().unwrap();
    assert_eq!(cache.incr("text", 3).unwrap(), 3);

    // Another process purges, so this one's cached generation is stale: its next increment
    // still restarts the counter, and a counter it creates is stamped with the new generation.
    let other = cache_with(settings(&[server.host_spec()], "ctr:"));
    assert_eq!(cache.incr("shared", 10).unwrap(), 10);
    other.purge().unwrap();
    assert_eq!(cache.incr("shared", 1).unwrap(), 1);
    assert_eq!(other.get::<u64>("shared").unwrap(), Some(1));
    other.purge().unwrap();
    assert_eq!(cache.incr("new", 4).unwrap(), 4);
    assert_eq!(other.get::<u64>("new").unwrap(), Some(4));

    // The server loses the generation (eviction, restart): counters restart, never resume.
    assert_eq!(server.command("delete ctr:#~gen").unwrap(), "DELETED\r\n");
    assert_eq!(cache.incr("new", 1).unwrap(), 1);
    assert_eq!(other.get::<u64>("new").unwrap(), Some(1));
}

#[test]
fn counters_keep_their_ttl_and_are_created_with_the_given_one() {
    let server = MemcachedServer::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let prefix = format!("ttl{purge:?}:");
        let handler = handler_with(MemcachedSettings {
            purge,
            ..settings(&[server.host_spec()], &prefix)
        });
        let key = format!("{prefix}n");
        assert_eq!(
            handler
                .incr(&key, 1, Some(Duration::from_secs(100)))
                .unwrap(),
            1
        );
        let created = remaining_ttl(&server, &key).unwrap();
        assert!((90..=100).contains(&created), "{purge:?}: {created}");
        // existing counters keep their TTL, whatever the call passes
        assert_eq!(
            handler
                .incr(&key, 1, Some(Duration::from_secs(5000)))
                .unwrap(),
            2
        );
        assert_eq!(handler.decr(&key, 1, None).unwrap(), 1);
        let kept = remaining_ttl(&server, &key).unwrap();
        assert!((0..=100).contains(&kept), "{purge:?}: {kept}");
        // created without a TTL: never expires
        let forever = format!("{prefix}forever");
        assert_eq!(handler.decr(&forever, 3, None).unwrap(), 0);
        assert_eq!(remaining_ttl(&server, &forever), Some(-1), "{purge:?}");
    }
    // through the facade: a counter made by `set_with_ttl` keeps that TTL
    let cache = cache(&[server.host_spec()], "ttlf:");
    cache
        .set_with_ttl("c", &41u64, Duration::from_secs(100))
        .unwrap();
    assert_eq!(cache.incr("c", 1).unwrap(), 42);
    let kept = remaining_ttl(&server, &cache.wire_key("c").unwrap()).unwrap();
    assert!((0..=100).contains(&kept), "{kept}");
}

#[test]
fn decr_stops_at_zero_and_shrunk_counters_read_back() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "dec:"), server_mode(&hosts, "decs:")] {
        assert_eq!(cache.incr("d", 10).unwrap(), 10);
        assert_eq!(cache.decr("d", 1).unwrap(), 9);
        assert_eq!(cache.get::<u64>("d").unwrap(), Some(9));
        assert_eq!(cache.decr("d", 100).unwrap(), 0);
        assert_eq!(cache.get::<u64>("d").unwrap(), Some(0));
        // increments wrap at 2^64, as memcached's do
        cache.set("w", &u64::MAX).unwrap();
        assert_eq!(cache.incr("w", 1).unwrap(), 0);
        assert_eq!(
            cache.get_many::<u64>(&["d", "w"]).unwrap(),
            [Some(0), Some(0)]
        );
        assert_eq!(cache.incr("w", 7).unwrap(), 7);
        // memcached may rewrite a counter that shrank in place, padded with spaces ("10" - 1
        // as "9 "); such a value reads back as its number (written here by hand, with the
        // stamp of the value beside it)
        let wire = cache.wire_key("w").unwrap();
        let raw = server.command(&format!("mg {wire} f")).unwrap();
        let flags = raw
            .split_whitespace()
            .find_map(|flag| flag.strip_prefix('f'))
            .unwrap();
        let padded = cache.wire_key("padded").unwrap();
        let stored = server
            .command(&format!("ms {padded} 4 F{flags}\r\n12  "))
            .unwrap();
        assert_eq!(stored, "HD\r\n");
        assert_eq!(cache.get::<u64>("padded").unwrap(), Some(12));
        assert_eq!(cache.incr("padded", 1).unwrap(), 13);
    }
}

#[test]
fn incr_of_a_value_that_is_not_a_counter_is_an_invalid_argument() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "nan:"), server_mode(&hosts, "nans:")] {
        cache.set("json", "text").unwrap();
        cache.set("negative", &-1i32).unwrap();
        for key in ["json", "negative"] {
            let wire = cache.wire_key(key).unwrap().into_owned();
            for result in [cache.incr(key, 1), cache.decr(key, 1)] {
                let err = result.unwrap_err();
                assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
                assert!(err.to_string().contains(&wire), "{err}");
            }
        }
        // nothing changed, and the handler goes on working
        assert_eq!(
            cache.get::<String>("json").unwrap().as_deref(),
            Some("text")
        );
        assert_eq!(cache.get::<i32>("negative").unwrap(), Some(-1));
        assert_eq!(cache.incr("fine", 1).unwrap(), 1);
    }
}

#[test]
fn add_treats_a_purged_value_as_absent() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let cache = cache(&hosts, "add:");
    cache.set("k", "old").unwrap();
    cache.purge().unwrap();
    assert!(cache.add("k", "new").unwrap(), "add over a purged value");
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("new"));
    assert!(!cache.add("k", "newer").unwrap());
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("new"));

    // A process whose cached generation is stale (another one purged) adds over a purged
    // value, and adds a new key: both land stamped with the current generation.
    let other = cache_with(settings(&hosts, "add:"));
    other.set("j", "x").unwrap();
    cache.purge().unwrap();
    assert!(other.add("j", "y").unwrap());
    assert_eq!(cache.get::<String>("j").unwrap().as_deref(), Some("y"));
    cache.purge().unwrap();
    assert!(other.add("fresh", "z").unwrap());
    assert_eq!(cache.get::<String>("fresh").unwrap().as_deref(), Some("z"));
    assert!(!cache.add("fresh", "w").unwrap());

    // with a TTL
    assert!(cache
        .add_with_ttl("ttl", &1, Duration::from_secs(100))
        .unwrap());
    let ttl = remaining_ttl(&server, &cache.wire_key("ttl").unwrap()).unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");

    // server mode: memcached's add as it is
    let plain = server_mode(&hosts, "adds:");
    assert!(plain.add("k", &1).unwrap());
    assert!(!plain.add("k", &2).unwrap());
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(1));
}

/// Eight threads (half of them in a process with a stale generation) add the same key over a
/// purged value: exactly one wins, every time.
#[test]
fn concurrent_adds_over_a_purged_value_have_one_winner() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let (one, two) = (cache(&hosts, "race:"), cache(&hosts, "race:"));
    for round in 0..20 {
        let key = format!("k{round}");
        one.set(&key, &-1).unwrap();
        two.purge().unwrap();
        let winners: Vec<i32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (cache, key) = (if t % 2 == 0 { &one } else { &two }, &key);
                    s.spawn(move || cache.add(key, &t).unwrap().then_some(t))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(one.get::<i32>(&key).unwrap(), Some(winners[0]));
        assert_eq!(two.get::<i32>(&key).unwrap(), Some(winners[0]));
    }
}

/// Eight threads (half of them in a process with a stale generation) increment a counter that
/// was just purged: the stale count is dropped once, and no increment is lost or doubled.
#[test]
fn concurrent_increments_of_a_purged_counter_count_exactly() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let (one, two) = (cache(&hosts, "crace:"), cache(&hosts, "crace:"));
    for round in 0..10 {
        let key = format!("n{round}");
        assert_eq!(one.incr(&key, 1000).unwrap(), 1000);
        two.purge().unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (cache, key) = (if t % 2 == 0 { &one } else { &two }, &key);
                s.spawn(move || {
                    for _ in 0..50 {
                        cache.incr(key, 1).unwrap();
                    }
                });
            }
        });
        assert_eq!(one.get::<u64>(&key).unwrap(), Some(400), "round {round}");
    }
}

#[test]
fn touch_sets_or_clears_the_expiry_of_current_values_only() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "touch:"), server_mode(&hosts, "touchs:")] {
        let wire = cache.wire_key("t").unwrap().into_owned();
        cache
            .set_with_ttl("t", &1, Duration::from_secs(100))
            .unwrap();
        assert!((90..=100).contains(&remaining_ttl(&server, &wire).unwrap()));
        assert!(cache.touch("t", None).unwrap());
        assert_eq!(
            remaining_ttl(&server, &wire),
            Some(-1),
            "None clears the expiry"
        );
        assert!(cache.touch("t", Some(Duration::from_secs(50))).unwrap());
        assert!((40..=50).contains(&remaining_ttl(&server, &wire).unwrap()));
        assert_eq!(
            cache.get::<i32>("t").unwrap(),
            Some(1),
            "touch kept the value"
        );
        assert!(!cache.touch("missing", None).unwrap());
        assert!(matches!(
            cache.touch("t", Some(Duration::ZERO)),
            Err(Error::InvalidArgument(_))
        ));
    }
    let cache = cache(&hosts, "touch:");
    cache.purge().unwrap();
    assert!(!cache.touch("t", None).unwrap(), "a purged value is absent");
}

#[test]
fn exists_honours_the_generation_and_the_mode() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let cache = cache(&hosts, "ex:");
    assert!(!cache.exists("k").unwrap());
    cache.set("k", &0).unwrap();
    assert!(cache.exists("k").unwrap());
    cache.purge().unwrap();
    assert!(!cache.exists("k").unwrap());
    cache.set("k", &0).unwrap();
    assert!(cache.exists("k").unwrap());
    // values of the other mode are misses, for exists as for get
    let plain = server_mode(&hosts, "ex:");
    assert!(!plain.exists("k").unwrap());
    plain.set("s", &1).unwrap();
    assert!(plain.exists("s").unwrap());
    assert!(!cache.exists("s").unwrap());
}

#[test]
fn atomic_operations_fail_cleanly_while_the_server_is_down() {
    let mut server = MemcachedServer::start().unwrap();
    let hole = BlackHole::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let down = cache_with(MemcachedSettings {
            purge,
            ..settings(&[server.host_spec()], "down:")
        });
        // the generation is known before the outage
        down.set("warm", &1).unwrap();
        let hung = cache_with(MemcachedSettings {
            connect_timeout: 0.3,
            response_timeout: 0.3,
            purge,
            ..settings(&[hole.host_spec()], "down:")
        });
        server.kill().unwrap();
        for (cache, expect_timeout) in [(&down, false), (&hung, true)] {
            let calls: Vec<(&str, Call<'_>)> = vec![
                ("add", Box::new(|| cache.add("k", &1).map(drop))),
                ("incr", Box::new(|| cache.incr("n", 1).map(drop))),
                ("decr", Box::new(|| cache.decr("n", 1).map(drop))),
                ("touch", Box::new(|| cache.touch("k", None).map(drop))),
                ("exists", Box::new(|| cache.exists("k").map(drop))),
            ];
            for (what, call) in calls {
                let err = call().expect_err(what);
                let expected = if expect_timeout {
                    matches!(
                        err,
                        Error::Timeout {
                            backend: "memcached",
                            ..
                        }
                    )
                } else {
                    matches!(
                        err,
                        Error::Unavailable {
                            backend: "memcached",
                            ..
                        }
                    )
                };
                assert!(expected, "{purge:?} {what}: {err}");
            }
        }
        server.restart().unwrap();
        // back by itself
        assert_eq!(down.incr("n", 2).unwrap(), 2);
        assert!(down.add("k", &1).unwrap());
    }
}

// ---------------------------------------------------------------------------------------------
// threads

/// 8 threads × 1000 mixed operations on shared handlers over two servers: every read sees the
/// thread's own last write, and nothing is lost.
#[test]
fn eight_threads_thousand_mixed_ops_lose_nothing() {
    let (s1, s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let cache = cache(&hosts(&[&s1, &s2]), "stress:");
    const THREADS: usize = 8;
    const OPS: usize = 1000;
    const KEYS: usize = 40;
    let models: Vec<HashMap<String, u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let cache = &cache;
                scope.spawn(move || {
                    let mut model: HashMap<String, u64> = HashMap::new();
                    for i in 0..OPS {
                        let key = format!("t{t}:k{}", (i * 7) % KEYS);
                        let value = (t * OPS + i) as u64;
                        match i % 5 {
                            0 | 1 => {
                                cache.set(&key, &value).unwrap();
                                model.insert(key, value);
                            }
                            2 => {
                                let got: Option<u64> = cache.get(&key).unwrap();
                                assert_eq!(
                                    got,
                                    model.get(&key).copied(),
                                    "thread {t} op {i} {key}"
                                );
                            }
                            3 => {
                                let removed = cache.delete(&key).unwrap();
                                assert_eq!(
                                    removed,
                                    model.remove(&key).is_some(),
                                    "thread {t} op {i} {key}"
                                );
                            }
                            _ => {
                                let keys: Vec<String> = (0..5)
                                    .map(|j| format!("t{t}:k{}", (i + j) % KEYS))
                                    .collect();
                                let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                                let got: Vec<Option<u64>> = cache.get_many(&refs).unwrap();
                                let expected: Vec<Option<u64>> =
                                    keys.iter().map(|k| model.get(k).copied()).collect();
                                assert_eq!(got, expected, "thread {t} op {i}");
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, model) in models.iter().enumerate() {
        for k in 0..KEYS {
            let key = format!("t{t}:k{k}");
            assert_eq!(
                cache.get::<u64>(&key).unwrap(),
                model.get(&key).copied(),
                "{key}"
            );
        }
    }
}
