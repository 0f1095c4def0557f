//! Cross-process single-flight for `get_or_set_with`: with `lease_time` set and a handler with
//! native `add`, separate processes that miss the same key compute it once. The caller that
//! `add`s the lease key computes; the others poll for the value until the lease would have
//! expired, then compute themselves (the holder may have died).
//!
//! [`flight`](super::flight) does the same between threads of one process, and runs first.
//! The polling schedule is [`Backoff`]; this blocking path sleeps through it.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::engine::Engine;
use super::policy::is_backend_fault;
use super::redact::loggable;
use super::stats::Op;
use crate::Result;

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
    match engine.lease_time {
        Some(lease_time) if engine.capabilities.add => {
            under_lease(engine, key, ttl, lease_time, compute)
        }
        _ => engine.compute_and_store(key, ttl, compute),
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
    // The lease lives outside the prefix, where no user key can land (with a non-empty
    // prefix): "#~lease:" + prefix + key. It is held across the computation, so it gets its
    // own string rather than the engine's per-thread buffer.
    let lease_key = format!("#~lease:{}{key}", engine.prefix);
    let lease = engine.rules.wire_key("", &lease_key)?;
    let taken = engine.call(Op::Add, |h| h.add(&lease, b"1", Some(lease_time)));
    match taken {
        Ok(true) => {
            let outcome = engine.compute_and_store(key, ttl, compute);
            if let Err(error) = engine.call(Op::Delete, |h| h.delete(&lease)) {
                let error = loggable(&error, engine.log_keys);
                tracing::debug!(handler = engine.label, %error, "releasing a stampede lease failed; it expires by itself");
            }
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
        Err(error) if is_backend_fault(&error) => {
            let error = loggable(&error, engine.log_keys);
            tracing::debug!(handler = engine.label, %error, "no stampede lease; computing without one");
            engine.compute_and_store(key, ttl, compute)
        }
        Err(error) => Err(error),
    }
}

/// The pauses of a caller that found the lease taken, before each look for the value: 10 ms,
/// doubling up to 200 ms, until the lease would have expired. Only the schedule: the caller
/// waits it out its own way (a thread sleeps; an async task would await a timer).
struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_millis(200);

    fn new(lease_time: Duration) -> Self {
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
