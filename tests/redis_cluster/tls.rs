//! TLS on a real Redis Cluster: every node speaks only TLS (no plain-text port), on the client
//! port, the cluster bus and replication, with a certificate from a throwaway CA. The handler
//! with `tls = true` or `rediss://` seeds and `tls_ca_file` passes the sync conformance suite
//! and the async conformance kit, and reaches every primary through the slot map (whose ports
//! are the TLS ports); a CA that did not sign the nodes' certificate is a typed error naming
//! `tls_ca_file`, on both faces. The same behind Sentinel: TLS-only sentinels, primary and
//! replica.

use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::{RedisCluster, RedisSentinels, TlsFiles};

use crate::{
    cache_with, cluster_settings, keys_per_primary, patient, support, CONFORMANCE_TIMEOUT,
};

#[test]
fn a_tls_cluster() {
    let files = TlsFiles::generate().unwrap();
    let cluster = RedisCluster::start_tls(3, 0, &files).unwrap();
    let seeds = cluster.seeds();
    let ca = files.ca();

    // tls = true with host:port seeds: the sync conformance suite.
    let cache = cache_with(patient(RedisSettings {
        tls: true,
        tls_ca_file: Some(ca.clone()),
        ..cluster_settings(seeds.clone(), "tls:")
    }));
    cement::testing::conformance::run_all(&cache);

    // 1,000 keys in one batch reach all three primaries: the redirections and the slot map
    // lead to the TLS ports (the nodes have no other), and come back in key order.
    let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    let entries: Vec<(&str, u32)> = keys.iter().map(String::as_str).zip(0..).collect();
    cache.set_many(&entries).unwrap();
    let counts = keys_per_primary(&cluster);
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n > 0), "{counts:?}");
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expected: Vec<Option<u32>> = (0..1000).map(Some).collect();
    assert_eq!(cache.get_many::<u32>(&refs).unwrap(), expected);
    cache.purge().unwrap();

    // rediss:// seeds through an app: the async conformance kit on the native async face.
    let urls: Vec<String> = seeds.iter().map(|s| format!("rediss://{s}")).collect();
    let app = |label: &str, ca: &std::path::Path| {
        support::app(label, "redis")
            .set("cache.redis", "cluster", urls.clone())
            .set("cache.redis", "tls_ca_file", ca.display().to_string())
            .set("cache.redis", "connect_timeout", CONFORMANCE_TIMEOUT)
            .set("cache.redis", "response_timeout", CONFORMANCE_TIMEOUT)
            .setup()
            .unwrap()
    };
    let tls_app = app("rdc_tls", &ca);
    assert!(tls_app.cache().handler().as_async().is_some());
    crate::async_face::runtime("rdc-tls").block_on(async {
        cement::testing::conformance_async::run_all_async(tls_app.async_cache()).await;
    });
    tls_app.close().unwrap();

    // Another CA (it did not sign the nodes' certificate), or none (the system's roots): the
    // certificate is not trusted, on both faces: a typed error naming tls_ca_file, no panic.
    let other = TlsFiles::generate().unwrap();
    let untrusted = [
        cache_with(RedisSettings {
            tls_ca_file: Some(other.ca()),
            ..cluster_settings(urls.clone(), "tls:")
        }),
        cache_with(cluster_settings(urls.clone(), "tls:")),
    ];
    for cache in &untrusted {
        let err = cache.set("k", &1u8).unwrap_err();
        assert_untrusted(&err);
    }
    let wrong_app = app("rdc_tls_wrong", &other.ca());
    let err = crate::async_face::runtime("rdc-tls-wrong")
        .block_on(async { wrong_app.async_cache().get::<u8>("k").await })
        .unwrap_err();
    assert_untrusted(&err);
}

#[test]
fn tls_behind_sentinel() {
    let files = TlsFiles::generate().unwrap();
    let mut group = RedisSentinels::start_tls(&files).unwrap();
    let seeds = group.sentinel_seeds();
    let settings = |sentinels: Vec<String>, ca: Option<std::path::PathBuf>| RedisSettings {
        sentinels: Some(sentinels),
        sentinel_master: Some(RedisSentinels::MASTER.into()),
        tls: true,
        tls_ca_file: ca,
        prefix: "stls:".into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    };

    // tls = true with host:port sentinels: the sentinels and the primary they name over TLS.
    let cache = cache_with(patient(settings(seeds.clone(), Some(files.ca()))));
    cement::testing::conformance::run_all(&cache);
    cache.set("k", &7u8).unwrap();
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("stls:k")
        .query(&mut crate::raw(group.primary()))
        .unwrap();
    assert!(stored.is_some(), "the write went to the TLS primary");

    // rediss:// sentinels through an app: the async conformance kit.
    let urls: Vec<String> = seeds.iter().map(|s| format!("rediss://{s}")).collect();
    let app = support::app("rds_tls", "redis")
        .set("cache.redis", "sentinels", urls.clone())
        .set("cache.redis", "sentinel_master", RedisSentinels::MASTER)
        .set("cache.redis", "tls", true)
        .set(
            "cache.redis",
            "tls_ca_file",
            files.ca().display().to_string(),
        )
        .setup()
        .unwrap();
    crate::async_face::runtime("rds-tls").block_on(async {
        cement::testing::conformance_async::run_all_async(app.async_cache()).await;
    });

    // Another CA: the sentinels' certificate is not trusted.
    let other = TlsFiles::generate().unwrap();
    let err = cache_with(settings(urls, Some(other.ca())))
        .get::<u8>("k")
        .unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(
        err.to_string().contains("[cache.redis] tls_ca_file"),
        "{err}"
    );

    // A failover: the sentinels promote the replica at the TLS port it announced (its plain
    // port is 0), and the handler follows it; the write made before is there.
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis::cmd("EXISTS")
        .arg("stls:k")
        .query::<u64>(&mut crate::raw(group.replica()))
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    group.primary_mut().kill().unwrap();
    let killed = Instant::now();
    let mut errors = Vec::new();
    while let Err(err) = cache.set("after", &1u8) {
        crate::failed_during_failover(&mut errors, err, killed);
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "TLS sentinel failover: {} failed calls, the promoted replica served {:?} after the kill",
        errors.len(),
        killed.elapsed()
    );
    assert!(!errors.is_empty(), "the kill went unnoticed");
    // Only the promoted replica runs: the write made before the kill is read back from it.
    assert_eq!(cache.get::<u8>("k").unwrap(), Some(7));
}

/// The error for a node certificate that the configured CA did not sign: a settings fault
/// (`Backend`, as a refused password is), not an outage.
#[track_caller]
fn assert_untrusted(err: &Error) {
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is not trusted"), "{text}");
    assert!(text.contains("[cache.redis] tls_ca_file"), "{text}");
    assert!(text.contains("rediss cluster (seeds 127.0.0.1:"), "{text}");
}
