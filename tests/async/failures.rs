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
    for i in 0..CANCEL_KEYS {
        cache.set(&cancel_key(i), &i).await.unwrap();
    }
    // 10,000 calls in waves of concurrent tasks, each cut by a timeout meant to cancel about
    // half of them while their request is on the multiplexed connection (`redis-async`: the
    // reply of a dropped call must be discarded by the connection's driver, never handed to
    // the next caller); completed reads are checked too. A timeout's first poll already puts
    // the request on the connection, so every cancelled call was in flight.
    //
    // How long a call takes depends on the machine's load, so the limit is not a constant: a
    // first wave without timeouts measures the calls' latencies and starts the limit at their
    // median; after each wave the limit moves towards cancelling half of the next one.
    assert!(cache.handler().as_async().is_some());
    let mut limit = median(cancel_wave(cache, None, 0).await.latencies);
    let (mut cancelled, mut completed, mut limits) = (0, 0, Vec::new());
    for wave in 0..CANCEL_WAVES {
        limits.push(limit);
        let outcome = cancel_wave(cache, Some(limit), wave).await;
        assert_eq!(outcome.wrong, 0, "completed calls got wrong answers");
        cancelled += outcome.cancelled;
        completed += WAVE - outcome.cancelled;
        // Towards half: a wave that cancelled most calls lengthens the limit, one that
        // cancelled few shortens it (tokio's timer counts whole milliseconds).
        let share = outcome.cancelled as f64 / WAVE as f64;
        if share > 0.6 {
            limit = limit.mul_f64(1.3);
        } else if share < 0.4 {
            limit = limit.div_f64(1.3).max(Duration::from_millis(1));
        }
    }
    eprintln!(
        "{cancelled} of {} calls were cancelled, {completed} completed (limits {:?} .. {:?})",
        CANCEL_WAVES * WAVE,
        limits.iter().min(),
        limits.iter().max()
    );
    // Both must have happened in a meaningful share, or the test checked little: many
    // replies discarded mid-flight, and many calls answered on the same connection.
    let tenth = CANCEL_WAVES * WAVE / 10;
    assert!(
        cancelled >= tenth,
        "only {cancelled} calls were cancelled: the timeouts missed their mark"
    );
    assert!(
        completed >= tenth,
        "only {completed} calls completed: the timeouts cut nearly every call"
    );
    // Let the cancelled calls' replies arrive (and be discarded), then check 1,000 reads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..1000 {
        let i = n * 13 % CANCEL_KEYS;
        assert_eq!(
            cache.get::<usize>(&cancel_key(i)).await.unwrap(),
            Some(i),
            "read {n}"
        );
    }
}

/// Waves of [`cancel_wave`] after its calibration, and the tasks of each.
const CANCEL_WAVES: usize = 20;
const WAVE: usize = 500;
/// The keys the cancellation test cycles through, each holding its own index.
const CANCEL_KEYS: usize = 100;

fn cancel_key(i: usize) -> String {
    format!("k{i}")
}

/// What one wave of [`cancel_wave`] saw.
struct Wave {
    cancelled: usize,
    wrong: usize,
    /// How long each completed call took, from its first poll.
    latencies: Vec<Duration>,
}

/// [`WAVE`] concurrent calls (sets, two-key `get_many`s, gets of keys that hold their index),
/// each cut at `limit` if given.
async fn cancel_wave(cache: &AsyncCache, limit: Option<Duration>, wave: usize) -> Wave {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..WAVE {
        let cache = cache.clone();
        let i = (wave * WAVE + n) * 7 % CANCEL_KEYS;
        tasks.spawn(async move {
            let started = Instant::now();
            let call = async {
                match n % 4 {
                    0 => cache.set(&cancel_key(i), &i).await.map(|()| Some(i)),
                    1 => cache
                        .get_many::<usize>(&[&cancel_key(i), "absent"])
                        .await
                        .map(|v| v[0]),
                    _ => cache.get::<usize>(&cancel_key(i)).await,
                }
            };
            let outcome = match limit {
                Some(limit) => tokio::time::timeout(limit, call).await.ok(),
                None => Some(call.await),
            };
            let right = match &outcome {
                Some(Ok(Some(got))) => *got == i,
                None => true,
                Some(other) => {
                    eprintln!("key {i} answered {other:?}");
                    false
                }
            };
            (outcome.is_none(), right, started.elapsed())
        });
    }
    let mut seen = Wave {
        cancelled: 0,
        wrong: 0,
        latencies: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (cancelled, right, took) = joined.unwrap();
        seen.cancelled += usize::from(cancelled);
        seen.wrong += usize::from(!right);
        if !cancelled {
            seen.latencies.push(took);
        }
    }
    seen
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
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
