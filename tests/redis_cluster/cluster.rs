//! Redis Cluster: the conformance suite, keys spread over the primaries, purge per app,
//! batches across all slots, and a primary failing over.

use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::testing::RedisCluster;

use crate::support;
use crate::{cache_with, cluster_settings, failed_during_failover, keys_per_primary, patient, raw};

/// One 3-primary cluster for all the steps that leave it intact (starting a cluster costs
/// seconds); each step works under its own prefix.
#[test]
fn a_three_primary_cluster() {
    let cluster = RedisCluster::start(3, 0).unwrap();
    let seeds = cluster.seeds();

    // The conformance suite, on the handler and through an app.
    cement::testing::conformance::run_all(&cache_with(patient(cluster_settings(
        seeds.clone(),
        "conf:",
    ))));
    let app = support::app("rdc_conf", "redis")
        .set("cache.redis", "cluster", seeds.clone())
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "redis");
    cement::testing::conformance::run_all(app.cache());
    app.close().unwrap();

    // 10,000 keys, no hash tags: redis spreads them over all three primaries.
    for node in cluster.nodes() {
        redis::cmd("FLUSHALL").query::<()>(&mut raw(node)).unwrap();
    }
    let spread = cache_with(cluster_settings(seeds.clone(), "spread:"));
    let keys: Vec<String> = (0..10_000).map(|i| format!("k{i}")).collect();
    for chunk in keys.chunks(1000) {
        let entries: Vec<(&str, u32)> = chunk
            .iter()
            .map(|k| (k.as_str(), k[1..].parse().unwrap()))
            .collect();
        spread.set_many(&entries).unwrap();
    }
    let counts = keys_per_primary(&cluster);
    eprintln!("10,000 keys per primary (port -> keys): {counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 10_000, "{counts:?}");
    assert!(counts.values().all(|&n| n > 0), "{counts:?}");

    // Batches of 1,000 keys spanning every primary's slots come back in key order.
    for chunk in keys.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let values = spread.get_many::<u32>(&refs).unwrap();
        let expected: Vec<Option<u32>> = chunk.iter().map(|k| k[1..].parse().ok()).collect();
        assert_eq!(values, expected);
    }
    let mixed = crate::mixed_keys();
    let refs: Vec<&str> = mixed.iter().map(String::as_str).collect();
    let values = spread.get_many::<u32>(&refs).unwrap();
    for (key, value) in mixed.iter().zip(&values) {
        assert_eq!(
            *value,
            key.strip_prefix('k').and_then(|n| n.parse().ok()),
            "{key}"
        );
    }
    assert_eq!(spread.delete_many(&refs[..30]).unwrap(), 20);

    // Two apps on the cluster purge independently: SCAN + UNLINK on every primary.
    let a = support::app("rdc_a", "redis")
        .set("cache.redis", "cluster", seeds.clone())
        .setup()
        .unwrap();
    let b = support::app("rdc_b", "redis")
        .set("cache.redis", "cluster", seeds.clone())
        .setup()
        .unwrap();
    let entries: Vec<(String, u32)> = (0..600).map(|i| (format!("p{i}"), i)).collect();
    let entries: Vec<(&str, u32)> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    a.cache().set_many(&entries).unwrap();
    b.cache().set_many(&entries).unwrap();
    let keys600: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
    a.cache().purge().unwrap();
    assert!(a
        .cache()
        .get_many::<u32>(&keys600)
        .unwrap()
        .iter()
        .all(Option::is_none));
    let kept = b.cache().get_many::<u32>(&keys600).unwrap();
    assert!(
        kept.iter().all(Option::is_some),
        "app b lost keys to app a's purge"
    );
    // `spread:` keys stay as well.
    assert_eq!(spread.get::<u32>("k9999").unwrap(), Some(9999));
    b.cache().purge().unwrap();
    assert!(b
        .cache()
        .get_many::<u32>(&keys600)
        .unwrap()
        .iter()
        .all(Option::is_none));
    a.close().unwrap();
    b.close().unwrap();

    // Counters and add are single-key atomic on a cluster too: 8 threads × 100 incr on keys
    // in different slots.
    let counters = cache_with(cluster_settings(seeds.clone(), "ctr:"));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for i in 0..100 {
                    counters.incr(&format!("c{}", i % 4), 1).unwrap();
                }
            });
        }
    });
    for i in 0..4 {
        assert_eq!(counters.get::<u64>(&format!("c{i}")).unwrap(), Some(200));
    }
    let won = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let counters = &counters;
                s.spawn(move || counters.add("lock", &t).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count()
    });
    assert_eq!(won, 1);

    crate::async_face::on_cluster(&cluster);
    crate::resharding::during_a_slot_migration(&cluster);
    crate::auth::with_a_password(&cluster);
}

/// A primary killed in a cluster with one replica per primary: calls on its slots fail with
/// typed errors while the cluster fails over, then work again without any action.
#[test]
fn a_killed_primary_fails_over_to_its_replica() {
    let mut cluster = RedisCluster::start(3, 1).unwrap();
    let cache = cache_with(cluster_settings(cluster.seeds(), "fo:"));
    let keys: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let entries: Vec<(&str, usize)> = refs.iter().copied().zip(0..).collect();
    cache.set_many(&entries).unwrap();
    // The async face rides out the same failover: an app whose cluster connection is open
    // before the kill, 16 tasks on it after.
    let async_app = support::app("rdca_fo", "redis")
        .set("cache.redis", "cluster", cluster.seeds())
        .set("cache.redis", "connect_timeout", 0.5)
        .set("cache.redis", "response_timeout", 0.5)
        .setup()
        .unwrap();
    let expected: Vec<Option<usize>> = (0..300).map(Some).collect();
    crate::async_face::through_failover(
        &async_app,
        async |cache| cache.set_many(&entries).await.unwrap(),
        async |cache, task| {
            if task % 2 == 1 {
                let key = format!("w{task}");
                cache.set(&key, &task).await?;
                return Ok(cache.get::<usize>(&key).await? == Some(task));
            }
            let values = cache.get_many::<usize>(&refs).await?;
            assert_eq!(values, expected, "acknowledged writes lost");
            Ok(true)
        },
        |killed| fail_over(&mut cluster, &cache, &refs, killed),
    );
    cache.set("after", &1).unwrap();
    assert_eq!(cache.get::<u32>("after").unwrap(), Some(1));
}

/// Waits until the replicas hold every key, kills a primary (telling `kill` when), and calls
/// `get_many` until the cluster has failed over.
fn fail_over(
    cluster: &mut RedisCluster,
    cache: &cement::cache::Cache,
    refs: &[&str],
    killed: &dyn Fn(Instant),
) {
    // Wait until the replicas hold every key (replication is asynchronous).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut replicated = 0;
        for node in cluster.nodes() {
            let mut conn = raw(node);
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut conn)
                .unwrap();
            if info.contains("role:slave") {
                replicated += redis::cmd("DBSIZE").query::<u64>(&mut conn).unwrap();
            }
        }
        if replicated == 600 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas hold {replicated} of 600 keys"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let victim = *keys_per_primary(cluster).keys().next().unwrap();
    let node = cluster
        .nodes_mut()
        .iter_mut()
        .find(|n| n.port() == victim)
        .unwrap();
    node.kill().unwrap();
    let killed_at = Instant::now();
    killed(killed_at);
    let killed = killed_at;

    let mut errors = Vec::new();
    let recovered = loop {
        match cache.get_many::<usize>(refs) {
            Ok(values) => break values,
            Err(err) => failed_during_failover(&mut errors, err, killed),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = killed.elapsed();
    let unavailable = errors
        .iter()
        .filter(|e| matches!(e, Error::Unavailable { .. }))
        .count();
    eprintln!(
        "failover: {} failed get_many calls ({unavailable} Unavailable, {} Timeout), recovered {took:?} after the kill; first error: {:?}",
        errors.len(),
        errors.len() - unavailable,
        errors.first().map(ToString::to_string)
    );
    assert!(
        !errors.is_empty(),
        "the kill went unnoticed: no call failed"
    );
    // Every write acknowledged and replicated before the kill is read back.
    let expected: Vec<Option<usize>> = (0..300).map(Some).collect();
    assert_eq!(recovered, expected);
}
