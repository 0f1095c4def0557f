//! The cache interface: the byte-level [`CacheHandler`] trait that handlers implement, and the
//! typed [`Cache`] facade that applications use through `app.cache()`.
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

pub(crate) mod codec;
pub mod key;
pub mod memory;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use key::KeyRules;
pub use memory::MemoryCacheHandler;

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
}

/// The typed cache of a running app: `app.cache()`.
///
/// Values are any `serde` type, encoded by one codec (JSON); keys are any UTF-8 string,
/// prefixed with the handler section's `prefix` and mapped to the handler's [`KeyRules`].
/// Cloning is cheap and shares the handler.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    handler: Box<dyn CacheHandler>,
    label: &'static str,
    prefix: String,
    default_ttl: Option<Duration>,
    rules: KeyRules,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("handler", &self.inner.label)
            .field("prefix", &self.inner.prefix)
            .field("default_ttl", &self.inner.default_ttl)
            .finish()
    }
}

impl Cache {
    /// Wraps a handler. `prefix` is put in front of every key; `default_ttl` is what
    /// [`set`](Self::set) uses (`None`: never expire).
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
        let rules = handler.key_rules();
        Cache {
            inner: Arc::new(Inner {
                handler,
                label,
                prefix: prefix.into(),
                default_ttl,
                rules,
            }),
        }
    }

    /// The label of the handler behind this cache, e.g. `"memory"`.
    pub fn handler_label(&self) -> &'static str {
        self.inner.label
    }

    /// The handler itself, for operations the facade does not offer.
    pub fn handler(&self) -> &dyn CacheHandler {
        self.inner.handler.as_ref()
    }

    /// The prefix put in front of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The TTL that [`set`](Self::set) uses (from `expire_time`; `None` = never expire).
    pub fn default_ttl(&self) -> Option<Duration> {
        self.inner.default_ttl
    }

    fn wire_key<'k>(&self, key: &'k str) -> Result<std::borrow::Cow<'k, str>> {
        self.inner.rules.wire_key(&self.inner.prefix, key)
    }

    /// The value under `key` as a `T`, or `None` on a miss. A stored value that is not a valid
    /// `T` is an [`Error::Codec`].
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let wire = self.wire_key(key)?;
        match self.inner.handler.get(&wire)? {
            Some(bytes) => codec::decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The value under `key`, or `fallback` on a miss (Cement's `get(key, fallback)`). Falsy
    /// values such as `0`, `false` or `""` are hits.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        Ok(self.get(key)?.unwrap_or(fallback))
    }

    /// Stores `value` under `key` for the handler section's `expire_time` (`0`: never expire).
    pub fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.store(key, value, self.inner.default_ttl)
    }

    /// Stores `value` under `key` for `ttl` (Cement's `set(key, value, time=…)`). A zero `ttl`
    /// is an [`Error::InvalidArgument`]: use [`set`](Self::set) to store without expiry.
    pub fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        if ttl.is_zero() {
            return Err(Error::InvalidArgument(
                "a zero ttl would expire the value at once; use `set` (with `expire_time = 0`) to store without expiry".into(),
            ));
        }
        self.store(key, value, Some(ttl))
    }

    fn store<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let wire = self.wire_key(key)?;
        let bytes = codec::encode(key, value)?;
        self.inner.handler.set(&wire, &bytes, ttl)
    }

    /// Removes `key`; `true` if it was there.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let wire = self.wire_key(key)?;
        self.inner.handler.delete(&wire)
    }

    /// Removes every entry of this cache; see each handler's docs for what "every" means on a
    /// shared server.
    pub fn purge(&self) -> Result<()> {
        self.inner.handler.purge()
    }

    /// The values of several keys, in the order of `keys`.
    pub fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let wires = keys
            .iter()
            .map(|k| self.wire_key(k))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&str> = wires.iter().map(|w| w.as_ref()).collect();
        let values = self.inner.handler.get_many(&refs)?;
        keys.iter()
            .zip(values)
            .map(|(key, bytes)| bytes.map(|b| codec::decode(key, &b)).transpose())
            .collect()
    }

    /// Stores several entries for the section's `expire_time`.
    pub fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        let mut wires = Vec::with_capacity(entries.len());
        let mut values = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            wires.push(self.wire_key(key)?);
            values.push(codec::encode(key, value)?);
        }
        let pairs: Vec<(&str, &[u8])> = wires
            .iter()
            .zip(&values)
            .map(|(w, v)| (w.as_ref(), v.as_slice()))
            .collect();
        self.inner.handler.set_many(&pairs, self.inner.default_ttl)
    }

    /// Removes several keys; returns how many were there.
    pub fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        let wires = keys
            .iter()
            .map(|k| self.wire_key(k))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&str> = wires.iter().map(|w| w.as_ref()).collect();
        self.inner.handler.delete_many(&refs)
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.inner.handler.close()
    }
}

/// How a handler type is built from its config section. Every `Default` type gets this for
/// free; a handler that reads its `cache.<label>` section implements it.
///
/// ```
/// use cement::cache::HandlerSetup;
/// use cement::registry::HandlerContext;
///
/// #[derive(serde::Deserialize)]
/// struct Settings { max_entries: u64 }
///
/// struct Bounded { max_entries: u64 }
///
/// impl HandlerSetup for Bounded {
///     fn setup(ctx: &HandlerContext<'_>) -> cement::Result<Self> {
///         let settings: Settings = ctx.settings()?;
///         Ok(Bounded { max_entries: settings.max_entries })
///     }
/// }
/// ```
pub trait HandlerSetup: Sized {
    /// Builds the handler; `ctx` gives its config section, typed through serde.
    fn setup(ctx: &crate::registry::HandlerContext<'_>) -> Result<Self>;
}

impl<T: Default> HandlerSetup for T {
    fn setup(_ctx: &crate::registry::HandlerContext<'_>) -> Result<Self> {
        Ok(T::default())
    }
}
