//! `#[cement::cached]` on a hit against the same function wrapped by hand in `get` + `set`, on
//! the same `memory` cache, key and value, in one run.
//!
//! `cargo bench --bench cached`. The readable-key pair (`key = "rate:{from}:{to}"` against a
//! hand-written `format!` of that key) measures the attribute itself; the digest row adds the
//! default key's cost (JSON of the arguments, SHA-256), which a hand-written key does not pay.
//!
//! After the criterion group, the decisive comparison: the three variants interleaved (a new order
//! every round, many rounds; `bench_support::interleave`), printing each one's median time per call
//! and the median per-round ratio of its time to the hand-written one's. Skipped under `--test` /
//! `--list`.

mod bench_support;

use std::hint::black_box;

use cement::cache::{Cache, MemoryCacheHandler};
use criterion::{criterion_group, Criterion};

/// The "expensive" function: the same body under every variant.
fn compute(from: &str, to: &str) -> f64 {
    (from.len() * 100 + to.len()) as f64 / 3.0
}

#[cement::cached(key = "rate:{from}:{to}")]
fn rate_readable(cache: &Cache, from: &str, to: &str) -> f64 {
    compute(from, to)
}

#[cement::cached]
fn rate_digest(cache: &Cache, from: &str, to: &str) -> f64 {
    compute(from, to)
}

/// What users write without the attribute.
fn rate_by_hand(cache: &Cache, from: &str, to: &str) -> cement::Result<f64> {
    let key = format!("rate:{from}:{to}");
    if let Some(rate) = cache.get::<f64>(&key)? {
        return Ok(rate);
    }
    let rate = compute(from, to);
    cache.set(&key, &rate)?;
    Ok(rate)
}

/// A memory cache with every variant's key warm.
fn warm_cache() -> Cache {
    let cache = Cache::new(
        "memory",
        Box::new(MemoryCacheHandler::new(1000)),
        "b:",
        None,
    );
    // Warm every variant's key.
    let expected = compute("EUR", "USD");
    assert_eq!(rate_readable(&cache, "EUR", "USD"), expected);
    assert_eq!(rate_digest(&cache, "EUR", "USD"), expected);
    assert_eq!(rate_by_hand(&cache, "EUR", "USD").unwrap(), expected);
    cache
}

fn hit(c: &mut Criterion) {
    let cache = warm_cache();
    let mut group = c.benchmark_group("cached/hit");
    group.bench_function("by_hand_get_set", |b| {
        b.iter(|| black_box(rate_by_hand(&cache, black_box("EUR"), black_box("USD")).unwrap()))
    });
    group.bench_function("cached_readable_key", |b| {
        b.iter(|| black_box(rate_readable(&cache, black_box("EUR"), black_box("USD"))))
    });
    group.bench_function("cached_default_key", |b| {
        b.iter(|| black_box(rate_digest(&cache, black_box("EUR"), black_box("USD"))))
    });
    group.finish();
}

const ROUNDS: usize = 300;
const BATCH: usize = 1000;

/// The decisive comparison: the three variants interleaved.
fn interleaved() {
    let cache = warm_cache();
    println!(
        "\ncached/interleaved ({ROUNDS} rounds of {BATCH} calls, every key warm): median ns per \
         call, and in brackets the median per-round ratio of its time to by_hand_get_set's"
    );
    bench_support::interleave(
        "hit",
        ROUNDS,
        BATCH,
        &mut [
            (
                "by_hand_get_set",
                Box::new(|| {
                    black_box(rate_by_hand(&cache, black_box("EUR"), black_box("USD")).unwrap());
                }),
            ),
            (
                "cached_readable_key",
                Box::new(|| {
                    black_box(rate_readable(&cache, black_box("EUR"), black_box("USD")));
                }),
            ),
            (
                "cached_default_key",
                Box::new(|| {
                    black_box(rate_digest(&cache, black_box("EUR"), black_box("USD")));
                }),
            ),
        ],
    );
}

criterion_group!(benches, hit);
fn main() {
    bench_support::main(benches, &[interleaved]);
}
