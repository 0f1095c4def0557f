//! Counters of a cache's activity: [`Cache::stats`](crate::cache::Cache::stats).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

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

/// Live counters, updated with relaxed atomics, in a few shards so that threads counting at
/// once (the async face's runtime workers, the sync face's callers) do not all fight over the
/// same cache line; a snapshot adds the shards up.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    shards: [Shard; SHARDS],
}

/// How many [`Shard`]s a cache's counters are spread over.
const SHARDS: usize = 8;

/// One thread's share of the counters (threads past [`SHARDS`] share), on cache lines of its
/// own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    calls: [AtomicU64; OPS.len()],
    errors: [AtomicU64; OPS.len()],
    hits: AtomicU64,
    misses: AtomicU64,
    decode_errors: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    breaker_rejections: AtomicU64,
    errors_absorbed: AtomicU64,
}

impl Counters {
    /// The calling thread's shard.
    fn shard(&self) -> &Shard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Relaxed) % SHARDS;
        }
        &self.shards[INDEX.with(|i| *i)]
    }

    pub(crate) fn call(&self, op: Op) {
        self.shard().calls[op as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn error(&self, op: Op) {
        self.shard().errors[op as usize].fetch_add(1, Relaxed);
    }
    pub(crate) fn hit(&self, bytes: usize) {
        let shard = self.shard();
        shard.hits.fetch_add(1, Relaxed);
        shard.bytes_read.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn miss(&self) {
        self.shard().misses.fetch_add(1, Relaxed);
    }
    pub(crate) fn decode_error(&self) {
        self.shard().decode_errors.fetch_add(1, Relaxed);
    }
    pub(crate) fn written(&self, bytes: usize) {
        self.shard().bytes_written.fetch_add(bytes as u64, Relaxed);
    }
    pub(crate) fn breaker_rejection(&self) {
        self.shard().breaker_rejections.fetch_add(1, Relaxed);
    }
    pub(crate) fn absorbed(&self) {
        self.shard().errors_absorbed.fetch_add(1, Relaxed);
    }

    /// The sum over the shards of `field`.
    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| field(shard).load(Relaxed))
            .fold(0, u64::wrapping_add)
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

    #[test]
    fn a_snapshot_adds_up_the_counts_of_every_thread() {
        let counters = Counters::default();
        // More threads than shards, so that some share one.
        std::thread::scope(|s| {
            for _ in 0..(SHARDS * 2 + 3) {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counters.call(Op::Get);
                        counters.hit(10);
                    }
                    counters.error(Op::Set);
                    counters.written(7);
                });
            }
        });
        let threads = (SHARDS * 2 + 3) as u64;
        let stats = counters.snapshot();
        assert_eq!(stats.ops["get"].calls, threads * 1000);
        assert_eq!(stats.hits, threads * 1000);
        assert_eq!(stats.bytes_read, threads * 10_000);
        assert_eq!(stats.ops["set"].errors, threads);
        assert_eq!(stats.bytes_written, threads * 7);
        assert_eq!(stats.misses, 0);
    }
}
