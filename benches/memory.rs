//! The embedded `memory` handler through `app.cache()` against the raw `moka` cache it is built
//! on, with the same keys and values, in one run; plus the setup time of a minimal app.
//!
//! `cargo bench --bench memory`. Criterion prints each variant's time per operation; the
//! framework's extra work is the key prefix and the serde codec. After the criterion groups,
//! the decisive comparison: the same variants interleaved (rotating order, many rounds; see
//! `bench_support::interleave`), printing the median per-round ratio of `cement`'s ops/s to
//! each variant's. Skipped under `--test` / `--list`.

mod bench_support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cement::App;
use criterion::{criterion_group, BatchSize, Criterion};

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

/// The app's cache and the raw moka caches, holding the same 1000 entries.
struct Fixture {
    keys: Vec<String>,
    /// The keys with the app's prefix, ready-made: the prefix is part of cement's cost.
    raw_keys: Vec<String>,
    value: String,
    app: cement::Application,
    /// moka holding the value as a `String`.
    raw: moka::sync::Cache<String, String>,
    /// What a user would hand-write: moka holding serde_json bytes of the value.
    raw_json: moka::sync::Cache<String, Arc<[u8]>>,
    /// moka holding the value's bytes, no codec at all.
    raw_bytes: moka::sync::Cache<String, Arc<[u8]>>,
}

impl Fixture {
    fn new() -> Self {
        let keys = keys();
        let value = value();
        let app = BenchApp::setup().expect("setup");
        let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench:{k}")).collect();
        let f = Fixture {
            raw: moka::sync::Cache::builder().max_capacity(10_000).build(),
            raw_json: moka::sync::Cache::builder().max_capacity(10_000).build(),
            raw_bytes: moka::sync::Cache::builder().max_capacity(10_000).build(),
            keys,
            raw_keys,
            value,
            app,
        };
        for (key, raw_key) in f.keys.iter().zip(&f.raw_keys) {
            f.app.cache().set(key, &f.value).expect("set");
            f.raw.insert(raw_key.clone(), f.value.clone());
            f.raw_json.insert(raw_key.clone(), json(&f.value));
            f.raw_bytes
                .insert(raw_key.clone(), Arc::from(f.value.as_bytes()));
        }
        f
    }

    /// Each `get` variant: one call on the next key in turn.
    fn gets(&self) -> Vec<bench_support::Call<'_>> {
        let cache = self.app.cache();
        let handler = cache.handler();
        let (keys, raw_keys) = (&self.keys, &self.raw_keys);
        let next = || {
            let mut i = 0;
            move || {
                i = (i + 1) % KEYS;
                i
            }
        };
        let (mut a, mut b, mut c, mut d, mut e) = (next(), next(), next(), next(), next());
        vec![
            (
                "cement",
                Box::new(move || {
                    black_box(cache.get::<String>(&keys[a()]).expect("get"));
                }),
            ),
            (
                "raw_moka_json",
                Box::new(move || {
                    black_box(
                        self.raw_json
                            .get(&raw_keys[b()])
                            .map(|bytes| serde_json::from_slice::<String>(&bytes).expect("json")),
                    );
                }),
            ),
            (
                "raw_moka_bytes",
                Box::new(move || {
                    black_box(self.raw_bytes.get(&raw_keys[c()]));
                }),
            ),
            (
                "raw_moka",
                Box::new(move || {
                    black_box(self.raw.get(&raw_keys[d()]));
                }),
            ),
            // The handler alone (moka with per-entry expiry), with the wire key and serde_json:
            // what the facade adds is the difference to `cement`.
            (
                "handler_json",
                Box::new(move || {
                    let mut out = None;
                    handler
                        .get_with(&raw_keys[e()], &mut |bytes| {
                            out = Some(serde_json::from_slice::<String>(&bytes[3..]).expect("json"))
                        })
                        .expect("get");
                    black_box(out);
                }),
            ),
        ]
    }

    /// Each `set` variant: one call on the next key in turn.
    fn sets(&self) -> Vec<bench_support::Call<'_>> {
        let cache = self.app.cache();
        let (keys, raw_keys, value) = (&self.keys, &self.raw_keys, &self.value);
        let next = || {
            let mut i = 0;
            move || {
                i = (i + 1) % KEYS;
                i
            }
        };
        let (mut a, mut b, mut c, mut d) = (next(), next(), next(), next());
        vec![
            (
                "cement",
                Box::new(move || cache.set(&keys[a()], value).expect("set")),
            ),
            (
                "raw_moka_json",
                Box::new(move || self.raw_json.insert(raw_keys[b()].clone(), json(value))),
            ),
            (
                "raw_moka_bytes",
                Box::new(move || {
                    self.raw_bytes
                        .insert(raw_keys[c()].clone(), Arc::from(value.as_bytes()))
                }),
            ),
            (
                "raw_moka",
                Box::new(move || self.raw.insert(raw_keys[d()].clone(), value.clone())),
            ),
        ]
    }
}

fn get_set(c: &mut Criterion) {
    let f = Fixture::new();
    for (op, variants) in [("get", f.gets()), ("set", f.sets())] {
        let mut group = c.benchmark_group(format!("memory/{op}"));
        for (label, mut call) in variants {
            group.bench_function(label, |b| b.iter(&mut call));
        }
        group.finish();
    }
}

const ROUNDS: usize = 300;
const BATCH: usize = 1000;

/// A `quick_cache` entry as a memory handler on it would hold one: the bytes and the deadline
/// (quick_cache has no expiry of its own, so a read checks it).
#[derive(Clone)]
struct QuickEntry {
    value: Arc<[u8]>,
    expires: Option<std::time::Instant>,
}

/// The memory handler's weigher on `quick_cache`: bytes of key and value, at least `floor`
/// (so that `max_size` and `max_entries` both hold).
#[derive(Clone)]
struct QuickWeigher {
    floor: u64,
}

impl quick_cache::Weighter<String, QuickEntry> for QuickWeigher {
    fn weight(&self, key: &String, entry: &QuickEntry) -> u64 {
        ((key.len() + entry.value.len()) as u64).max(self.floor)
    }
}

/// "Beyond moka": the stores alone, with the wire keys and the stored bytes (no facade, no
/// codec): moka as the memory handler builds it (per-entry expiry, weigher), moka with
/// quick_cache's hasher (foldhash) to tell the hash function from the rest, and quick_cache
/// with the deadline checked on read and the same weigher, holding the same entries.
fn stores() {
    type Moka<S> = moka::sync::Cache<String, Arc<[u8]>, S>;
    let f = Fixture::new();
    let handler = f.app.cache().handler();
    let bytes: Arc<[u8]> = json(&f.value);
    let enveloped: Vec<u8> = {
        let mut v = vec![0xCE, 1, 1];
        v.extend_from_slice(&bytes);
        v
    };
    let moka_fold: Moka<quick_cache::DefaultHashBuilder> = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .build_with_hasher(quick_cache::DefaultHashBuilder::default());
    let max_size: u64 = 64 << 20;
    let quick: quick_cache::sync::Cache<String, QuickEntry, QuickWeigher> =
        quick_cache::sync::Cache::with_weighter(
            10_000,
            max_size,
            QuickWeigher {
                floor: max_size / 10_000,
            },
        );
    for key in &f.raw_keys {
        moka_fold.insert(key.clone(), Arc::clone(&bytes));
        quick.insert(
            key.clone(),
            QuickEntry {
                value: Arc::clone(&bytes),
                expires: None,
            },
        );
    }
    let keys = &f.raw_keys;
    let next = || {
        let mut i = 0;
        move || {
            i = (i + 1) % KEYS;
            i
        }
    };
    let quick_get = |key: &str| {
        quick.get(key).and_then(|entry| match entry.expires {
            Some(at) if at <= std::time::Instant::now() => None,
            _ => Some(entry.value),
        })
    };
    let (mut a, mut b, mut c, mut d) = (next(), next(), next(), next());
    bench_support::interleave(
        "get",
        ROUNDS,
        BATCH,
        &mut [
            (
                "quick_cache",
                Box::new(|| {
                    black_box(quick_get(&keys[a()]));
                }),
            ),
            (
                "raw_moka_bytes",
                Box::new(|| {
                    black_box(f.raw_bytes.get(&keys[b()]));
                }),
            ),
            (
                "moka_foldhash",
                Box::new(|| {
                    black_box(moka_fold.get(&keys[c()]));
                }),
            ),
            (
                "memory_handler",
                Box::new(|| {
                    black_box(handler.get_with(&keys[d()], &mut |b| {
                        black_box(b);
                    }))
                    .expect("get");
                }),
            ),
        ],
    );
    let (mut a, mut b, mut c, mut d) = (next(), next(), next(), next());
    bench_support::interleave(
        "set",
        ROUNDS,
        BATCH,
        &mut [
            (
                "quick_cache",
                Box::new(|| {
                    quick.insert(
                        keys[a()].clone(),
                        QuickEntry {
                            value: Arc::from(&enveloped[..]),
                            expires: None,
                        },
                    )
                }),
            ),
            (
                "raw_moka_bytes",
                Box::new(|| {
                    f.raw_bytes
                        .insert(keys[b()].clone(), Arc::from(&enveloped[..]))
                }),
            ),
            (
                "moka_foldhash",
                Box::new(|| moka_fold.insert(keys[c()].clone(), Arc::from(&enveloped[..]))),
            ),
            (
                "memory_handler",
                Box::new(|| handler.set(&keys[d()], &enveloped, None).expect("set")),
            ),
        ],
    );
}

/// The decisive comparison: every variant interleaved with the others.
fn interleaved() {
    let f = Fixture::new();
    println!(
        "\nmemory/interleaved ({ROUNDS} rounds of {BATCH} calls): median ns per call, and in \
         brackets the median per-round ratio cement ops/s ÷ that variant's ops/s"
    );
    bench_support::interleave("get", ROUNDS, BATCH, &mut f.gets());
    bench_support::interleave("set", ROUNDS, BATCH, &mut f.sets());
    println!(
        "\nmemory/stores, interleaved: the stores alone (bytes, wire keys); in brackets \
         quick_cache's ops/s ÷ that store's"
    );
    stores();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = setup_time, get_set
}
fn main() {
    bench_support::main(benches, &[interleaved]);
}
