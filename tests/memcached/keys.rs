//! Keys: no command injection, long and non-ASCII keys.

use cement::cache::{CacheHandler, KeyRules};
use cement::Error;
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{cache, handler_with, settings};

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
