//! The value property on every built-in handler, through an app as users set it up, under
//! every codec × compression setting: a `set` that returns `Ok` reads back equal; a refused
//! `set` is an `Error::Codec`, exactly for what the codec cannot give back, and leaves the
//! value before intact (`cement::testing::values`). Values written under one setting read back
//! under every other (no purge when switching).
//!
//! memcached and redis are real servers on free loopback ports, started once for each test;
//! sqlite is a file in a temp dir.

// The handlers register at link time; nothing else here names the crate.
use cement_ext as _;

#[path = "support/mod.rs"]
mod support;

use cement::cache::Codec;
use cement::testing::values::{self, Value};
use cement::{Application, Builder, Meta};
use cement_ext::testing::{MemcachedServer, RedisServer};

use support::sqlite::TempDir;

/// Cases per strategy, handler and setting: enough to reach the depth limit and the float
/// edges every run, few enough for a loaded CI machine.
const CASES: u32 = 128;

/// Every codec × compression setting: `compress_above = 0` compresses whatever shrinks.
const SETTINGS: [(&str, Option<u64>); 4] = [
    ("json", None),
    ("json", Some(0)),
    ("msgpack", None),
    ("msgpack", Some(0)),
];

/// An app on `handler` (the memory handler is built in: no extension to name).
fn app(label: &str, handler: &str) -> Builder {
    if handler != "memory" {
        return support::app(label, handler);
    }
    Builder::new(
        Meta::new(label)
            .cache_handler(handler)
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
}

fn setup(builder: Builder) -> Application {
    builder.setup().expect("the app sets up")
}

/// Runs the property under every setting on the handler `handler` that `configure` points at
/// its server, then checks that what each setting wrote reads back under every other.
fn every_setting(label: &str, handler: &str, configure: impl Fn(Builder) -> Builder) {
    let section = format!("cache.{handler}");
    let apps: Vec<(String, Application)> = SETTINGS
        .iter()
        .map(|&(codec, compress)| {
            let mut builder = configure(app(label, handler)).set(&section, "codec", codec);
            if let Some(limit) = compress {
                builder = builder.set(&section, "compress_above", limit);
            }
            (
                format!("{codec}, compress_above {compress:?}"),
                setup(builder),
            )
        })
        .collect();
    for (name, app) in &apps {
        let expected = if name.starts_with("msgpack") {
            Codec::MsgPack
        } else {
            Codec::Json
        };
        assert_eq!(app.cache().codec(), expected, "{name}");
        values::run(app.cache(), CASES);
    }
    // One prefix (one label) for all: each app reads what every other wrote.
    let record = Value::Record {
        name: "x".repeat(2000),
        score: Some(0.5),
        tags: vec![Value::Text("t".repeat(500)), Value::U128(u128::MAX)],
    };
    for (i, (writer, app)) in apps.iter().enumerate() {
        let key = format!("cross:{i}");
        app.cache().set(&key, &record).unwrap();
        app.cache().set(&format!("{key}:n"), &41u64).unwrap();
        for (reader, other) in &apps {
            let got: Option<Value> = other.cache().get(&key).unwrap();
            assert!(
                got.as_ref().is_some_and(|got| values::same(got, &record)),
                "written under {writer}, read under {reader}: {got:?}"
            );
            let n: Option<u64> = other.cache().get(&format!("{key}:n")).unwrap();
            assert_eq!(
                n,
                Some(41),
                "a counter written under {writer}, read under {reader}"
            );
        }
        // Counters stay native digits under every setting.
        assert_eq!(
            app.cache().incr(&format!("{key}:n"), 1).unwrap(),
            42,
            "{writer}"
        );
    }
    // A setting switched under the same prefix: the stats of the reads saw no decode error.
    for (name, app) in &apps {
        assert_eq!(app.cache().stats().decode_errors, 0, "{name}");
    }
}

#[test]
fn memory_keeps_the_value_property() {
    // Each app has a store of its own, so reading across settings is left to the servers' and
    // the codec's tests.
    for &(codec, compress) in &SETTINGS {
        let mut builder = app("values_memory", "memory").set("cache.memory", "codec", codec);
        if let Some(limit) = compress {
            builder = builder.set("cache.memory", "compress_above", limit);
        }
        let app = setup(builder);
        values::run(app.cache(), CASES);
    }
}

#[test]
fn memcached_keeps_the_value_property() {
    let server = MemcachedServer::start().unwrap();
    every_setting("values_memcached", "memcached", |builder| {
        builder.set("cache.memcached", "hosts", server.host_spec())
    });
}

#[test]
fn redis_keeps_the_value_property() {
    let server = RedisServer::start().unwrap();
    every_setting("values_redis", "redis", |builder| {
        builder.set("cache.redis", "port", server.port())
    });
}

#[test]
fn sqlite_keeps_the_value_property() {
    let dir = TempDir::new("values");
    let path = dir.db().display().to_string();
    every_setting("values_sqlite", "sqlite", |builder| {
        builder.set("cache.sqlite", "path", path.clone())
    });
}
