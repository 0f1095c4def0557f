//! The embedded `memory` handler through `app.cache()` (on quick_cache, its default store)
//! against raw `moka` and raw `quick_cache` doing the same work by hand, with the same keys and
//! values, in one run; plus the setup time of a minimal app.
//!
//! `cargo bench --bench memory`. Criterion prints each variant's time per operation; the
//! framework's extra work is the key prefix and the serde codec. After the criterion groups, the
//! decisive comparison: the same variants interleaved (a new order every round, many rounds; see
//! `bench_support::interleave`), printing the median per-round ratio of `cement`'s ops/s to
//! each variant's. Skipped under `--test` / `--list`.

mod bench_support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cement::cache::CacheHandler;
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
    /// The same hand-written work on quick_cache as a user would set it up (its defaults).
    raw_quick_json: quick_cache::sync::Cache<String, Arc<[u8]>>,
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
            raw_quick_json: quick_cache::sync::Cache::new(10_000),
            keys,
            raw_keys,
            value,
            app,
        };
        for (key, raw_key) in f.keys.iter().zip(&f.raw_keys) {
            f.app.cache().set(key, &f.value).expect("set");
            f.raw.insert(raw_key.clone(), f.value.clone());
            f.raw_json.insert(raw_key.clone(), json(&f.value));
            f.raw_quick_json.insert(raw_key.clone(), json(&f.value));
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
        let (mut a, mut b, mut c, mut d, mut e, mut g) =
            (next(), next(), next(), next(), next(), next());
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
            (
                "raw_quick_json",
                Box::new(move || {
                    black_box(
                        self.raw_quick_json
                            .get(&raw_keys[g()])
                            .map(|bytes| serde_json::from_slice::<String>(&bytes).expect("json")),
                    );
                }),
            ),
            // The handler alone (quick_cache, deadline checked on read), with the wire key and
            // serde_json: what the facade adds is the difference to `cement`.
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
        let (mut a, mut b, mut c, mut d, mut e) = (next(), next(), next(), next(), next());
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
            (
                "raw_quick_json",
                Box::new(move || {
                    self.raw_quick_json
                        .insert(raw_keys[e()].clone(), json(value))
                }),
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

/// A `quick_cache` entry as the memory handler holds one: the bytes and the deadline
/// (quick_cache has no expiry of its own, so a read checks it).
#[derive(Clone)]
struct QuickEntry {
    value: Arc<[u8]>,
    expires: Option<std::time::Instant>,
}

/// The memory handler's weigher: bytes of key and value, at least `floor` (so that `max_size`
/// and `max_entries` both hold).
#[derive(Clone)]
struct QuickWeigher {
    floor: u64,
}

impl quick_cache::Weighter<String, QuickEntry> for QuickWeigher {
    fn weight(&self, key: &String, entry: &QuickEntry) -> u64 {
        ((key.len() + entry.value.len()) as u64).max(self.floor)
    }
}

type Quick<S> = quick_cache::sync::Cache<String, QuickEntry, QuickWeigher, S>;

/// quick_cache as the memory handler sets it up, hashing with `S`.
fn quick_store<S: std::hash::BuildHasher + Clone>(hasher: S) -> Quick<S> {
    let max_size: u64 = 64 << 20;
    let options = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(10_000)
        .weight_capacity(max_size)
        .shards(16)
        .build()
        .expect("options");
    Quick::with_options(
        options,
        QuickWeigher {
            floor: max_size / 10_000,
        },
        hasher,
        Default::default(),
    )
}

/// "Beyond moka": the stores alone, with the wire keys and the stored bytes (no facade, no
/// codec): the memory handler (quick_cache, its default); quick_cache set up as the handler
/// sets it up, by hand, with std's SipHash (the handler's choice) and with quick_cache's
/// default foldhash (the hasher decision); raw moka; and the handler on moka
/// (`eviction = "tinylfu"`), holding the same entries.
fn stores() {
    let f = Fixture::new();
    let handler = f.app.cache().handler();
    let tinylfu = cement::cache::MemoryCacheHandler::with_limits(
        10_000,
        None,
        cement::cache::Eviction::TinyLfu,
    );
    let bytes: Arc<[u8]> = json(&f.value);
    let enveloped: Vec<u8> = {
        let mut v = vec![0xCE, 1, 1];
        v.extend_from_slice(&bytes);
        v
    };
    let sip = quick_store(std::hash::RandomState::new());
    let fold = quick_store(quick_cache::DefaultHashBuilder::default());
    for key in &f.raw_keys {
        let entry = QuickEntry {
            value: Arc::clone(&bytes),
            expires: None,
        };
        sip.insert(key.clone(), entry.clone());
        fold.insert(key.clone(), entry);
        tinylfu.set(key, &enveloped, None).expect("set");
    }
    let keys = &f.raw_keys;
    let next = || {
        let mut i = 0;
        move || {
            i = (i + 1) % KEYS;
            i
        }
    };
    fn get<S: std::hash::BuildHasher + Clone>(store: &Quick<S>, key: &str) -> Option<Arc<[u8]>> {
        store.get(key).and_then(|entry| match entry.expires {
            Some(at) if at <= std::time::Instant::now() => None,
            _ => Some(entry.value),
        })
    }
    let entry = || QuickEntry {
        value: Arc::from(&enveloped[..]),
        expires: None,
    };
    let (mut a, mut b, mut c, mut d, mut e) = (next(), next(), next(), next(), next());
    bench_support::interleave(
        "get",
        ROUNDS,
        BATCH,
        &mut [
            (
                "memory_handler",
                Box::new(|| {
                    black_box(handler.get_with(&keys[a()], &mut |b| {
                        black_box(b);
                    }))
                    .expect("get");
                }),
            ),
            (
                "quick_siphash",
                Box::new(|| {
                    black_box(get(&sip, &keys[b()]));
                }),
            ),
            (
                "quick_foldhash",
                Box::new(|| {
                    black_box(get(&fold, &keys[c()]));
                }),
            ),
            (
                "raw_moka_bytes",
                Box::new(|| {
                    black_box(f.raw_bytes.get(&keys[d()]));
                }),
            ),
            (
                "handler_tinylfu",
                Box::new(|| {
                    black_box(tinylfu.get_with(&keys[e()], &mut |b| {
                        black_box(b);
                    }))
                    .expect("get");
                }),
            ),
        ],
    );
    let (mut a, mut b, mut c, mut d, mut e) = (next(), next(), next(), next(), next());
    bench_support::interleave(
        "set",
        ROUNDS,
        BATCH,
        &mut [
            (
                "memory_handler",
                Box::new(|| handler.set(&keys[a()], &enveloped, None).expect("set")),
            ),
            (
                "quick_siphash",
                Box::new(|| sip.insert(keys[b()].clone(), entry())),
            ),
            (
                "quick_foldhash",
                Box::new(|| fold.insert(keys[c()].clone(), entry())),
            ),
            (
                "raw_moka_bytes",
                Box::new(|| {
                    f.raw_bytes
                        .insert(keys[d()].clone(), Arc::from(&enveloped[..]))
                }),
            ),
            (
                "handler_tinylfu",
                Box::new(|| tinylfu.set(&keys[e()], &enveloped, None).expect("set")),
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
         the memory handler's ops/s ÷ that store's"
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
