//! Values and TTLs: the item size limit, TTL rounding and absolute expiry, `expire_time`.

use std::time::Duration;

use cement::cache::CacheHandler;
use cement::Error;
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{app, cache, handler_with, settings};

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
            matches!(err, Error::ValueTooLarge { backend: "memcached", size: s, limit, by_server: false } if s == size && limit == fits),
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
        matches!(err, Error::ValueTooLarge { size, by_server: true, .. } if size == 700 * 1024),
        "{err}"
    );
    // The message says who refused it and which setting is wrong, not a limit that held.
    let message = err.to_string();
    assert!(message.contains("server refused"), "{message}");
    assert!(message.contains("lower `max_value_size`"), "{message}");
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
        // memcached's clock ticks once a second and can trail ours by one tick, so the TTL it
        // reports for an absolute expiry can be one second over (seen on a loaded machine).
        left > 31 * 24 * 3600 - 60 && left <= 31 * 24 * 3600 + 1,
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
