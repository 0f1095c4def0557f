//! A user-defined cache handler: registered with `#[cache_handler]`, selected by label, and held
//! to the same contract as the built-in handlers. Also: a handler that reads its own config
//! section, typed through serde.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cement::cache::{CacheHandler, HandlerSetup};
use cement::registry::HandlerContext;
use cement::{App, Config, Error};

type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

#[cement::cache_handler(label = "dict_cache")]
#[derive(Default)]
struct DictCache(Mutex<Entries>);

fn poisoned() -> Error {
    Error::Backend {
        backend: "dict_cache",
        source: "lock poisoned".into(),
    }
}

impl CacheHandler for DictCache {
    fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
        let map = self.0.lock().map_err(|_| poisoned())?;
        Ok(map
            .get(key)
            .filter(|(_, deadline)| deadline.is_none_or(|d| d > Instant::now()))
            .map(|(v, _)| v.clone()))
    }
    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<()> {
        let deadline = ttl.map(|t| Instant::now() + t);
        self.0
            .lock()
            .map_err(|_| poisoned())?
            .insert(key.into(), (value.to_vec(), deadline));
        Ok(())
    }
    fn delete(&self, key: &str) -> cement::Result<bool> {
        let live = self.get(key)?.is_some();
        Ok(self.0.lock().map_err(|_| poisoned())?.remove(key).is_some() && live)
    }
    fn purge(&self) -> cement::Result<()> {
        self.0.lock().map_err(|_| poisoned())?.clear();
        Ok(())
    }
}

#[derive(App)]
#[app(label = "custom_app", cache_handler = "dict_cache", handlers = [DictCache])]
struct CustomApp;

/// A sync handler that keeps the default `blocks() == true`: the async face runs its calls on
/// tokio's blocking pool, and it passes the same contract that way.
#[tokio::test(flavor = "current_thread")]
async fn a_custom_handler_conforms_through_the_async_face() {
    let app = CustomApp::builder()
        .default_config_files(false)
        .setup()
        .unwrap();
    assert!(app.async_cache().handler().blocks());
    cement::testing::conformance_async::run_all_async(app.async_cache()).await;
}

#[test]
fn a_custom_handler_resolves_by_label_and_conforms() {
    let app = CustomApp::builder()
        .default_config_files(false)
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "dict_cache");
    assert_eq!(app.meta().handler_labels(), ["dict_cache"]);
    cement::testing::conformance::run_all(app.cache());
    // The handler sees prefixed keys.
    app.cache().set("k", &1).unwrap();
    assert_eq!(
        app.cache().handler().get("custom_app:k").unwrap(),
        Some(b"1".to_vec())
    );
}

/// A handler with settings: `cache.sized` is read typed, with defaults of its own.
#[cement::cache_handler(label = "sized", config_defaults = sized_defaults)]
struct SizedCache {
    limit: usize,
    inner: DictCache,
}

#[derive(serde::Deserialize)]
struct SizedSettings {
    limit: usize,
}

fn sized_defaults() -> Config {
    let mut config = cement::init_defaults!("cache.sized");
    config.set("cache.sized", "limit", 16);
    config
}

impl HandlerSetup for SizedCache {
    fn setup(ctx: &HandlerContext<'_>) -> cement::Result<Self> {
        let settings: SizedSettings = ctx.settings()?;
        Ok(SizedCache {
            limit: settings.limit,
            inner: DictCache::default(),
        })
    }
}

impl CacheHandler for SizedCache {
    fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<()> {
        if value.len() > self.limit {
            return Err(Error::ValueTooLarge {
                backend: "sized",
                size: value.len(),
                limit: self.limit,
                by_server: false,
            });
        }
        self.inner.set(key, value, ttl)
    }
    fn delete(&self, key: &str) -> cement::Result<bool> {
        self.inner.delete(key)
    }
    fn purge(&self) -> cement::Result<()> {
        self.inner.purge()
    }
}

#[derive(App)]
#[app(label = "sized_app", cache_handler = "sized")]
struct SizedApp;

#[test]
fn handler_settings_come_typed_from_its_section() {
    let app = SizedApp::builder()
        .default_config_files(false)
        .setup()
        .unwrap();
    app.cache().set("small", "ok").unwrap();
    let err = app.cache().set("big", &"x".repeat(100)).unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { limit: 16, .. }),
        "{err}"
    );

    let app = SizedApp::builder()
        .default_config_files(false)
        .env_vars([("SIZED_APP_CACHE_SIZED_LIMIT", "1000")])
        .setup()
        .unwrap();
    app.cache().set("big", &"x".repeat(100)).unwrap();

    let err = SizedApp::builder()
        .default_config_files(false)
        .env_vars([("SIZED_APP_CACHE_SIZED_LIMIT", "lots")])
        .setup()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key \"limit\" in section [cache.sized]"),
        "{err}"
    );
    assert!(
        err.contains("environment variable SIZED_APP_CACHE_SIZED_LIMIT"),
        "{err}"
    );
}
