//! A custom handler that is async only (`#[cache_handler(..., async_only)]`): registered by
//! label, called natively by the async face, held to the async contract, and refused by the
//! blocking face with the typed error that names the fix.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cement::cache::{AsyncCacheHandler, BoxFuture, Capabilities};
use cement::{Builder, Error, Meta};

type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

/// Entries in a map behind a lock; each call yields to the runtime first, so every call has a
/// point where its future can be dropped (the cancellation clause drops some there).
#[cement::cache_handler(label = "async_dict", async_only)]
#[derive(Default)]
struct AsyncDict(Mutex<Entries>);

impl AsyncDict {
    fn entries(&self) -> cement::Result<std::sync::MutexGuard<'_, Entries>> {
        let mut map = self.0.lock().map_err(|_| Error::Backend {
            backend: "async_dict",
            source: "lock poisoned".into(),
        })?;
        let now = Instant::now();
        map.retain(|_, (_, deadline)| deadline.is_none_or(|d| d > now));
        Ok(map)
    }
}

fn deadline(ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|ttl| Instant::now() + ttl)
}

fn not_a_counter(key: &str) -> Error {
    Error::InvalidArgument(format!("the value under {key:?} is not a counter"))
}

impl AsyncDict {
    async fn step(
        &self,
        key: &str,
        up: bool,
        delta: u64,
        ttl: Option<Duration>,
    ) -> cement::Result<u64> {
        tokio::task::yield_now().await;
        let mut map = self.entries()?;
        let Some((bytes, _)) = map.get_mut(key) else {
            let value = if up { delta } else { 0 };
            map.insert(key.into(), (value.to_string().into_bytes(), deadline(ttl)));
            return Ok(value);
        };
        let current: u64 = std::str::from_utf8(bytes)
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| not_a_counter(key))?;
        let value = match up {
            true => current.checked_add(delta).ok_or_else(|| {
                Error::InvalidArgument(format!("incr of {key:?} would pass u64::MAX"))
            })?,
            false => current.saturating_sub(delta),
        };
        *bytes = value.to_string().into_bytes();
        Ok(value)
    }
}

impl AsyncCacheHandler for AsyncDict {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cement::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(self.entries()?.get(key).map(|(v, _)| v.clone()))
        })
    }
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, cement::Result<()>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.entries()?
                .insert(key.into(), (value.to_vec(), deadline(ttl)));
            Ok(())
        })
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cement::Result<bool>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(self.entries()?.remove(key).is_some())
        })
    }
    fn purge(&self) -> BoxFuture<'_, cement::Result<()>> {
        Box::pin(async move {
            self.entries()?.clear();
            Ok(())
        })
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    fn add<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, cement::Result<bool>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            let mut map = self.entries()?;
            if map.contains_key(key) {
                return Ok(false);
            }
            map.insert(key.into(), (value.to_vec(), deadline(ttl)));
            Ok(true)
        })
    }
    fn incr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, cement::Result<u64>> {
        Box::pin(self.step(key, true, delta, ttl))
    }
    fn decr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, cement::Result<u64>> {
        Box::pin(self.step(key, false, delta, ttl))
    }
    fn touch<'a>(
        &'a self,
        key: &'a str,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, cement::Result<bool>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok(match self.entries()?.get_mut(key) {
                Some((_, expiry)) => {
                    *expiry = deadline(ttl);
                    true
                }
                None => false,
            })
        })
    }
}

fn app(label: &str) -> cement::Application {
    Builder::new(
        Meta::new(label)
            .cache_handler("async_dict")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
    .setup()
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_only_handler_conforms_through_the_async_face() {
    let app = app("async_only_conf");
    let cache = app.async_cache();
    assert_eq!(cache.handler_label(), "async_dict");
    assert!(cache.handler().as_async().is_some());
    cement::testing::conformance_async::run_all_async(cache).await;
    app.close().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_blocking_face_refuses_an_async_only_handler_naming_the_fix() {
    let app = app("async_only_sync");
    app.async_cache().set("k", &1u32).await.unwrap();
    let err = app.cache().get::<u32>("k").unwrap_err();
    assert!(
        matches!(err, Error::AsyncOnly { operation: "get" }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("app.async_cache()"), "{message}");
    assert!(matches!(
        app.cache().set("k", &2u32),
        Err(Error::AsyncOnly { operation: "set" })
    ));
    assert!(matches!(
        app.cache().incr("n", 1),
        Err(Error::AsyncOnly { operation: "incr" })
    ));
    // Nothing was written by the refused calls.
    assert_eq!(app.async_cache().get::<u32>("k").await.unwrap(), Some(1));
}
