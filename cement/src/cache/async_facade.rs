//! The typed async cache, `app.async_cache()` (feature `tokio`): the methods of
//! [`Cache`] under the same names as `async fn`s, on the same engine
//! ([`async_engine`](super::async_engine) says how the handler's calls leave the task).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::async_engine::AsyncEngine;
use super::engine::nonzero;
use super::flight::Flights;
use super::lease;
use super::stats::{CacheStats, Op};
use super::{Cache, CacheHandler, Capabilities};
use crate::Result;

/// The typed cache of a running app for async code: `app.async_cache()` (feature `tokio`).
///
/// It is the app's [`Cache`] seen from tokio: the same handler, key mapping, codec, failure
/// policy, circuit breaker, counters and tracing — one engine, so both faces of an app count
/// into the same [`stats`](Self::stats) and trip the same breaker. A handler with an
/// [async side](CacheHandler::as_async) (redis with cement-ext's `redis-async`, an
/// [`AsyncCacheHandler`](super::AsyncCacheHandler) registered `async_only`) is awaited natively
/// on the calling task. The calls of any other handler that
/// [blocks](CacheHandler::blocks) (memcached, sqlite, redis without `redis-async`, a custom
/// sync handler by default) run on tokio's blocking pool, at most `async_blocking_limit` (handler section, default 64, 1 to
/// 512) at once per cache; the memory handler's run inline. Nothing here blocks the calling
/// task's thread, so a `current_thread` runtime keeps serving its other tasks while a backend
/// hangs.
///
/// Call it from inside a tokio runtime (a call outside one is an
/// [`Error::InvalidArgument`](crate::Error::InvalidArgument)); `get_or_set_with` with
/// `lease_time` set also needs the runtime's timer (`enable_time`; `#[tokio::main]` has it).
///
/// **Cancellation**: a future dropped mid-call (a `tokio::time::timeout`, a `select!`) never
/// leaves a connection answering the next caller with its reply (a native handler must see to
/// that, see [`AsyncCacheHandler`](super::AsyncCacheHandler); redis's multiplexed connection
/// discards the reply of a dropped call) and a call already on the blocking pool runs to
/// completion there and its result is dropped; a write may therefore still land after its
/// future was dropped. Cloning is cheap and shares everything.
///
/// ```
/// use cement::App;
///
/// #[derive(App)]
/// #[app(label = "asyncdoc")]
/// struct AsyncDoc;
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> cement::Result<()> {
///     let app = AsyncDoc::setup()?;
///     let cache = app.async_cache();
///     cache.set("answer", &42).await?;
///     assert_eq!(cache.get::<u32>("answer").await?, Some(42));
///     assert_eq!(app.cache().get::<u32>("answer")?, Some(42)); // one cache, two faces
///     assert_eq!(cache.stats().ops["get"].calls, 2);
///     app.close()
/// }
/// ```
#[derive(Clone)]
pub struct AsyncCache {
    lane: AsyncEngine,
    /// `get_or_set_with`'s single-flight between the tasks of this face; a task awaits its
    /// turn without blocking.
    flights: Arc<Flights<tokio::sync::Mutex<()>>>,
}

impl fmt::Debug for AsyncCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = &self.lane.engine;
        f.debug_struct("AsyncCache")
            .field("handler", &engine.label)
            .field("prefix", &engine.prefix)
            .field("default_ttl", &engine.default_ttl)
            .field("async_blocking_limit", &engine.async_blocking_limit)
            .finish()
    }
}

impl AsyncCache {
    /// The async face of `cache`: the same engine (handler, settings, breaker, counters), with
    /// its own single-flight and blocking-pool permits. Apps get theirs from
    /// `app.async_cache()`; this is for a [`Cache`] built in code.
    ///
    /// ```
    /// use cement::cache::{AsyncCache, Cache, MemoryCacheHandler};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "demo:", None);
    /// let async_cache = AsyncCache::new(&cache);
    /// async_cache.set("k", "v").await?;
    /// assert_eq!(cache.get::<String>("k")?.as_deref(), Some("v"));
    /// # Ok(()) }
    /// ```
    pub fn new(cache: &Cache) -> Self {
        AsyncCache {
            lane: AsyncEngine::new(Arc::clone(&cache.engine)),
            flights: Arc::default(),
        }
    }

    /// The label of the handler behind this cache, e.g. `"memory"`.
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.handler_label(), "memory");
    /// ```
    pub fn handler_label(&self) -> &'static str {
        self.lane.engine.label
    }

    /// The handler itself, for operations the facade does not offer (its calls block: run
    /// them on the blocking pool yourself).
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert!(!cache.handler().blocks());
    /// ```
    pub fn handler(&self) -> &dyn CacheHandler {
        self.lane.engine.handler.as_ref()
    }

    /// What the handler does natively.
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert!(cache.capabilities().counters);
    /// ```
    pub fn capabilities(&self) -> Capabilities {
        self.lane.engine.capabilities
    }

    /// The prefix put in front of every key.
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.prefix(), "p:");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.lane.engine.prefix
    }

    /// The TTL that [`set`](Self::set) uses (from `expire_time`; `None` = never expire).
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.default_ttl(), None);
    /// ```
    pub fn default_ttl(&self) -> Option<Duration> {
        self.lane.engine.default_ttl
    }

    /// The counters since setup, shared with the blocking face.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let async_cache = cement::cache::AsyncCache::new(&cache);
    /// async_cache.get::<u8>("nothing").await?;
    /// cache.get::<u8>("nothing")?;
    /// assert_eq!(async_cache.stats().misses, 2);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.lane.engine.stats.snapshot()
    }

    /// The key the handler receives for `key`: prefixed, and mapped to the handler's rules.
    ///
    /// ```
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.wire_key("user 1")?, "p:user 1");
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        self.lane.engine.wire_key(key)
    }

    /// The value under `key` as a `T`, or `None` on a miss; as [`Cache::get`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.get::<String>("nothing").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.lane.get(key).await
    }

    /// The value under `key`, or `fallback` on a miss; as [`Cache::get_or`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.get_or("question", 0).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        Ok(self.get(key).await?.unwrap_or(fallback))
    }

    /// Whether `key` holds a value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("k", &false).await?;
    /// assert!(cache.exists("k").await?);
    /// # Ok(()) }
    /// ```
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.lane.exists(key).await
    }

    /// Stores `value` under `key` for the section's `expire_time`; as [`Cache::set`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("k", &[1, 2, 3]).await?;
    /// assert_eq!(cache.get::<Vec<u8>>("k").await?, Some(vec![1, 2, 3]));
    /// # Ok(()) }
    /// ```
    pub async fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.lane
            .set(key, value, self.lane.engine.default_ttl)
            .await
    }

    /// Stores `value` under `key` for `ttl`; a zero `ttl` is an error. As
    /// [`Cache::set_with_ttl`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// use std::time::Duration;
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set_with_ttl("k", "v", Duration::from_secs(60)).await?;
    /// assert!(cache.set_with_ttl("k", "v", Duration::ZERO).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        let ttl = nonzero(ttl)?;
        self.lane.set(key, value, Some(ttl)).await
    }

    /// Stores `value` only if `key` holds nothing, atomically; as [`Cache::add`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert!(cache.add("k", &1).await?);
    /// assert!(!cache.add("k", &2).await?);
    /// # Ok(()) }
    /// ```
    pub async fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool> {
        self.lane
            .add(key, value, self.lane.engine.default_ttl)
            .await
    }

    /// [`add`](Self::add) with its own TTL (a zero `ttl` is an error).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert!(cache.add_with_ttl("k", &1, std::time::Duration::from_secs(5)).await?);
    /// # Ok(()) }
    /// ```
    pub async fn add_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<bool> {
        let ttl = nonzero(ttl)?;
        self.lane.add(key, value, Some(ttl)).await
    }

    /// Adds `delta` to the counter under `key` and returns the new value; as [`Cache::incr`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert_eq!(cache.incr("hits", 2).await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: &str, delta: u64) -> Result<u64> {
        self.lane.count(true, key, delta).await
    }

    /// Subtracts `delta` from the counter under `key`, stopping at 0; as [`Cache::decr`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.incr("left", 1).await?;
    /// assert_eq!(cache.decr("left", 5).await?, 0);
    /// # Ok(()) }
    /// ```
    pub async fn decr(&self, key: &str, delta: u64) -> Result<u64> {
        self.lane.count(false, key, delta).await
    }

    /// Gives `key` a new TTL without rewriting it; as [`Cache::touch`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// assert!(!cache.touch("missing", None).await?);
    /// # Ok(()) }
    /// ```
    pub async fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.lane.touch(key, ttl).await
    }

    /// Removes `key`; `true` if it was there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("k", &1).await?;
    /// assert!(cache.delete("k").await?);
    /// assert!(!cache.delete("k").await?);
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.lane.delete(key).await
    }

    /// Removes every entry of this cache; as [`Cache::purge`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("k", &1).await?;
    /// cache.purge().await?;
    /// assert!(!cache.exists("k").await?);
    /// # Ok(()) }
    /// ```
    pub async fn purge(&self) -> Result<()> {
        self.lane.purge().await
    }

    /// The values of several keys, in the order of `keys`; as [`Cache::get_many`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.get_many::<u8>(&["a", "b"]).await?, vec![Some(1), None]);
    /// # Ok(()) }
    /// ```
    pub async fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        self.lane.get_many(keys).await
    }

    /// Stores several entries for the section's `expire_time`; as [`Cache::set_many`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set_many(&[("a", 1), ("b", 2)]).await?;
    /// assert_eq!(cache.get::<u8>("b").await?, Some(2));
    /// # Ok(()) }
    /// ```
    pub async fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        self.lane.set_many(entries).await
    }

    /// Removes several keys; returns how many were there.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.delete_many(&["a", "b"]).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        self.lane.delete_many(keys).await
    }

    /// The value under `key`; on a miss, the future `compute` returns makes it, and it is
    /// stored for `ttl` (`None`: the section's `expire_time`) and returned. As
    /// [`Cache::get_or_set_with`]: concurrent tasks of this face that miss the same key await
    /// one computation (a `tokio::sync::Mutex` per key, so waiting never blocks a thread), and
    /// with `lease_time` set separate processes coordinate too, the waiters polling on a tokio
    /// timer. An error from `compute` is returned and nothing is stored. A caller cancelled
    /// while it computes lets the next waiter compute; its lease, if any, expires by itself.
    ///
    /// The blocking face has its own single-flight: a thread and a task that miss the same key
    /// at once may both compute, unless `lease_time` is set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(9)), "p:", None);
    /// let cache = cement::cache::AsyncCache::new(&cache);
    /// let report: Vec<u32> = cache.get_or_set_with("report", None, || async { Ok(vec![1, 2]) }).await?;
    /// let again: Vec<u32> = cache
    ///     .get_or_set_with("report", None, || async { unreachable!("cached") })
    ///     .await?;
    /// assert_eq!(report, again);
    /// # Ok(()) }
    /// ```
    pub async fn get_or_set_with<T, F, Fut>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let engine = &self.lane.engine;
        engine.stats.call(Op::GetOrSetWith);
        let ttl = engine.compute_ttl(ttl)?;
        if let Some(value) = self.get(key).await? {
            return Ok(value);
        }
        let ticket = self.flights.join(key);
        let _turn = ticket.lock.lock().await;
        // Whoever held the flight before us may have stored the value.
        if let Some(value) = self.get(key).await? {
            return Ok(value);
        }
        lease::compute_and_store_async(&self.lane, key, ttl, compute).await
    }

    /// Whether logs may show keys whole (`log_keys`), for `#[cement::cached]`'s fault logs.
    pub(super) fn log_keys(&self) -> bool {
        self.lane.engine.log_keys
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.flights.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCacheHandler;
    use crate::{Config, Error};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A memory store that says it blocks, and sleeps in `get`: its calls go to the blocking
    /// pool. It records how many of its calls ran at once.
    struct Slow {
        store: MemoryCacheHandler,
        running: AtomicUsize,
        most: AtomicUsize,
        pause: Duration,
    }

    // On the `Arc`, so that the test keeps a handle on what the cache owns.
    impl CacheHandler for Arc<Slow> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(self.pause);
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.store.get(key)
        }
        fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
            self.store.set(key, value, ttl)
        }
        fn delete(&self, key: &str) -> Result<bool> {
            self.store.delete(key)
        }
        fn purge(&self) -> Result<()> {
            self.store.purge()
        }
    }

    fn slow(pause_ms: u64, limit: u64) -> (Cache, Arc<Slow>) {
        let handler = Arc::new(Slow {
            store: MemoryCacheHandler::new(10_000),
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            pause: Duration::from_millis(pause_ms),
        });
        let mut config = Config::with_sections(&["cache.slow"]);
        config.set("cache.slow", "prefix", "s:");
        config.set("cache.slow", "expire_time", 0);
        config.set("cache.slow", "async_blocking_limit", limit);
        let cache = Cache::from_config(
            "slow",
            Box::new(Arc::clone(&handler)),
            &config,
            "cache.slow",
        )
        .unwrap();
        (cache, handler)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tasks_missing_one_key_compute_once_on_either_kind_of_handler() {
        let memory = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
        let (blocking, _) = slow(1, 8);
        for cache in [memory, blocking] {
            let cache = AsyncCache::new(&cache);
            let computed = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let (cache, computed) = (cache.clone(), Arc::clone(&computed));
                    tokio::spawn(async move {
                        cache
                            .get_or_set_with("k", None, || async {
                                computed.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok(7u32)
                            })
                            .await
                    })
                })
                .collect();
            for task in tasks {
                assert_eq!(task.await.unwrap().unwrap(), 7);
            }
            assert_eq!(computed.load(Ordering::SeqCst), 1);
            assert_eq!(cache.in_flight(), 0);
            assert_eq!(cache.stats().ops["get_or_set_with"].calls, 50);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn both_faces_share_one_engine() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "p:", None);
        let async_cache = AsyncCache::new(&cache);
        async_cache.set("k", &1).await.unwrap();
        assert_eq!(cache.get::<i32>("k").unwrap(), Some(1));
        assert_eq!(async_cache.get::<i32>("k").await.unwrap(), Some(1));
        assert_eq!(cache.stats(), async_cache.stats());
        assert_eq!(cache.stats().hits, 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn blocking_calls_stay_within_the_limit() {
        let (cache, handler) = slow(20, 3);
        let cache = AsyncCache::new(&cache);
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get::<u8>(&format!("k{i}")).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), None);
        }
        assert_eq!(handler.most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_call_runs_to_completion_and_is_counted() {
        let (cache, handler) = slow(100, 4);
        let async_cache = AsyncCache::new(&cache);
        let cut = tokio::time::timeout(Duration::from_millis(10), async_cache.get::<u8>("k")).await;
        assert!(cut.is_err(), "the timeout cancelled the call");
        assert_eq!(handler.running.load(Ordering::SeqCst), 1, "still running");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(handler.running.load(Ordering::SeqCst), 0, "it completed");
        let stats = async_cache.stats();
        assert_eq!((stats.ops["get"].calls, stats.ops["get"].errors), (1, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn both_faces_trip_one_breaker() {
        struct Down;
        impl CacheHandler for Down {
            fn get(&self, _: &str) -> Result<Option<Vec<u8>>> {
                Err(Error::Unavailable {
                    backend: "down",
                    source: "refused".into(),
                })
            }
            fn set(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<()> {
                Ok(())
            }
            fn delete(&self, _: &str) -> Result<bool> {
                Ok(false)
            }
            fn purge(&self) -> Result<()> {
                Ok(())
            }
        }
        let mut config = Config::with_sections(&["cache.down"]);
        config.set("cache.down", "prefix", "");
        config.set("cache.down", "expire_time", 0);
        config.set("cache.down", "breaker_failures", 2);
        config.set("cache.down", "breaker_cooldown", 60);
        let cache = Cache::from_config("down", Box::new(Down), &config, "cache.down").unwrap();
        let async_cache = AsyncCache::new(&cache);
        for _ in 0..2 {
            assert!(async_cache.get::<u8>("k").await.is_err());
        }
        // The async face's failures opened the breaker the blocking face goes through.
        let err = cache.get::<u8>("k").unwrap_err().to_string();
        assert!(err.contains("circuit breaker open"), "{err}");
        assert_eq!(async_cache.stats().breaker_rejections, 1);
        let err = async_cache.get::<u8>("k").await.unwrap_err().to_string();
        assert!(err.contains("circuit breaker open"), "{err}");
        assert_eq!(cache.stats().breaker_rejections, 2);
    }

    #[test]
    fn a_call_outside_a_runtime_is_an_error_not_a_panic() {
        let (cache, _) = slow(0, 1);
        let cache = AsyncCache::new(&cache);
        let mut call = std::pin::pin!(cache.get::<u8>("k"));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match call.as_mut().poll(&mut context) {
            std::task::Poll::Ready(Err(Error::InvalidArgument(msg))) => {
                assert!(msg.contains("outside a tokio runtime"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
    }
}
