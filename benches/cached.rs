//! `#[cement::cached]` on a hit against the same function wrapped by hand in `get` + `set`, on
//! the same `memory` cache, key and value, in one run.
//!
//! `cargo bench --bench cached`. The readable-key pair (`key = "rate:{from}:{to}"` against a
//! hand-written `format!` of that key) measures the attribute itself; the digest row adds the
//! default key's cost (JSON of the arguments, SHA-256), which a hand-written key does not pay.

use std::hint::black_box;

use cement::cache::{Cache, MemoryCacheHandler};
use criterion::{criterion_group, criterion_main, Criterion};

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

fn hit(c: &mut Criterion) {
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

criterion_group!(benches, hit);
criterion_main!(benches);
