//! The cache contract for the async face (features `testing` and `tokio`): every clause of
//! [`conformance`](super::conformance), run through an [`AsyncCache`]'s `async fn`s, plus the
//! clauses that exist only where the async face behaves differently (tasks instead of threads,
//! futures that are dropped mid-call).
//!
//! The shared clauses are written once, against [`Face`]: here they run on a blocking-pool
//! thread that awaits each call on the runtime, so their sleeps and threads never hold up the
//! runtime. The async-only clauses run on the calling task.
//!
//! ```
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "conformance_async_doc")]
//! struct DocApp;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let app = DocApp::setup().unwrap();
//!     // panics with every broken clause
//!     cement::testing::conformance_async::run_all_async(app.async_cache()).await;
//! }
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::Handle;

use super::conformance::{check_with, report, Face, Outcome};
use super::ok;
use crate::cache::{AsyncCache, CacheHandler, CacheStats, Capabilities};
use crate::Result;

/// The clauses that only the async face has, by name, in the order [`check_all_async`] runs
/// them (after every shared clause of [`CLAUSES`](super::conformance::CLAUSES)).
///
/// ```
/// use cement::testing::conformance_async::ASYNC_CLAUSES;
///
/// assert!(ASYNC_CLAUSES.contains(&"cancelled_calls_leave_no_stray_replies"));
/// ```
pub const ASYNC_CLAUSES: &[&str] = &[
    "tasks_share_one_computation",
    "a_failed_async_computation_stores_nothing",
    "cancelled_calls_leave_no_stray_replies",
];

/// Runs every shared clause through the async face, then the async-only ones; returns the
/// broken ones with what broke (empty: all hold). Call it from a tokio runtime (either
/// flavour) with the timer enabled.
///
/// ```
/// use cement::cache::{AsyncCache, Cache, MemoryCacheHandler};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10_000)), "t:", None);
/// let broken = cement::testing::conformance_async::check_all_async(&AsyncCache::new(&cache)).await;
/// assert!(broken.is_empty(), "{broken:?}");
/// # }
/// ```
pub async fn check_all_async(cache: &AsyncCache) -> Vec<(&'static str, String)> {
    let Ok(runtime) = Handle::try_current() else {
        return vec![("runtime", "not called from a tokio runtime".to_string())];
    };
    let driven = cache.clone();
    let shared = tokio::task::spawn_blocking(move || {
        check_with(&Driven {
            cache: &driven,
            runtime,
        })
    })
    .await;
    let mut broken = shared.unwrap_or_else(|e| vec![("shared clauses", format!("panicked: {e}"))]);
    let outcomes = [
        tasks_share_one_computation(cache).await,
        a_failed_async_computation_stores_nothing(cache).await,
        cancelled_calls_leave_no_stray_replies(cache).await,
    ];
    for (name, outcome) in ASYNC_CLAUSES.iter().zip(outcomes) {
        if let Err(msg) = outcome {
            broken.push((name, msg));
        }
    }
    broken
}

/// Runs every clause; panics listing every broken one. Meant for tests.
pub async fn run_all_async(cache: &AsyncCache) {
    report(cache.handler_label(), &check_all_async(cache).await);
}

/// A hundred tasks that miss one key at once run one computation, and all get its value.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(100)), "", None);
/// use cement::testing::conformance_async::tasks_share_one_computation;
/// assert_eq!(tasks_share_one_computation(&cement::cache::AsyncCache::new(&cache)).await, Ok(()));
/// # }
/// ```
pub async fn tasks_share_one_computation(cache: &AsyncCache) -> Outcome {
    const KEY: &str = "conformance:async:shared";
    ok("delete", cache.delete(KEY).await)?;
    let computed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (cache, computed) = (cache.clone(), Arc::clone(&computed));
        tasks.spawn(async move {
            cache
                .get_or_set_with(KEY, None, || async {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok("made once".to_string())
                })
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let joined = joined.map_err(|e| format!("a task failed: {e}"))?;
        let value = ok("get_or_set_with", joined)?;
        ensure!(value == "made once", "a task got {value:?}");
    }
    let computed = computed.load(Ordering::SeqCst);
    ensure!(
        computed == 1,
        "100 tasks missing one key computed it {computed} times, expected once"
    );
    ok("delete", cache.delete(KEY).await)?;
    Ok(())
}

/// An error from an async computation is returned and stores nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(100)), "", None);
/// use cement::testing::conformance_async::a_failed_async_computation_stores_nothing;
/// assert_eq!(a_failed_async_computation_stores_nothing(&cement::cache::AsyncCache::new(&cache)).await, Ok(()));
/// # }
/// ```
pub async fn a_failed_async_computation_stores_nothing(cache: &AsyncCache) -> Outcome {
    const KEY: &str = "conformance:async:failed";
    ok("delete", cache.delete(KEY).await)?;
    let failed = cache
        .get_or_set_with::<u8, _, _>(KEY, None, || async {
            Err(crate::Error::InvalidArgument("no".into()))
        })
        .await;
    ensure!(
        matches!(failed, Err(crate::Error::InvalidArgument(_))),
        "a failed computation gave {failed:?}"
    );
    ensure!(
        ok("get", cache.get::<u8>(KEY).await)?.is_none(),
        "a failed computation stored a value"
    );
    Ok(())
}

/// Calls cancelled mid-flight (each in a `tokio::time::timeout` of a few hundred µs) leave
/// nothing behind that answers a later call: every checked read afterwards gets its own key's
/// value.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let cache = cement::cache::Cache::new("memory", Box::new(cement::cache::MemoryCacheHandler::new(100)), "", None);
/// use cement::testing::conformance_async::cancelled_calls_leave_no_stray_replies;
/// assert_eq!(cancelled_calls_leave_no_stray_replies(&cement::cache::AsyncCache::new(&cache)).await, Ok(()));
/// # }
/// ```
pub async fn cancelled_calls_leave_no_stray_replies(cache: &AsyncCache) -> Outcome {
    let keys: Vec<String> = (0..50)
        .map(|i| format!("conformance:async:cancel:{i}"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        ok("set", cache.set(key, &i).await)?;
    }
    for round in 0..400usize {
        let key = &keys[round % keys.len()];
        let limit = Duration::from_micros(((round * 37) % 400) as u64);
        // Cut or not, what matters is the next call.
        let _ = match round % 3 {
            0 => tokio::time::timeout(limit, cache.get::<usize>(key))
                .await
                .map(drop),
            1 => tokio::time::timeout(limit, cache.set(key, &(round % keys.len())))
                .await
                .map(drop),
            _ => tokio::time::timeout(limit, cache.get_many::<usize>(&[key, "nothing"]))
                .await
                .map(drop),
        };
        let check = (round * 7) % keys.len();
        let got: Option<usize> = ok("get", cache.get(&keys[check]).await)?;
        ensure!(
            got == Some(check),
            "after a cancelled call, {} read {got:?}, expected Some({check})",
            keys[check]
        );
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    ok("delete_many", cache.delete_many(&refs).await)?;
    Ok(())
}

/// The async face driven from a plain thread: each call awaited on the runtime.
struct Driven<'a> {
    cache: &'a AsyncCache,
    runtime: Handle,
}

impl Driven<'_> {
    fn wait<F: Future>(&self, call: F) -> F::Output {
        self.runtime.block_on(call)
    }
}

impl Face for Driven<'_> {
    fn handler_label(&self) -> &'static str {
        self.cache.handler_label()
    }
    fn handler(&self) -> &dyn CacheHandler {
        self.cache.handler()
    }
    fn handler_set(&self, wire: &str, value: &[u8]) -> Result<()> {
        match self.cache.handler().as_async() {
            Some(handler) => self.wait(handler.set(wire, value, None)),
            None => self.cache.handler().set(wire, value, None),
        }
    }
    fn capabilities(&self) -> Capabilities {
        self.cache.capabilities()
    }
    fn default_ttl(&self) -> Option<Duration> {
        self.cache.default_ttl()
    }
    fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
    fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        self.cache.wire_key(key)
    }
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.wait(self.cache.get(key))
    }
    fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        self.wait(self.cache.get_or(key, fallback))
    }
    fn exists(&self, key: &str) -> Result<bool> {
        self.wait(self.cache.exists(key))
    }
    fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.wait(self.cache.set(key, value))
    }
    fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        self.wait(self.cache.set_with_ttl(key, value, ttl))
    }
    fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool> {
        self.wait(self.cache.add(key, value))
    }
    fn incr(&self, key: &str, delta: u64) -> Result<u64> {
        self.wait(self.cache.incr(key, delta))
    }
    fn decr(&self, key: &str, delta: u64) -> Result<u64> {
        self.wait(self.cache.decr(key, delta))
    }
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.wait(self.cache.touch(key, ttl))
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.wait(self.cache.delete(key))
    }
    fn purge(&self) -> Result<()> {
        self.wait(self.cache.purge())
    }
    fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        self.wait(self.cache.get_many(keys))
    }
    fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        self.wait(self.cache.set_many(entries))
    }
    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        self.wait(self.cache.delete_many(keys))
    }
    fn get_or_set_with<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.wait(
            self.cache
                .get_or_set_with(key, ttl, || std::future::ready(compute())),
        )
    }
}
