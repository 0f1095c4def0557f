//! The embedded `memory` cache handler: the default, so a new app caches with zero setup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use moka::ops::compute::{CompResult, Op};

use super::HandlerContext;
use crate::cache::{CacheHandler, Capabilities, HandlerSetup};
use crate::{Config, Result};

/// An in-process cache on [`moka`](https://docs.rs/moka): bounded to `max_entries` and, if set,
/// to `max_size` bytes; per-entry TTL; thread-safe.
///
/// **Eviction** is moka's TinyLFU by default: an entry is admitted, and kept, by how often its
/// key was asked for recently, so a burst of new keys seen once does not flush the entries in
/// steady use — and a brand-new entry can be the one evicted. `eviction = "lru"` evicts the
/// least recently used entry instead, so the newest entry always stays.
///
/// Config section `cache.memory`:
///
/// | key | default | meaning |
/// |---|---|---|
/// | `max_entries` | `10000` | how many entries it holds at most |
/// | `max_size` | none | if set, how many bytes of keys and values it holds at most (from 1). Both bounds hold: each entry weighs at least `max_size / max_entries` bytes, so whichever bound is reached first evicts |
/// | `eviction` | `"tinylfu"` | `"tinylfu"` or `"lru"`, see above |
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

/// Which entry the memory cache evicts when it is full: its section's `eviction` key.
///
/// ```
/// use cement::cache::{CacheHandler, Eviction, MemoryCacheHandler};
///
/// // At most 2 entries, the least recently used evicted first.
/// let cache = MemoryCacheHandler::with_limits(2, None, Eviction::Lru);
/// cache.set("k", b"v", None)?;
/// assert_eq!(cache.get("k")?, Some(b"v".to_vec()));
/// # Ok::<(), cement::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eviction {
    /// moka's TinyLFU (the default): keeps the keys asked for most often recently; a new
    /// entry may be evicted before older, popular ones.
    #[default]
    TinyLfu,
    /// Least recently used first: the newest entry always stays.
    Lru,
}

/// The `cache.memory` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// From 1 up: a memory cache that may hold nothing is a mistake.
    #[serde(deserialize_with = "crate::config::Bounded::<1, { u64::MAX }>::deserialize_into")]
    max_entries: u64,
    #[serde(default)]
    max_size: Option<crate::config::Bounded<1, { u64::MAX }>>,
    #[serde(default)]
    eviction: Eviction,
}

fn defaults() -> Config {
    let mut config = Config::new();
    config.set("cache.memory", "max_entries", 10_000);
    config
}

impl MemoryCacheHandler {
    /// A store that holds at most `max_entries` entries, evicting by TinyLFU.
    pub fn new(max_entries: u64) -> Self {
        Self::with_limits(max_entries, None, Eviction::default())
    }

    /// A store that holds at most `max_entries` entries and, if `max_size` is given, at most
    /// that many bytes of keys and values, evicting by `eviction`. Both bounds hold: each entry
    /// weighs at least `max_size / max_entries` bytes.
    ///
    /// ```
    /// use cement::cache::{CacheHandler, Eviction, MemoryCacheHandler};
    ///
    /// // At most 1000 entries and 1 MiB.
    /// let cache = MemoryCacheHandler::with_limits(1000, Some(1 << 20), Eviction::TinyLfu);
    /// cache.set("k", &[0; 1024], None)?;
    /// assert!(cache.exists("k")?);
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn with_limits(max_entries: u64, max_size: Option<u64>, eviction: Eviction) -> Self {
        let max_entries = max_entries.max(1);
        let builder = moka::sync::Cache::builder()
            .expire_after(PerEntryTtl)
            .eviction_policy(match eviction {
                Eviction::TinyLfu => moka::policy::EvictionPolicy::tiny_lfu(),
                Eviction::Lru => moka::policy::EvictionPolicy::lru(),
            });
        let store = match max_size {
            None => builder.max_capacity(max_entries).build(),
            Some(max_size) => {
                let floor = max_size.div_ceil(max_entries);
                builder
                    .max_capacity(max_size)
                    .weigher(move |key: &String, entry: &Entry| {
                        let bytes = (key.len() + entry.value.len()) as u64;
                        u32::try_from(bytes.max(floor)).unwrap_or(u32::MAX)
                    })
                    .build()
            }
        };
        MemoryCacheHandler { store }
    }
}

impl HandlerSetup for MemoryCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        let settings: Settings = ctx.settings()?;
        Ok(MemoryCacheHandler::with_limits(
            settings.max_entries,
            settings.max_size.map(|size| size.get()),
            settings.eviction,
        ))
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

    /// Fed 1 GiB of values from 1 byte to 1 MiB, a store bounded to 64 MiB weighs at most 64 MiB.
    #[test]
    fn max_size_bounds_the_bytes_held() {
        const MAX: u64 = 64 << 20;
        let cache = MemoryCacheHandler::with_limits(u64::MAX, Some(MAX), Eviction::TinyLfu);
        let block = vec![7u8; 1 << 20];
        let (mut fed, mut i) = (0u64, 0u64);
        while fed < 1 << 30 {
            // Sizes spread over 1 B .. 1 MiB, small ones most often.
            let len = 1usize << (i % 21);
            let key = format!("k{i}");
            cache.set(&key, &block[..len], None).unwrap();
            fed += (key.len() + len) as u64;
            i += 1;
            if i.is_multiple_of(256) {
                cache.store.run_pending_tasks();
                assert!(
                    cache.store.weighted_size() <= MAX,
                    "{}",
                    cache.store.weighted_size()
                );
            }
        }
        cache.store.run_pending_tasks();
        let held = cache.store.weighted_size();
        assert!(held <= MAX, "{held} bytes held, more than {MAX}");
        assert!(held > 0, "it holds something");
        eprintln!("max_size: fed {fed} bytes, holds {held}; {}", rss());
    }

    /// This process' resident set size, from Linux's /proc (for the note, not asserted).
    fn rss() -> String {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS"))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "VmRSS unknown".into())
    }

    #[test]
    fn both_bounds_hold_and_lru_keeps_the_newest() {
        // 10 entries of at most 1000 bytes: small values hit the entry bound.
        let cache = MemoryCacheHandler::with_limits(10, Some(1000), Eviction::Lru);
        for i in 0..100 {
            cache.set(&format!("k{i}"), b"v", None).unwrap();
        }
        cache.store.run_pending_tasks();
        assert!(
            cache.store.entry_count() <= 10,
            "{}",
            cache.store.entry_count()
        );
        assert!(
            cache.get("k99").unwrap().is_some(),
            "LRU keeps the newest entry"
        );
        // A value over the byte bound is not kept.
        cache.set("big", &[0; 2000], None).unwrap();
        cache.store.run_pending_tasks();
        assert!(cache.store.weighted_size() <= 1000);
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
