//! The conformance kit for authors of third-party cache handlers: one call checks a handler
//! against every clause of cement's cache contract, the same suite the built-in handlers pass.
//!
//! Run it with `cargo run --example conformance_kit`. In a handler crate, enable
//! `cement = { version = "...", features = ["testing"] }` in `[dev-dependencies]` and call
//! `cement::testing::conformance::run_all(app.cache())` from a test; for a handler that talks to
//! memcached or redis, `cement_ext::testing::{MemcachedServer, RedisServer}` (cement-ext's
//! `testing` feature) start real servers on free loopback ports and stop them on drop.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cement::cache::{CacheHandler, Capabilities};
use cement::{App, Error};

/// Each key's value and deadline.
type Map = BTreeMap<String, (Vec<u8>, Option<Instant>)>;

/// A third-party handler: a `BTreeMap` with deadlines, and a native atomic `add`.
#[cement::cache_handler(label = "btree")]
#[derive(Default)]
struct BTreeCache {
    entries: Mutex<Map>,
}

type Entries<'a> = MutexGuard<'a, Map>;

impl BTreeCache {
    fn entries(&self) -> cement::Result<Entries<'_>> {
        let mut entries = self.entries.lock().map_err(|_| Error::Backend {
            backend: "btree",
            source: "a thread panicked while holding the lock".into(),
        })?;
        let now = Instant::now();
        entries.retain(|_, (_, deadline)| deadline.is_none_or(|d| d > now));
        Ok(entries)
    }
}

impl CacheHandler for BTreeCache {
    fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
        Ok(self.entries()?.get(key).map(|(value, _)| value.clone()))
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<()> {
        let deadline = ttl.map(|ttl| Instant::now() + ttl);
        self.entries()?
            .insert(key.to_string(), (value.to_vec(), deadline));
        Ok(())
    }

    fn delete(&self, key: &str) -> cement::Result<bool> {
        Ok(self.entries()?.remove(key).is_some())
    }

    fn purge(&self) -> cement::Result<()> {
        self.entries()?.clear();
        Ok(())
    }

    // Optional: declare what is native; the kit then checks it (and checks that the rest is
    // refused with Error::Unsupported rather than emulated).
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE.with_add()
    }

    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<bool> {
        let mut entries = self.entries()?;
        if entries.contains_key(key) {
            return Ok(false);
        }
        entries.insert(
            key.to_string(),
            (value.to_vec(), ttl.map(|ttl| Instant::now() + ttl)),
        );
        Ok(true)
    }
}

#[derive(App)]
#[app(label = "kit_demo", cache_handler = "btree", handlers = [BTreeCache])]
struct KitDemo;

fn main() -> cement::Result<()> {
    let app = KitDemo::setup()?;
    println!(
        "checking the \"{}\" handler against the cache contract…",
        app.cache().handler_label()
    );
    let broken = cement::testing::conformance::check_all(app.cache());
    for (name, _) in cement::testing::conformance::CLAUSES {
        let mark = match broken.iter().find(|(b, _)| b == name) {
            Some((_, why)) => format!("BROKEN: {why}"),
            None => "ok".to_string(),
        };
        println!("  {name:<36} {mark}");
    }
    let stats = app.cache().stats();
    println!(
        "{} clauses, {} broken; the run made {} calls ({} hits, {} misses)",
        cement::testing::conformance::CLAUSES.len(),
        broken.len(),
        stats.ops.values().map(|o| o.calls).sum::<u64>(),
        stats.hits,
        stats.misses
    );
    app.close()?;
    if broken.is_empty() {
        Ok(())
    } else {
        std::process::exit(1)
    }
}
