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
//! * `raw_meta_client`: `memcache::exp::MetaClient` with bytes in and out.
//!
//! Criterion times each of them in turn. Loopback round trips are short and, on a small or
//! virtual machine, switch between a fast and a slow mode (measured here: ~20 µs and ~60 µs,
//! depending on where the scheduler puts the server thread), so rows timed a few seconds apart
//! can differ by more than the client's cost. The bench therefore ends with a *paired*
//! comparison: the variants are interleaved in rounds of 100 calls and the median of the
//! per-round ratios to the raw client is printed (`memcached/paired ...`); that is the figure
//! to quote.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cement::cache::Cache;
use cement::testing::server::MemcachedServer;
use cement::{Application, Builder, Meta};
use criterion::{criterion_group, criterion_main, Criterion};
use memcache::exp::{Get, MetaClient};
// The app names its handler by label only: link the crate that registers it.
use cement_ext as _;

const KEYS: usize = 1000;
const BATCH: usize = 100;
const VARIANTS: [&str; 4] = [
    "cement",
    "cement_handler",
    "cement_server_purge",
    "raw_meta_client",
];

fn app(label: &str, server: &MemcachedServer, purge: &str) -> Application {
    Builder::new(
        Meta::new(label)
            .extensions(["memcached"])
            .cache_handler("memcached")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
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
            (_, _) => {
                let gets = self.raw_keys[b..b + BATCH].iter().map(Get::new);
                drop(black_box(self.raw.run_many(gets).expect("raw get_many")));
            }
        }
    }
}

const OPS: [&str; 3] = ["get", "set", "get_many_100"];

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
    paired(&fixture);
}

/// Interleaved rounds; prints the median per-round ratio of each variant to the raw client.
fn paired(fixture: &Fixture) {
    const ROUNDS: usize = 120;
    for op in OPS {
        let calls = if op == "get_many_100" { 20 } else { 100 };
        let mut ratios = vec![Vec::with_capacity(ROUNDS); VARIANTS.len()];
        let mut i = 0;
        for round in 0..ROUNDS {
            let mut per_call = [0.0f64; VARIANTS.len()];
            for slot in 0..VARIANTS.len() {
                // Rotate the order so that no variant always runs first.
                let variant = (slot + round) % VARIANTS.len();
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
        }
        let summary: Vec<String> = VARIANTS[..VARIANTS.len() - 1]
            .iter()
            .zip(&mut ratios)
            .map(|(name, r)| {
                r.sort_by(f64::total_cmp);
                format!("{name} {:.3}", r[r.len() / 2])
            })
            .collect();
        println!(
            "memcached/paired {op}: ratio to raw_meta_client: {}",
            summary.join(", ")
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
