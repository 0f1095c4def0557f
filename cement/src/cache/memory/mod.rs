//! The embedded `memory` cache handler: the default, so a new app caches with zero setup.

mod store;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use self::store::{Change, Store};
use super::HandlerContext;
use crate::cache::{CacheHandler, Capabilities, HandlerSetup};
use crate::{Config, Result};

/// An in-process cache: bounded to `max_entries` and, if set, to `max_size` bytes; per-entry
/// TTL; thread-safe. Built on [`quick_cache`](https://docs.rs/quick_cache) by default, on
/// [`moka`](https://docs.rs/moka) for `eviction = "tinylfu"` or `"lru"`.
///
/// **Eviction** (`eviction`, see [`Eviction`]):
/// - `"s3fifo"` (the default): quick_cache's policy, a modified CLOCK-Pro that is close to
///   S3-FIFO. Once the cache is full, a new entry waits in a small probation queue (about
///   3 % of the bound) and stays only if it is read again before it reaches the queue's end; the
///   keys it evicts from there are remembered for a while, and such a key stored again is
///   kept as in steady use. So a burst of keys seen once does not flush the entries in use —
///   and a brand-new entry can be the one evicted.
/// - `"tinylfu"`: moka's TinyLFU: an entry is admitted, and kept, by how often its key was
///   asked for recently; a brand-new entry can also be the one evicted.
/// - `"lru"`: moka, least recently used first: the newest entry always stays.
///
/// quick_cache is several times faster than moka here (benches/README.md, "memory"). It has
/// no expiry of its own: the handler keeps each entry's deadline with it and checks it on every
/// read, so an expired entry is never returned (and is removed when seen); one that is never
/// read again stays until evicted. Its bound is split over up to 16 shards that evict on their
/// own (each at least 4 MiB and 32 entries' worth; the count follows the configuration only,
/// not the machine), so with `max_size` one entry (key and value) may weigh at most 97 % of a
/// shard's share: 97 % of `max_size` below 8 MiB, at least 3.88 MiB up to 64 MiB, at least
/// `max_size / 16.5` above. A `set` of a larger one fails with
/// [`Error::ValueTooLarge`](crate::Error::ValueTooLarge) naming `max_size`, rather than being
/// dropped after returning `Ok`. moka keeps entries up to `max_size` (and 4 GiB), and refuses
/// larger ones alike.
///
/// Config section `cache.memory`:
///
/// | key | default | meaning |
/// |---|---|---|
/// | `max_entries` | `10000` | how many entries it holds at most |
/// | `max_size` | none | if set, how many bytes of keys and values it holds at most (from 1). Both bounds hold: each entry weighs at least `max_size / max_entries` bytes (and a value at least 20, a counter's widest), so whichever bound is reached first evicts |
/// | `eviction` | `"s3fifo"` | `"s3fifo"`, `"tinylfu"` or `"lru"`, see above |
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
    store: Store,
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
///
/// Non-exhaustive: a policy added later (as `s3fifo` was) is not a breaking change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Eviction {
    /// quick_cache's policy (the default), a modified CLOCK-Pro close to S3-FIFO: a new entry
    /// stays if it is read again soon; keys seen once go first.
    #[default]
    S3Fifo,
    /// moka's TinyLFU: keeps the keys asked for most often recently; a new entry may be
    /// evicted before older, popular ones.
    TinyLfu,
    /// moka, least recently used first: the newest entry always stays.
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
    /// A store that holds at most `max_entries` entries, evicting by the default policy
    /// ([`Eviction::S3Fifo`]).
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
    /// let cache = MemoryCacheHandler::with_limits(1000, Some(1 << 20), Eviction::S3Fifo);
    /// cache.set("k", &[0; 1024], None)?;
    /// assert!(cache.exists("k")?);
    /// // One entry may take at most 97 % of the bound (of a shard's share, in a large cache).
    /// assert!(matches!(
    ///     cache.set("huge", &[0; 1 << 20], None),
    ///     Err(cement::Error::ValueTooLarge { .. })
    /// ));
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn with_limits(max_entries: u64, max_size: Option<u64>, eviction: Eviction) -> Self {
        MemoryCacheHandler {
            store: Store::new(max_entries, max_size, eviction),
        }
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
        Ok(self.store.read(key, <[u8]>::to_vec))
    }

    #[inline]
    fn get_with(&self, key: &str, visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(self.store.read(key, visit).is_some())
    }

    #[inline]
    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.store.insert(key, value, ttl)
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.store.remove(key))
    }

    fn purge(&self) -> Result<()> {
        self.store.clear();
        Ok(())
    }

    /// Never: the stores' operations return without waiting on I/O, so the async face calls
    /// this handler inline, on the calling task.
    fn blocks(&self) -> bool {
        false
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        let mut added = false;
        self.store.update(key, |current| {
            added = current.is_none();
            Ok(match current {
                Some(_) => Change::Keep,
                None => Change::Put(Arc::from(value), ttl),
            })
        })?;
        Ok(added)
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
        let mut found = false;
        self.store.update(key, |current| {
            found = current.is_some();
            Ok(match current {
                Some(_) => Change::Touch(ttl),
                None => Change::Keep,
            })
        })?;
        Ok(found)
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.store.contains(key))
    }
}

impl MemoryCacheHandler {
    /// One atomic counter step: `f` maps the current value (0 when absent, which creates the
    /// counter with `ttl`) to the new one; a present counter keeps its remaining time.
    fn step(
        &self,
        key: &str,
        ttl: Option<Duration>,
        f: impl Fn(u64) -> Result<u64>,
    ) -> Result<u64> {
        let mut new_value = 0;
        self.store.update(key, |current| {
            Ok(match current {
                Some(bytes) => {
                    new_value = f(crate::cache::parse_counter(key, bytes)?)?;
                    Change::Step(Arc::from(new_value.to_string().as_bytes()))
                }
                None => {
                    new_value = f(0)?;
                    Change::Put(Arc::from(new_value.to_string().as_bytes()), ttl)
                }
            })
        })?;
        Ok(new_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Eviction; 3] = [Eviction::S3Fifo, Eviction::TinyLfu, Eviction::Lru];

    #[test]
    fn ttl_expires_and_delete_of_expired_is_false() {
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(10, None, eviction);
            cache
                .set("k", b"v", Some(Duration::from_millis(300)))
                .unwrap();
            cache
                .set("gone", b"v", Some(Duration::from_millis(300)))
                .unwrap();
            cache.set("forever", b"v", None).unwrap();
            assert!(cache.get("k").unwrap().is_some(), "{eviction:?}");
            std::thread::sleep(Duration::from_millis(600));
            assert_eq!(cache.get("k").unwrap(), None, "{eviction:?}");
            assert!(!cache.get_with("k", &mut |_| {}).unwrap(), "{eviction:?}");
            assert!(!cache.exists("gone").unwrap(), "{eviction:?}");
            assert!(!cache.delete("gone").unwrap(), "{eviction:?}");
            assert!(!cache.delete("k").unwrap(), "{eviction:?}");
            assert!(cache.delete("forever").unwrap(), "{eviction:?}");
        }
    }

    #[test]
    fn an_expired_entry_is_removed_when_read() {
        let cache = MemoryCacheHandler::with_limits(10, Some(1 << 20), Eviction::S3Fifo);
        cache
            .set("k", &[1; 100], Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(cache.store.held().1, 1);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(cache.get("k").unwrap(), None);
        assert_eq!(cache.store.held(), (0, 0), "the read removed it");
        // A write after the expiry is a new entry, not the expired one.
        cache
            .set("k", b"new", Some(Duration::from_millis(200)))
            .unwrap();
        assert_eq!(cache.get("k").unwrap(), Some(b"new".to_vec()));
    }

    #[test]
    fn native_add_counters_touch() {
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(100, None, eviction);
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
            assert_eq!(cache.get("text").unwrap(), Some(b"\"x\"".to_vec()));
            assert!(cache.touch("a", Some(Duration::from_millis(300))).unwrap());
            assert!(!cache.touch("missing", None).unwrap());
            assert!(!cache.exists("missing").unwrap(), "touch creates nothing");
            assert!(cache.exists("a").unwrap());
            std::thread::sleep(Duration::from_millis(600));
            assert!(!cache.exists("a").unwrap(), "{eviction:?}");
            // An expired key is absent to add, incr and touch alike.
            assert!(!cache.touch("a", None).unwrap(), "{eviction:?}");
            assert!(cache.add("a", b"3", None).unwrap(), "{eviction:?}");
            cache
                .set("c", b"41", Some(Duration::from_millis(200)))
                .unwrap();
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(cache.incr("c", 1, None).unwrap(), 1, "{eviction:?}");
        }
    }

    #[test]
    fn touch_restarts_the_ttl() {
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(100, None, eviction);
            cache
                .set("k", b"v", Some(Duration::from_millis(400)))
                .unwrap();
            assert!(cache.touch("k", None).unwrap());
            std::thread::sleep(Duration::from_millis(700));
            assert_eq!(cache.get("k").unwrap(), Some(b"v".to_vec()), "{eviction:?}");
        }
    }

    #[test]
    fn counter_steps_keep_the_remaining_ttl() {
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(100, None, eviction);
            // Created with 1 s to live; a step at 0.5 s keeps the remaining 0.5 s (a restarted
            // TTL would keep it until 1.5 s), so at 1.25 s it is gone.
            assert_eq!(
                cache
                    .incr("n", 1, Some(Duration::from_millis(1000)))
                    .unwrap(),
                1
            );
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(cache.incr("n", 1, None).unwrap(), 2);
            std::thread::sleep(Duration::from_millis(750));
            assert_eq!(cache.get("n").unwrap(), None, "{eviction:?}");
        }
    }

    /// Steps and adds from many threads at once, with `set`s of the same key between them:
    /// no step is lost, and exactly one `add` of a key wins.
    #[test]
    fn concurrent_steps_and_adds_lose_nothing() {
        const THREADS: u64 = 4;
        const STEPS: u64 = 2000;
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(10_000, Some(1 << 20), eviction);
            let added = std::sync::atomic::AtomicU64::new(0);
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let (cache, added) = (&cache, &added);
                    s.spawn(move || {
                        for i in 0..STEPS {
                            cache.incr("n", 1, None).unwrap();
                            // A key created by incr or by set, raced by the other threads.
                            let key = format!("k{i}");
                            if t == 0 {
                                cache.set(&key, b"1000", None).unwrap();
                            } else {
                                cache.incr(&key, 1, None).unwrap();
                            }
                            if cache.add(&format!("a{i}"), b"x", None).unwrap() {
                                added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            let total = (THREADS * STEPS).to_string().into_bytes();
            assert_eq!(cache.get("n").unwrap(), Some(total), "{eviction:?}");
            assert_eq!(added.into_inner(), STEPS, "{eviction:?}");
            for i in 0..STEPS {
                // The set came before, between or after the three increments: whatever it
                // left, every increment after it counts.
                let n: u64 = String::from_utf8(cache.get(&format!("k{i}")).unwrap().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    (1000..=1000 + THREADS - 1).contains(&n),
                    "{eviction:?}: k{i} = {n}"
                );
            }
        }
    }

    /// Fed 1 GiB of values from 1 byte to 1 MiB, a store bounded to 64 MiB weighs at most 64 MiB.
    #[test]
    fn max_size_bounds_the_bytes_held() {
        const MAX: u64 = 64 << 20;
        for eviction in [Eviction::S3Fifo, Eviction::TinyLfu] {
            let cache = MemoryCacheHandler::with_limits(u64::MAX, Some(MAX), eviction);
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
                    let (held, _) = cache.store.held();
                    assert!(held <= MAX, "{eviction:?}: {held}");
                }
            }
            let (held, entries) = cache.store.held();
            assert!(
                held <= MAX,
                "{eviction:?}: {held} bytes held, more than {MAX}"
            );
            assert!(held > MAX / 2, "{eviction:?}: it holds {held} bytes");
            eprintln!(
                "max_size {eviction:?}: fed {fed} bytes, holds {held} in {entries} entries; {}",
                rss()
            );
        }
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
        for eviction in ALL {
            // 10 entries of at most 1000 bytes: small values hit the entry bound.
            let cache = MemoryCacheHandler::with_limits(10, Some(1000), eviction);
            for i in 0..100 {
                cache.set(&format!("k{i}"), b"v", None).unwrap();
            }
            let (held, entries) = cache.store.held();
            assert!(entries <= 10, "{eviction:?}: {entries}");
            assert!(held <= 1000, "{eviction:?}: {held}");
            if eviction == Eviction::Lru {
                assert!(
                    cache.get("k99").unwrap().is_some(),
                    "LRU keeps the newest entry"
                );
            }
            // Large values hit the byte bound.
            for i in 0..100 {
                cache.set(&format!("b{i}"), &[0; 300], None).unwrap();
            }
            let (held, _) = cache.store.held();
            assert!(held <= 1000, "{eviction:?}: {held}");
            if eviction == Eviction::Lru {
                assert!(cache.exists("b99").unwrap(), "LRU keeps the newest entry");
            }
        }
    }

    /// A value the store could not keep is refused with an error that names its size and the
    /// setting to raise, rather than dropped after `set` said `Ok`.
    #[test]
    fn a_value_heavier_than_the_store_keeps_is_refused() {
        for eviction in ALL {
            let cache = MemoryCacheHandler::with_limits(10_000, Some(64 << 20), eviction);
            let limit = cache.store.max_weight() as usize;
            if eviction == Eviction::S3Fifo {
                // 16 shards of 4 MiB; 97 % of one.
                assert_eq!(cache.store.shards(), 16);
                assert_eq!(limit, ((4u64 << 20) as f64 * 0.97) as usize);
            } else {
                assert_eq!(limit, 64 << 20);
            }
            let big = vec![1u8; limit - 1];
            cache.set("k", &big, None).unwrap();
            assert_eq!(
                cache.get("k").unwrap().map(|v| v.len()),
                Some(limit - 1),
                "{eviction:?}: exactly the limit is kept"
            );
            let err = cache.set("k", &[1; 1 << 27], None).unwrap_err();
            assert!(
                matches!(err, crate::Error::ValueTooLarge { size, .. } if size == (1 << 27) + 1),
                "{eviction:?}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains("134217729 bytes"), "{message}");
            assert!(message.contains("max_size"), "{message}");
            assert!(message.contains(&format!("{limit} bytes")), "{message}");
            // The refused set left the old value; add refuses alike.
            assert_eq!(cache.get("k").unwrap().map(|v| v.len()), Some(limit - 1));
            assert!(matches!(
                cache.add("new", &[1; 1 << 27], None),
                Err(crate::Error::ValueTooLarge { .. })
            ));
            assert!(!cache.exists("new").unwrap());
        }
    }

    #[test]
    fn the_shards_follow_the_configuration_only() {
        let shards = |max_entries, max_size| {
            MemoryCacheHandler::with_limits(max_entries, max_size, Eviction::S3Fifo)
                .store
                .shards()
        };
        assert_eq!(shards(10, None), 1);
        assert_eq!(shards(100, None), 2);
        assert_eq!(shards(10_000, None), 16);
        assert_eq!(shards(u64::MAX, Some(1000)), 1);
        assert_eq!(shards(u64::MAX, Some(1 << 20)), 1);
        assert_eq!(shards(u64::MAX, Some(16 << 20)), 4);
        assert_eq!(shards(u64::MAX, Some(1 << 30)), 16);
        assert_eq!(shards(1, Some(1 << 30)), 1);
        assert_eq!(shards(100, Some(1 << 30)), 2);
        // One entry of a whole-cache size is still kept.
        let one = MemoryCacheHandler::with_limits(1, Some(1000), Eviction::S3Fifo);
        one.set("k", &[0; 900], None).unwrap();
        one.set("j", &[0; 900], None).unwrap();
        assert_eq!(one.store.held().1, 1);
        assert!(one.exists("j").unwrap());
    }

    #[test]
    fn bounded() {
        for eviction in ALL {
            for max in [50, 1000, 10_001] {
                let cache = MemoryCacheHandler::with_limits(max, None, eviction);
                for i in 0..max * 3 {
                    cache.set(&format!("k{i}"), b"v", None).unwrap();
                }
                let (_, entries) = cache.store.held();
                assert!(entries <= max, "{eviction:?}: {entries} > {max}");
                assert!(entries > max / 2, "{eviction:?}: {entries} of {max}");
            }
        }
    }

    #[test]
    fn an_unknown_eviction_lists_the_three() {
        let mut config = defaults();
        config.set("cache.memory", "eviction", "fifo");
        let err = config
            .section::<Settings>("cache.memory")
            .err()
            .expect("fifo is refused")
            .to_string();
        for name in ["`s3fifo`", "`tinylfu`", "`lru`"] {
            assert!(err.contains(name), "{err}");
        }
        config.set("cache.memory", "eviction", "s3fifo");
        let settings = config.section::<Settings>("cache.memory").unwrap();
        assert_eq!(settings.eviction, Eviction::S3Fifo);
        assert_eq!(
            defaults()
                .section::<Settings>("cache.memory")
                .unwrap()
                .eviction,
            Eviction::S3Fifo
        );
    }
}
