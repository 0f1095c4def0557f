//! [`Face`]: the calls a conformance clause makes, so that each clause is written once and
//! checks both the blocking [`Cache`] and (feature `tokio`) the async face.

use std::borrow::Cow;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{Cache, CacheHandler, CacheStats, Capabilities};
use crate::Result;

/// A cache as the conformance clauses see it: the methods of [`Cache`], called from a plain
/// thread. [`Cache`] is one; `conformance_async` (feature `tokio`) drives an
/// [`AsyncCache`](crate::cache::AsyncCache) through it, each call awaited on the runtime.
///
/// ```
/// use cement::cache::{Cache, MemoryCacheHandler};
/// use cement::testing::conformance::{set_then_get, Face};
///
/// fn label(cache: &impl Face) -> &'static str {
///     cache.handler_label()
/// }
/// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "", None);
/// assert_eq!(label(&cache), "memory");
/// assert_eq!(set_then_get(&cache), Ok(()));
/// ```
pub trait Face: Sync {
    /// As [`Cache::handler_label`].
    fn handler_label(&self) -> &'static str;
    /// As [`Cache::handler`].
    fn handler(&self) -> &dyn CacheHandler;
    /// Stores `value` under the wire key `wire` through the handler itself, bypassing the
    /// facade (bytes written by another program). Default: the handler's sync `set`; the
    /// async face uses the handler's async side where it has one.
    fn handler_set(&self, wire: &str, value: &[u8]) -> Result<()> {
        self.handler().set(wire, value, None)
    }
    /// As [`Cache::capabilities`].
    fn capabilities(&self) -> Capabilities;
    /// As [`Cache::default_ttl`].
    fn default_ttl(&self) -> Option<Duration>;
    /// As [`Cache::stats`].
    fn stats(&self) -> CacheStats;
    /// As [`Cache::wire_key`].
    fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>>;
    /// As [`Cache::get`].
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>>;
    /// As [`Cache::get_or`].
    fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T>;
    /// As [`Cache::exists`].
    fn exists(&self, key: &str) -> Result<bool>;
    /// As [`Cache::set`].
    fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()>;
    /// As [`Cache::set_with_ttl`].
    fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()>;
    /// As [`Cache::add`].
    fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool>;
    /// As [`Cache::incr`].
    fn incr(&self, key: &str, delta: u64) -> Result<u64>;
    /// As [`Cache::decr`].
    fn decr(&self, key: &str, delta: u64) -> Result<u64>;
    /// As [`Cache::touch`].
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool>;
    /// As [`Cache::delete`].
    fn delete(&self, key: &str) -> Result<bool>;
    /// As [`Cache::purge`].
    fn purge(&self) -> Result<()>;
    /// As [`Cache::get_many`].
    fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>>;
    /// As [`Cache::set_many`].
    fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()>;
    /// As [`Cache::delete_many`].
    fn delete_many(&self, keys: &[&str]) -> Result<usize>;
    /// As [`Cache::get_or_set_with`].
    fn get_or_set_with<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<T>;
}

impl Face for Cache {
    fn handler_label(&self) -> &'static str {
        Cache::handler_label(self)
    }
    fn handler(&self) -> &dyn CacheHandler {
        Cache::handler(self)
    }
    fn capabilities(&self) -> Capabilities {
        Cache::capabilities(self)
    }
    fn default_ttl(&self) -> Option<Duration> {
        Cache::default_ttl(self)
    }
    fn stats(&self) -> CacheStats {
        Cache::stats(self)
    }
    fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        Cache::wire_key(self, key)
    }
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        Cache::get(self, key)
    }
    fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        Cache::get_or(self, key, fallback)
    }
    fn exists(&self, key: &str) -> Result<bool> {
        Cache::exists(self, key)
    }
    fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        Cache::set(self, key, value)
    }
    fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        Cache::set_with_ttl(self, key, value, ttl)
    }
    fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool> {
        Cache::add(self, key, value)
    }
    fn incr(&self, key: &str, delta: u64) -> Result<u64> {
        Cache::incr(self, key, delta)
    }
    fn decr(&self, key: &str, delta: u64) -> Result<u64> {
        Cache::decr(self, key, delta)
    }
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        Cache::touch(self, key, ttl)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        Cache::delete(self, key)
    }
    fn purge(&self) -> Result<()> {
        Cache::purge(self)
    }
    fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        Cache::get_many(self, keys)
    }
    fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        Cache::set_many(self, entries)
    }
    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        Cache::delete_many(self, keys)
    }
    fn get_or_set_with<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        Cache::get_or_set_with(self, key, ttl, compute)
    }
}
