//! The async face on redis (`app.async_cache()`, cement-ext feature `redis-async`) against the
//! raw client it is built on, redis-rs's `MultiplexedConnection`, on the same server, in the
//! same run; and the async face against the blocking `app.cache()` under the same load. The
//! same on a 3-primary Redis Cluster (`async_cluster/*`): `app.async_cache()` with `cluster =
//! [...]` against a raw `redis::cluster_async::ClusterConnection`.
//!
//! `cargo bench --bench async` (needs `redis-server` and `redis-cli`; the bench starts its own
//! server and cluster on free loopback ports). Everything runs on one tokio multi-thread runtime with 2 workers (this
//! machine's cores). A *batch* is `tasks` tasks that each do `OPS` calls of one kind (a `GET`
//! of a stored 64-byte value, or a `SET` of it); throughput is calls per second over the batch.
//!
//! * `raw`: one `MultiplexedConnection` (on the cluster one `ClusterConnection`), cloned into
//!   each task, the command sent by hand with the wire key and the encoded value ready-made;
//! * `async_cache`: `app.async_cache()`, typed (key prefix, JSON codec, breaker, counters,
//!   tracing span) on the handler's own multiplexed connection;
//! * `sync_64_threads` (64 only, one server only): `app.cache()` from 64 OS threads at once,
//!   each doing `OPS` calls, on a pool of 64 connections (`pool_size = 64`, so the pool is not
//!   what limits it).
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

use cement_ext::testing::{RedisCluster, RedisServer};
use criterion::{criterion_group, Criterion};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
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

/// The servers, the app on them and the raw connection `C` (a `MultiplexedConnection` to one
/// server, or a `ClusterConnection`).
struct Fixture<C> {
    _servers: Box<dyn std::any::Any + Send + Sync>,
    app: cement::Application,
    raw: C,
    wire: String,
    encoded: Vec<u8>,
    runtime: tokio::runtime::Runtime,
    /// Whether `sync_64_threads` runs too.
    sync: bool,
}

impl Fixture<MultiplexedConnection> {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
        let app = support::redis::app("bench", &server)
            .set("cache.redis", "pool_size", 64)
            .setup()
            .expect("app setup");
        let client = redis::Client::open(server.url()).expect("client");
        let f = Fixture::with(Box::new(server), app, async move {
            client.get_multiplexed_async_connection().await
        });
        // The sync face's pool, warmed to 64 connections outside the measurement.
        std::thread::scope(|s| {
            for _ in 0..64 {
                s.spawn(|| f.app.cache().get::<String>(KEY).expect("get"));
            }
        });
        f
    }
}

impl Fixture<ClusterConnection> {
    fn cluster() -> Self {
        let cluster = RedisCluster::start(3, 0).expect("a redis cluster (redis-server, redis-cli)");
        let app = support::app("bench", "redis")
            .set("cache.redis", "cluster", cluster.seeds())
            .setup()
            .expect("app setup");
        let urls: Vec<String> = cluster.nodes().iter().map(|n| n.url()).collect();
        let client = redis::cluster::ClusterClient::new(urls).expect("cluster client");
        let mut f = Fixture::with(Box::new(cluster), app, async move {
            client.get_async_connection().await
        });
        f.sync = false;
        f
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> Fixture<C> {
    /// `app` (its value stored) and the raw connection `connect` opens, on the bench's runtime.
    fn with(
        servers: Box<dyn std::any::Any + Send + Sync>,
        app: cement::Application,
        connect: impl std::future::Future<Output = redis::RedisResult<C>>,
    ) -> Self {
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
            let mut raw = connect.await.expect("raw connection");
            let encoded: Vec<u8> = redis::cmd("GET")
                .arg(&wire)
                .query_async(&mut raw)
                .await
                .expect("get");
            (raw, encoded)
        });
        Fixture {
            _servers: servers,
            app,
            raw,
            wire,
            encoded,
            runtime,
            sync: true,
        }
    }

    fn variants(&self, tasks: usize) -> Vec<Variant> {
        match tasks {
            64 if self.sync => vec![Variant::Raw, Variant::AsyncCache, Variant::SyncThreads],
            _ => vec![Variant::Raw, Variant::AsyncCache],
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

async fn raw_get(raw: &mut impl ConnectionLike, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(black_box(key))
        .query_async(raw)
        .await
        .expect("get")
}

async fn raw_set(raw: &mut impl ConnectionLike, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(black_box(key))
        .arg(black_box(value))
        .query_async::<()>(raw)
        .await
        .expect("set")
}

fn bench(c: &mut Criterion) {
    groups(c, "async", &Fixture::new());
    groups(c, "async_cluster", &Fixture::cluster());
}

fn groups<C: ConnectionLike + Clone + Send + Sync + 'static>(
    c: &mut Criterion,
    name: &str,
    f: &Fixture<C>,
) {
    for (op, set) in [("get", false), ("set", true)] {
        for tasks in [1, 64] {
            let mut group = c.benchmark_group(format!("{name}/{op}_{tasks}"));
            for variant in f.variants(tasks) {
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
    interleave("async", &Fixture::new());
    interleave("async_cluster", &Fixture::cluster());
}

fn interleave<C: ConnectionLike + Clone + Send + Sync + 'static>(name: &str, f: &Fixture<C>) {
    const ROUNDS: usize = 60;
    println!(
        "\n{name}/interleaved: {ROUNDS} rounds, each variant once per round in rotating order; \
         median throughput, and the median of the per-round ratio to raw"
    );
    for (op, set) in [("get", false), ("set", true)] {
        for tasks in [1, 64] {
            let variants = f.variants(tasks);
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
