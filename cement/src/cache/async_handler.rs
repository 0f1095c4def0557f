//! [`AsyncCacheHandler`], the async counterpart of [`CacheHandler`], and its adapters.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{unsupported, CacheHandler, Capabilities, KeyRules};
use crate::{Error, Result};

/// A boxed future that can move between threads: what [`AsyncCacheHandler`]'s methods return,
/// so that the trait is usable as `dyn AsyncCacheHandler`.
///
/// ```
/// use cement::cache::BoxFuture;
///
/// fn answer<'a>() -> BoxFuture<'a, cement::Result<u32>> {
///     Box::pin(async { Ok(42) })
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(answer().await.unwrap(), 42);
/// # });
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A cache backend with an async client, working on bytes: the async counterpart of
/// [`CacheHandler`], with the same four required methods and the same defaults and meaning for
/// the others (keys arrive prefixed and mapped to [`key_rules`](Self::key_rules); `ttl: None`
/// is "never expire"; an optional operation is refused with [`Error::Unsupported`] unless
/// [`capabilities`](Self::capabilities) declares it).
///
/// **Cancellation.** The async face may drop a returned future at any `.await` (a
/// `tokio::time::timeout` around a cache call, a client gone). An implementation must then
/// leave its connection fit for the next caller: never one whose next read is the reply meant
/// for the dropped call. A multiplexed client that matches replies to requests in its own
/// driver task (redis-rs's) is; a plain connection read in place is not (drop it instead of
/// reusing it).
///
///
/// The async handler trait (feature `tokio`): [`AsyncCacheHandler`], the byte-level interface
/// of a backend whose client is async, and [`AsyncOnly`], which makes such a handler a
/// [`CacheHandler`] so that the app, the registry and [`Cache::new`](super::Cache::new) take it.
///
/// The async face ([`AsyncCache`](super::AsyncCache)) calls a handler's async side natively,
/// on the calling task, whenever [`CacheHandler::as_async`] offers one: no blocking pool, no
/// thread per call. A handler can be
///
/// * **sync only** (every handler written before this trait): `as_async` is `None`, and the
///   async face runs its calls on tokio's blocking pool, bounded by `async_blocking_limit`;
/// * **both** (the redis handler of `cement-ext` with feature `redis-async`): `as_async`
///   returns its async side, and each face uses its own client;
/// * **async only**: implement [`AsyncCacheHandler`] and register it with
///   `#[cement::cache_handler(label = "...", async_only)]` (or wrap it in [`AsyncOnly`] by
///   hand). Its calls through the blocking [`Cache`](super::Cache) (`app.cache()`) fail with
///   [`Error::AsyncOnly`] naming the fix — use `app.async_cache()` — and never block on a
///   private runtime: a client bound to the app's runtime (its sockets, its driver task)
///   cannot be driven from another one.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use cement::cache::{AsyncCache, AsyncCacheHandler, AsyncOnly, BoxFuture, Cache};
///
/// #[derive(Default)]
/// struct Dict(Mutex<HashMap<String, Vec<u8>>>);
///
/// impl Dict {
///     fn map(&self) -> cement::Result<std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>>> {
///         self.0.lock().map_err(|_| cement::Error::Backend { backend: "dict", source: "lock poisoned".into() })
///     }
/// }
///
/// impl AsyncCacheHandler for Dict {
///     fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cement::Result<Option<Vec<u8>>>> {
///         Box::pin(async move { Ok(self.map()?.get(key).cloned()) })
///     }
///     fn set<'a>(&'a self, key: &'a str, value: &'a [u8], _ttl: Option<Duration>) -> BoxFuture<'a, cement::Result<()>> {
///         Box::pin(async move {
///             self.map()?.insert(key.to_string(), value.to_vec());
///             Ok(())
///         })
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cement::Result<bool>> {
///         Box::pin(async move { Ok(self.map()?.remove(key).is_some()) })
///     }
///     fn purge(&self) -> BoxFuture<'_, cement::Result<()>> {
///         Box::pin(async move {
///             self.map()?.clear();
///             Ok(())
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
/// let cache = Cache::new("dict", Box::new(AsyncOnly(Dict::default())), "p:", None);
/// let async_cache = AsyncCache::new(&cache);
/// async_cache.set("k", &7).await?;
/// assert_eq!(async_cache.get::<u32>("k").await?, Some(7));
/// // The blocking face refuses, saying what to use instead.
/// let err = cache.get::<u32>("k").unwrap_err();
/// assert!(matches!(err, cement::Error::AsyncOnly { operation: "get" }));
/// assert!(err.to_string().contains("async_cache()"));
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is used as an async cache handler but does not implement `AsyncCacheHandler`",
    label = "this type needs `impl cement::cache::AsyncCacheHandler`",
    note = "add `impl cement::cache::AsyncCacheHandler for {Self}` with `get`, `set`, `delete` and `purge`, or drop `async_only` from `#[cache_handler]` if it is a sync `CacheHandler`"
)]
pub trait AsyncCacheHandler: Send + Sync + 'static {
    /// The value stored under `key`, or `None` if there is none or it expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Stores `value` under `key`, expiring after `ttl` (`None`: never).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>>;

    /// Removes `key`; `true` if a key was removed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Removes every entry of this cache.
    fn purge(&self) -> BoxFuture<'_, Result<()>>;

    /// The keys this backend accepts; the facade maps keys to obey them. Default: any string.
    fn key_rules(&self) -> KeyRules {
        KeyRules::ANY
    }

    /// The values of several keys, in the order of `keys`. Default: one `get` per key, in turn.
    fn get_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                values.push(self.get(key).await?);
            }
            Ok(values)
        })
    }

    /// Stores several entries with one TTL. Default: one `set` per entry, in turn.
    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a str, &'a [u8])],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (key, value) in entries {
                self.set(key, value, ttl).await?;
            }
            Ok(())
        })
    }

    /// Removes several keys; returns how many were removed. Default: one `delete` per key.
    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let mut removed = 0;
            for key in keys {
                removed += usize::from(self.delete(key).await?);
            }
            Ok(removed)
        })
    }

    /// Releases connections; called once when the app closes (`app.close()`, which is not
    /// async: drop or signal what must go, without awaiting). Default: nothing to do.
    fn close(&self) -> Result<()> {
        Ok(())
    }

    /// The operations this handler does natively and atomically, as
    /// [`CacheHandler::capabilities`]. Default: none.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Stores `value` only if `key` holds nothing; `true` if it stored. Must be atomic.
    /// Declared by [`Capabilities::add`]. Default: unsupported.
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool>> {
        let _ = (key, value, ttl);
        Box::pin(async { Err(unsupported("add")) })
    }

    /// Adds `delta` to the unsigned counter under `key`; the rules of [`CacheHandler::incr`].
    /// Declared by [`Capabilities::counters`]. Default: unsupported.
    fn incr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<u64>> {
        let _ = (key, delta, ttl);
        Box::pin(async { Err(unsupported("incr")) })
    }

    /// Subtracts `delta` from the counter under `key`, stopping at 0; the rules of
    /// [`CacheHandler::decr`]. Default: unsupported.
    fn decr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<u64>> {
        let _ = (key, delta, ttl);
        Box::pin(async { Err(unsupported("decr")) })
    }

    /// Gives `key` a new TTL (`None`: never expire); `true` if the key exists. Declared by
    /// [`Capabilities::touch`]. Default: unsupported.
    fn touch<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        let _ = (key, ttl);
        Box::pin(async { Err(unsupported("touch")) })
    }

    /// Whether `key` holds a value. Default: a `get`.
    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.get(key).await?.is_some()) })
    }
}

/// An [`AsyncCacheHandler`] as a [`CacheHandler`]: what `#[cache_handler(..., async_only)]`
/// registers, and what to box for [`Cache::new`](super::Cache::new). The async face calls the
/// handler natively; every call of the blocking face fails with [`Error::AsyncOnly`] (see
/// [`AsyncCacheHandler`] for why it is not driven on a private runtime).
///
/// ```
/// use cement::cache::{AsyncOnly, CacheHandler, MemoryCacheHandler};
/// # use cement::cache::{AsyncCacheHandler, BoxFuture};
/// # struct Nothing;
/// # impl AsyncCacheHandler for Nothing {
/// #     fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, cement::Result<Option<Vec<u8>>>> { Box::pin(async { Ok(None) }) }
/// #     fn set<'a>(&'a self, _: &'a str, _: &'a [u8], _: Option<std::time::Duration>) -> BoxFuture<'a, cement::Result<()>> { Box::pin(async { Ok(()) }) }
/// #     fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, cement::Result<bool>> { Box::pin(async { Ok(false) }) }
/// #     fn purge(&self) -> BoxFuture<'_, cement::Result<()>> { Box::pin(async { Ok(()) }) }
/// # }
///
/// let handler = AsyncOnly(Nothing);
/// assert!(handler.as_async().is_some());
/// assert!(matches!(handler.get("k"), Err(cement::Error::AsyncOnly { operation: "get" })));
/// assert!(MemoryCacheHandler::new(1).as_async().is_none());
/// ```
#[derive(Debug, Default)]
pub struct AsyncOnly<H>(pub H);

fn async_only(operation: &'static str) -> Error {
    Error::AsyncOnly { operation }
}

impl<H: AsyncCacheHandler> CacheHandler for AsyncOnly<H> {
    fn get(&self, _key: &str) -> Result<Option<Vec<u8>>> {
        Err(async_only("get"))
    }

    fn set(&self, _key: &str, _value: &[u8], _ttl: Option<Duration>) -> Result<()> {
        Err(async_only("set"))
    }

    fn delete(&self, _key: &str) -> Result<bool> {
        Err(async_only("delete"))
    }

    fn purge(&self) -> Result<()> {
        Err(async_only("purge"))
    }

    fn key_rules(&self) -> KeyRules {
        self.0.key_rules()
    }

    fn get_many(&self, _keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        Err(async_only("get_many"))
    }

    fn set_many(&self, _entries: &[(&str, &[u8])], _ttl: Option<Duration>) -> Result<()> {
        Err(async_only("set_many"))
    }

    fn delete_many(&self, _keys: &[&str]) -> Result<usize> {
        Err(async_only("delete_many"))
    }

    fn close(&self) -> Result<()> {
        self.0.close()
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    fn add(&self, _key: &str, _value: &[u8], _ttl: Option<Duration>) -> Result<bool> {
        Err(async_only("add"))
    }

    fn incr(&self, _key: &str, _delta: u64, _ttl: Option<Duration>) -> Result<u64> {
        Err(async_only("incr"))
    }

    fn decr(&self, _key: &str, _delta: u64, _ttl: Option<Duration>) -> Result<u64> {
        Err(async_only("decr"))
    }

    fn touch(&self, _key: &str, _ttl: Option<Duration>) -> Result<bool> {
        Err(async_only("touch"))
    }

    fn exists(&self, _key: &str) -> Result<bool> {
        Err(async_only("exists"))
    }

    fn as_async(&self) -> Option<&dyn AsyncCacheHandler> {
        Some(&self.0)
    }
}
