//! Sentinel: the handler finds the primary through the sentinels, skips one that is down, and
//! follows the promoted replica after the primary dies.

use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::redis::RedisSettings;
use cement_ext::testing::RedisSentinels;

use crate::{cache_with, patient, raw, support, CONFORMANCE_TIMEOUT};

#[test]
fn the_handler_follows_a_failover() {
    let mut group = RedisSentinels::start().unwrap();
    let seeds = group.sentinel_seeds();
    // A sentinel that is down, listed first, is skipped.
    group.sentinels_mut()[0].kill().unwrap();
    let cache = cache_with(RedisSettings {
        sentinels: Some(seeds.clone()),
        sentinel_master: Some(RedisSentinels::MASTER.into()),
        prefix: "sn:".into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    });
    let entries: Vec<(String, u32)> = (0..200).map(|i| (format!("s{i}"), i)).collect();
    let entries: Vec<(&str, u32)> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    cache.set_many(&entries).unwrap();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        redis::cmd("DBSIZE")
            .query::<u64>(&mut raw(group.primary()))
            .unwrap(),
        200,
        "the writes went to the primary"
    );
    // Wait until the replica holds them (checked on the replica itself).
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis::cmd("DBSIZE")
        .query::<u64>(&mut raw(group.replica()))
        .unwrap()
        < 200
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The async face: native, the async conformance kit, and an app whose connection to the
    // primary is open before the kill, with 16 tasks on it after.
    let app = |label: &str| {
        support::app(label, "redis")
            .set("cache.redis", "sentinels", seeds.clone())
            .set("cache.redis", "sentinel_master", RedisSentinels::MASTER)
            .set("cache.redis", "connect_timeout", CONFORMANCE_TIMEOUT)
            .set("cache.redis", "response_timeout", CONFORMANCE_TIMEOUT)
            .setup()
            .unwrap()
    };
    crate::async_face::proves_native(&app("rdsa_native"), "rds-probe");
    crate::async_face::runtime("rds-async").block_on(async {
        cement::testing::conformance_async::run_all_async(app("rdsa_conf").async_cache()).await;
    });
    let async_app = support::app("rdsa_fo", "redis")
        .set("cache.redis", "sentinels", seeds.clone())
        .set("cache.redis", "sentinel_master", RedisSentinels::MASTER)
        .set("cache.redis", "prefix", "sn:")
        .setup()
        .unwrap();
    let expected: Vec<Option<u32>> = (0..200).map(Some).collect();
    let ((errors, values), _) = crate::async_face::through_failover(
        &async_app,
        async |cache| assert_eq!(cache.get_many::<u32>(&keys).await.unwrap(), expected),
        async |cache, task| {
            // A write first: it succeeds only on the promoted replica.
            cache.set(&format!("aprobe{task}"), &task).await?;
            let values = cache.get_many::<u32>(&keys).await?;
            assert_eq!(values, expected, "acknowledged writes lost");
            Ok(true)
        },
        |report| {
            group.primary_mut().kill().unwrap();
            let killed = Instant::now();
            report(killed);
            let mut errors = 0;
            let values = loop {
                // A write: it succeeds only on the promoted replica.
                match cache
                    .set("probe", &1)
                    .and_then(|()| cache.get_many::<u32>(&keys))
                {
                    Ok(values) => break values,
                    Err(err) => {
                        assert!(
                            matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }),
                            "an untyped failure during the failover: {err:?}"
                        );
                        errors += 1;
                    }
                }
                assert!(
                    killed.elapsed() < Duration::from_secs(120),
                    "the handler did not find the new primary within 120 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            eprintln!(
            "sentinel failover: {errors} failed calls, the promoted replica served {:?} after the kill",
            killed.elapsed()
        );
            (errors, values)
        },
    );
    assert!(errors > 0, "the kill went unnoticed");
    let expected: Vec<Option<u32>> = (0..200).map(Some).collect();
    assert_eq!(values, expected);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut raw(group.replica())).unwrap();
    assert_eq!(
        redis::from_redis_value::<String>(role[0].clone()).unwrap(),
        "master"
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("sn:probe")
            .query::<Option<String>>(&mut raw(group.replica()))
            .unwrap()
            .as_deref(),
        Some("1")
    );

    // A password on the (promoted) primary, which the sentinels know as auth-pass; the
    // sentinels themselves have none. Without it: a backend error naming the setting.
    const PASSWORD: &str = "sn-s3cret";
    for seed in &seeds[1..] {
        let mut sentinel = redis::Client::open(format!("redis://{seed}"))
            .and_then(|c| c.get_connection())
            .unwrap();
        redis::cmd("SENTINEL")
            .arg("SET")
            .arg(RedisSentinels::MASTER)
            .arg("auth-pass")
            .arg(PASSWORD)
            .query::<()>(&mut sentinel)
            .unwrap();
    }
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(PASSWORD)
        .query::<()>(&mut raw(group.replica()))
        .unwrap();
    let settings = |password: Option<&str>| RedisSettings {
        sentinels: Some(seeds.clone()),
        sentinel_master: Some(RedisSentinels::MASTER.into()),
        prefix: "snauth:".into(),
        password: password.map(Into::into),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    };
    let err = cache_with(settings(None)).set("k", &1u8).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    assert!(text.contains("[cache.redis] password"), "{text}");
    let authed = cache_with(patient(settings(Some(PASSWORD))));
    cement::testing::conformance::run_all(&authed);
    assert!(!format!("{authed:?}").contains(PASSWORD));
    let app = support::app("rdsa_auth", "redis")
        .set("cache.redis", "sentinels", seeds.clone())
        .set("cache.redis", "sentinel_master", RedisSentinels::MASTER)
        .set("cache.redis", "password", PASSWORD)
        .setup()
        .unwrap();
    crate::async_face::runtime("rds-auth").block_on(async {
        let cache = app.async_cache();
        cache.set("k", &7u8).await.unwrap();
        assert_eq!(cache.get::<u8>("k").await.unwrap(), Some(7));
    });
}
