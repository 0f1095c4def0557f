//! The embedded `memory` cache handler: the default, so a new app caches with zero setup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::cache::{CacheHandler, HandlerSetup};
use crate::registry::HandlerContext;
use crate::{Config, Result};

/// An in-process cache on [`moka`](https://docs.rs/moka): bounded to `max_entries` (least
/// recently used entries are evicted first), per-entry TTL, thread-safe.
///
/// Config section `cache.memory`:
///
/// | key | default | meaning |
/// |---|---|---|
/// | `max_entries` | `10000` | how many entries it holds at most |
/// | `expire_time` | `0` | seconds `set` keeps a value; `0` = until evicted |
/// | `prefix` | `"<app label>:"` | put in front of every key |
///
/// Each app gets its own store, so `purge` empties exactly this app's cache.
///
/// ```
/// use cement::cache::{CacheHandler, MemoryCacheHandler};
///
/// let cache = MemoryCacheHandler::new(1000);
/// cache.set("k", b"v", None)?;
/// assert_eq!(cache.get("k")?, Some(b"v".to_vec()));
/// cache.purge()?;
/// assert_eq!(cache.get("k")?, None);
/// # Ok::<(), cement::Error>(())
/// ```
#[crate::cache_handler(label = "memory", config_defaults = defaults)]
pub struct MemoryCacheHandler {
    store: moka::sync::Cache<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Option<Duration>,
}

/// Each entry expires after its own TTL, restarted when it is overwritten.
struct PerEntryTtl;

impl moka::Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        entry.ttl
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        entry.ttl
    }
}

/// The `cache.memory` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    max_entries: u64,
    // Read by the facade; listed so that a typo in any key of the section is reported.
    #[allow(dead_code)]
    expire_time: Option<u64>,
    #[allow(dead_code)]
    prefix: Option<String>,
}

fn defaults() -> Config {
    let mut config = Config::new();
    config.set("cache.memory", "max_entries", 10_000);
    config
}

impl MemoryCacheHandler {
    /// A store that holds at most `max_entries` entries.
    pub fn new(max_entries: u64) -> Self {
        MemoryCacheHandler {
            store: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

impl HandlerSetup for MemoryCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        let settings: Settings = ctx.settings()?;
        Ok(MemoryCacheHandler::new(settings.max_entries))
    }
}

impl CacheHandler for MemoryCacheHandler {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.store.get(key).map(|entry| entry.value.to_vec()))
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.store.insert(
            key.to_string(),
            Entry {
                value: Arc::from(value),
                ttl,
            },
        );
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        // `remove` can hand back an entry that expired but was not evicted yet; that is a miss.
        let present = self.store.contains_key(key);
        Ok(self.store.remove(key).is_some() && present)
    }

    fn purge(&self) -> Result<()> {
        self.store.invalidate_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_expires_and_delete_of_expired_is_false() {
        let cache = MemoryCacheHandler::new(10);
        cache
            .set("k", b"v", Some(Duration::from_millis(30)))
            .unwrap();
        cache.set("forever", b"v", None).unwrap();
        assert!(cache.get("k").unwrap().is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(cache.get("k").unwrap(), None);
        assert!(!cache.delete("k").unwrap());
        assert!(cache.delete("forever").unwrap());
    }

    #[test]
    fn bounded() {
        let cache = MemoryCacheHandler::new(50);
        for i in 0..1000 {
            cache.set(&format!("k{i}"), b"v", None).unwrap();
        }
        cache.store.run_pending_tasks();
        assert!(
            cache.store.entry_count() <= 50,
            "{}",
            cache.store.entry_count()
        );
    }
}
