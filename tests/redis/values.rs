//! Values, keys and TTLs: typed round trips, binary-safe keys, delete, millisecond TTLs.

use std::time::Duration;

use cement_ext::testing::RedisServer;
use serde::{Deserialize, Serialize};

use crate::support::redis::{cache, raw};

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
