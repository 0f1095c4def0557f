//! The async face on redis (`app.async_cache()`, cement-ext feature `redis-async`) against the
//! raw client it is built on, redis-rs's `MultiplexedConnection`, on the same server, in the
//! same run; and the async face against the blocking `app.cache()` under the same load. The
//! same on a 3-primary Redis Cluster (`async_cluster/*`): `app.async_cache()` with `cluster =
//! [...]` against a raw `redis::cluster_async::ClusterConnection` (variants `raw`, `handler`,
//! `async_cache`).
//!
//! `cargo bench --bench async` (needs `redis-server` and `redis-cli`; the bench starts its own
//! server and cluster on free loopback ports). Everything runs on one tokio multi-thread runtime with 2 workers (this
//! machine's cores). A *batch* is `tasks` tasks that each do `OPS` calls of one kind (a `GET`
//! of a stored 64-byte value, or a `SET` of it); throughput is calls per second over the batch.
//!
//! * `raw`: one `MultiplexedConnection` (cloned into each task), the command sent by hand with
//!   the wire key and the encoded value ready-made;
//! * `raw_json`: `raw`, plus what a typed caller of it would write by hand: the value decoded
//!   from JSON into a `String` after a `GET` (the envelope's 3-byte header skipped), encoded
//!   to JSON behind that header before a `SET`. Beside `raw`, never instead of it: the target
//!   is against `raw`; this shows how much of the gap is the typed API's codec;
//! * `raw_manager`: the same commands on a redis-rs `ConnectionManager` (the self-reconnecting
//!   wrapper of a multiplexed connection the handler runs on), configured as the handler
//!   configures its own: what the reconnecting wrapper costs;
//! * `handler`: the redis handler's async side (`AsyncCacheHandler`) called directly with the
//!   wire key and the encoded value: what the handler adds (its connection handle, the
//!   command, the boxed future, the stale-connection check);
//! * `async_cache`: `app.async_cache()`, typed (key prefix, JSON codec, breaker, counters,
//!   tracing span) on the handler's own multiplexed connection: what the engine adds;
//! * `sync_64_threads` (64 only): `app.cache()` from 64 OS threads at once, each doing `OPS`
//!   calls, on a pool of 64 connections (`pool_size = 64`, so the pool is not what limits it).
//!
//! The criterion groups `async/get_1`, `async/get_64`, `async/set_1`, `async/set_64` time the
//! variants one after the other. Loopback timing drifts on this VM more than the differences
//! measured, so the bench then prints interleaved comparisons, as `benches/redis.rs` does: many
//! rounds, each running every variant once in a new order, and for each variant the
//! median of its per-round ratio to `raw` (and the median throughput), and the CPU time the client
//! side (this process: runtime workers, driver tasks) spent per call, which other load on the
//! machine disturbs less than the throughput. They are skipped with
//! `--test` / `--list`.
//!
//! Last, `async/blocking_pool` compares, for memcached and sqlite (whose handlers are sync:
//! the async face runs their calls on tokio's blocking pool), `app.cache()` from 1 and from 16
//! OS threads with `async_cache()` from as many tasks, on one cache (the same engine).
//!
//! Before the comparison the bench checks that every variant sends the server the same bytes
//! per call (the server's `total_net_input_bytes`, so the comparison is of the same command
//! and value), and prints the heap allocations per call of each variant (a counting global
//! allocator, on only while it counts; all threads, the connection's driver task included).

mod bench_support;
use bench_support::median;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cement_ext::testing::{RedisCluster, RedisServer};
use criterion::{criterion_group, Criterion};
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
// Links cement-ext's registrations: the app is built from a `Meta` value.
use cement_ext as _;

#[path = "../tests/support/mod.rs"]
mod support;

const PREFIX: &str = "bench:";
const KEY: &str = "user:1:profile";
/// The envelope's header before a value's JSON (cement's codec: magic, version, codec).
const HEADER: usize = 3;
/// Calls per task in one batch of the interleaved comparison.
const OPS: usize = 200;

/// The system allocator, counting allocations while [`COUNTING`] is on.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`; counting touches only atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

/// The servers, the app on them and the raw connection `C` (a `MultiplexedConnection` to one
/// server, or a `ClusterConnection`).
struct Fixture<C> {
    _servers: Box<dyn std::any::Any + Send + Sync>,
    app: cement::Application,
    raw: C,
    /// The `raw_manager` variant's connection: one server only.
    manager: Option<ConnectionManager>,
    wire: String,
    encoded: Vec<u8>,
    runtime: tokio::runtime::Runtime,
}

impl Fixture<MultiplexedConnection> {
    fn new() -> Self {
        let server = RedisServer::start().expect("redis-server (apt-get install redis-server)");
        let app = support::redis::app("bench", &server)
            .set("cache.redis", "pool_size", 64)
            .setup()
            .expect("app setup");
        let client = redis::Client::open(server.url()).expect("client");
        let manager_client = client.clone();
        let mut f = Fixture::with(Box::new(server), app, async move {
            client.get_multiplexed_async_connection().await
        });
        // As `cement_ext::redis`'s async side configures its manager (the default 1 s timeouts).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(0);
        let manager = f
            .runtime
            .block_on(ConnectionManager::new_with_config(manager_client, config))
            .expect("connection manager");
        f.manager = Some(manager);
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
        Fixture::with(Box::new(cluster), app, async move {
            client.get_async_connection().await
        })
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
            manager: None,
            wire,
            encoded,
            runtime,
        }
    }

    /// The variants this fixture runs, `raw` first (the ratios are to it): all of them on one
    /// server; on the cluster neither `raw_manager` nor `sync_64_threads`.
    fn variants(&self, tasks: usize) -> Vec<Variant> {
        if self.manager.is_none() {
            return vec![Variant::Raw, Variant::Handler, Variant::AsyncCache];
        }
        match tasks {
            1 => ASYNC.to_vec(),
            _ => [&ASYNC[..], &[Variant::SyncThreads]].concat(),
        }
    }

    /// `tasks` tasks doing `ops` calls each, of `variant`; the elapsed time.
    fn batch(&self, variant: Variant, set: bool, tasks: usize, ops: usize) -> Duration {
        let started = Instant::now();
        match variant {
            Variant::SyncThreads => sync_threads(self.app.cache(), set, tasks, ops),
            _ => self.runtime.block_on(async {
                let mut joins = tokio::task::JoinSet::new();
                let shared = Arc::new((self.wire.clone(), self.encoded.clone(), value()));
                for _ in 0..tasks {
                    let (mut raw, manager, cache, shared) = (
                        self.raw.clone(),
                        self.manager.clone(),
                        self.app.async_cache().clone(),
                        Arc::clone(&shared),
                    );
                    joins.spawn(async move {
                        let (wire, encoded, value) = &*shared;
                        let handler = cache.handler().as_async().expect("native redis");
                        for _ in 0..ops {
                            match (variant, set) {
                                (Variant::Raw, false) => {
                                    black_box(raw_get(&mut raw, wire).await);
                                }
                                (Variant::Raw, true) => raw_set(&mut raw, wire, encoded).await,
                                (Variant::RawJson, false) => {
                                    let bytes = raw_get(&mut raw, wire).await.expect("a value");
                                    let value: String = serde_json::from_slice(&bytes[HEADER..])
                                        .expect("a JSON string");
                                    black_box(value);
                                }
                                (Variant::RawJson, true) => {
                                    let mut bytes = Vec::with_capacity(128);
                                    bytes.extend_from_slice(&encoded[..HEADER]);
                                    serde_json::to_writer(&mut bytes, black_box(value))
                                        .expect("JSON");
                                    raw_set(&mut raw, wire, &bytes).await;
                                }
                                (Variant::RawManager, false) => {
                                    let manager = &mut manager.clone().expect("one server");
                                    black_box(raw_get(manager, wire).await);
                                }
                                (Variant::RawManager, true) => {
                                    let manager = &mut manager.clone().expect("one server");
                                    raw_set(manager, wire, encoded).await;
                                }
                                (Variant::Handler, false) => {
                                    black_box(handler.get(wire).await.expect("get"));
                                }
                                (Variant::Handler, true) => {
                                    handler.set(wire, encoded, None).await.expect("set");
                                }
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

/// `threads` OS threads doing `ops` calls each on the blocking `cache`.
fn sync_threads(cache: &cement::cache::Cache, set: bool, threads: usize, ops: usize) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
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
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Raw,
    RawJson,
    RawManager,
    Handler,
    AsyncCache,
    SyncThreads,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::RawJson => "raw_json",
            Variant::RawManager => "raw_manager",
            Variant::Handler => "handler",
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

/// CPU time used so far by all of this process's threads (the runtime's workers, the
/// connections' driver tasks and the sync variant's threads; not the server's), from
/// `/proc/self/task/*/schedstat`, in nanoseconds. Threads that already ended are not counted,
/// so it is read around batches whose threads outlive them (the runtime's workers), or
/// whose threads are all spawned and joined in between (`sync_64_threads`: not counted, 0).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The variants on the tokio runtime, `raw` first (the ratios are to it).
const ASYNC: [Variant; 5] = [
    Variant::Raw,
    Variant::RawJson,
    Variant::RawManager,
    Variant::Handler,
    Variant::AsyncCache,
];

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

impl Fixture<MultiplexedConnection> {
    /// The server's `total_net_input_bytes` (its `INFO stats` line).
    fn bytes_in(&self) -> u64 {
        let mut conn = self.raw.clone();
        let info: String = self
            .runtime
            .block_on(redis::cmd("INFO").arg("stats").query_async(&mut conn))
            .expect("INFO stats");
        info.lines()
            .find_map(|line| line.strip_prefix("total_net_input_bytes:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("total_net_input_bytes in INFO stats")
    }

    /// Checks that every variant sends the same bytes per call, and prints each one's
    /// allocations per call (one task, `CALLS` calls).
    fn check_and_count(&self) {
        const CALLS: usize = 1000;
        let variants = self.variants(64);
        for (op, set) in [("get", false), ("set", true)] {
            let mut sent = Vec::new();
            let mut allocations = Vec::new();
            for &variant in &variants {
                self.batch(variant, set, 1, 10); // connections and buffers warm
                let before = self.bytes_in();
                ALLOCATIONS.store(0, Ordering::Relaxed);
                COUNTING.store(true, Ordering::Relaxed);
                self.batch(variant, set, 1, CALLS);
                COUNTING.store(false, Ordering::Relaxed);
                allocations.push(ALLOCATIONS.load(Ordering::Relaxed) as f64 / CALLS as f64);
                // The INFO command between the two readings is the same for every variant.
                sent.push(self.bytes_in() - before);
            }
            assert!(
                sent.iter().all(|&n| n == sent[0]),
                "{op}: the variants sent different bytes to the server: {sent:?} \
                 (for {variants:?}); the comparison would not be of the same command"
            );
            let line: Vec<String> = variants
                .iter()
                .zip(&allocations)
                .map(|(v, n)| format!("{} {n:.1}", v.label()))
                .collect();
            println!(
                "  {op}: every variant sent {} bytes per call; allocations per call: {}",
                sent[0] / CALLS as u64,
                line.join("   ")
            );
        }
    }
}

fn interleaved() {
    let f = Fixture::new();
    println!("\nasync/check: the same bytes on the wire, and the heap allocations per call");
    f.check_and_count();
    interleave("async", &f);
    drop(f);
    interleave("async_cluster", &Fixture::cluster());
}

fn interleave<C: ConnectionLike + Clone + Send + Sync + 'static>(name: &str, f: &Fixture<C>) {
    const ROUNDS: usize = 60;
    println!(
        "\n{name}/interleaved: {ROUNDS} rounds, each variant once per round, in a new order; \
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
            let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
            for round in 0..ROUNDS {
                let mut this_round = vec![0.0; variants.len()];
                for i in bench_support::order(round, variants.len()) {
                    f.batch(variants[i], set, tasks, 1); // untimed: see `bench_support::order`
                    let cpu_before = cpu_ns();
                    let elapsed = f.batch(variants[i], set, tasks, ops);
                    let used = cpu_ns().saturating_sub(cpu_before);
                    this_round[i] = (tasks * ops) as f64 / elapsed.as_secs_f64();
                    cpu[i].push(used as f64 / (tasks * ops) as f64);
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
            let line: Vec<String> = variants
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != Variant::SyncThreads)
                .map(|(i, v)| format!("{} {:.2} µs", v.label(), median(&mut cpu[i]) / 1e3))
                .collect();
            println!("      client CPU per call (median): {}", line.join("   "));
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

/// memcached and sqlite through the async face: their sync handlers' calls on tokio's
/// blocking pool (`spawn_blocking`, bounded by `async_blocking_limit`) against the same cache's
/// blocking face called from as many OS threads, interleaved.
fn blocking_pool() {
    const ROUNDS: usize = 30;
    let memcached = cement_ext::testing::MemcachedServer::start().expect("memcached");
    let dir = support::sqlite::TempDir::new("bench-async");
    let caches = [
        (
            "memcached",
            support::memcached::cache(&[memcached.host_spec()], PREFIX),
        ),
        ("sqlite", support::sqlite::cache(&dir.db(), PREFIX)),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "\nasync/blocking_pool: {ROUNDS} rounds, app.cache() from N threads vs async_cache() \
         from N tasks (the sync handler on the blocking pool); median throughput, and the \
         median of the per-round ratio async ÷ sync"
    );
    for (label, cache) in &caches {
        let async_cache = cement::cache::AsyncCache::new(cache);
        cache.set(KEY, &value()).expect("set");
        for (op, set) in [("get", false), ("set", true)] {
            for callers in [1usize, 16] {
                let ops = if callers == 1 { 400 } else { 50 };
                let sync_batch = || {
                    let started = Instant::now();
                    sync_threads(cache, set, callers, ops);
                    started.elapsed()
                };
                let async_batch = || {
                    let started = Instant::now();
                    runtime.block_on(async {
                        let mut joins = tokio::task::JoinSet::new();
                        for _ in 0..callers {
                            let cache = async_cache.clone();
                            joins.spawn(async move {
                                let value = value();
                                for _ in 0..ops {
                                    if set {
                                        cache.set(KEY, &value).await.expect("set");
                                    } else {
                                        black_box(cache.get::<String>(KEY).await.expect("get"));
                                    }
                                }
                            });
                        }
                        while let Some(joined) = joins.join_next().await {
                            joined.expect("task");
                        }
                    });
                    started.elapsed()
                };
                sync_batch();
                async_batch();
                let (mut sync_rates, mut async_rates, mut ratios) =
                    (Vec::new(), Vec::new(), Vec::new());
                let calls = (callers * ops) as f64;
                for round in 0..ROUNDS {
                    let (sync_time, async_time) = if round % 2 == 0 {
                        let s = sync_batch();
                        (s, async_batch())
                    } else {
                        let a = async_batch();
                        (sync_batch(), a)
                    };
                    let (sync_rate, async_rate) = (
                        calls / sync_time.as_secs_f64(),
                        calls / async_time.as_secs_f64(),
                    );
                    sync_rates.push(sync_rate);
                    async_rates.push(async_rate);
                    ratios.push(async_rate / sync_rate);
                }
                println!(
                    "  {label} {op}, {callers:>2} caller(s): app.cache() {:.0} ops/s   \
                     async_cache() {:.0} ops/s ({:.3}×)",
                    median(&mut sync_rates),
                    median(&mut async_rates),
                    median(&mut ratios)
                );
            }
        }
    }
}

fn main() {
    bench_support::main(benches, &[interleaved, blocking_pool]);
}
