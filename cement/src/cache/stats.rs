//! Counters of a cache's activity: [`Cache::stats`](crate::cache::Cache::stats).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// Declares [`Op`] and [`OPS`] from one list, so that a variant's discriminant is always the
/// index of its name.
macro_rules! ops {
    ($($variant:ident => $name:literal,)*) => {
        /// An operation counted, and the index of its counters.
        #[derive(Clone, Copy, Debug)]
        pub(crate) enum Op {
            $($variant,)*
        }

        /// The names of the operations counted, by [`Op`] index: the keys of
        /// [`CacheStats::ops`].
        pub(crate) const OPS: [&str; [$($name),*].len()] = [$($name),*];
    };
}

ops! {
    Get => "get",
    GetMany => "get_many",
    Exists => "exists",
    Set => "set",
    SetMany => "set_many",
    Add => "add",
    Incr => "incr",
    Decr => "decr",
    Touch => "touch",
    Delete => "delete",
    DeleteMany => "delete_many",
    Purge => "purge",
    GetOrSetWith => "get_or_set_with",
    Compute => "compute",
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        OPS[self as usize]
    }
}

/// Live counters: one [`Shard`] per thread (up to [`SHARDS`] threads at once), summed by
/// [`snapshot`](Counters::snapshot).
///
/// A thread owns its shard alone (see [`slot`]), so it counts with a plain load and store —
/// no atomic read-modify-write, which would cost a locked instruction (and drain the store
/// buffer) several times per cache call, and would make every thread's calls fight over one
/// cache line. Threads past the first `SHARDS - 1` alive share the last shard and count in it
/// with `fetch_add`. Either way no count is lost; a snapshot taken while calls run sees each
/// counter at some recent value.
#[derive(Debug)]
pub(crate) struct Counters {
    shards: Box<[Shard; SHARDS]>,
}

/// How many shards a cache's counters have: the last is shared.
const SHARDS: usize = 32;
const SHARED: usize = SHARDS - 1;

/// One thread's counts (its own cache lines). What a `get` or a `set` counts (its call, the
/// hit or miss and the bytes) comes first, in one 64-byte line: `calls` starts with `get`,
/// `get_many`, `exists`, `set`.
#[derive(Debug, Default)]
#[repr(C, align(128))]
struct Shard {
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    calls: [AtomicU64; OPS.len()],
    errors: [AtomicU64; OPS.len()],
    decode_errors: AtomicU64,
    breaker_rejections: AtomicU64,
    errors_absorbed: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
        }
    }
}

/// This thread's shard: its own (`Some`), or `None` for the shared one.
fn slot() -> Option<usize> {
    SLOT.try_with(|slot| slot.0).ok().flatten()
}

thread_local! {
    static SLOT: Slot = Slot::take();
}

/// The shards no live thread owns, for threads to come.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next shard never owned yet.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A thread's ownership of a shard index (in every cache's counters), given back when the
/// thread ends. The mutex orders the last counts of a thread before the next owner's.
struct Slot(Option<usize>);

impl Slot {
    fn take() -> Slot {
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = free.pop() {
            return Slot(Some(index));
        }
        let fresh = NEXT
            .fetch_update(Relaxed, Relaxed, |n| (n < SHARED).then_some(n + 1))
            .ok();
        Slot(fresh)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // From here on this thread's counts go to the shared shard (`slot` finds no `SLOT`).
        if let Some(index) = self.0 {
            FREE.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
        }
    }
}

impl Counters {
    /// Adds `n` to the counter that `field` picks, in this thread's shard.
    #[inline]
    fn add(&self, n: u64, field: impl Fn(&Shard) -> &AtomicU64) {
        match slot() {
            Some(index) => {
                // This thread is the only writer of its shard.
                let counter = field(&self.shards[index]);
                counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
            }
            None => {
                field(&self.shards[SHARED]).fetch_add(n, Relaxed);
            }
        }
    }

    /// The sum of one counter over the shards.
    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| field(shard).load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    #[inline]
    pub(crate) fn call(&self, op: Op) {
        self.add(1, |s| &s.calls[op as usize]);
    }
    #[inline]
    pub(crate) fn error(&self, op: Op) {
        self.add(1, |s| &s.errors[op as usize]);
    }
    #[inline]
    pub(crate) fn hit(&self, bytes: usize) {
        if let Some(index) = slot() {
            // One shard lookup for both counters of a hit.
            let shard = &self.shards[index];
            shard
                .hits
                .store(shard.hits.load(Relaxed).wrapping_add(1), Relaxed);
            let read = shard.bytes_read.load(Relaxed).wrapping_add(bytes as u64);
            shard.bytes_read.store(read, Relaxed);
        } else {
            let shard = &self.shards[SHARED];
            shard.hits.fetch_add(1, Relaxed);
            shard.bytes_read.fetch_add(bytes as u64, Relaxed);
        }
    }
    #[inline]
    pub(crate) fn miss(&self) {
        self.add(1, |s| &s.misses);
    }
    pub(crate) fn decode_error(&self) {
        self.add(1, |s| &s.decode_errors);
    }
    pub(crate) fn written(&self, bytes: usize) {
        self.add(bytes as u64, |s| &s.bytes_written);
    }
    pub(crate) fn breaker_rejection(&self) {
        self.add(1, |s| &s.breaker_rejections);
    }
    pub(crate) fn absorbed(&self) {
        self.add(1, |s| &s.errors_absorbed);
    }
    /// A batch read's `hits` (of `bytes` in all) and `misses`, counted at once.
    pub(crate) fn read(&self, hits: u64, misses: u64, bytes: u64) {
        let count = |counter: &AtomicU64, n: u64, owned: bool| match (n, owned) {
            (0, _) => {}
            // This thread is the only writer of its shard.
            (_, true) => counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed),
            (_, false) => {
                counter.fetch_add(n, Relaxed);
            }
        };
        let (shard, owned) = match slot() {
            Some(index) => (&self.shards[index], true),
            None => (&self.shards[SHARED], false),
        };
        count(&shard.hits, hits, owned);
        count(&shard.misses, misses, owned);
        count(&shard.bytes_read, bytes, owned);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let ops = OPS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    *name,
                    OpStats {
                        calls: self.sum(|s| &s.calls[i]),
                        errors: self.sum(|s| &s.errors[i]),
                    },
                )
            })
            .collect();
        CacheStats {
            hits: self.sum(|s| &s.hits),
            misses: self.sum(|s| &s.misses),
            decode_errors: self.sum(|s| &s.decode_errors),
            bytes_read: self.sum(|s| &s.bytes_read),
            bytes_written: self.sum(|s| &s.bytes_written),
            breaker_rejections: self.sum(|s| &s.breaker_rejections),
            errors_absorbed: self.sum(|s| &s.errors_absorbed),
            ops,
        }
    }
}

/// Calls and errors of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// How many times it was called.
    pub calls: u64,
    /// How many of those failed (including failures a policy turned into a miss or a drop).
    pub errors: u64,
}

/// A snapshot of a cache's counters since setup.
///
/// ```
/// use cement::cache::{Cache, MemoryCacheHandler};
///
/// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
/// cache.set("k", &1)?;
/// cache.get::<i32>("k")?;
/// cache.get::<i32>("nope")?;
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses), (1, 1));
/// assert_eq!(stats.ops["get"].calls, 2);
/// assert_eq!(stats.total_errors(), 0);
/// # Ok::<(), cement::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Keys read that held a value (each key of a batch counts).
    pub hits: u64,
    /// Keys read that held nothing, or nothing readable.
    pub misses: u64,
    /// Values that could not be decoded (foreign, or stored as another type) and were read as
    /// misses.
    pub decode_errors: u64,
    /// Bytes of the values read.
    pub bytes_read: u64,
    /// Bytes of the values written.
    pub bytes_written: u64,
    /// Calls refused at once because the circuit breaker was open.
    pub breaker_rejections: u64,
    /// Backend errors that the `on_*_error` policy turned into a miss, a drop or an ignore.
    pub errors_absorbed: u64,
    /// Calls and errors per operation, by name (`"get"`, `"set"`, `"delete"`, …).
    pub ops: BTreeMap<&'static str, OpStats>,
}

impl CacheStats {
    /// Errors of every operation together.
    pub fn total_errors(&self) -> u64 {
        self.ops.values().map(|o| o.errors).sum()
    }

    /// Hits over reads, in `0.0..=1.0`; `None` before any read.
    pub fn hit_ratio(&self) -> Option<f64> {
        let reads = self.hits + self.misses;
        (reads > 0).then(|| self.hits as f64 / reads as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up() {
        // More threads than shards, several rounds of them (so shards are given back and taken
        // again): every count lands, in an owned shard or the shared one.
        let counters = Arc::new(Counters::default());
        for _ in 0..3 {
            let threads: Vec<_> = (0..SHARDS + 8)
                .map(|_| {
                    let counters = Arc::clone(&counters);
                    std::thread::spawn(move || {
                        for _ in 0..1000 {
                            counters.call(Op::Get);
                            counters.hit(3);
                            counters.written(2);
                        }
                        counters.error(Op::Set);
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
        let stats = counters.snapshot();
        let n = 3 * (SHARDS as u64 + 8);
        assert_eq!(stats.ops["get"].calls, n * 1000);
        assert_eq!(stats.ops["set"].errors, n);
        assert_eq!((stats.hits, stats.bytes_read), (n * 1000, n * 3000));
        assert_eq!(stats.bytes_written, n * 2000);
        assert_eq!(stats.total_errors(), n);
    }
}
