//! A hung server, cancellation, and a server killed and restarted, under many tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cement::cache::{AsyncCache, Cache};
use cement::testing::BlackHole;
use cement::Error;
use cement_ext::redis::{RedisCacheHandler, RedisSettings};
use cement_ext::testing::RedisServer;

use crate::support::redis::app;
use crate::{with_ticker, MAX_GAP};

#[tokio::test(flavor = "current_thread")]
async fn a_black_hole_server_times_out_every_call_without_stalling_the_runtime() {
    let hole = BlackHole::start().unwrap();
    let handler = RedisCacheHandler::new(RedisSettings {
        port: hole.port(),
        prefix: "bh:".into(),
        connect_timeout: 0.3,
        response_timeout: 0.3,
        ..Default::default()
    })
    .unwrap();
    let cache = AsyncCache::new(&Cache::new("redis", Box::new(handler), "bh:", None));
    let started = Instant::now();
    let (outcomes, gap) = with_ticker(async {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..32 {
            let cache = cache.clone();
            tasks.spawn(async move {
                let key = format!("k{t}");
                [
                    cache.get::<u8>(&key).await.map(drop),
                    cache.set(&key, &t).await,
                    cache
                        .get_or_set_with(&key, None, || async { Ok(t) })
                        .await
                        .map(drop),
                ]
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            outcomes.extend(joined.unwrap());
        }
        outcomes
    })
    .await;
    assert_eq!(outcomes.len(), 96);
    for outcome in outcomes {
        assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
    }
    assert!(gap < MAX_GAP, "the runtime stalled for {gap:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "current_thread")]
async fn calls_cancelled_mid_flight_never_answer_another_call() {
    let server = RedisServer::start().unwrap();
    let app = app("async_cancel", &server).setup().unwrap();
    let cache = app.async_cache();
    const KEYS: usize = 100;
    let key = |i: usize| format!("k{i}");
    for i in 0..KEYS {
        cache.set(&key(i), &i).await.unwrap();
    }
    let (cancelled, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // 10,000 calls in waves of concurrent tasks, each cut by a timeout short enough to cancel
    // many while their request is on the multiplexed connection (`redis-async`: the reply of
    // a dropped call must be discarded by the connection's driver, never handed to the next
    // caller); completed reads are checked too.
    assert!(cache.handler().as_async().is_some());
    for wave in 0..20 {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..500 {
            let (cache, cancelled, wrong) =
                (cache.clone(), Arc::clone(&cancelled), Arc::clone(&wrong));
            let i = (wave * 500 + n) * 7 % KEYS;
            tasks.spawn(async move {
                let limit = Duration::from_millis(1 + (n % 2) as u64);
                let call = async {
                    match n % 4 {
                        0 => cache.set(&key(i), &i).await.map(|()| Some(i)),
                        1 => cache
                            .get_many::<usize>(&[&key(i), "absent"])
                            .await
                            .map(|v| v[0]),
                        _ => cache.get::<usize>(&key(i)).await,
                    }
                };
                match tokio::time::timeout(limit, call).await {
                    Err(_) => {
                        cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(Some(got))) if got == i => {}
                    Ok(other) => {
                        eprintln!("key {i} answered {other:?}");
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
    }
    let cancelled = cancelled.load(Ordering::Relaxed);
    eprintln!("{cancelled} of 10000 calls were cancelled");
    // About half are cancelled on an idle machine (5,478 in one run); a loaded one cancels more
    // (9,177 seen in CI-like load), which only makes the test harder. What must hold is that
    // cancellations happened at all and that nothing answered wrong, here and below.
    assert!(
        cancelled >= 100,
        "only {cancelled} of 10000 calls were cancelled: the timeouts missed their mark"
    );
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "completed calls got wrong answers"
    );
    // Let the cancelled calls' replies arrive (and be discarded), then check 1,000 reads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..1000 {
        let i = n * 13 % KEYS;
        assert_eq!(
            cache.get::<usize>(&key(i)).await.unwrap(),
            Some(i),
            "read {n}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_redis_restart_under_64_tasks_gives_typed_errors_then_recovers_by_itself() {
    let mut server = RedisServer::start().unwrap();
    let app = app("async_restart", &server).setup().unwrap();
    let cache = app.async_cache().clone();
    // The multiplexed connection reconnects by itself.
    assert!(cache.handler().as_async().is_some());
    let (up, down_errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..64usize {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        tasks.spawn(async move {
            let mut last = None;
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let key = format!("t{t}");
                let outcome = match cache.set(&key, &t).await {
                    Ok(()) => cache.get::<usize>(&key).await.map(|v| v == Some(t)),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(right) => {
                        assert!(right, "task {t} read another value");
                        last = Some(Instant::now());
                    }
                    Err(e) => errors.push(e),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (last, errors)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.restart().unwrap();
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        let (last, errors) = joined.unwrap();
        assert!(
            last.is_some_and(|at| at > restarted),
            "a task never succeeded after the restart: {errors:?}"
        );
        for error in &errors {
            assert!(
                matches!(error, Error::Unavailable { .. } | Error::Timeout { .. }),
                "{error}"
            );
        }
        down_errors.fetch_add(errors.len(), Ordering::Relaxed);
        up.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(up.load(Ordering::Relaxed), 64);
    assert!(
        down_errors.load(Ordering::Relaxed) > 0,
        "the outage was seen"
    );
    // No manual step: the cache works as before.
    cache.set("after", "restart").await.unwrap();
    assert_eq!(
        cache.get::<String>("after").await.unwrap().as_deref(),
        Some("restart")
    );
}
