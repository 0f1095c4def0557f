//! The cache interface: the byte-level [`CacheHandler`] trait that handlers implement, and the
//! typed [`Cache`] facade that applications use through `app.cache()` — and, with the feature
//! `tokio`, its async face `AsyncCache` through `app.async_cache()`, on the same engine.
//!
//! ```
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "docapp")]
//! struct DocApp;
//!
//! # fn main() -> cement::Result<()> {
//! let app = DocApp::setup()?; // the embedded `memory` handler is the default
//! app.cache().set("answer", &42)?;
//! assert_eq!(app.cache().get::<u32>("answer")?, Some(42));
//! assert_eq!(app.cache().get_or("question", 0)?, 0);
//! assert!(app.cache().delete("answer")?);
//! app.close()
//! # }
//! ```

#[cfg(feature = "tokio")]
mod async_engine;
#[cfg(feature = "tokio")]
mod async_facade;
#[cfg(feature = "tokio")]
mod async_handler;
pub(crate) mod codec;
mod engine;
mod facade;
mod flight;
pub mod key;
mod lease;
#[doc(hidden)]
pub mod memo;
pub mod memory;
pub mod policy;
mod redact;
mod settings;
mod setup;
pub mod stats;

use std::time::Duration;

#[cfg(feature = "tokio")]
pub use async_facade::AsyncCache;
#[cfg(feature = "tokio")]
pub use async_handler::{AsyncCacheHandler, AsyncOnly, BoxFuture};
pub use codec::Codec;
pub use facade::Cache;
pub use key::KeyRules;
pub use memory::{Eviction, MemoryCacheHandler};
pub(crate) use settings::CacheSettings;
pub use setup::{HandlerContext, HandlerSetup};
pub use stats::{CacheStats, OpStats};

/// A stored counter's value: unsigned ASCII decimal digits, as memcached and redis store them
/// and as [`CacheHandler::incr`] writes them. Anything else (empty, a sign, JSON, past
/// `u64::MAX`) is [`Error::InvalidArgument`] naming the key:
/// the error a handler's `incr`/`decr` gives for a value that is not a counter.
///
/// ```
/// use cement::cache::parse_counter;
///
/// assert_eq!(parse_counter("hits", b"41")?, 41);
/// assert!(parse_counter("hits", b"\"text\"").is_err());
/// # Ok::<(), cement::Error>(())
/// ```
pub fn parse_counter(key: &str, value: &[u8]) -> crate::Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            crate::Error::InvalidArgument(format!(
                "the value under key {:?} is not a counter (an unsigned integer stored as ASCII digits, \
                 up to {}); create counters with incr or set them to an unsigned integer",
                key::shorten(key),
                u64::MAX
            ))
        })
}

use crate::{Error, Result};

/// A cache backend, working on bytes. Implement the four required methods; everything else has
/// a default in terms of them.
///
/// Keys arrive already prefixed and mapped to the handler's [`KeyRules`] by the [`Cache`]
/// facade. `ttl: None` means "never expire".
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use cement::cache::CacheHandler;
///
/// #[cement::cache_handler(label = "doc_dict")]
/// #[derive(Default)]
/// struct DictCache(Mutex<HashMap<String, Vec<u8>>>);
///
/// impl CacheHandler for DictCache {
///     fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
///         Ok(self.0.lock().map_err(|_| poisoned())?.get(key).cloned())
///     }
///     fn set(&self, key: &str, value: &[u8], _ttl: Option<Duration>) -> cement::Result<()> {
///         self.0.lock().map_err(|_| poisoned())?.insert(key.into(), value.to_vec());
///         Ok(())
///     }
///     fn delete(&self, key: &str) -> cement::Result<bool> {
///         Ok(self.0.lock().map_err(|_| poisoned())?.remove(key).is_some())
///     }
///     fn purge(&self) -> cement::Result<()> {
///         self.0.lock().map_err(|_| poisoned())?.clear();
///         Ok(())
///     }
/// }
///
/// fn poisoned() -> cement::Error {
///     cement::Error::Backend { backend: "doc_dict", source: "lock poisoned".into() }
/// }
///
/// let cache = DictCache::default();
/// cache.set("k", b"v", None).unwrap();
/// assert_eq!(cache.get("k").unwrap(), Some(b"v".to_vec()));
/// assert!(cache.delete("k").unwrap());
/// assert!(!cache.delete("k").unwrap());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is used as a cache handler but does not implement `CacheHandler`",
    label = "this type needs `impl cement::cache::CacheHandler`",
    note = "add `impl cement::cache::CacheHandler for {Self}` with `get`, `set`, `delete` and `purge`"
)]
pub trait CacheHandler: Send + Sync + 'static {
    /// The value stored under `key`, or `None` if there is none or it expired.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`, expiring after `ttl` (`None`: never).
    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()>;

    /// Removes `key`; `true` if a key was removed.
    fn delete(&self, key: &str) -> Result<bool>;

    /// Removes every entry of this cache.
    fn purge(&self) -> Result<()>;

    /// The keys this backend accepts; the facade maps keys to obey them. Default: any string.
    fn key_rules(&self) -> KeyRules {
        KeyRules::ANY
    }

    /// Hands the value under `key` to `visit` without copying it, where the handler can (the
    /// memory handler does); `false` on a miss. Default: a [`get`](Self::get).
    fn get_with(&self, key: &str, visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.get(key)? {
            Some(value) => {
                visit(&value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The values of several keys, in the order of `keys`. Default: one `get` per key.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Stores several entries with one TTL. Default: one `set` per entry.
    fn set_many(&self, entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<()> {
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(key, value, ttl))
    }

    /// Removes several keys; returns how many were removed. Default: one `delete` per key.
    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        keys.iter()
            .try_fold(0, |n, key| Ok(n + usize::from(self.delete(key)?)))
    }

    /// Releases connections; called once when the app closes. Default: nothing to do.
    fn close(&self) -> Result<()> {
        Ok(())
    }

    /// The operations this handler does natively and atomically. The facade refuses the others
    /// with [`Error::Unsupported`] rather than emulate them with non-atomic get + set.
    /// Default: none.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Stores `value` only if `key` holds nothing; `true` if it stored. Must be atomic.
    /// Declared by [`Capabilities::add`]. Default: unsupported.
    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        let _ = (key, value, ttl);
        Err(unsupported("add"))
    }

    /// Adds `delta` to the unsigned counter under `key` and returns the new value. A missing key
    /// starts from 0 and is created with `ttl`; a value that is not a counter (ASCII decimal
    /// digits) is an [`Error::InvalidArgument`], and so is a step past `u64::MAX` (the value is
    /// left unchanged; memcached is the exception: its native counters wrap). Must be atomic.
    /// Declared by [`Capabilities::counters`]. Default: unsupported.
    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        let _ = (key, delta, ttl);
        Err(unsupported("incr"))
    }

    /// Subtracts `delta` from the counter under `key`, stopping at 0 (memcached's rule), and
    /// returns the new value; otherwise as [`incr`](Self::incr). Default: unsupported.
    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        let _ = (key, delta, ttl);
        Err(unsupported("decr"))
    }

    /// Gives `key` a new TTL (`None`: never expire) without rewriting it; `true` if the key
    /// exists. Declared by [`Capabilities::touch`]. Default: unsupported.
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let _ = (key, ttl);
        Err(unsupported("touch"))
    }

    /// Whether `key` holds a value. Default: a `get`.
    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Whether a call can block its thread (network or disk I/O, a lock held across I/O).
    /// The async face (`AsyncCache`, feature `tokio`) runs the calls of a handler that
    /// blocks on tokio's blocking pool, and those of one that never blocks inline, on the
    /// calling task. Default: `true`, the safe answer; the memory handler says `false`.
    /// Return `false` only if every method returns without waiting on I/O or on another
    /// thread.
    ///
    /// ```
    /// use cement::cache::{CacheHandler, MemoryCacheHandler};
    ///
    /// assert!(!MemoryCacheHandler::new(10).blocks());
    /// ```
    fn blocks(&self) -> bool {
        true
    }

    /// The handler's async side, if it has one (feature `tokio`): the async face
    /// (`AsyncCache`) then calls it natively on the calling task instead of running this
    /// handler's sync methods on the blocking pool. Default: `None`. [`AsyncOnly`] returns its
    /// handler; the redis handler of `cement-ext` (feature `redis-async`) its multiplexed
    /// client.
    ///
    /// ```
    /// use cement::cache::{CacheHandler, MemoryCacheHandler};
    ///
    /// assert!(MemoryCacheHandler::new(10).as_async().is_none()); // inline: it never blocks
    /// ```
    #[cfg(feature = "tokio")]
    fn as_async(&self) -> Option<&dyn AsyncCacheHandler> {
        None
    }
}

fn unsupported(operation: &'static str) -> Error {
    Error::Unsupported {
        backend: "custom",
        operation,
    }
}

/// What a handler does natively: [`CacheHandler::capabilities`].
///
/// ```
/// use cement::cache::Capabilities;
///
/// let caps = Capabilities::NONE.with_add().with_counters();
/// assert!(caps.add && caps.counters && !caps.touch);
/// assert_eq!(Capabilities::ALL, caps.with_touch());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `add`: store only if absent, atomically.
    pub add: bool,
    /// `incr` / `decr`: atomic counters.
    pub counters: bool,
    /// `touch`: a new TTL without rewriting the value.
    pub touch: bool,
}

impl Capabilities {
    /// Nothing beyond the four required methods.
    pub const NONE: Capabilities = Capabilities {
        add: false,
        counters: false,
        touch: false,
    };

    /// Everything.
    pub const ALL: Capabilities = Capabilities {
        add: true,
        counters: true,
        touch: true,
    };

    /// With atomic `add`.
    pub const fn with_add(mut self) -> Self {
        self.add = true;
        self
    }

    /// With atomic `incr` / `decr`.
    pub const fn with_counters(mut self) -> Self {
        self.counters = true;
        self
    }

    /// With `touch`.
    pub const fn with_touch(mut self) -> Self {
        self.touch = true;
        self
    }
}
