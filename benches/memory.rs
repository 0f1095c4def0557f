//! The embedded `memory` handler through `app.cache()` against the raw `moka` cache it is built
//! on, with the same keys and values, in one run; plus the setup time of a minimal app.
//!
//! `cargo bench --bench memory`. Criterion prints each pair's time per operation; the
//! framework's extra work is the key prefix and the serde codec.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cement::App;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

#[derive(App)]
#[app(label = "bench")]
struct BenchApp;

const KEYS: usize = 1000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i}:profile")).collect()
}

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

fn json(value: &str) -> Arc<[u8]> {
    Arc::from(serde_json::to_vec(value).expect("json"))
}

fn setup_time(c: &mut Criterion) {
    c.bench_function("setup/minimal_app", |b| {
        b.iter_batched(
            || BenchApp::builder().default_config_files(false),
            |builder| black_box(builder.setup()),
            BatchSize::SmallInput,
        )
    });
}

fn get_set(c: &mut Criterion) {
    let keys = keys();
    let value = value();

    let app = BenchApp::setup().expect("setup");
    let cache = app.cache();
    // The raw cache gets the prefixed keys ready-made: the prefix is part of cement's cost.
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench:{k}")).collect();
    let raw: moka::sync::Cache<String, String> =
        moka::sync::Cache::builder().max_capacity(10_000).build();
    // What a user would hand-write: moka holding serde_json bytes of the value.
    let raw_json: moka::sync::Cache<String, Arc<[u8]>> =
        moka::sync::Cache::builder().max_capacity(10_000).build();
    // moka holding the value's bytes, no codec at all.
    let raw_bytes: moka::sync::Cache<String, Arc<[u8]>> =
        moka::sync::Cache::builder().max_capacity(10_000).build();
    for (key, raw_key) in keys.iter().zip(&raw_keys) {
        cache.set(key, &value).expect("set");
        raw.insert(raw_key.clone(), value.clone());
        raw_json.insert(raw_key.clone(), json(&value));
        raw_bytes.insert(raw_key.clone(), Arc::from(value.as_bytes()));
    }

    let mut group = c.benchmark_group("memory/get");
    group.bench_function("cement", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(cache.get::<String>(&keys[i]).expect("get"))
        })
    });
    group.bench_function("raw_moka", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(raw.get(&raw_keys[i]))
        })
    });
    group.bench_function("raw_moka_json", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(
                raw_json
                    .get(&raw_keys[i])
                    .map(|bytes| serde_json::from_slice::<String>(&bytes).expect("json")),
            )
        })
    });
    group.bench_function("raw_moka_bytes", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(raw_bytes.get(&raw_keys[i]))
        })
    });
    // The handler alone (moka with per-entry expiry), with the wire key and serde_json: what
    // the facade adds is the difference to `cement`.
    let handler = cache.handler();
    group.bench_function("handler_json", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            let mut out = None;
            handler
                .get_with(&raw_keys[i], &mut |bytes| {
                    out = Some(serde_json::from_slice::<String>(&bytes[3..]).expect("json"))
                })
                .expect("get");
            black_box(out)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("memory/set");
    group.bench_function("cement", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            cache.set(&keys[i], &value).expect("set")
        })
    });
    group.bench_function("raw_moka", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            raw.insert(raw_keys[i].clone(), value.clone())
        })
    });
    group.bench_function("raw_moka_json", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            raw_json.insert(raw_keys[i].clone(), json(&value))
        })
    });
    group.bench_function("raw_moka_bytes", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            raw_bytes.insert(raw_keys[i].clone(), Arc::from(value.as_bytes()))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = setup_time, get_set
}
criterion_main!(benches);
