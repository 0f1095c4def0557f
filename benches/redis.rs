//! The redis handler against the raw `redis` client it is built on, on the same server, in the
//! same run: `GET`, `SET` and `MGET` of 100 keys.
//!
//! `cargo bench --bench redis` (needs `redis-server`; the bench starts its own on a free
//! loopback port). Each group has three lines:
//!
//! * `raw`: one `redis::Connection`, the command sent by hand with the wire key and the encoded
//!   value ready-made: what the handler saves you from writing;
//! * `handler`: `RedisCacheHandler` through the byte-level `CacheHandler` trait (pool checkout,
//!   error mapping): the handler's own overhead;
//! * `cache`: `app.cache()`, the typed facade (key prefix + JSON codec on top).
//!
//! Criterion measures the three one after the other, so on a busy machine drift between them
//! can exceed the differences being measured. After the criterion groups, the bench therefore
//! also prints an interleaved comparison: batches of each variant in rotating order, many
//! rounds, and the ratio of the medians to `raw` (skipped with `--test` / `--list`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use cement::testing::server::RedisServer;
use cement::{Builder, Meta};
use criterion::{criterion_group, Criterion};
// Links cement-ext's registrations: this bench builds its app from a `Meta` value, not with
// `#[derive(App)]` (which would name the crate by itself).
use cement_ext as _;

const PREFIX: &str = "bench:";
const MANY: usize = 100;

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

/// A server, an app on it with `MANY` keys stored, and a raw connection to the same server.
struct Fixture {
    // Dropped last: the app and the raw connection talk to it.
    _server: RedisServer,
    app: cement::Application,
    raw: redis::Connection,
    value: String,
    keys: Vec<String>,
    wire: Vec<String>,
    /// Exactly the bytes cement stores for `value` (its JSON encoding).
    encoded: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
        let app = Builder::new(
            Meta::new("bench")
                .extensions(["redis"])
                .cache_handler("redis")
                .default_config_files(false),
        )
        .env_vars(Vec::<(String, String)>::new())
        .set("cache.redis", "port", server.port())
        .setup()
        .expect("app setup");
        let mut raw = redis::Client::open(server.url())
            .and_then(|client| client.get_connection())
            .expect("raw connection");
        let value = value();
        let keys: Vec<String> = (0..MANY).map(|i| format!("user:{i}:profile")).collect();
        let wire: Vec<String> = keys.iter().map(|k| format!("{PREFIX}{k}")).collect();
        for key in &keys {
            app.cache().set(key, &value).expect("set");
        }
        let encoded: Vec<u8> = redis::cmd("GET")
            .arg(&wire[0])
            .query(&mut raw)
            .expect("get");
        Fixture {
            _server: server,
            app,
            raw,
            value,
            keys,
            wire,
            encoded,
        }
    }
}

/// One operation in its three variants: raw, handler, cache.
type Variants<'a> = [(&'static str, Box<dyn FnMut() + 'a>); 3];

fn bench(c: &mut Criterion) {
    let mut f = Fixture::new();
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let (key, wire_key) = (f.keys[0].as_str(), f.wire[0].as_str());
    let (value, encoded, raw) = (&f.value, &f.encoded, &mut f.raw);
    let key_refs: Vec<&str> = f.keys.iter().map(String::as_str).collect();
    let wire_refs: Vec<&str> = f.wire.iter().map(String::as_str).collect();

    let mut group = c.benchmark_group("redis/get");
    group.bench_function("raw", |b| b.iter(|| black_box(raw_get(raw, wire_key))));
    group.bench_function("handler", |b| {
        b.iter(|| black_box(handler.get(black_box(wire_key)).expect("get")))
    });
    group.bench_function("cache", |b| {
        b.iter(|| black_box(cache.get::<String>(black_box(key)).expect("get")))
    });
    group.finish();

    let mut group = c.benchmark_group("redis/set");
    group.bench_function("raw", |b| b.iter(|| raw_set(raw, wire_key, encoded)));
    group.bench_function("handler", |b| {
        b.iter(|| {
            handler
                .set(black_box(wire_key), black_box(encoded), None)
                .expect("set")
        })
    });
    group.bench_function("cache", |b| {
        b.iter(|| cache.set(black_box(key), black_box(value)).expect("set"))
    });
    group.finish();

    let mut group = c.benchmark_group("redis/get_many_100");
    group.bench_function("raw", |b| b.iter(|| black_box(raw_mget(raw, &wire_refs))));
    group.bench_function("handler", |b| {
        b.iter(|| black_box(handler.get_many(black_box(&wire_refs)).expect("mget")))
    });
    group.bench_function("cache", |b| {
        b.iter(|| {
            black_box(
                cache
                    .get_many::<String>(black_box(&key_refs))
                    .expect("mget"),
            )
        })
    });
    group.finish();
}

fn raw_get(raw: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(black_box(key))
        .query(raw)
        .expect("get")
}

fn raw_set(raw: &mut redis::Connection, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(black_box(key))
        .arg(black_box(value))
        .query::<()>(raw)
        .expect("set")
}

fn raw_mget(raw: &mut redis::Connection, keys: &[&str]) -> Vec<Option<Vec<u8>>> {
    redis::cmd("MGET")
        .arg(black_box(keys))
        .query(raw)
        .expect("mget")
}

/// The interleaved comparison described in the module docs.
fn interleaved() {
    const BATCH: usize = 200;
    const ROUNDS: usize = 150;
    let f = Fixture::new();
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let (key, wire_key) = (f.keys[0].as_str(), f.wire[0].as_str());
    let (value, encoded) = (&f.value, &f.encoded);
    let key_refs: Vec<&str> = f.keys.iter().map(String::as_str).collect();
    let wire_refs: Vec<&str> = f.wire.iter().map(String::as_str).collect();
    let raw = std::cell::RefCell::new(f.raw);

    let ops: Vec<(&str, Variants<'_>)> = vec![
        (
            "get",
            [
                (
                    "raw",
                    Box::new(|| drop(black_box(raw_get(&mut raw.borrow_mut(), wire_key)))),
                ),
                (
                    "handler",
                    Box::new(|| drop(black_box(handler.get(black_box(wire_key)).expect("get")))),
                ),
                (
                    "cache",
                    Box::new(|| drop(black_box(cache.get::<String>(black_box(key)).expect("get")))),
                ),
            ],
        ),
        (
            "set",
            [
                (
                    "raw",
                    Box::new(|| raw_set(&mut raw.borrow_mut(), wire_key, encoded)),
                ),
                (
                    "handler",
                    Box::new(|| {
                        handler
                            .set(black_box(wire_key), black_box(encoded), None)
                            .expect("set")
                    }),
                ),
                (
                    "cache",
                    Box::new(|| cache.set(black_box(key), black_box(value)).expect("set")),
                ),
            ],
        ),
        (
            "get_many_100",
            [
                (
                    "raw",
                    Box::new(|| drop(black_box(raw_mget(&mut raw.borrow_mut(), &wire_refs)))),
                ),
                (
                    "handler",
                    Box::new(|| {
                        drop(black_box(
                            handler.get_many(black_box(&wire_refs)).expect("mget"),
                        ))
                    }),
                ),
                (
                    "cache",
                    Box::new(|| {
                        drop(black_box(
                            cache
                                .get_many::<String>(black_box(&key_refs))
                                .expect("mget"),
                        ))
                    }),
                ),
            ],
        ),
    ];

    println!("\nredis/interleaved: median time per op over {ROUNDS} rounds of {BATCH}, and the ratio to raw");
    for (name, mut variants) in ops {
        let mut times: [Vec<f64>; 3] = Default::default();
        for (_, run) in variants.iter_mut() {
            (0..BATCH).for_each(|_| run()); // warm up
        }
        for round in 0..ROUNDS {
            for j in 0..3 {
                let i = (j + round) % 3; // rotate the order: no variant always goes first
                let run = &mut variants[i].1;
                let started = Instant::now();
                (0..BATCH).for_each(|_| run());
                times[i].push(started.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        let line: Vec<String> = variants
            .iter()
            .zip(&medians)
            .map(|((label, _), m)| format!("{label} {m:.2} µs ({:.3}×)", m / medians[0]))
            .collect();
        println!("  {name:<13} {}", line.join("   "));
    }
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60);
    targets = bench
}
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        interleaved();
    }
}
