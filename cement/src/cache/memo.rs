//! The runtime of `#[cement::cached]`: what its generated code calls, so that the expansion
//! stays a few lines. Not public API (`#[doc(hidden)]`); the attribute's docs are at
//! [`cement::cached`](crate::cached).
//!
//! A call becomes one [`Cache::get_or_set_with`](super::Cache::get_or_set_with) (or [`AsyncCache::get_or_set_with`](super::AsyncCache::get_or_set_with)) on the
//! key built here, so it gets the facade's prefix and key mapping, policy, breaker, stats,
//! single-flight and lease. What the facade cannot express is handled around it:
//!
//! - A result that must not be stored (`Err`, `None`) leaves the computation as an error that
//!   stores nothing, the result itself kept aside and returned.
//! - The computed value is lent to the facade (through [`Stash`]) rather than given, so a
//!   store that fails (`on_write_error = "raise"`) still leaves the caller its value.
//! - The function's signature has no room for a cache error, so a fault that the section's
//!   policy raises is logged (`warn`) and the function runs uncached: the cache can make a call
//!   slower, never make it fail or run twice.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::redact::loggable;
use super::Cache;
use crate::{Application, Error, Result};

// The generated code names these through `::cement::cache::memo::…` only.
pub use core::{concat, format_args, module_path};
pub use std::format;

/// What a `#[cement::cached]` fn can take its blocking cache from: `&Application` or `&Cache`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a cache that a sync `#[cement::cached]` fn can use",
    label = "this parameter gives the cache",
    note = "take `&cement::Application` or `&cement::cache::Cache` (an `async fn` takes `&cement::cache::AsyncCache`)"
)]
pub trait Source {
    /// The cache calls go to.
    fn memo_cache(&self) -> &Cache;
}

impl Source for Cache {
    fn memo_cache(&self) -> &Cache {
        self
    }
}

impl Source for Application {
    fn memo_cache(&self) -> &Cache {
        self.cache()
    }
}

/// Asserts, at the argument's own span, that it can be part of the default key.
pub fn keyable<T: Serialize + ?Sized>() {}

/// Asserts, at the return type's span, that the cached value can be stored and read back.
pub fn storable<T: Serialize + DeserializeOwned>() {}

/// The `ttl = N` of the attribute (checked non-zero at compile time); `None`: the section's
/// `expire_time`.
pub const fn ttl(seconds: u64) -> Option<Duration> {
    Some(Duration::from_secs(seconds))
}

/// Hex digits of the argument digest in a default key: 128 bits of SHA-256.
const DIGEST_HEX: usize = 32;

/// The default key: `"{name}@v{version}:{digest}"`, where `name` is `module_path!() + "::" +
/// fn name` and `digest` the first 128 bits of SHA-256, in hex, over the JSON encoding
/// (`serde_json`) of the tuple of the keyed arguments. JSON and SHA-256 are the same on every
/// build, compiler and machine; a map argument must have a stable iteration order (a
/// `BTreeMap`, not a `HashMap`) for its key to be stable.
///
/// ```
/// let key = cement::cache::memo::key("app::rate", 1, &(&"EUR", &"USD"))?;
/// assert_eq!(key, "app::rate@v1:240025105d266f8b899d3bc2f47f4152");
/// # Ok::<(), cement::Error>(())
/// ```
pub fn key<A: Serialize + ?Sized>(name: &str, version: u32, args: &A) -> Result<String> {
    let json = serde_json::to_vec(args).map_err(|err| Error::Codec {
        message: std::format!("the arguments of `{name}` (#[cement::cached]) could not be encoded for its key; give it a readable key with `key = \"...{{param}}...\"` instead"),
        source: Box::new(err),
    })?;
    let digest = Sha256::digest(&json);
    let mut out = String::with_capacity(name.len() + 16 + DIGEST_HEX);
    out.push_str(name);
    out.push_str("@v");
    out.push_str(&version.to_string());
    out.push(':');
    for byte in &digest[..DIGEST_HEX / 2] {
        use fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    Ok(out)
}

/// A `key = "..."` template, rendered by the generated `format!`.
pub fn readable(key: String) -> Result<String> {
    Ok(key)
}

/// How a return type is cached: which part is stored, and how a stored value reads back.
pub trait Kind<R> {
    /// What goes into the cache.
    type Stored: Serialize + DeserializeOwned;
    /// The part of `result` to store, or `None` to store nothing.
    fn stored(result: &R) -> Option<&Self::Stored>;
    /// The result a stored value stands for.
    fn result(stored: Self::Stored) -> R;
}

/// A plain `T`: always stored.
pub struct Always;
/// `Result<T, E>`: `Ok` stored, `Err` returned and not stored.
pub struct OkOnly;
/// `Option<T>`: `Some` stored, `None` returned and not stored.
pub struct SomeOnly;
/// `Option<T>` with `cache_none`: both stored.
pub struct SomeOrNone;

impl<T: Serialize + DeserializeOwned> Kind<T> for Always {
    type Stored = T;
    fn stored(result: &T) -> Option<&T> {
        Some(result)
    }
    fn result(stored: T) -> T {
        stored
    }
}

impl<T: Serialize + DeserializeOwned, E> Kind<std::result::Result<T, E>> for OkOnly {
    type Stored = T;
    fn stored(result: &std::result::Result<T, E>) -> Option<&T> {
        result.as_ref().ok()
    }
    fn result(stored: T) -> std::result::Result<T, E> {
        Ok(stored)
    }
}

impl<T: Serialize + DeserializeOwned> Kind<Option<T>> for SomeOnly {
    type Stored = T;
    fn stored(result: &Option<T>) -> Option<&T> {
        result.as_ref()
    }
    fn result(stored: T) -> Option<T> {
        Some(stored)
    }
}

impl<T: Serialize + DeserializeOwned> Kind<Option<T>> for SomeOrNone {
    type Stored = Option<T>;
    fn stored(result: &Option<T>) -> Option<&Option<T>> {
        Some(result)
    }
    fn result(stored: Option<T>) -> Option<T> {
        stored
    }
}

/// The computed result, shared by the caller and the value it hands the facade to store.
type Kept<R> = Arc<Mutex<Option<R>>>;

/// The value type `get_or_set_with` sees: a stored value read back (`Read`), or the caller's
/// computed result lent for storing (`Lent`), which serializes as its stored part.
pub struct Stash<K: Kind<R>, R> {
    inner: StashInner<K, R>,
}

enum StashInner<K: Kind<R>, R> {
    Read(K::Stored),
    Lent(Kept<R>, PhantomData<fn() -> K>),
}

impl<K: Kind<R>, R> Serialize for Stash<K, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.inner {
            StashInner::Read(stored) => stored.serialize(serializer),
            StashInner::Lent(kept, _) => {
                let kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                match kept.as_ref().and_then(K::stored) {
                    Some(stored) => stored.serialize(serializer),
                    None => Err(S::Error::custom("no value to store")),
                }
            }
        }
    }
}

impl<'de, K: Kind<R>, R> Deserialize<'de> for Stash<K, R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        K::Stored::deserialize(deserializer).map(|stored| Stash {
            inner: StashInner::Read(stored),
        })
    }
}

/// What the computation hands the facade: its result lent for storing, or — for a result
/// that is not stored — an error that stores nothing (the result waits in `kept`, which is
/// made only here, on a miss: a hit allocates nothing).
fn lend<K: Kind<R>, R>(kept: &mut Option<Kept<R>>, result: R) -> Result<Stash<K, R>> {
    let store = K::stored(&result).is_some();
    let shared = Arc::new(Mutex::new(Some(result)));
    *kept = Some(Arc::clone(&shared));
    if store {
        Ok(Stash {
            inner: StashInner::Lent(shared, PhantomData),
        })
    } else {
        Err(Error::InvalidArgument(NOT_STORED.into()))
    }
}

const NOT_STORED: &str = "#[cement::cached]: a result that is not cached";

fn take<R>(kept: &Option<Kept<R>>) -> Option<R> {
    kept.as_ref()?
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// How the caller ends: the facade's answer, with the computed result if there is one.
/// `Err(error)`: no result; the body has not run and must run uncached.
fn settle<K: Kind<R>, R>(
    name: &str,
    log_keys: bool,
    answer: Result<Stash<K, R>>,
    kept: &Option<Kept<R>>,
) -> std::result::Result<R, Error> {
    match answer {
        Ok(Stash {
            inner: StashInner::Read(stored),
        }) => Ok(K::result(stored)),
        Ok(Stash {
            inner: StashInner::Lent(..),
        }) => take(kept).ok_or_else(|| Error::InvalidArgument(NOT_STORED.into())),
        Err(error) => {
            let result = take(kept);
            let not_stored = matches!(&error, Error::InvalidArgument(m) if m == NOT_STORED);
            if !not_stored {
                let error = loggable(&error, log_keys);
                let action = if result.is_some() {
                    "the result is returned unstored"
                } else {
                    "running the function uncached"
                };
                tracing::warn!(function = name, %error, "#[cement::cached]: cache fault; {action}");
            }
            result.ok_or(error)
        }
    }
}

/// A sync `#[cement::cached]` call: `body` runs at most once, on a miss (or uncached on a
/// cache fault the section's policy raises). The key is a default key's `String`, or a
/// readable key's [`KeyBuf`].
pub fn run<K, R, F>(
    cache: &Cache,
    name: &str,
    key: Result<impl std::ops::Deref<Target = str>>,
    ttl: Option<Duration>,
    body: F,
) -> R
where
    K: Kind<R>,
    F: FnOnce() -> R,
{
    match key {
        Ok(key) => run_keyed::<K, R, F>(cache, name, &key, ttl, body),
        Err(error) => uncached(name, cache.engine.log_keys, &error, body),
    }
}

thread_local! {
    /// The buffer that readable keys are rendered into, between calls.
    static KEY: Cell<String> = const { Cell::new(String::new()) };
}

/// The longest key buffer a thread keeps between calls (bytes of capacity).
const MAX_KEPT_KEY: usize = 4096;

/// A readable key, rendered into this thread's key buffer, which it holds until dropped: a
/// hit allocates nothing for its key. A key rendered while the buffer is held (by a cached fn
/// that the body calls) gets a buffer of its own.
pub struct KeyBuf(String);

impl KeyBuf {
    /// Renders the generated `format_args!` of a `key = "..."` template.
    pub fn render(key: fmt::Arguments<'_>) -> Result<KeyBuf> {
        let mut buffer = KEY.try_with(Cell::take).unwrap_or_default();
        buffer.clear();
        match fmt::Write::write_fmt(&mut buffer, key) {
            Ok(()) => Ok(KeyBuf(buffer)),
            Err(_) => Err(Error::InvalidArgument(
                "a key parameter's `Display` returned an error while the key template was written"
                    .into(),
            )),
        }
    }
}

impl std::ops::Deref for KeyBuf {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for KeyBuf {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        if buffer.capacity() <= MAX_KEPT_KEY {
            // A thread that is ending keeps nothing.
            let _ = KEY.try_with(|cell| cell.set(buffer));
        }
    }
}

/// [`run`] on a ready key.
fn run_keyed<K, R, F>(cache: &Cache, name: &str, key: &str, ttl: Option<Duration>, body: F) -> R
where
    K: Kind<R>,
    F: FnOnce() -> R,
{
    let mut kept: Option<Kept<R>> = None;
    let mut body = Some(body);
    let answer = cache.get_or_set_with(key, ttl, || match body.take() {
        Some(body) => lend::<K, R>(&mut kept, body()),
        None => Err(Error::InvalidArgument(NOT_STORED.into())),
    });
    match settle(name, cache.engine.log_keys, answer, &kept) {
        Ok(result) => result,
        Err(error) => match body {
            Some(body) => body(),
            // The body ran and its result was taken: cannot happen (see `settle`); the
            // message names what would have been lost.
            None => unreachable!("#[cement::cached] {name}: result lost after {error}"),
        },
    }
}

fn uncached<R>(name: &str, log_keys: bool, error: &Error, body: impl FnOnce() -> R) -> R {
    let error = loggable(error, log_keys);
    tracing::warn!(function = name, %error, "#[cement::cached]: no key; running the function uncached");
    body()
}

#[cfg(feature = "tokio")]
pub use self::tokio_face::{run_async, AsyncSource};

#[cfg(feature = "tokio")]
mod tokio_face {
    use std::future::Future;
    use std::time::Duration;

    use super::{lend, settle, uncached, Kept, Kind, NOT_STORED};
    use crate::cache::AsyncCache;
    use crate::{Application, Error, Result};

    /// What an `async` `#[cement::cached]` fn can take its cache from: `&Application` or
    /// `&AsyncCache`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a cache that an async `#[cement::cached]` fn can use",
        label = "this parameter gives the cache",
        note = "take `&cement::Application` or `&cement::cache::AsyncCache` (a sync fn takes `&cement::cache::Cache`)"
    )]
    pub trait AsyncSource {
        /// The cache calls go to.
        fn memo_cache(&self) -> &AsyncCache;
    }

    impl AsyncSource for AsyncCache {
        fn memo_cache(&self) -> &AsyncCache {
            self
        }
    }

    impl AsyncSource for Application {
        fn memo_cache(&self) -> &AsyncCache {
            self.async_cache()
        }
    }

    /// An async `#[cement::cached]` call; as [`run`](super::run).
    pub async fn run_async<K, R, F, Fut>(
        cache: &AsyncCache,
        name: &str,
        key: Result<String>,
        ttl: Option<Duration>,
        body: F,
    ) -> R
    where
        K: Kind<R>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let log_keys = cache.log_keys();
        let key = match key {
            Ok(key) => key,
            Err(error) => return uncached(name, log_keys, &error, body).await,
        };
        let mut kept: Option<Kept<R>> = None;
        let mut body = Some(body);
        let answer = {
            let (kept, body) = (&mut kept, &mut body);
            cache
                .get_or_set_with(&key, ttl, move || {
                    let body = body.take();
                    async move {
                        match body {
                            Some(body) => lend::<K, R>(kept, body().await),
                            None => Err(Error::InvalidArgument(NOT_STORED.into())),
                        }
                    }
                })
                .await
        };
        match settle(name, log_keys, answer, &kept) {
            Ok(result) => result,
            Err(error) => match body {
                Some(body) => body().await,
                None => unreachable!("#[cement::cached] {name}: result lost after {error}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCacheHandler;

    #[test]
    fn the_default_key_is_sha256_of_the_json_arguments() {
        // printf '[7,"x"]' | sha256sum → 313568b2…; the key keeps its first 32 hex digits.
        let key = key("m::f", 3, &(&7u32, &"x")).unwrap();
        let json = serde_json::to_vec(&(7u32, "x")).unwrap();
        assert_eq!(json, br#"[7,"x"]"#);
        let hex: String = Sha256::digest(&json)[..16]
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect();
        assert_eq!(key, std::format!("m::f@v3:{hex}"));
        assert_eq!(key, "m::f@v3:313568b2536f4b170b76c99c2833fd9e");
    }

    #[test]
    fn an_err_is_returned_and_not_stored() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "", None);
        let mut runs = 0;
        for _ in 0..2 {
            let out: std::result::Result<u8, String> =
                run::<OkOnly, _, _>(&cache, "t", Ok(String::from("k")), None, || {
                    runs += 1;
                    Err("no".to_string())
                });
            assert_eq!(out, Err("no".to_string()));
        }
        assert_eq!(runs, 2);
        assert_eq!(cache.get::<u8>("k").unwrap(), None);
    }

    #[test]
    fn a_key_that_cannot_be_built_runs_the_body() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "", None);
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), 3);
        let key = key("m::f", 0, &(&map,));
        assert!(matches!(key, Err(Error::Codec { .. })), "{key:?}");
        let out = run::<Always, _, _>(&cache, "t", key, None, || 5u8);
        assert_eq!(out, 5);
    }
}
