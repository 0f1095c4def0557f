//! Single-flight across tasks, and the cross-process lease waited out on tokio timers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cement::cache::AsyncCache;
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, raw};
use crate::{with_ticker, MAX_GAP};

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_tasks_missing_one_key_on_redis_compute_once() {
    let server = RedisServer::start().unwrap();
    let app = app("async_flight", &server).setup().unwrap();
    let computed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (cache, computed) = (app.async_cache().clone(), Arc::clone(&computed));
        tasks.spawn(async move {
            cache
                .get_or_set_with("k", None, || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(vec![1u8, 2, 3])
                })
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_eq!(joined.unwrap().unwrap(), [1, 2, 3]);
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    let stats = app.async_cache().stats();
    assert_eq!(stats.ops["compute"].calls, 1);
    assert_eq!(stats.ops["get_or_set_with"].calls, 1000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_tasks_wait_on_one_lease_without_stalling_the_runtime() {
    let server = RedisServer::start().unwrap();
    let app = app("async_lease", &server)
        .set("cache.redis", "lease_time", 2)
        .setup()
        .unwrap();
    // Another process holds the lease for "k" and stores the value after 400 ms.
    let lease = "#~lease:async_lease:k";
    redis::cmd("SET")
        .arg(lease)
        .arg("1")
        .arg("NX")
        .arg("PX")
        .arg(2000)
        .query::<()>(&mut raw(&server))
        .unwrap();
    let computed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (values, gap) = with_ticker(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            // Each its own face: its own single-flight, as a hundred processes would have.
            let (cache, computed) = (AsyncCache::new(app.cache()), Arc::clone(&computed));
            tasks.spawn(async move {
                cache
                    .get_or_set_with("k", None, || async {
                        computed.fetch_add(1, Ordering::SeqCst);
                        Ok("computed here".to_string())
                    })
                    .await
            });
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.async_cache().set("k", "from the holder").await.unwrap();
        let mut values = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            values.push(joined.unwrap().unwrap());
        }
        values
    })
    .await;
    assert!(values.iter().all(|v| v == "from the holder"), "{values:?}");
    assert_eq!(values.len(), 100);
    assert_eq!(computed.load(Ordering::SeqCst), 0, "the lease held");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(gap < MAX_GAP, "the runtime stalled for {gap:?}");
}
