// Every `#[app(...)]` key at once; the Meta it builds, and an app of the same shape set up.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cement::cache::CacheHandler;
use cement::{App, Application, Config, Meta};

#[cement::cache_handler(label = "every_key_cache")]
#[derive(Default)]
struct EveryKeyCache(Mutex<HashMap<String, Vec<u8>>>);

impl CacheHandler for EveryKeyCache {
    fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8], _ttl: Option<Duration>) -> cement::Result<()> {
        self.0
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> cement::Result<bool> {
        Ok(self.0.lock().unwrap().remove(key).is_some())
    }
    fn purge(&self) -> cement::Result<()> {
        self.0.lock().unwrap().clear();
        Ok(())
    }
}

fn defaults() -> Config {
    let mut config = cement::init_defaults!("every_key", "cache.every_key_cache");
    config.set("cache.every_key_cache", "expire_time", 300);
    config
}

fn tune(_meta: &mut Meta) -> cement::Result<()> {
    Ok(())
}

fn ready(app: &Application) -> cement::Result<()> {
    app.cache().set("ready", &true)
}

fn noop(_app: &Application) -> cement::Result<()> {
    Ok(())
}

#[derive(App)]
#[app(
    label = "every_key",
    config_defaults = defaults,
    extensions = ["memcached", "redis"],
    cache_handler = "every_key_cache",
    handlers = [EveryKeyCache, cement::cache::MemoryCacheHandler],
    hooks = [
        (pre_setup, tune),
        (post_setup, ready),
        (pre_run, noop),
        (post_run, noop),
        (pre_close, noop),
        (post_close, noop),
    ],
    config_files = ["every_key.toml", "/etc/every_key/extra.toml"],
)]
pub struct EveryKey;

// The same without config files (they would have to exist), and set up for real.
#[derive(App)]
#[app(
    label = "every_key",
    config_defaults = defaults,
    cache_handler = "every_key_cache",
    handlers = [EveryKeyCache],
    hooks = [(pre_setup, tune), (post_setup, ready), (pre_close, noop)],
)]
pub struct Running;

fn main() {
    let meta = <EveryKey as App>::meta();
    assert_eq!(meta.label(), "every_key");
    assert_eq!(meta.cache_handler_label(), "every_key_cache");
    assert_eq!(meta.extension_labels(), ["memcached", "redis"]);
    assert_eq!(meta.handler_labels(), ["every_key_cache", "memory"]);
    assert_eq!(meta.config_files().len(), 2);

    let app = Running::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .setup()
        .unwrap();
    app.run().unwrap();
    assert_eq!(app.cache().get::<bool>("ready").unwrap(), Some(true));
    app.close().unwrap();
}
