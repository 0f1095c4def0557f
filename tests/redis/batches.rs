//! Batches: native MGET / MSET / UNLINK, and values over the size limit.

use std::time::Duration;

use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::RedisServer;

use crate::support::redis::{cache, cache_with, raw, settings};
use crate::{calls, reset_stats};

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
