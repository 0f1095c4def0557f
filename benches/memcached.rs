//! The `memcached` handler through `app.cache()` against the raw `memcache` meta-protocol
//! client it is built on, on the same (freshly started, loopback) memcached server, with the
//! same keys and values, in one run.
//!
//! `cargo bench --bench memcached` (needs `memcached` installed). Criterion prints each group's
//! time per operation; compare `cement` with `raw_meta_client` in each group:
//!
//! * `cement` is `app.cache()` in the default `purge = "prefix"` mode: every call also reads the
//!   namespace generation, pipelined in the same round trip, plus the key prefix and the JSON
//!   codec;
//! * `cement_handler` is the same handler called directly with bytes and ready-made wire keys:
//!   the handler's own cost, without the facade's key mapping and codec;
//! * `cement_server_purge` is `app.cache()` with `purge = "server"`: no generation, one command
//!   per key like the raw client;
//! * `raw_meta_client` is `memcache::exp::MetaClient` with bytes in and out.
//!
//! Loopback round trips are short, so a busy machine moves every number; compare the rows of a
//! group from one run, and prefer a quiet machine.

use std::hint::black_box;
use std::time::Duration;

use cement::testing::server::MemcachedServer;
use cement::{Application, Builder, Meta};
use criterion::{criterion_group, criterion_main, Criterion};
use memcache::exp::{Get, MetaClient};
// The app names its handler by label only: link the crate that registers it.
use cement_ext as _;

const KEYS: usize = 1000;
const BATCH: usize = 100;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i}:profile")).collect()
}

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

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

fn bench(c: &mut Criterion) {
    let server = MemcachedServer::start().expect("memcached (apt-get install memcached)");
    let keys = keys();
    let value = value();

    let prefix_app = app("bench_mc", &server, "prefix");
    let server_app = app("bench_mcs", &server, "server");
    let cement = prefix_app.cache();
    let cement_server = server_app.cache();
    let handler = cement.handler();
    let wire_keys: Vec<String> = keys.iter().map(|k| format!("bench_mc:{k}")).collect();
    let raw = MetaClient::connect(server.addr()).expect("raw client");
    // The raw client gets prefixed keys and the JSON bytes ready-made: both are cement's cost.
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("bench_raw:{k}")).collect();
    let raw_value = format!("\"{value}\"").into_bytes(); // the JSON text of `value`
    for (key, raw_key) in keys.iter().zip(&raw_keys) {
        cement.set(key, &value).expect("set");
        cement_server.set(key, &value).expect("set");
        raw.set(raw_key, &raw_value).send().expect("raw set");
    }

    let mut group = c.benchmark_group("memcached/get");
    group.bench_function("cement", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(cement.get::<String>(&keys[i]).expect("get"))
        })
    });
    group.bench_function("cement_handler", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(handler.get(&wire_keys[i]).expect("get"))
        })
    });
    group.bench_function("cement_server_purge", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(cement_server.get::<String>(&keys[i]).expect("get"))
        })
    });
    group.bench_function("raw_meta_client", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(raw.get(&raw_keys[i]).send().expect("raw get").value)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("memcached/set");
    group.bench_function("cement", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            cement.set(&keys[i], &value).expect("set")
        })
    });
    group.bench_function("cement_handler", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            handler.set(&wire_keys[i], &raw_value, None).expect("set")
        })
    });
    group.bench_function("cement_server_purge", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            cement_server.set(&keys[i], &value).expect("set")
        })
    });
    group.bench_function("raw_meta_client", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(raw.set(&raw_keys[i], &raw_value).send().expect("raw set"))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("memcached/get_many_100");
    let batches: Vec<Vec<&str>> = keys
        .chunks(BATCH)
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let raw_batches: Vec<Vec<&str>> = raw_keys
        .chunks(BATCH)
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    group.bench_function("cement", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % batches.len();
            black_box(cement.get_many::<String>(&batches[i]).expect("get_many"))
        })
    });
    let wire_batches: Vec<Vec<&str>> = wire_keys
        .chunks(BATCH)
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    group.bench_function("cement_handler", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % wire_batches.len();
            black_box(handler.get_many(&wire_batches[i]).expect("get_many"))
        })
    });
    group.bench_function("cement_server_purge", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % batches.len();
            black_box(
                cement_server
                    .get_many::<String>(&batches[i])
                    .expect("get_many"),
            )
        })
    });
    group.bench_function("raw_meta_client", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % raw_batches.len();
            black_box(
                raw.run_many(raw_batches[i].iter().map(Get::new))
                    .expect("raw get_many"),
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
