//! The async face on redis (`app.async_cache()`, cement-ext feature `redis-async`) against the
//! raw client it is built on, redis-rs's `MultiplexedConnection`, on the same server, in the
//! same run; and the async face against the blocking `app.cache()` under the same load.
//!
//! `cargo bench --bench async` (needs `redis-server`; the bench starts its own on a free
//! loopback port). Everything runs on one tokio multi-thread runtime with 2 workers (this
//! machine's cores). A *batch* is `tasks` tasks that each do `OPS` calls of one kind (a `GET`
//! of a stored 64-byte value, or a `SET` of it); throughput is calls per second over the batch.
//!
//! * `raw`: one `MultiplexedConnection` (cloned into each task), the command sent by hand with
//!   the wire key and the encoded value ready-made;
//! * `async_cache`: `app.async_cache()`, typed (key prefix, JSON codec, breaker, counters,
//!   tracing span) on the handler's own multiplexed connection;
//! * `sync_64_threads` (64 only): `app.cache()` from 64 OS threads at once, each doing `OPS`
//!   calls, on a pool of 64 connections (`pool_size = 64`, so the pool is not what limits it).
//!
//! The criterion groups `async/get_1`, `async/get_64`, `async/set_1`, `async/set_64` time the
//! variants one after the other. Loopback timing drifts on this VM more than the differences
//! measured, so the bench then prints interleaved comparisons, as `benches/redis.rs` does:
//! many rounds, each running every variant once in rotating order, and for each variant the
//! median of its per-round ratio to `raw` (and the median throughput). They are skipped with
//! `--test` / `--list`.

mod bench_support;
use bench_support::median;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cement_ext::testing::RedisServer;
use criterion::{criterion_group, Criterion};
use redis::aio::MultiplexedConnection;
// Links cement-ext's registrations: the app is built from a `Meta` value.
use cement_ext as _;

#[path = "../tests/support/mod.rs"]
mod support;

const PREFIX: &str = "bench:";
const KEY: &str = "user:1:profile";
/// Calls per task in one batch of the interleaved comparison.
const OPS: usize = 200;

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

struct Fixture {
    _server: RedisServer,
    app: cement::Application,
    raw: MultiplexedConnection,
    wire: String,
    encoded: Vec<u8>,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
        let app = support::redis::app("bench", &server)
            .set("cache.redis", "pool_size", 64)
            .setup()
            .expect("app setup");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let wire = format!("{PREFIX}{KEY}");
        let (raw, encoded) = runtime.block_on(async {
            assert!(
                app.async_cache().handler().as_async().is_some(),
                "native redis"
            );
            app.async_cache().set(KEY, &value()).await.expect("set");
            let client = redis::Client::open(server.url()).expect("client");
            let mut raw = client
                .get_multiplexed_async_connection()
                .await
                .expect("multiplexed connection");
            let encoded: Vec<u8> = redis::cmd("GET")
                .arg(&wire)
                .query_async(&mut raw)
                .await
                .expect("get");
            (raw, encoded)
        });
        // The sync face's pool, warmed to 64 connections outside the measurement.
        std::thread::scope(|s| {
            for _ in 0..64 {
                s.spawn(|| app.cache().get::<String>(KEY).expect("get"));
            }
        });
        Fixture {
            _server: server,
            app,
            raw,
            wire,
            encoded,
            runtime,
        }
    }

    /// `tasks` tasks doing `ops` calls each, of `variant`; the elapsed time.
    fn batch(&self, variant: Variant, set: bool, tasks: usize, ops: usize) -> Duration {
        let started = Instant::now();
        match variant {
            Variant::SyncThreads => std::thread::scope(|s| {
                for _ in 0..tasks {
                    s.spawn(|| {
                        let cache = self.app.cache();
                        let value = value();
                        for _ in 0..ops {
                            if set {
                                cache.set(KEY, &value).expect("set");
                            } else {
                                black_box(cache.get::<String>(KEY).expect("get"));
                            }
                        }
                    });
                }
            }),
            Variant::Raw | Variant::AsyncCache => self.runtime.block_on(async {
                let mut joins = tokio::task::JoinSet::new();
                let shared = Arc::new((self.wire.clone(), self.encoded.clone(), value()));
                for _ in 0..tasks {
                    let (mut raw, cache, shared) = (
                        self.raw.clone(),
                        self.app.async_cache().clone(),
                        Arc::clone(&shared),
                    );
                    joins.spawn(async move {
                        let (wire, encoded, value) = &*shared;
                        for _ in 0..ops {
                            match (variant, set) {
                                (Variant::Raw, false) => {
                                    black_box(raw_get(&mut raw, wire).await);
                                }
                                (Variant::Raw, true) => raw_set(&mut raw, wire, encoded).await,
                                (_, false) => {
                                    black_box(cache.get::<String>(KEY).await.expect("get"));
                                }
                                (_, true) => cache.set(KEY, value).await.expect("set"),
                            }
                        }
                    });
                }
                while let Some(joined) = joins.join_next().await {
                    joined.expect("task");
                }
            }),
        }
        started.elapsed()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Raw,
    AsyncCache,
    SyncThreads,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::AsyncCache => "async_cache",
            Variant::SyncThreads => "sync_64_threads",
        }
    }
}

async fn raw_get(raw: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(black_box(key))
        .query_async(raw)
        .await
        .expect("get")
}

async fn raw_set(raw: &mut MultiplexedConnection, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(black_box(key))
        .arg(black_box(value))
        .query_async::<()>(raw)
        .await
        .expect("set")
}

fn variants(tasks: usize) -> Vec<Variant> {
    match tasks {
        1 => vec![Variant::Raw, Variant::AsyncCache],
        _ => vec![Variant::Raw, Variant::AsyncCache, Variant::SyncThreads],
    }
}

fn bench(c: &mut Criterion) {
    let f = Fixture::new();
    for (op, set) in [("get", false), ("set", true)] {
        for tasks in [1, 64] {
            let mut group = c.benchmark_group(format!("async/{op}_{tasks}"));
            for variant in variants(tasks) {
                // One iteration is one call; `iters` calls spread over the tasks.
                group.bench_function(variant.label(), |b| {
                    b.iter_custom(|iters| {
                        let ops = usize::try_from(iters).unwrap_or(usize::MAX).div_ceil(tasks);
                        f.batch(variant, set, tasks, ops.max(1))
                    })
                });
            }
            group.finish();
        }
    }
}

fn interleaved() {
    const ROUNDS: usize = 60;
    let f = Fixture::new();
    println!(
        "\nasync/interleaved: {ROUNDS} rounds, each variant once per round in rotating order; \
         median throughput, and the median of the per-round ratio to raw"
    );
    for (op, set) in [("get", false), ("set", true)] {
        for tasks in [1, 64] {
            let variants = variants(tasks);
            let ops = if tasks == 1 { OPS * 10 } else { OPS };
            for &variant in &variants {
                f.batch(variant, set, tasks, ops / 4); // warm up
            }
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
            let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
            for round in 0..ROUNDS {
                let mut this_round = vec![0.0; variants.len()];
                for j in 0..variants.len() {
                    let i = (j + round) % variants.len();
                    let elapsed = f.batch(variants[i], set, tasks, ops);
                    this_round[i] = (tasks * ops) as f64 / elapsed.as_secs_f64();
                }
                for i in 0..variants.len() {
                    rates[i].push(this_round[i]);
                    ratios[i].push(this_round[i] / this_round[0]);
                }
            }
            let line: Vec<String> = variants
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    format!(
                        "{} {:.0} ops/s ({:.3}×)",
                        v.label(),
                        median(&mut rates[i]),
                        median(&mut ratios[i])
                    )
                })
                .collect();
            println!("  {op}, {tasks:>2} task(s): {}", line.join("   "));
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}

fn main() {
    bench_support::main(benches, &[interleaved]);
}
