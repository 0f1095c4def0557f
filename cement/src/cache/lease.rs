//! Cross-process single-flight for `get_or_set_with`: with `lease_time` set and a handler with
//! native `add`, separate processes that miss the same key compute it once. The caller that
//! `add`s the lease key computes; the others poll for the value until the lease would have
//! expired, then compute themselves (the holder may have died).
//!
//! [`flight`](super::flight) does the same between threads of one process, and runs first.
//! The polling schedule is [`Backoff`]; this blocking path sleeps through it, and the async
//! face's ([`async_engine`](super::async_engine), feature `tokio`) awaits a tokio timer
//! through the same schedule, with the helpers here for the lease key and its outcomes.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::engine::Engine;
use super::policy::is_backend_fault;
use super::redact::loggable;
use super::stats::Op;
use crate::{Error, Result};

/// Runs `compute` and stores its value for `ttl`, under the section's lease if it has one and
/// the handler can take it (native `add`); without one, at once.
pub(super) fn compute_and_store<T, F>(
    engine: &Engine,
    key: &str,
    ttl: Option<Duration>,
    compute: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T>,
{
    match lease_time(engine) {
        Some(lease_time) => under_lease(engine, key, ttl, lease_time, compute),
        None => engine.compute_and_store(key, ttl, compute),
    }
}

/// A lease the backend cannot take does not stop the computation.
fn under_lease<T, F>(
    engine: &Engine,
    key: &str,
    ttl: Option<Duration>,
    lease_time: Duration,
    compute: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T>,
{
    let lease = lease_key(engine, key)?;
    let taken = engine.call(Op::Add, |h| h.add(&lease, b"1", Some(lease_time)));
    match taken {
        Ok(true) => {
            let outcome = engine.compute_and_store(key, ttl, compute);
            released(engine, engine.call(Op::Delete, |h| h.delete(&lease)));
            outcome
        }
        Ok(false) => {
            for pause in Backoff::new(lease_time) {
                std::thread::sleep(pause);
                if let Some(value) = engine.get(key)? {
                    return Ok(value);
                }
            }
            engine.compute_and_store(key, ttl, compute)
        }
        Err(error) => {
            without_lease(engine, error)?;
            engine.compute_and_store(key, ttl, compute)
        }
    }
}

/// The section's lease time, if `get_or_set_with` takes a lease on this handler (one with
/// native `add`).
pub(super) fn lease_time(engine: &Engine) -> Option<Duration> {
    engine.lease_time.filter(|_| engine.capabilities.add)
}

/// The wire key of `key`'s lease. It lives outside the prefix, where no user key can land
/// (with a non-empty prefix): `"#~lease:" + prefix + key`. It is held across the computation,
/// so it gets its own string rather than the engine's per-thread buffer.
pub(super) fn lease_key(engine: &Engine, key: &str) -> Result<String> {
    let lease_key = format!("#~lease:{}{key}", engine.prefix);
    Ok(engine.rules.wire_key("", &lease_key)?.into_owned())
}

/// Logs a failed release: the lease then expires by itself.
pub(super) fn released(engine: &Engine, outcome: Result<bool>) {
    if let Err(error) = outcome {
        let error = loggable(&error, engine.log_keys);
        tracing::debug!(handler = engine.label, %error, "releasing a stampede lease failed; it expires by itself");
    }
}

/// A lease the backend could not take (a backend fault) does not stop the computation: `Ok`
/// to compute without one. Any other error is the caller's.
pub(super) fn without_lease(engine: &Engine, error: Error) -> Result<()> {
    if !is_backend_fault(&error) {
        return Err(error);
    }
    let error = loggable(&error, engine.log_keys);
    tracing::debug!(handler = engine.label, %error, "no stampede lease; computing without one");
    Ok(())
}

/// [`compute_and_store`] for the async face: the same lease, its waits on a tokio timer
/// (`tokio::time::sleep`, so the runtime needs its time driver: `enable_time`, or
/// `#[tokio::main]`), never a thread sleep. A holder that is cancelled mid-computation leaves
/// its lease to expire by itself.
#[cfg(feature = "tokio")]
pub(super) async fn compute_and_store_async<T, F, Fut>(
    lane: &super::async_engine::AsyncEngine,
    key: &str,
    ttl: Option<Duration>,
    compute: F,
) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let engine = lane.engine.as_ref();
    let Some(lease_time) = lease_time(engine) else {
        return lane.compute_and_store(key, ttl, compute).await;
    };
    let lease = lease_key(engine, key)?;
    let taking = lease.clone();
    let taken = lane
        .call(Op::Add, move |h| h.add(&taking, b"1", Some(lease_time)))
        .await;
    match taken {
        Ok(true) => {
            let outcome = lane.compute_and_store(key, ttl, compute).await;
            released(
                engine,
                lane.call(Op::Delete, move |h| h.delete(&lease)).await,
            );
            outcome
        }
        Ok(false) => {
            for pause in Backoff::new(lease_time) {
                tokio::time::sleep(pause).await;
                if let Some(value) = lane.get(key).await? {
                    return Ok(value);
                }
            }
            lane.compute_and_store(key, ttl, compute).await
        }
        Err(error) => {
            without_lease(engine, error)?;
            lane.compute_and_store(key, ttl, compute).await
        }
    }
}

/// The pauses of a caller that found the lease taken, before each look for the value: 10 ms,
/// doubling up to 200 ms, until the lease would have expired. Only the schedule: the caller
/// waits it out its own way (a thread sleeps; an async task would await a timer).
pub(super) struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_millis(200);

    pub(super) fn new(lease_time: Duration) -> Self {
        Backoff {
            deadline: Instant::now() + lease_time,
            pause: Self::FIRST,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let pause = self.pause.min(left);
        self.pause = (self.pause * 2).min(Self::LONGEST);
        Some(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, CacheHandler, Capabilities, MemoryCacheHandler};
    use crate::Config;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Two caches over one store, as two processes over one server.
    struct Shared(Arc<MemoryCacheHandler>);

    impl CacheHandler for Shared {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
            self.0.set(key, value, ttl)
        }
        fn delete(&self, key: &str) -> Result<bool> {
            self.0.delete(key)
        }
        fn purge(&self) -> Result<()> {
            self.0.purge()
        }
        fn capabilities(&self) -> Capabilities {
            self.0.capabilities()
        }
        fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
            self.0.add(key, value, ttl)
        }
    }

    #[test]
    fn a_lease_keeps_separate_processes_from_stampeding() {
        let store = Arc::new(MemoryCacheHandler::new(100));
        let process = || {
            let mut config = Config::with_sections(&["cache.memory"]);
            config.set("cache.memory", "prefix", "app:");
            config.set("cache.memory", "expire_time", 0);
            config.set("cache.memory", "lease_time", 5);
            Cache::from_config(
                "memory",
                Box::new(Shared(Arc::clone(&store))),
                &config,
                "cache.memory",
            )
            .unwrap()
        };
        let caches: Vec<Cache> = (0..4).map(|_| process()).collect();
        let computed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for cache in &caches {
                let computed = &computed;
                s.spawn(move || {
                    let value: String = cache
                        .get_or_set_with("report", None, || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(150));
                            Ok("done".to_string())
                        })
                        .unwrap();
                    assert_eq!(value, "done");
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        // The lease was released, outside the prefix.
        assert_eq!(store.get("#~lease:app:report").unwrap(), None);
    }

    #[test]
    fn backoff_doubles_up_to_its_longest_pause_and_ends_with_the_lease() {
        let pauses: Vec<u64> = Backoff::new(Duration::from_secs(60))
            .take(7)
            .map(|pause| pause.as_millis() as u64)
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 200, 200]);
        assert_eq!(Backoff::new(Duration::ZERO).next(), None);
    }
}
