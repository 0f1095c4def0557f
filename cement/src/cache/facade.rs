//! The typed cache facade, `app.cache()`: the public methods, each handing its call to the
//! [`engine`](super::engine) (keys, codec, failure policy, stats, tracing) after checking its
//! own arguments. Only `get_or_set_with` does more: it waits, for the in-process single-flight
//! ([`flight`](super::flight)) and the cross-process lease.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::engine::{nonzero, Engine};
use super::flight::Flights;
use super::lease;
use super::settings::CacheSettings;
use super::stats::{CacheStats, Op};
use super::{CacheHandler, Capabilities};
use crate::{Config, Result};

/// The typed cache of a running app: `app.cache()`.
///
/// Values are any `serde` type, encoded by one codec (JSON in a small envelope); keys are any
/// UTF-8 string, prefixed with the handler section's `prefix` and mapped to the handler's
/// [`KeyRules`]. Backend failures follow the section's `on_*_error` policies and circuit
/// breaker ([`policy`](super::policy)); every call is counted in [`stats`](Self::stats) and
/// traced (`tracing` spans named `cache`, keys shown as a digest unless `log_keys = true`).
/// Cloning is cheap and shares everything.
///
/// [`KeyRules`]: super::KeyRules
#[derive(Clone)]
pub struct Cache {
    /// Shared with the app's `AsyncCache` (feature `tokio`): one engine under both faces.
    pub(super) engine: Arc<Engine>,
    /// `get_or_set_with`'s waits live here, beside the engine and not in it (see
    /// [`engine`](super::engine)).
    flights: Arc<Flights>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("handler", &self.engine.label)
            .field("prefix", &self.engine.prefix)
            .field("default_ttl", &self.engine.default_ttl)
            .field("capabilities", &self.engine.capabilities)
            .finish()
    }
}

impl Cache {
    /// Wraps a handler with the default policy. `prefix` is put in front of every key;
    /// `default_ttl` is what [`set`](Self::set) uses (`None`: never expire).
    ///
    /// Apps get their `Cache` from `app.cache()`; this is for embedding a handler directly.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "demo:", None);
    /// cache.set("k", "v")?;
    /// assert_eq!(cache.get::<String>("k")?.as_deref(), Some("v"));
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn new(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        prefix: impl Into<String>,
        default_ttl: Option<Duration>,
    ) -> Self {
        Cache::with_settings(
            label,
            handler,
            CacheSettings::new(prefix.into(), default_ttl),
        )
    }

    /// The cache of an app: prefix, TTL, policy, `log_keys` and `lease_time` from the
    /// handler's section (see [`settings`](super::settings)).
    pub(crate) fn from_config(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        config: &Config,
        section: &str,
    ) -> Result<Self> {
        Ok(Cache::with_settings(
            label,
            handler,
            CacheSettings::from_config(config, section)?,
        ))
    }

    fn with_settings(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        settings: CacheSettings,
    ) -> Self {
        Cache {
            engine: Arc::new(Engine::new(label, handler, settings)),
            flights: Arc::default(),
        }
    }

    /// The label of the handler behind this cache, e.g. `"memory"`.
    pub fn handler_label(&self) -> &'static str {
        self.engine.label
    }

    /// The codec this cache writes values with (the section's `codec`). Values read back
    /// whichever codec wrote them.
    ///
    /// ```
    /// use cement::cache::{Cache, Codec, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "doc:", None);
    /// assert_eq!(cache.codec(), Codec::Json);
    /// ```
    pub fn codec(&self) -> super::Codec {
        self.engine.codec()
    }

    /// The handler itself, for operations the facade does not offer.
    pub fn handler(&self) -> &dyn CacheHandler {
        self.engine.handler.as_ref()
    }

    /// What the handler does natively.
    pub fn capabilities(&self) -> Capabilities {
        self.engine.capabilities
    }

    /// The prefix put in front of every key.
    pub fn prefix(&self) -> &str {
        &self.engine.prefix
    }

    /// The TTL that [`set`](Self::set) uses (from `expire_time`; `None` = never expire).
    pub fn default_ttl(&self) -> Option<Duration> {
        self.engine.default_ttl
    }

    /// The counters since setup.
    pub fn stats(&self) -> CacheStats {
        self.engine.stats.snapshot()
    }

    /// The key the handler receives for `key`: prefixed, and mapped to the handler's rules.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "app:", None);
    /// assert_eq!(cache.wire_key("user 1")?, "app:user 1");
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        self.engine.wire_key(key)
    }

    /// The value under `key` as a `T`, or `None` on a miss. A stored value that cannot be read
    /// as a `T` (written as another type or by another program) is a miss, counted in
    /// [`CacheStats::decode_errors`]; with `on_decode_error = "raise"` it is an
    /// [`Error::Codec`](crate::Error::Codec).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.engine.get(key)
    }

    /// The value under `key`, or `fallback` on a miss (Cement's `get(key, fallback)`). Falsy
    /// values such as `0`, `false` or `""` are hits.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        Ok(self.get(key)?.unwrap_or(fallback))
    }

    /// Whether `key` holds a value.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.engine.exists(key)
    }

    /// Stores `value` under `key` for the handler section's `expire_time` (`0`: never expire).
    pub fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.engine.set(key, value, self.engine.default_ttl)
    }

    /// Stores `value` under `key` for `ttl` (Cement's `set(key, value, time=…)`). A zero `ttl`
    /// is an [`Error::InvalidArgument`](crate::Error::InvalidArgument): use [`set`](Self::set) to store without expiry.
    pub fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        let ttl = nonzero(ttl)?;
        self.engine.set(key, value, Some(ttl))
    }

    /// Stores `value` only if `key` holds nothing, atomically; `true` if it stored. Uses the
    /// section's `expire_time`. [`Error::Unsupported`](crate::Error::Unsupported) on handlers without native `add`.
    pub fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool> {
        self.engine.add(key, value, self.engine.default_ttl)
    }

    /// [`add`](Self::add) with its own TTL (a zero `ttl` is an error).
    pub fn add_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<bool> {
        self.engine.add(key, value, Some(nonzero(ttl)?))
    }

    /// Adds `delta` to the counter under `key` and returns the new value, atomically. A missing
    /// key starts from 0 (and gets the section's `expire_time`). Read a counter with
    /// `get::<u64>`; `set(key, &42u64)` makes one. [`Error::Unsupported`](crate::Error::Unsupported) on handlers without
    /// native counters.
    pub fn incr(&self, key: &str, delta: u64) -> Result<u64> {
        self.engine
            .count(Op::Incr, key, |h, wire, ttl| h.incr(wire, delta, ttl))
    }

    /// Subtracts `delta` from the counter under `key`, stopping at 0, and returns the new value.
    pub fn decr(&self, key: &str, delta: u64) -> Result<u64> {
        self.engine
            .count(Op::Decr, key, |h, wire, ttl| h.decr(wire, delta, ttl))
    }

    /// Gives `key` a new TTL (`None`: never expire) without rewriting it; `true` if the key
    /// exists. A zero TTL is an error. [`Error::Unsupported`](crate::Error::Unsupported) on handlers without native touch.
    pub fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.engine.touch(key, ttl)
    }

    /// Removes `key`; `true` if it was there.
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.engine.delete(key)
    }

    /// Removes every entry of this cache; see each handler's docs for what "every" means on a
    /// shared server.
    pub fn purge(&self) -> Result<()> {
        self.engine.purge()
    }

    /// The values of several keys, in the order of `keys`, in one round trip where the handler
    /// can.
    pub fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        self.engine.get_many(keys)
    }

    /// Stores several entries for the section's `expire_time`, in one round trip where the
    /// handler can.
    pub fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        self.engine.set_many(entries)
    }

    /// Removes several keys; returns how many were there.
    pub fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        self.engine.delete_many(keys)
    }

    /// The value under `key`; on a miss, `compute` makes it, it is stored for `ttl` (`None`:
    /// the section's `expire_time`) and returned. Concurrent callers in this process that miss
    /// the same key wait for one computation instead of all running it (single-flight). An
    /// error from `compute` is returned and nothing is stored.
    ///
    /// With `lease_time` (seconds) set in the handler section and a handler with native `add`,
    /// separate processes coordinate as well: the caller that `add`s the lease key
    /// `"#~lease:" + prefix + key` computes; the others poll for the value until the lease
    /// would expire, then compute themselves.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
    /// let report: Vec<u32> = cache.get_or_set_with("report", None, || Ok(vec![1, 2, 3]))?;
    /// let again: Vec<u32> = cache.get_or_set_with("report", None, || unreachable!("cached"))?;
    /// assert_eq!(report, again);
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn get_or_set_with<T, F>(&self, key: &str, ttl: Option<Duration>, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        self.engine.stats.call(Op::GetOrSetWith);
        let ttl = self.engine.compute_ttl(ttl)?;
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        self.flights.run(key, || {
            // Whoever held the flight before us may have stored the value.
            if let Some(value) = self.get(key)? {
                return Ok(value);
            }
            lease::compute_and_store(&self.engine, key, ttl, compute)
        })
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.engine.handler.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCacheHandler;
    use crate::Error;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn single_flight_computes_once() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
        let computed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let value: u64 = cache
                        .get_or_set_with("slow", None, || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            Ok(42)
                        })
                        .unwrap();
                    assert_eq!(value, 42);
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(cache.flights.in_flight(), 0);
        let stats = cache.stats();
        assert_eq!(stats.ops["compute"].calls, 1);
        assert_eq!(stats.ops["get_or_set_with"].calls, 8);
    }

    #[test]
    fn a_failed_computation_stores_nothing() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
        let err = cache
            .get_or_set_with::<u8, _>("k", None, || Err(Error::InvalidArgument("no".into())))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert_eq!(cache.get::<u8>("k").unwrap(), None);
        assert_eq!(cache.get_or_set_with("k", None, || Ok(7u8)).unwrap(), 7);
    }
}
