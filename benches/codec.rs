//! The value pipeline's cost by codec and compression: `set` + `get` of one value through
//! `app.cache()` on the memory handler (whose own cost, ~0.2 µs, is small beside the codec's
//! at these sizes), under `codec = "json"` and `"msgpack"`, with and without
//! `compress_above`. Each variant prints the stored size of each value once.
//!
//! `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use cement::{Application, Builder, Meta};
use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    email: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
    history: Vec<u32>,
}

fn profile(i: u64) -> Profile {
    Profile {
        id: i,
        name: format!("user-{}", i * 7919 % 100_003),
        email: format!("u{}@example.com", i * 31 % 9973),
        score: (i as f64) * 1.37 % 100.0,
        active: i.is_multiple_of(3),
        tags: vec![
            "alpha".into(),
            if i.is_multiple_of(2) { "beta" } else { "gamma" }.into(),
        ],
        history: (0..8)
            .map(|n| (i as u32).wrapping_mul(2_654_435_761).rotate_left(n))
            .collect(),
    }
}

/// A struct of about 1 KiB of JSON: a profile with a longer history.
fn struct_1k() -> Profile {
    let mut p = profile(42);
    p.history = (0..100).map(|n| n * 1000 + 7).collect();
    p
}

/// Profiles whose JSON is at least `bytes` long.
fn list(bytes: usize) -> Vec<Profile> {
    let mut items = Vec::new();
    while serde_json::to_vec(&items).expect("json").len() < bytes {
        // Grow in steps, then check again: a check per item would be quadratic.
        let next = items.len() as u64;
        items.extend((next..next + 16).map(profile));
    }
    items
}

fn app(codec: &str, compress_above: Option<u64>) -> Application {
    let mut builder = Builder::new(Meta::new("bench").default_config_files(false))
        .env_vars(Vec::<(String, String)>::new())
        .set("cache.memory", "codec", codec);
    if let Some(limit) = compress_above {
        builder = builder.set("cache.memory", "compress_above", limit);
    }
    builder.setup().expect("setup")
}

/// The bytes stored for `value` under `app`'s settings.
fn stored_size<V: Serialize>(app: &Application, value: &V) -> u64 {
    let cache = app.cache();
    let before = cache.stats().bytes_written;
    cache.set("size", value).expect("set");
    cache.stats().bytes_written - before
}

fn round_trip<V: Serialize + for<'de> Deserialize<'de>>(
    c: &mut Criterion,
    group: &str,
    variants: &[(&str, Application)],
    value: &V,
) {
    let mut g = c.benchmark_group(group);
    for (name, app) in variants {
        eprintln!("{group}/{name}: {} bytes stored", stored_size(app, value));
        let cache = app.cache();
        g.bench_function(*name, |b| {
            b.iter(|| {
                cache.set("k", value).expect("set");
                black_box(cache.get::<V>("k").expect("get"))
            })
        });
    }
    g.finish();
}

fn codecs(c: &mut Criterion) {
    let variants = [
        ("json", app("json", None)),
        ("msgpack", app("msgpack", None)),
    ];
    round_trip(c, "codec/struct_1k", &variants, &struct_1k());
    round_trip(c, "codec/list_100k", &variants, &list(100 << 10));
    round_trip(
        c,
        "codec/string",
        &variants,
        &"a cached value of about sixty-four bytes, typical of a session!".to_string(),
    );
}

fn compression(c: &mut Criterion) {
    let variants = [
        ("json", app("json", None)),
        ("json_lz4", app("json", Some(0))),
        ("msgpack_lz4", app("msgpack", Some(0))),
    ];
    round_trip(c, "compress/1k", &variants, &list(1 << 10));
    round_trip(c, "compress/100k", &variants, &list(100 << 10));
    round_trip(c, "compress/1m", &variants, &list(1 << 20));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = codecs, compression
}
criterion_main!(benches);
