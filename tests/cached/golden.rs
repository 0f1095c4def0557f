//! The default key, pinned: the same on every build, compiler and machine. Its digest is
//! `printf '[7,"x"]' | sha256sum`, cut to 32 hex digits: JSON of the keyed arguments, then
//! SHA-256, with nothing of Rust's `Hash` or `Debug` in it.

use std::sync::atomic::{AtomicUsize, Ordering};

use cement::cache::Cache;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn lookup(cache: &Cache, id: u64, name: &str) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{name}{id}")
}

/// The crate is this test binary, `cached`; the module `golden`.
const KEY: &str = "cached::golden::lookup@v0:313568b2536f4b170b76c99c2833fd9e";

#[test]
fn the_default_key_is_pinned() {
    let cache = super::memory("gold:");
    assert_eq!(lookup(&cache, 7, "x"), "x7");
    assert_eq!(cache.get::<String>(KEY).unwrap().as_deref(), Some("x7"));
    // Through the facade: the section's prefix is in front of it on the wire.
    let wire = format!("gold:{KEY}");
    assert!(cache.handler().get(&wire).unwrap().is_some());
    assert_eq!(
        cement::cache::memo::key("cached::golden::lookup", 0, &(&7u64, &"x")).unwrap(),
        KEY
    );
    assert_eq!(lookup(&cache, 7, "x"), "x7");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}
