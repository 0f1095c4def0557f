//! The embedded `memory` cache handler: the default, so a new app caches with zero setup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use moka::ops::compute::{CompResult, Op};

use super::HandlerContext;
use crate::cache::{CacheHandler, Capabilities, HandlerSetup};
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
    /// An update that keeps the entry's remaining time (a counter step), rather than
    /// restarting its TTL.
    keep_expiry: bool,
}

impl Entry {
    fn new(value: &[u8], ttl: Option<Duration>) -> Self {
        Entry {
            value: Arc::from(value),
            ttl,
            keep_expiry: false,
        }
    }
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
        left: Option<Duration>,
    ) -> Option<Duration> {
        if entry.keep_expiry {
            left
        } else {
            entry.ttl
        }
    }
}

/// A counter's value: ASCII decimal digits, as memcached and redis store them.
fn parse_counter(key: &str, value: &[u8]) -> Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            crate::Error::InvalidArgument(format!(
                "the value under key {:?} is not a counter (an unsigned integer); create counters with incr or set them to an integer",
                crate::cache::key::shorten(key)
            ))
        })
}

/// The `cache.memory` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// From 1 up: a memory cache that may hold nothing is a mistake.
    #[serde(deserialize_with = "crate::config::Bounded::<1, { u64::MAX }>::deserialize_into")]
    max_entries: u64,
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

    fn get_with(&self, key: &str, visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(match self.store.get(key) {
            Some(entry) => {
                visit(&entry.value);
                true
            }
            None => false,
        })
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.store.insert(key.to_string(), Entry::new(value, ttl));
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

    /// Never: moka's operations return without waiting on I/O, so the async face calls this
    /// handler inline, on the calling task.
    fn blocks(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        let entry = self
            .store
            .entry_by_ref(key)
            .or_insert_with(|| Entry::new(value, ttl));
        Ok(entry.is_fresh())
    }

    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, ttl, |n| {
            n.checked_add(delta).ok_or_else(|| {
                crate::Error::InvalidArgument(format!(
                    "incrementing the counter under key {:?} by {delta} would pass u64::MAX; it was left unchanged",
                    crate::cache::key::shorten(key)
                ))
            })
        })
    }

    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, ttl, |n| Ok(n.saturating_sub(delta)))
    }

    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let result = self
            .store
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
                Some(entry) => {
                    let mut entry = entry.into_value();
                    entry.ttl = ttl;
                    entry.keep_expiry = false;
                    Op::Put(entry)
                }
                None => Op::Nop,
            });
        Ok(!matches!(result, CompResult::StillNone(_)))
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.store.contains_key(key))
    }
}

impl MemoryCacheHandler {
    /// One atomic counter step: `f` maps the current value (0 when absent) to the new one.
    fn step(
        &self,
        key: &str,
        ttl: Option<Duration>,
        f: impl FnOnce(u64) -> Result<u64>,
    ) -> Result<u64> {
        let mut new_value = 0;
        self.store
            .entry_by_ref(key)
            .and_try_compute_with(|current| {
                let entry = match current {
                    Some(entry) => {
                        let entry = entry.into_value();
                        new_value = f(parse_counter(key, &entry.value)?)?;
                        Entry {
                            value: Arc::from(new_value.to_string().as_bytes()),
                            ttl: entry.ttl,
                            keep_expiry: true,
                        }
                    }
                    None => {
                        new_value = f(0)?;
                        Entry::new(new_value.to_string().as_bytes(), ttl)
                    }
                };
                Ok::<_, crate::Error>(Op::Put(entry))
            })?;
        Ok(new_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_expires_and_delete_of_expired_is_false() {
        let cache = MemoryCacheHandler::new(10);
        cache
            .set("k", b"v", Some(Duration::from_millis(300)))
            .unwrap();
        cache.set("forever", b"v", None).unwrap();
        assert!(cache.get("k").unwrap().is_some());
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(cache.get("k").unwrap(), None);
        assert!(!cache.delete("k").unwrap());
        assert!(cache.delete("forever").unwrap());
    }

    #[test]
    fn native_add_counters_touch() {
        let cache = MemoryCacheHandler::new(100);
        assert!(cache.add("a", b"1", None).unwrap());
        assert!(!cache.add("a", b"2", None).unwrap());
        assert_eq!(cache.get("a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(cache.incr("n", 5, None).unwrap(), 5);
        assert_eq!(cache.incr("n", 2, None).unwrap(), 7);
        assert_eq!(cache.decr("n", 10, None).unwrap(), 0);
        cache
            .set("max", u64::MAX.to_string().as_bytes(), None)
            .unwrap();
        assert!(matches!(
            cache.incr("max", 1, None),
            Err(crate::Error::InvalidArgument(_))
        ));
        assert_eq!(
            cache.get("max").unwrap(),
            Some(u64::MAX.to_string().into_bytes())
        );
        assert_eq!(cache.get("n").unwrap(), Some(b"0".to_vec()));
        cache.set("text", b"\"x\"", None).unwrap();
        assert!(matches!(
            cache.incr("text", 1, None),
            Err(crate::Error::InvalidArgument(_))
        ));
        assert!(cache.touch("a", Some(Duration::from_millis(300))).unwrap());
        assert!(!cache.touch("missing", None).unwrap());
        assert!(cache.exists("a").unwrap());
        std::thread::sleep(Duration::from_millis(600));
        assert!(!cache.exists("a").unwrap());
    }

    #[test]
    fn counter_steps_keep_the_remaining_ttl() {
        let cache = MemoryCacheHandler::new(100);
        // Created with 1 s to live; a step at 0.5 s keeps the remaining 0.5 s (a restarted TTL
        // would keep it until 1.5 s), so at 1.25 s it is gone.
        assert_eq!(
            cache
                .incr("n", 1, Some(Duration::from_millis(1000)))
                .unwrap(),
            1
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(cache.incr("n", 1, None).unwrap(), 2);
        std::thread::sleep(Duration::from_millis(750));
        assert_eq!(cache.get("n").unwrap(), None);
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
