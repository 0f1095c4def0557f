//! The memory handler's two stores behind one seam: [`quick_cache`] (the default, `eviction =
//! "s3fifo"`) and [`moka`] (`"tinylfu"` and `"lru"`). The handler's logic (`add`, the counters,
//! `touch`) is written once, in `super`, on the few operations here; this module only maps
//! them onto each store and holds the size bound that both keep.

use std::hash::RandomState;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use moka::ops::compute::Op;
use quick_cache::sync::{EntryAction, EntryResult};

use super::Eviction;
use crate::{Error, Result};

/// The widest counter, `u64::MAX`, in decimal digits. With `max_size`, every value weighs at
/// least this much, so a counter step (done in place on quick_cache, which does not evict on an
/// in-place change) never makes an entry heavier.
pub(super) const COUNTER_WIDTH: usize = 20;

/// The most shards quick_cache splits the bound over. Each shard evicts on its own and admits
/// an entry of at most [`HOT_ALLOCATION`] of its share of the bound, so fewer shards mean
/// larger values; 16 keep the lock contention of many threads low. The count depends on the
/// configuration only (not on the machine's cores), so the largest value is the same
/// everywhere.
const MAX_SHARDS: u64 = 16;

/// Entries per shard at least: fewer shards for small caches, so the bound stays exact.
const MIN_ENTRIES_PER_SHARD: u64 = 32;

/// Bytes per shard at least, with `max_size`: a cache below 8 MiB is one shard and keeps any
/// entry up to 97 % of its bound; up to 64 MiB, entries of at least 3.88 MiB; above, of at
/// least `max_size / 16.5`.
const MIN_BYTES_PER_SHARD: u64 = 4 << 20;

/// quick_cache's share of a shard for entries read again after admission (its default); it
/// refuses an entry heavier than this share of its shard.
const HOT_ALLOCATION: f64 = 0.97;

/// The entry size assumed to estimate how many entries a `max_size` holds: quick_cache sizes
/// its shards and its memory of recently evicted keys by that estimate (it allocates nothing
/// up front).
const ASSUMED_ENTRY_BYTES: u64 = 256;

/// What an entry counts against the bound: 1 when only `max_entries` bounds the store; with
/// `max_size`, the bytes of key and value, at least `floor` (`max_size / max_entries`, so both
/// bounds hold) and at least a counter's width.
#[derive(Clone, Copy, Debug)]
pub(super) struct Weigher {
    bytes: bool,
    floor: u64,
}

impl Weigher {
    fn weight(self, key: usize, value: usize) -> u64 {
        if !self.bytes {
            return 1;
        }
        (key.saturating_add(value.max(COUNTER_WIDTH)) as u64).max(self.floor)
    }
}

impl quick_cache::Weighter<String, QuickEntry> for Weigher {
    fn weight(&self, key: &String, entry: &QuickEntry) -> u64 {
        Weigher::weight(*self, key.len(), entry.value.len())
    }
}

/// The change one atomic [`Store::update`] makes to an entry.
pub(super) enum Change {
    /// Leave the entry (or its absence) as it is.
    Keep,
    /// Store this value, expiring after this TTL from now.
    Put(Arc<[u8]>, Option<Duration>),
    /// Replace the present entry's value and keep its remaining time (a counter step).
    Step(Arc<[u8]>),
    /// Restart the present entry's time to live with this TTL.
    Touch(Option<Duration>),
}

/// A quick_cache entry: quick_cache has no expiry of its own, so the deadline is kept beside
/// the bytes and checked on every read.
#[derive(Clone)]
pub(super) struct QuickEntry {
    value: Arc<[u8]>,
    /// `None`: kept until evicted (also when `now + ttl` is past what `Instant` can hold).
    expires: Option<Instant>,
}

impl QuickEntry {
    fn new(value: Arc<[u8]>, ttl: Option<Duration>) -> Self {
        QuickEntry {
            value,
            expires: deadline(ttl),
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

fn deadline(ttl: Option<Duration>) -> Option<Instant> {
    ttl.and_then(|ttl| Instant::now().checked_add(ttl))
}

/// A moka entry: moka expires it itself, by [`PerEntryTtl`].
#[derive(Clone)]
pub(super) struct MokaEntry {
    value: Arc<[u8]>,
    ttl: Option<Duration>,
    /// An update that keeps the entry's remaining time (a counter step), rather than
    /// restarting its TTL.
    keep_expiry: bool,
}

/// Each moka entry expires after its own TTL, restarted when it is overwritten.
struct PerEntryTtl;

impl moka::Expiry<String, MokaEntry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &MokaEntry,
        _now: Instant,
    ) -> Option<Duration> {
        entry.ttl
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &MokaEntry,
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

/// quick_cache with std's SipHash (`RandomState`) rather than its default foldhash: cache keys
/// often come from requests, and foldhash does not claim resistance to colliding keys crafted
/// by an attacker who can time the calls (benches/README.md, "hasher").
type Quick = quick_cache::sync::Cache<String, QuickEntry, Weigher, RandomState>;

enum Kind {
    Quick(Quick),
    Moka(Moka),
}

/// moka, and locks that order the writes of one key. moka serializes its computes on a key
/// with each other only: a plain `insert` between a counter step's read and its write would be
/// lost. Running every write of a key under its stripe's lock (uncontended: one atomic swap)
/// is much cheaper than a compute per `set` (2.3x the time of an `insert`, measured).
struct Moka {
    cache: moka::sync::Cache<String, MokaEntry>,
    stripes: Box<[Mutex<()>]>,
}

/// How many write locks the moka store has: keys share them by hash.
const STRIPES: usize = 64;

impl Moka {
    /// The lock for writes of `key`. Never poisoned: nothing panics while holding it (and
    /// if something did, the lock guards no data of its own).
    fn lock(&self, key: &str) -> MutexGuard<'_, ()> {
        // FNV-1a: cheap, and a crafted key can only make writes share a lock.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let stripe = &self.stripes[(hash % STRIPES as u64) as usize];
        stripe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One memory store and its bound.
pub(super) struct Store {
    kind: Kind,
    weigher: Weigher,
    /// The heaviest entry the store keeps; [`Store::insert`] refuses a heavier one rather
    /// than let the store drop it silently.
    max_weight: u64,
}

impl Store {
    /// A store bounded to `max_entries` (from 1) and, if given, `max_size` bytes (from 1).
    pub(super) fn new(max_entries: u64, max_size: Option<u64>, eviction: Eviction) -> Self {
        let max_entries = max_entries.max(1);
        let max_size = max_size.map(|size| size.max(1));
        match eviction {
            Eviction::S3Fifo => Self::quick(max_entries, max_size),
            Eviction::TinyLfu | Eviction::Lru => Self::moka(max_entries, max_size, eviction),
        }
    }

    fn quick(max_entries: u64, max_size: Option<u64>) -> Self {
        let (bound, shards, estimate) = match max_size {
            None => (
                max_entries,
                shard_count(max_entries / MIN_ENTRIES_PER_SHARD),
                max_entries,
            ),
            Some(size) => {
                let estimate = max_entries.min((size / ASSUMED_ENTRY_BYTES).max(1));
                let most = (estimate / MIN_ENTRIES_PER_SHARD).min(size / MIN_BYTES_PER_SHARD);
                (size, shard_count(most), estimate)
            }
        };
        // Each shard holds an equal, whole share: their sum never passes the bound.
        let per_shard = bound / shards;
        let max_weight = ((per_shard as f64 * HOT_ALLOCATION) as u64).clamp(1, per_shard);
        let weigher = Weigher {
            bytes: max_size.is_some(),
            // At most the heaviest entry kept, so that `max_entries = 1` still keeps one.
            floor: max_size.map_or(1, |size| size.div_ceil(max_entries).min(max_weight)),
        };
        let options = quick_cache::OptionsBuilder::new()
            .shards(shards as usize)
            .estimated_items_capacity(usize::try_from(estimate).unwrap_or(usize::MAX))
            .weight_capacity(per_shard * shards)
            .hot_allocation(HOT_ALLOCATION)
            .build()
            .expect("both capacities are set above");
        let cache = Quick::with_options(options, weigher, RandomState::new(), Default::default());
        Store {
            kind: Kind::Quick(cache),
            weigher,
            max_weight,
        }
    }

    fn moka(max_entries: u64, max_size: Option<u64>, eviction: Eviction) -> Self {
        let builder = moka::sync::Cache::builder()
            .expire_after(PerEntryTtl)
            .eviction_policy(match eviction {
                Eviction::Lru => moka::policy::EvictionPolicy::lru(),
                _ => moka::policy::EvictionPolicy::tiny_lfu(),
            });
        let (cache, weigher, max_weight) = match max_size {
            None => (
                builder.max_capacity(max_entries).build(),
                Weigher {
                    bytes: false,
                    floor: 1,
                },
                u64::MAX,
            ),
            Some(size) => {
                // moka weighs in u32.
                let max_weight = size.min(u64::from(u32::MAX));
                let weigher = Weigher {
                    bytes: true,
                    floor: size.div_ceil(max_entries).min(max_weight),
                };
                let cache = builder
                    .max_capacity(size)
                    .weigher(move |key: &String, entry: &MokaEntry| {
                        u32::try_from(weigher.weight(key.len(), entry.value.len()))
                            .unwrap_or(u32::MAX)
                    })
                    .build();
                (cache, weigher, max_weight)
            }
        };
        Store {
            kind: Kind::Moka(Moka {
                cache,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            }),
            weigher,
            max_weight,
        }
    }

    /// `visit`'s result on the live value under `key`; an expired entry is a miss (and is
    /// removed when seen).
    #[inline]
    pub(super) fn read<R>(&self, key: &str, visit: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match &self.kind {
            Kind::Quick(cache) => {
                let entry = cache.get(key)?;
                if let Some(at) = entry.expires {
                    let now = Instant::now();
                    if at <= now {
                        cache.remove_if(key, |entry| entry.expired(now));
                        return None;
                    }
                }
                Some(visit(&entry.value))
            }
            Kind::Moka(moka) => moka.cache.get(key).map(|entry| visit(&entry.value)),
        }
    }

    /// Stores `value` under `key` for `ttl` (restarted), or refuses it if the store could not
    /// keep it.
    #[inline]
    pub(super) fn insert(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.check_size(key, value.len())?;
        match &self.kind {
            Kind::Quick(cache) => cache.insert(key.to_string(), QuickEntry::new(value.into(), ttl)),
            Kind::Moka(moka) => {
                let entry = MokaEntry {
                    value: value.into(),
                    ttl,
                    keep_expiry: false,
                };
                let _order = moka.lock(key);
                moka.cache.insert(key.to_string(), entry);
            }
        }
        Ok(())
    }

    /// Removes `key`; `true` if a live entry was there.
    pub(super) fn remove(&self, key: &str) -> bool {
        match &self.kind {
            Kind::Quick(cache) => cache
                .remove(key)
                .is_some_and(|(_, entry)| !entry.expired(Instant::now())),
            Kind::Moka(moka) => {
                let _order = moka.lock(key);
                // `remove` can hand back an entry that expired but was not evicted yet.
                let present = moka.cache.contains_key(key);
                moka.cache.remove(key).is_some() && present
            }
        }
    }

    /// Whether a live entry is under `key`, without counting as a use of it.
    pub(super) fn contains(&self, key: &str) -> bool {
        match &self.kind {
            Kind::Quick(cache) => match cache.peek(key) {
                None => false,
                Some(entry) => {
                    let now = Instant::now();
                    if entry.expired(now) {
                        cache.remove_if(key, |entry| entry.expired(now));
                    }
                    !entry.expired(now)
                }
            },
            Kind::Moka(moka) => moka.cache.contains_key(key),
        }
    }

    /// Removes every entry.
    pub(super) fn clear(&self) {
        match &self.kind {
            Kind::Quick(cache) => cache.clear(),
            Kind::Moka(moka) => moka.cache.invalidate_all(),
        }
    }

    /// One atomic read-modify-write of the entry under `key`: `decide` sees its live value (or
    /// `None`) and says what to do, with no other write to the key in between. `decide` may run
    /// again if a concurrent write got in first (then it sees that write), so it must only
    /// record its result, not act.
    pub(super) fn update(
        &self,
        key: &str,
        mut decide: impl FnMut(Option<&[u8]>) -> Result<Change>,
    ) -> Result<()> {
        match &self.kind {
            Kind::Quick(cache) => loop {
                let mut outcome = Ok(());
                // Under the shard's write lock; the value is changed in place.
                let result = cache.entry(key, None, |_, entry| {
                    let now = Instant::now();
                    if entry.expired(now) {
                        // Gone: decided below as a vacant key, on the placeholder.
                        return EntryAction::ReplaceWithGuard;
                    }
                    match decide(Some(&entry.value)) {
                        Err(err) => outcome = Err(err),
                        Ok(Change::Keep) => {}
                        Ok(Change::Put(value, ttl)) => match self.check_size(key, value.len()) {
                            Ok(()) => *entry = QuickEntry::new(value, ttl),
                            Err(err) => outcome = Err(err),
                        },
                        // Never heavier: values weigh at least a counter's width.
                        Ok(Change::Step(value)) => entry.value = value,
                        Ok(Change::Touch(ttl)) => entry.expires = deadline(ttl),
                    }
                    EntryAction::Retain(())
                });
                // Vacant: this call holds the key's placeholder (other updates of it wait).
                let guard = match result {
                    EntryResult::Retained(()) => return outcome,
                    EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => guard,
                    // Neither is asked for: no `Remove`, no timeout.
                    EntryResult::Removed(..) | EntryResult::Timeout => return Ok(()),
                };
                match decide(None)? {
                    Change::Put(value, ttl) => {
                        self.check_size(key, value.len())?;
                        // Refused only if a `set`, `delete` or `purge` took the placeholder's
                        // place meanwhile: decide again on what it left.
                        if guard.insert(QuickEntry::new(value, ttl)).is_ok() {
                            return Ok(());
                        }
                    }
                    // Dropping the guard leaves the key absent.
                    Change::Keep | Change::Step(_) | Change::Touch(_) => return Ok(()),
                }
            },
            Kind::Moka(moka) => {
                let _order = moka.lock(key);
                moka.cache
                    .entry_by_ref(key)
                    .and_try_compute_with(|current| {
                        let change = decide(current.as_ref().map(|entry| &*entry.value().value))?;
                        Ok::<_, Error>(match (change, current) {
                            (Change::Keep, _) => Op::Nop,
                            (Change::Put(value, ttl), _) => {
                                self.check_size(key, value.len())?;
                                Op::Put(MokaEntry {
                                    value,
                                    ttl,
                                    keep_expiry: false,
                                })
                            }
                            (Change::Step(value), Some(entry)) => Op::Put(MokaEntry {
                                value,
                                ttl: entry.value().ttl,
                                keep_expiry: true,
                            }),
                            (Change::Touch(ttl), Some(entry)) => Op::Put(MokaEntry {
                                value: entry.into_value().value,
                                ttl,
                                keep_expiry: false,
                            }),
                            (Change::Step(_) | Change::Touch(_), None) => Op::Nop,
                        })
                    })?;
                Ok(())
            }
        }
    }

    /// Refuses an entry heavier than the store keeps: quick_cache and moka would drop it
    /// silently after the `set` returned.
    #[inline]
    fn check_size(&self, key: &str, value: usize) -> Result<()> {
        let weight = self.weigher.weight(key.len(), value);
        if weight <= self.max_weight {
            return Ok(());
        }
        Err(Error::ValueTooLarge {
            backend: "memory",
            size: usize::try_from(weight).unwrap_or(usize::MAX),
            limit: usize::try_from(self.max_weight).unwrap_or(usize::MAX),
            by_server: false,
        })
    }

    /// The heaviest entry kept, in bytes of key and value (with `max_size`).
    #[cfg(test)]
    pub(super) fn max_weight(&self) -> u64 {
        self.max_weight
    }

    /// What the entries held weigh together, and how many there are (moka's pending
    /// evictions done first).
    #[cfg(test)]
    pub(super) fn held(&self) -> (u64, u64) {
        match &self.kind {
            Kind::Quick(cache) => (cache.weight(), cache.len() as u64),
            Kind::Moka(moka) => {
                moka.cache.run_pending_tasks();
                (moka.cache.weighted_size(), moka.cache.entry_count())
            }
        }
    }

    /// The shards quick_cache splits the bound over (1 for moka).
    #[cfg(test)]
    pub(super) fn shards(&self) -> usize {
        match &self.kind {
            Kind::Quick(cache) => cache.num_shards(),
            Kind::Moka(_) => 1,
        }
    }
}

/// The largest power of two from 1 to [`MAX_SHARDS`] not above `most`.
fn shard_count(most: u64) -> u64 {
    1 << most.clamp(1, MAX_SHARDS).ilog2()
}
