//! The `memcached` handler through `app.cache()` against the raw `memcache` meta-protocol
//! client it is built on, on the same (freshly started, loopback) memcached server, with the
//! same keys and values, in one run.
//!
//! `cargo bench --bench memcached` (needs `memcached` installed). For each operation (`get`,
//! `set`, `get_many` of 100 keys) it runs:
//!
//! * `cement`: `app.cache()` in the default `purge = "prefix"` mode: every call also reads the
//!   namespace generation, pipelined in the same round trip, plus the key prefix and the JSON
//!   codec;
//! * `cement_handler`: the same handler called directly with bytes and ready-made wire keys:
//!   the handler's own cost, without the facade's key mapping and codec;
//! * `cement_server_purge`: `app.cache()` with `purge = "server"`: no generation, one command
//!   per key like the raw client;
//! * `raw_with_generation`: the raw client sending what the default mode must send: a read of
//!   a generation key pipelined before the key(s), in the same round trip — the floor of
//!   `purge = "prefix"`, against which `cement` and `cement_handler` are also printed;
//! * `raw_json`: the raw client as `raw_meta_client`, then serde_json into the same `String`
//!   that `cement` returns (for `set`, serde_json of the value first): what a hand-written
//!   typed call costs, printed beside the others (the ratios stay to `raw_meta_client`);
//! * `raw_meta_client`: `memcache::exp::MetaClient` with bytes in and out.
//!
//! Two more groups answer other questions, all on the same server in the same run:
//!
//! * `memcached/batch_100`: the batch forms against as many single calls, all through
//!   `app.cache()` (`purge = "prefix"`): `get_many(100)` against 100 × `get`, `set_many(100)`
//!   against 100 × `set`, `delete_many(100)` against 100 × `delete` (each delete run on 100
//!   freshly stored keys, stored outside the timing);
//! * `memcached/incr`: `app.cache().incr` in both purge modes against the raw client's
//!   `increment` (`ma <key> D1`), each on its own existing counter.
//!
//! Criterion times each of them in turn. Loopback round trips are short and, on a small or
//! virtual machine, switch between a fast and a slow mode (measured here: ~20 µs and ~60 µs,
//! depending on where the scheduler puts the server thread), so rows timed a few seconds apart
//! can differ by more than the client's cost. The bench therefore ends with a *paired*
//! comparison: the variants are interleaved in rounds (120 of 100 calls; 300 of 20
//! `get_many` calls), in a new order each round and each block after one untimed call, and the
//! median of the per-round ratios to the raw client is printed (`memcached/paired ...`); that is the figure
//! to quote. Likewise for the batch forms (`memcached/paired batch ...`: the median per-round
//! ratio of the N single calls to the one batch call) and for `incr`.

mod bench_support;
use bench_support::median;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cement::cache::Cache;
use cement::Application;
use cement_ext::testing::MemcachedServer;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use memcache::exp::{Get, MetaClient};
// The app names its handler by label only: link the crate that registers it.
use cement_ext as _;

// The app builder the memcached tests use.
#[path = "../tests/support/mod.rs"]
mod support;

const KEYS: usize = 1000;
const BATCH: usize = 100;
const VARIANTS: [&str; 6] = [
    "cement",
    "cement_handler",
    "cement_server_purge",
    "raw_with_generation",
    "raw_json",
    "raw_meta_client",
];
/// The index of `raw_with_generation` in [`VARIANTS`].
const RAW_WITH_GENERATION: usize = 3;
/// The index of `raw_json` in [`VARIANTS`].
const RAW_JSON: usize = 4;
/// The raw client's stand-in for the namespace generation key.
const RAW_GENERATION: &str = "bench_raw#~gen";

fn app(label: &str, server: &MemcachedServer, purge: &str) -> Application {
    support::memcached::app(label)
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .set("cache.memcached", "purge", purge)
        .setup()
        .expect("app setup")
}

/// One server, the two apps, the raw client, and the keys each of them uses.
struct Fixture {
    // Kept alive for the run.
    _server: MemcachedServer,
    _apps: [Application; 2],
    cement: Cache,
    cement_server: Cache,
    raw: MetaClient,
    keys: Vec<String>,
    wire_keys: Vec<String>,
    raw_keys: Vec<String>,
    value: String,
    raw_value: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        // One worker thread, so that every client talks to the same server thread (with the
        // default four, each connection lands on its own and the threads may sit in different
        // latency modes).
        let server = MemcachedServer::builder()
            .arg("-t")
            .arg("1")
            // No background LRU threads: they wake at their own times and take the CPU from
            // whichever variant is running (~8 % of the server's samples in `perf`).
            .arg("-o")
            .arg("no_lru_crawler,no_lru_maintainer")
            .start()
            .expect("memcached (apt-get install memcached)");
        let prefix_app = app("bench_mc", &server, "prefix");
        let server_app = app("bench_mcs", &server, "server");
        let cement = prefix_app.cache().clone();
        let cement_server = server_app.cache().clone();
        let raw = MetaClient::connect(server.addr()).expect("raw client");
        let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i}:profile")).collect();
        let wire_keys = keys.iter().map(|k| format!("bench_mc:{k}")).collect();
        // The raw client gets prefixed keys and the JSON bytes ready-made: both are cement's cost.
        let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench_raw:{k}")).collect();
        let value = "a cached value of about sixty-four bytes, typical of a session!".to_string();
        let raw_value = format!("\"{value}\"").into_bytes(); // the JSON text of `value`
        for (key, raw_key) in keys.iter().zip(&raw_keys) {
            cement.set(key, &value).expect("set");
            cement_server.set(key, &value).expect("set");
            raw.set(raw_key, &raw_value).send().expect("raw set");
        }
        // one counter per variant, so that every increment is of an existing counter
        cement.set(COUNTER, &0u64).expect("counter");
        cement_server.set(COUNTER, &0u64).expect("counter");
        raw.set(RAW_COUNTER, "0").send().expect("raw counter");
        raw.set(RAW_GENERATION, "12345678")
            .send()
            .expect("raw generation");
        Fixture {
            _server: server,
            _apps: [prefix_app, server_app],
            cement,
            cement_server,
            raw,
            keys,
            wire_keys,
            raw_keys,
            value,
            raw_value,
        }
    }

    /// Runs call number `i` of `op` on `variant`.
    fn call(&self, op: &str, variant: usize, i: usize) {
        let k = i % KEYS;
        let b = (i % (KEYS / BATCH)) * BATCH;
        let handler = self.cement.handler();
        match (op, variant) {
            ("get", 0) => drop(black_box(
                self.cement.get::<String>(&self.keys[k]).expect("get"),
            )),
            ("get", 1) => drop(black_box(handler.get(&self.wire_keys[k]).expect("get"))),
            ("get", 2) => drop(black_box(
                self.cement_server
                    .get::<String>(&self.keys[k])
                    .expect("get"),
            )),
            ("get", RAW_WITH_GENERATION) => {
                let gets = [Get::new(RAW_GENERATION), Get::new(&self.raw_keys[k])];
                drop(black_box(self.raw.run_many(gets).expect("raw get")));
            }
            ("get", RAW_JSON) => {
                let got = self.raw.get(&self.raw_keys[k]).send().expect("raw get");
                drop(black_box(got.value.map(|v| from_json(&v))));
            }
            ("get", _) => drop(black_box(
                self.raw.get(&self.raw_keys[k]).send().expect("raw get"),
            )),
            ("set", 0) => self.cement.set(&self.keys[k], &self.value).expect("set"),
            ("set", 1) => handler
                .set(&self.wire_keys[k], &self.raw_value, None)
                .expect("set"),
            ("set", 2) => self
                .cement_server
                .set(&self.keys[k], &self.value)
                .expect("set"),
            ("set", RAW_WITH_GENERATION) => {
                // prefix mode's store: the value, then the generation read back after it
                let ops = [
                    memcache::exp::Op::Set(memcache::exp::Set::new(
                        &self.raw_keys[k],
                        &self.raw_value,
                    )),
                    memcache::exp::Op::Get(Get::new(RAW_GENERATION)),
                ];
                drop(black_box(self.raw.run_batch(ops).expect("raw set")));
            }
            ("set", RAW_JSON) => {
                let bytes = serde_json::to_vec(&self.value).expect("json");
                drop(black_box(
                    self.raw
                        .set(&self.raw_keys[k], &bytes)
                        .send()
                        .expect("raw set"),
                ));
            }
            ("set", _) => drop(black_box(
                self.raw
                    .set(&self.raw_keys[k], &self.raw_value)
                    .send()
                    .expect("raw set"),
            )),
            (_, 0) => {
                let keys: Vec<&str> = self.keys[b..b + BATCH].iter().map(String::as_str).collect();
                drop(black_box(
                    self.cement.get_many::<String>(&keys).expect("get_many"),
                ));
            }
            (_, 1) => {
                let keys: Vec<&str> = self.wire_keys[b..b + BATCH]
                    .iter()
                    .map(String::as_str)
                    .collect();
                drop(black_box(handler.get_many(&keys).expect("get_many")));
            }
            (_, 2) => {
                let keys: Vec<&str> = self.keys[b..b + BATCH].iter().map(String::as_str).collect();
                drop(black_box(
                    self.cement_server
                        .get_many::<String>(&keys)
                        .expect("get_many"),
                ));
            }
            (_, RAW_WITH_GENERATION) => {
                let gets = std::iter::once(Get::new(RAW_GENERATION))
                    .chain(self.raw_keys[b..b + BATCH].iter().map(Get::new));
                drop(black_box(self.raw.run_many(gets).expect("raw get_many")));
            }
            (_, RAW_JSON) => {
                let gets = self.raw_keys[b..b + BATCH].iter().map(Get::new);
                let results = self.raw.run_many(gets).expect("raw get_many");
                let values: Vec<Option<String>> = results
                    .into_iter()
                    .map(|r| r.expect("raw get").value.map(|v| from_json(&v)))
                    .collect();
                drop(black_box(values));
            }
            (_, _) => {
                let gets = self.raw_keys[b..b + BATCH].iter().map(Get::new);
                drop(black_box(self.raw.run_many(gets).expect("raw get_many")));
            }
        }
    }
}

const OPS: [&str; 3] = ["get", "set", "get_many_100"];

/// What a hand-written typed read does with the raw client's value (the JSON text alone): a
/// serde_json decode into a `String`.
fn from_json(bytes: &[u8]) -> String {
    serde_json::from_slice(bytes).expect("a JSON string")
}

const COUNTER: &str = "hits";
const RAW_COUNTER: &str = "bench_raw:hits";
const INCR_VARIANTS: [&str; 3] = ["cement", "cement_server_purge", "raw_meta_client"];

/// The batch forms and what each is measured against, through `app.cache()`.
#[derive(Clone, Copy)]
enum Batch {
    Get,
    Set,
    Delete,
}

const BATCHES: [Batch; 3] = [Batch::Get, Batch::Set, Batch::Delete];

impl Batch {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Batch::Get => ("get_many", "get_x100"),
            Batch::Set => ("set_many", "set_x100"),
            Batch::Delete => ("delete_many", "delete_x100"),
        }
    }
}

impl Fixture {
    /// The keys of batch number `i` (100 of the 1000, in turn).
    fn batch_keys(&self, i: usize) -> Vec<&str> {
        let b = (i % (KEYS / BATCH)) * BATCH;
        self.keys[b..b + BATCH].iter().map(String::as_str).collect()
    }

    /// Makes sure every key of batch `i` is stored (before timing deletes).
    fn refill(&self, i: usize) {
        let entries: Vec<(&str, &str)> = self
            .batch_keys(i)
            .into_iter()
            .map(|k| (k, self.value.as_str()))
            .collect();
        self.cement.set_many(&entries).expect("refill");
    }

    /// The batch form of `op` on batch `i`: one call.
    fn batch(&self, op: Batch, i: usize) {
        let keys = self.batch_keys(i);
        match op {
            Batch::Get => drop(black_box(
                self.cement.get_many::<String>(&keys).expect("get_many"),
            )),
            Batch::Set => {
                let entries: Vec<(&str, &str)> =
                    keys.iter().map(|k| (*k, self.value.as_str())).collect();
                self.cement.set_many(&entries).expect("set_many");
            }
            Batch::Delete => drop(black_box(
                self.cement.delete_many(&keys).expect("delete_many"),
            )),
        }
    }

    /// `op` on batch `i` as 100 single calls.
    fn singles(&self, op: Batch, i: usize) {
        for key in self.batch_keys(i) {
            match op {
                Batch::Get => drop(black_box(self.cement.get::<String>(key).expect("get"))),
                Batch::Set => self.cement.set(key, &self.value).expect("set"),
                Batch::Delete => drop(black_box(self.cement.delete(key).expect("delete"))),
            }
        }
    }

    /// One increment through variant `variant` of [`INCR_VARIANTS`].
    fn incr(&self, variant: usize) {
        let value = match variant {
            0 => self.cement.incr(COUNTER, 1).expect("incr"),
            1 => self.cement_server.incr(COUNTER, 1).expect("incr"),
            _ => self
                .raw
                .increment(RAW_COUNTER)
                .send()
                .expect("raw increment")
                .value
                .unwrap_or(0),
        };
        black_box(value);
    }
}

fn bench_batches(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("memcached/batch_100");
    for op in BATCHES {
        let (batch, singles) = op.names();
        let needs_refill = matches!(op, Batch::Delete);
        group.bench_function(batch, |b| {
            let mut i = 0;
            b.iter_batched(
                || {
                    i += 1;
                    if needs_refill {
                        fixture.refill(i);
                    }
                    i
                },
                |i| fixture.batch(op, i),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(singles, |b| {
            let mut i = 0;
            b.iter_batched(
                || {
                    i += 1;
                    if needs_refill {
                        fixture.refill(i);
                    }
                    i
                },
                |i| fixture.singles(op, i),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn bench_incr(c: &mut Criterion, fixture: &Fixture) {
    let mut group = c.benchmark_group("memcached/incr");
    for (variant, name) in INCR_VARIANTS.iter().enumerate() {
        group.bench_function(*name, |b| b.iter(|| fixture.incr(variant)));
    }
    group.finish();
}

/// Interleaved rounds of each batch call and its 100 single calls; prints the median of the
/// per-round ratios (singles / batch) and the median times.
fn paired_batches(fixture: &Fixture) {
    const ROUNDS: usize = 60;
    for op in BATCHES {
        let (batch_name, singles_name) = op.names();
        let (mut ratios, mut batch_times, mut singles_times) = (vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            let mut times = [0.0f64; 2];
            for slot in 0..2 {
                // Alternate which form runs first.
                let which = (slot + round) % 2;
                if matches!(op, Batch::Delete) {
                    fixture.refill(round);
                }
                let started = Instant::now();
                if which == 0 {
                    fixture.batch(op, round);
                } else {
                    fixture.singles(op, round);
                }
                times[which] = started.elapsed().as_secs_f64();
            }
            ratios.push(times[1] / times[0]);
            batch_times.push(times[0]);
            singles_times.push(times[1]);
        }
        println!(
            "memcached/paired batch {batch_name}(100) vs 100 x {}: {:.1}x faster (median of {ROUNDS} rounds: {batch_name} {:.0} µs, {singles_name} {:.0} µs)",
            singles_name.trim_end_matches("_x100"),
            median(&mut ratios),
            median(&mut batch_times) * 1e6,
            median(&mut singles_times) * 1e6,
        );
    }
}

/// Interleaved rounds of 100 increments per variant; prints the median per-round ratio to the
/// raw client and the median time per call.
fn paired_incr(fixture: &Fixture) {
    const ROUNDS: usize = 100;
    const CALLS: usize = 100;
    let mut ratios = vec![Vec::with_capacity(ROUNDS); INCR_VARIANTS.len()];
    let mut times = vec![Vec::with_capacity(ROUNDS); INCR_VARIANTS.len()];
    for round in 0..ROUNDS {
        let mut per_call = [0.0f64; INCR_VARIANTS.len()];
        for variant in bench_support::order(round, INCR_VARIANTS.len()) {
            fixture.incr(variant); // untimed: the variant before used another connection
            let started = Instant::now();
            for _ in 0..CALLS {
                fixture.incr(variant);
            }
            per_call[variant] = started.elapsed().as_secs_f64() / CALLS as f64;
        }
        let raw = per_call[INCR_VARIANTS.len() - 1];
        for (variant, time) in per_call.iter().enumerate() {
            ratios[variant].push(time / raw);
            times[variant].push(*time);
        }
    }
    let summary: Vec<String> = INCR_VARIANTS
        .iter()
        .zip(ratios.iter_mut().zip(times.iter_mut()))
        .map(|(name, (r, t))| format!("{name} {:.3} ({:.1} µs/call)", median(r), median(t) * 1e6))
        .collect();
    println!(
        "memcached/paired incr: ratio to raw_meta_client: {}",
        summary.join(", ")
    );
}

fn bench(c: &mut Criterion) {
    let fixture = Fixture::new();
    for op in OPS {
        let mut group = c.benchmark_group(format!("memcached/{op}"));
        for (variant, name) in VARIANTS.iter().enumerate() {
            group.bench_function(*name, |b| {
                let mut i = 0;
                b.iter(|| {
                    i += 1;
                    fixture.call(op, variant, i);
                })
            });
        }
        group.finish();
    }
    bench_batches(c, &fixture);
    bench_incr(c, &fixture);
    paired(&fixture);
    paired_batches(&fixture);
    paired_incr(&fixture);
}

/// Interleaved rounds; prints the median per-round ratio of each variant to the raw client.
fn paired(fixture: &Fixture) {
    for op in OPS {
        // A batch round is short (20 calls) and the figure is close to its target: more of
        // them, for a steadier median.
        let (rounds, calls) = if op == "get_many_100" {
            (300, 20)
        } else {
            (120, 100)
        };
        let mut ratios = vec![Vec::with_capacity(rounds); VARIANTS.len()];
        // cement and cement_handler against the prefix mode's floor
        let mut to_floor = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
        let mut i = 0;
        for round in 0..rounds {
            let mut per_call = [0.0f64; VARIANTS.len()];
            // A new order every round, so that no variant always follows the same one, and
            // one untimed call before each timed block: a variant right after one on its own
            // connection would otherwise run warm (see `bench_support::order`).
            for variant in bench_support::order(round, VARIANTS.len()) {
                i += 1;
                fixture.call(op, variant, i);
                let started = Instant::now();
                for _ in 0..calls {
                    i += 1;
                    fixture.call(op, variant, i);
                }
                per_call[variant] = started.elapsed().as_secs_f64() / calls as f64;
            }
            let raw = per_call[VARIANTS.len() - 1];
            for (variant, time) in per_call.iter().enumerate() {
                ratios[variant].push(time / raw);
            }
            for (variant, r) in to_floor.iter_mut().enumerate() {
                r.push(per_call[variant] / per_call[RAW_WITH_GENERATION]);
            }
        }
        let summary: Vec<String> = VARIANTS[..VARIANTS.len() - 1]
            .iter()
            .zip(&mut ratios)
            .map(|(name, r)| format!("{name} {:.3}", median(r)))
            .collect();
        println!(
            "memcached/paired {op}: ratio to raw_meta_client: {}",
            summary.join(", ")
        );
        println!(
            "memcached/paired {op}: ratio to raw_with_generation (the prefix mode's floor): cement {:.3}, cement_handler {:.3}",
            median(&mut to_floor[0]),
            median(&mut to_floor[1])
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
