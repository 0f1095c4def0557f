//! The redis handler against the raw `redis` client it is built on, on the same server, in the
//! same run: `GET`, `SET`, `MGET` of 100 keys and `incr`; then the batch forms against as many
//! single calls.
//!
//! `cargo bench --bench redis` (needs `redis-server`; the bench starts its own on a free
//! loopback port). The groups `redis/get`, `redis/set`, `redis/get_many_100` and `redis/incr`
//! have three lines:
//!
//! * `raw`: one `redis::Connection`, the command sent by hand with the wire key and the encoded
//!   value ready-made: what the handler saves you from writing (for `incr`: redis' own `INCRBY`,
//!   which the handler cannot use as it is, see `cement-ext/src/redis/counter.rs`);
//! * `handler`: `RedisCacheHandler` through the byte-level `CacheHandler` trait (pool checkout,
//!   error mapping; for `incr`, the counter script through `EVALSHA`): the handler's own
//!   overhead;
//! * `cache`: `app.cache()`, the typed facade (key prefix + JSON codec on top);
//! * `raw_json` (interleaved `get` and `get_many_100` only): the raw client's command, then
//!   serde_json of each value (behind its envelope) into the same `String` that `cache`
//!   returns: what a hand-written typed read costs. Printed beside `cache`; the ratios are
//!   still to `raw`, bytes out.
//!
//! The groups `redis/batch_get_100`, `redis/batch_set_100` and `redis/batch_delete_100` compare,
//! all through `app.cache()`, one batch call (`get_many`, `set_many`, `delete_many`: one `MGET`,
//! `MSET`, `UNLINK`) with 100 single calls (`get`, `set`, `delete`) of the same keys.
//!
//! Criterion measures the variants one after the other, so on a busy machine drift between them
//! can exceed the differences being measured. After the criterion groups, the bench therefore
//! also prints interleaved comparisons: batches of each variant in a new order every round, many
//! rounds, and the median of the per-round ratios of the time to `raw`'s (for the batch forms,
//! the gain of the batch over the single calls). They are skipped with `--test` / `--list`.
//!
//! The groups `redis_cluster/get`, `redis_cluster/set` and `redis_cluster/get_many_100` run on
//! a 3-primary Redis Cluster the bench starts (`redis-cli --cluster create`): `raw` is one
//! `redis::cluster::ClusterConnection` (`GET`, `SET`, and for the 100 keys, which span all three
//! primaries, a `cluster_pipe` of `GET`s: one pipeline per node, as the handler sends;
//! `raw_mget` is redis-rs' own `MGET`, which it splits per slot), `cache` is `app.cache()` with
//! `cluster = [...]`. Their interleaved comparison prints the median of the per-round ratios.

mod bench_support;
use bench_support::median;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cement_ext::testing::{RedisCluster, RedisServer};
use criterion::measurement::WallTime;
use criterion::{criterion_group, BatchSize, BenchmarkGroup, Criterion};
// Links cement-ext's registrations: this bench builds its app from a `Meta` value, not with
// `#[derive(App)]` (which would name the crate by itself).
use cement_ext as _;

// The app builder and raw connection the redis tests use.
#[path = "../tests/support/mod.rs"]
mod support;

const PREFIX: &str = "bench:";
const MANY: usize = 100;
/// The counter `incr` steps, in all three variants (the same digits).
const COUNTER: &str = "hits";

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
        let app = support::redis::app("bench", &server)
            .setup()
            .expect("app setup");
        let mut raw = support::redis::raw(&server);
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

/// One operation in its variants: raw, handler, cache (and for reads, raw_json).
type Variants<'a> = Vec<(&'static str, Box<dyn FnMut() + 'a>)>;

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

    let wire_counter = format!("{PREFIX}{COUNTER}");
    let mut group = c.benchmark_group("redis/incr");
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_incrby(raw, &wire_counter)))
    });
    group.bench_function("handler", |b| {
        b.iter(|| {
            black_box(
                handler
                    .incr(black_box(&wire_counter), 1, None)
                    .expect("incr"),
            )
        })
    });
    group.bench_function("cache", |b| {
        b.iter(|| black_box(cache.incr(black_box(COUNTER), 1).expect("incr")))
    });
    group.finish();

    batch_groups(c, &cache, &key_refs, value);
}

/// A group for the slow (about a millisecond) batch comparisons: fewer, shorter samples.
fn short_group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

/// The batch forms against 100 single calls, through `app.cache()`.
fn batch_groups(c: &mut Criterion, cache: &cement::cache::Cache, keys: &[&str], value: &str) {
    let entries: Vec<(&str, &str)> = keys.iter().map(|key| (*key, value)).collect();
    let mut group = short_group(c, "redis/batch_get_100");
    group.bench_function("get_many", |b| {
        b.iter(|| black_box(cache.get_many::<String>(black_box(keys)).expect("get_many")))
    });
    group.bench_function("100_x_get", |b| {
        b.iter(|| {
            for key in keys {
                black_box(cache.get::<String>(black_box(key)).expect("get"));
            }
        })
    });
    group.finish();

    let mut group = short_group(c, "redis/batch_set_100");
    group.bench_function("set_many", |b| {
        b.iter(|| cache.set_many(black_box(&entries)).expect("set_many"))
    });
    group.bench_function("100_x_set", |b| {
        b.iter(|| {
            for (key, value) in &entries {
                cache.set(black_box(key), black_box(value)).expect("set");
            }
        })
    });
    group.finish();

    // Each iteration deletes keys that are there: the setup (not timed) stores them again.
    let mut group = short_group(c, "redis/batch_delete_100");
    let refill = || cache.set_many(&entries).expect("set_many");
    group.bench_function("delete_many", |b| {
        b.iter_batched(
            refill,
            |()| black_box(cache.delete_many(black_box(keys)).expect("delete_many")),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("100_x_delete", |b| {
        b.iter_batched(
            refill,
            |()| {
                for key in keys {
                    black_box(cache.delete(black_box(key)).expect("delete"));
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    refill();
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

fn raw_incrby(raw: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("INCRBY")
        .arg(black_box(key))
        .arg(1)
        .query(raw)
        .expect("incrby")
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
    let wire_counter = format!("{PREFIX}{COUNTER}");
    let raw = std::cell::RefCell::new(f.raw);

    let ops: Vec<(&str, Variants<'_>)> = vec![
        (
            "get",
            vec![
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
                (
                    "raw_json",
                    Box::new(|| {
                        let bytes = raw_get(&mut raw.borrow_mut(), wire_key);
                        drop(black_box(bytes.map(|b| from_json(&b))))
                    }),
                ),
            ],
        ),
        (
            "set",
            vec![
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
            vec![
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
                (
                    "raw_json",
                    Box::new(|| {
                        let values = raw_mget(&mut raw.borrow_mut(), &wire_refs);
                        let decoded: Vec<Option<String>> = values
                            .into_iter()
                            .map(|v| v.map(|b| from_json(&b)))
                            .collect();
                        drop(black_box(decoded))
                    }),
                ),
            ],
        ),
        (
            "incr",
            vec![
                (
                    "raw",
                    Box::new(|| {
                        black_box(raw_incrby(&mut raw.borrow_mut(), &wire_counter));
                    }),
                ),
                (
                    "handler",
                    Box::new(|| {
                        black_box(
                            handler
                                .incr(black_box(&wire_counter), 1, None)
                                .expect("incr"),
                        );
                    }),
                ),
                (
                    "cache",
                    Box::new(|| {
                        black_box(cache.incr(black_box(COUNTER), 1).expect("incr"));
                    }),
                ),
            ],
        ),
    ];

    println!("\nredis/interleaved: median time per op over {ROUNDS} rounds of {BATCH}, and the median per-round ratio of the time to raw's");
    for (name, mut variants) in ops {
        bench_support::interleave(name, ROUNDS, BATCH, &mut variants);
    }
}

/// What a hand-written typed read does with a value cement stored: serde_json of the payload
/// behind the three-byte envelope, into a `String`.
fn from_json(bytes: &[u8]) -> String {
    serde_json::from_slice(bytes.get(3..).expect("an enveloped value")).expect("a JSON string")
}

/// One side of a batch comparison: runs once and returns the time of what it measures.
type Timed<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// `run`, timed whole.
fn timed<'a>(mut run: impl FnMut() + 'a) -> Timed<'a> {
    Box::new(move || {
        let started = Instant::now();
        run();
        started.elapsed()
    })
}

/// The interleaved comparison of the batch forms with 100 single calls, through `app.cache()`.
fn interleaved_batches() {
    const BATCH: usize = 5;
    const ROUNDS: usize = 60;
    let f = Fixture::new();
    let cache = f.app.cache().clone();
    let keys: Vec<&str> = f.keys.iter().map(String::as_str).collect();
    let entries: Vec<(&str, &str)> = keys.iter().map(|key| (*key, f.value.as_str())).collect();
    let refill = || cache.set_many(&entries).expect("set_many");

    let ops: Vec<(&str, [(&str, Timed<'_>); 2])> = vec![
        (
            "get",
            [
                (
                    "100 x get",
                    timed(|| {
                        for key in &keys {
                            black_box(cache.get::<String>(black_box(key)).expect("get"));
                        }
                    }),
                ),
                (
                    "get_many",
                    timed(|| {
                        black_box(
                            cache
                                .get_many::<String>(black_box(&keys))
                                .expect("get_many"),
                        );
                    }),
                ),
            ],
        ),
        (
            "set",
            [
                (
                    "100 x set",
                    timed(|| {
                        for (key, value) in &entries {
                            cache.set(black_box(key), black_box(value)).expect("set");
                        }
                    }),
                ),
                (
                    "set_many",
                    timed(|| cache.set_many(black_box(&entries)).expect("set_many")),
                ),
            ],
        ),
        (
            "delete",
            [
                (
                    "100 x delete",
                    Box::new(|| {
                        refill();
                        let started = Instant::now();
                        for key in &keys {
                            black_box(cache.delete(black_box(key)).expect("delete"));
                        }
                        started.elapsed()
                    }),
                ),
                (
                    "delete_many",
                    Box::new(|| {
                        refill();
                        let started = Instant::now();
                        black_box(cache.delete_many(black_box(&keys)).expect("delete_many"));
                        started.elapsed()
                    }),
                ),
            ],
        ),
    ];

    println!(
        "\nredis/interleaved_batches: {MANY} keys through app.cache(), median time over {ROUNDS} rounds of {BATCH}, and the batch form's gain"
    );
    for (name, mut variants) in ops {
        let mut times: [Vec<f64>; 2] = Default::default();
        for (_, run) in variants.iter_mut() {
            (0..BATCH).for_each(|_| {
                run(); // warm up
            });
        }
        for round in 0..ROUNDS {
            for j in 0..2 {
                let i = (j + round) % 2; // rotate the order: no variant always goes first
                let run = &mut variants[i].1;
                let total: Duration = (0..BATCH).map(|_| run()).sum();
                times[i].push(total.as_secs_f64() * 1e6 / BATCH as f64);
            }
        }
        let single = median(&mut times[0]);
        let batch = median(&mut times[1]);
        println!(
            "  {name:<7} {} {single:.0} µs   {} {batch:.0} µs   gain {:.1}×",
            variants[0].0,
            variants[1].0,
            single / batch
        );
    }
}

/// A 3-primary cluster, an app on it with `MANY` keys stored, and a raw cluster connection.
struct ClusterFixture {
    _cluster: RedisCluster,
    app: cement::Application,
    raw: redis::cluster::ClusterConnection,
    value: String,
    keys: Vec<String>,
    wire: Vec<String>,
    encoded: Vec<u8>,
}

impl ClusterFixture {
    fn new() -> Self {
        let cluster =
            RedisCluster::start(3, 0).expect("a redis cluster (apt-get install redis-server)");
        let app = support::app("bench", "redis")
            .set("cache.redis", "cluster", cluster.seeds())
            .setup()
            .expect("app setup");
        let mut raw = redis::cluster::ClusterClient::new(
            cluster
                .seeds()
                .iter()
                .map(|s| format!("redis://{s}"))
                .collect::<Vec<_>>(),
        )
        .and_then(|c| c.get_connection())
        .expect("raw cluster connection");
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
        ClusterFixture {
            _cluster: cluster,
            app,
            raw,
            value,
            keys,
            wire,
            encoded,
        }
    }
}

fn cluster_get(raw: &mut redis::cluster::ClusterConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(raw).expect("get")
}

fn cluster_set(raw: &mut redis::cluster::ClusterConnection, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<()>(raw)
        .expect("set")
}

fn cluster_pipe_get(
    raw: &mut redis::cluster::ClusterConnection,
    keys: &[&str],
) -> Vec<Option<Vec<u8>>> {
    let mut pipe = redis::cluster::cluster_pipe();
    for key in keys {
        pipe.cmd("GET").arg(*key);
    }
    pipe.query(raw).expect("pipeline")
}

fn cluster_mget(
    raw: &mut redis::cluster::ClusterConnection,
    keys: &[&str],
) -> Vec<Option<Vec<u8>>> {
    redis::cmd("MGET").arg(keys).query(raw).expect("mget")
}

fn bench_cluster(c: &mut Criterion) {
    let mut f = ClusterFixture::new();
    let cache = f.app.cache().clone();
    let (key, wire_key) = (f.keys[0].as_str(), f.wire[0].as_str());
    let (value, encoded, raw) = (&f.value, &f.encoded, &mut f.raw);
    let key_refs: Vec<&str> = f.keys.iter().map(String::as_str).collect();
    let wire_refs: Vec<&str> = f.wire.iter().map(String::as_str).collect();

    let mut group = c.benchmark_group("redis_cluster/get");
    group.bench_function("raw", |b| b.iter(|| black_box(cluster_get(raw, wire_key))));
    group.bench_function("cache", |b| {
        b.iter(|| black_box(cache.get::<String>(black_box(key)).expect("get")))
    });
    group.finish();

    let mut group = c.benchmark_group("redis_cluster/set");
    group.bench_function("raw", |b| b.iter(|| cluster_set(raw, wire_key, encoded)));
    group.bench_function("cache", |b| {
        b.iter(|| cache.set(black_box(key), black_box(value)).expect("set"))
    });
    group.finish();

    let mut group = short_group(c, "redis_cluster/get_many_100");
    group.bench_function("raw", |b| {
        b.iter(|| black_box(cluster_pipe_get(raw, &wire_refs)))
    });
    group.bench_function("raw_mget", |b| {
        b.iter(|| black_box(cluster_mget(raw, &wire_refs)))
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

/// The cluster's interleaved comparison: `raw` and `cache` alternate (each first every other
/// round), and each round's ratio (cache time / raw time) goes into the median.
fn interleaved_cluster() {
    const ROUNDS: usize = 150;
    let f = ClusterFixture::new();
    let cache = f.app.cache().clone();
    let (key, wire_key) = (f.keys[0].as_str(), f.wire[0].as_str());
    let (value, encoded) = (&f.value, &f.encoded);
    let key_refs: Vec<&str> = f.keys.iter().map(String::as_str).collect();
    let wire_refs: Vec<&str> = f.wire.iter().map(String::as_str).collect();
    let raw = std::cell::RefCell::new(f.raw);
    type Pair<'a> = [Box<dyn FnMut() + 'a>; 2];
    let ops: Vec<(&str, usize, Pair<'_>)> = vec![
        (
            "get",
            200,
            [
                Box::new(|| drop(black_box(cluster_get(&mut raw.borrow_mut(), wire_key)))),
                Box::new(|| drop(black_box(cache.get::<String>(key).expect("get")))),
            ],
        ),
        (
            "set",
            200,
            [
                Box::new(|| cluster_set(&mut raw.borrow_mut(), wire_key, encoded)),
                Box::new(|| cache.set(key, value).expect("set")),
            ],
        ),
        (
            "get_many_100",
            20,
            [
                Box::new(|| {
                    drop(black_box(cluster_pipe_get(
                        &mut raw.borrow_mut(),
                        &wire_refs,
                    )))
                }),
                Box::new(|| {
                    drop(black_box(
                        cache.get_many::<String>(&key_refs).expect("mget"),
                    ))
                }),
            ],
        ),
    ];
    println!(
        "\nredis_cluster/interleaved: raw ClusterConnection vs app.cache(), median time per op over {ROUNDS} rounds and the median of the per-round ratios (raw ops/s share: cache ops/s ÷ raw ops/s)"
    );
    for (name, batch, mut pair) in ops {
        for run in pair.iter_mut() {
            (0..batch).for_each(|_| run());
        }
        let mut times: [Vec<f64>; 2] = Default::default();
        let mut ratios = Vec::with_capacity(ROUNDS);
        for round in 0..ROUNDS {
            let mut this = [0.0; 2];
            for j in 0..2 {
                let i = (j + round) % 2;
                let started = Instant::now();
                (0..batch).for_each(|_| (pair[i])());
                this[i] = started.elapsed().as_secs_f64() * 1e6 / batch as f64;
                times[i].push(this[i]);
            }
            ratios.push(this[0] / this[1]);
        }
        let (raw_m, cache_m, share) = (
            median(&mut times[0]),
            median(&mut times[1]),
            median(&mut ratios),
        );
        println!(
            "  {name:<13} raw {raw_m:.2} µs   cache {cache_m:.2} µs   cache/raw ops/s {share:.3}×"
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(60);
    targets = bench, bench_cluster
}
fn main() {
    bench_support::main(
        benches,
        &[interleaved, interleaved_batches, interleaved_cluster],
    );
}
