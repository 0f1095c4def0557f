//! The native async face (`app.async_cache()`, cement-ext's `redis-async`) on a Redis Cluster
//! and behind Sentinel. These steps run inside the sync tests, on the servers those start, so
//! the binary starts no more groups than before.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

use cement::cache::AsyncCache;
use cement::{Application, Error};
use cement_ext::testing::RedisCluster;
use tokio::runtime::Runtime;

use crate::support;

/// A `current_thread` runtime whose blocking-pool threads (if any were started) are named
/// `name` and stay alive for the whole test, so that [`blocking_threads`] can count them.
pub(crate) fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .expect("a tokio runtime")
}

/// How many threads of this process are named `name` (Linux: `/proc/self/task/*/comm`).
fn blocking_threads(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists this process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Every operation of the async face on `app`, on a runtime of its own: a sync handler's calls
/// would run on that runtime's blocking pool (`spawn_blocking`), whose threads carry the
/// runtime's name. None is started: the calls are awaited natively.
pub(crate) fn proves_native(app: &Application, probe: &str) {
    let rt = runtime(probe);
    rt.block_on(async {
        let cache = app.async_cache();
        assert!(cache.handler().as_async().is_some());
        let keys: Vec<String> = (0..200).map(|i| format!("n{i}")).collect();
        let entries: Vec<(&str, usize)> = keys.iter().map(String::as_str).zip(0..).collect();
        cache.set_many(&entries).await.unwrap();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let expected: Vec<Option<usize>> = (0..200).map(Some).collect();
        assert_eq!(cache.get_many::<usize>(&refs).await.unwrap(), expected);
        cache.set("one", &1u32).await.unwrap();
        assert_eq!(cache.get::<u32>("one").await.unwrap(), Some(1));
        assert_eq!(cache.incr("ctr", 2).await.unwrap(), 2);
        assert!(cache.add("lock", &1u32).await.unwrap());
        assert!(cache.touch("one", None).await.unwrap());
        assert!(cache.exists("one").await.unwrap());
        assert_eq!(cache.delete_many(&refs).await.unwrap(), 200);
        cache.purge().await.unwrap();
        assert!(!cache.exists("one").await.unwrap());
    });
    assert_eq!(
        blocking_threads(probe),
        0,
        "the async face ran calls on the blocking pool instead of natively"
    );
}

/// The async face on a 3-primary cluster: native, the async conformance kit (which includes
/// cancelled calls leaving no stray replies), batches of 1,000 keys spanning every primary,
/// and two apps purging independently.
pub(crate) fn on_cluster(cluster: &RedisCluster) {
    let seeds = cluster.seeds();
    let app = |label: &str| {
        support::app(label, "redis")
            .set("cache.redis", "cluster", seeds.clone())
            .setup()
            .unwrap()
    };
    // With an expire_time, set_many is a SET … PX per key (no pipeline across slots).
    let native = support::app("rdca_native", "redis")
        .set("cache.redis", "cluster", seeds.clone())
        .set("cache.redis", "expire_time", 60)
        .setup()
        .unwrap();
    proves_native(&native, "rdc-probe");
    proves_native(&app("rdca_native_mset"), "rdc-probe-mset");

    runtime("rdc-async").block_on(async {
        let conf = app("rdca_conf");
        cement::testing::conformance_async::run_all_async(conf.async_cache()).await;
        conf.close().unwrap();

        // Batches of 1,000 keys over every primary, in key order, with and without a TTL.
        let batch = app("rdca_batch");
        let cache = batch.async_cache();
        let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
        let entries: Vec<(&str, u32)> = keys.iter().map(String::as_str).zip(0..).collect();
        cache.set_many(&entries).await.unwrap();
        let per_primary = matching_per_primary(cluster, "rdca_batch:k*");
        assert_eq!(per_primary.len(), 3, "{per_primary:?}");
        assert!(per_primary.values().all(|&n| n > 0), "{per_primary:?}");
        assert_eq!(per_primary.values().sum::<usize>(), 1000);
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let expected: Vec<Option<u32>> = (0..1000).map(Some).collect();
        assert_eq!(cache.get_many::<u32>(&refs).await.unwrap(), expected);
        let doubled: Vec<(&str, u32)> = entries.iter().map(|(k, v)| (*k, v * 2)).collect();
        let with_ttl = support::app("rdca_batch_ttl", "redis")
            .set("cache.redis", "cluster", seeds.clone())
            .set("cache.redis", "prefix", "rdca_batch:")
            .set("cache.redis", "expire_time", 300)
            .setup()
            .unwrap();
        with_ttl.async_cache().set_many(&doubled).await.unwrap();
        let mixed = crate::mixed_keys();
        let refs: Vec<&str> = mixed.iter().map(String::as_str).collect();
        let values = cache.get_many::<u32>(&refs).await.unwrap();
        for (key, value) in mixed.iter().zip(&values) {
            let want = key
                .strip_prefix('k')
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| n * 2);
            assert_eq!(*value, want, "{key}");
        }
        assert_eq!(cache.delete_many(&refs[..30]).await.unwrap(), 20);

        // Two apps purge independently: SCAN + UNLINK on every primary.
        let (a, b) = (app("rdca_a"), app("rdca_b"));
        a.async_cache().set_many(&entries).await.unwrap();
        b.async_cache().set_many(&entries).await.unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        a.async_cache().purge().await.unwrap();
        let gone = a.async_cache().get_many::<u32>(&keys).await.unwrap();
        assert!(gone.iter().all(Option::is_none));
        let kept = b.async_cache().get_many::<u32>(&keys).await.unwrap();
        assert!(
            kept.iter().all(Option::is_some),
            "app b lost keys to a's purge"
        );
        assert_eq!(matching_per_primary(cluster, "rdca_a:*").len(), 0);
        assert_eq!(
            matching_per_primary(cluster, "rdca_b:*")
                .values()
                .sum::<usize>(),
            1000
        );
        b.async_cache().purge().await.unwrap();
        assert_eq!(matching_per_primary(cluster, "rdca_b:*").len(), 0);
        // The batch app's keys survived both purges.
        assert_eq!(cache.get::<u32>("k999").await.unwrap(), Some(1998));

        // Batches cut at any point (their per-key commands spread over the three nodes'
        // connections) leave no stray reply behind: the next batch reads its own values.
        let hundred: Vec<&str> = (0..100).map(|i| mixed[i * 10].as_str()).collect();
        cache.set_many(&doubled[..50]).await.unwrap();
        let want = cache.get_many::<u32>(&hundred).await.unwrap();
        for round in 0..200usize {
            let limit = Duration::from_micros((round as u64 * 37) % 1500);
            let _ = tokio::time::timeout(limit, cache.get_many::<u32>(&hundred)).await;
            // The values already stored: done or not, it changes nothing.
            let _ = tokio::time::timeout(limit, cache.set_many(&doubled[..50])).await;
            assert_eq!(
                cache.get_many::<u32>(&hundred).await.unwrap(),
                want,
                "round {round}"
            );
            let i = (round * 7) % 100;
            assert_eq!(
                cache.get::<u32>(hundred[i]).await.unwrap(),
                want[i],
                "round {round}"
            );
        }

        // purge = "db": FLUSHDB on every primary.
        let flush = support::app("rdca_flush", "redis")
            .set("cache.redis", "cluster", seeds.clone())
            .set("cache.redis", "purge", "db")
            .setup()
            .unwrap();
        flush.async_cache().set_many(&entries).await.unwrap();
        assert_eq!(matching_per_primary(cluster, "rdca_flush:*").len(), 3);
        flush.async_cache().purge().await.unwrap();
        assert!(matching_per_primary(cluster, "*").is_empty());
    });
}

/// Keys matching `pattern` on each primary that holds any (`KEYS` on each node: a test's
/// look at a small data set).
fn matching_per_primary(cluster: &RedisCluster, pattern: &str) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for node in cluster.nodes() {
        let Ok(mut conn) = redis::Client::open(node.url()).and_then(|c| c.get_connection()) else {
            continue; // a killed node
        };
        let found: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut conn).unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut conn).unwrap();
        let role: String = redis::from_redis_value(role[0].clone()).unwrap();
        if role == "master" && !found.is_empty() {
            counts.insert(node.port(), found.len());
        }
    }
    counts
}

/// What a group of tasks saw while a server failed over.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    pub(crate) unavailable: usize,
    pub(crate) timeouts: usize,
    /// The first error, as shown.
    pub(crate) first: Option<String>,
    /// From the kill to the last task's first success after its errors.
    pub(crate) recovered_after: Duration,
}

/// How many async tasks ride out a failover.
pub(crate) const TASKS: usize = 16;

/// The async face of `app` through a failover that `fail_over` causes on this thread: on a
/// thread of its own, `warm_up` runs first (so the app's connection is open before the kill),
/// then, from the moment `fail_over` reports the kill, [`TASKS`] concurrent tasks run `probe`
/// until each succeeds (`Ok(true)`: the data is back). Every failure on the way must be typed
/// (`Unavailable` or `Timeout`); they are counted, with the time to recovery.
pub(crate) fn through_failover<R>(
    app: &Application,
    warm_up: impl AsyncFnOnce(&AsyncCache) + Send,
    probe: impl AsyncFn(&AsyncCache, usize) -> cement::Result<bool> + Send + Sync,
    fail_over: impl FnOnce(&dyn Fn(Instant)) -> R,
) -> (R, Outage) {
    let (ready, is_ready) = mpsc::channel();
    let (kill, was_killed) = mpsc::channel::<Instant>();
    std::thread::scope(|s| {
        let rider = s.spawn(move || {
            runtime("rider").block_on(async {
                let cache = app.async_cache();
                warm_up(cache).await;
                ready.send(()).unwrap();
                let killed = was_killed.recv().unwrap();
                ride_out(killed, async |task| probe(cache, task).await).await
            })
        });
        is_ready.recv().unwrap();
        let out = fail_over(&|killed| kill.send(killed).unwrap());
        let outage = rider.join().unwrap();
        eprintln!(
            "async face, {TASKS} tasks: {} failed calls ({} Unavailable, {} Timeout), all tasks \
             served again {:?} after the kill; first error: {:?}",
            outage.unavailable + outage.timeouts,
            outage.unavailable,
            outage.timeouts,
            outage.recovered_after,
            outage.first
        );
        assert!(
            outage.unavailable + outage.timeouts > 0,
            "the kill went unnoticed by the async tasks"
        );
        (out, outage)
    })
}

/// Runs [`TASKS`] copies of `probe` concurrently, each until it succeeds after the kill at
/// `killed`.
async fn ride_out(killed: Instant, probe: impl AsyncFn(usize) -> cement::Result<bool>) -> Outage {
    let runs = (0..TASKS).map(|task| {
        let probe = &probe;
        async move {
            let mut errors = Vec::new();
            loop {
                match probe(task).await {
                    Ok(true) => return (errors, killed.elapsed()),
                    Ok(false) => {}
                    Err(err) => crate::failed_during_failover(&mut errors, err, killed),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let mut outage = Outage::default();
    for (errors, took) in futures_join(runs).await {
        outage.recovered_after = outage.recovered_after.max(took);
        for err in errors {
            if outage.first.is_none() {
                outage.first = Some(err.to_string());
            }
            match err {
                Error::Timeout { .. } => outage.timeouts += 1,
                _ => outage.unavailable += 1,
            }
        }
    }
    outage
}

/// Awaits every future concurrently on the current task; outputs in order.
async fn futures_join<T, Fut: Future<Output = T>>(futures: impl Iterator<Item = Fut>) -> Vec<T> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut done: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in done.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(output) => *slot = Some(output),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}
