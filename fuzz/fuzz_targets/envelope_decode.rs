//! Arbitrary stored bytes, read back through the typed facade as several types: never a panic;
//! bytes without cement's envelope (or counter digits) are a counted miss; whatever decodes
//! stores and reads back the same.
#![no_main]

use std::sync::OnceLock;

use cement::cache::{Cache, CacheHandler, MemoryCacheHandler};
use cement::testing::values::{same, Value};
use libfuzzer_sys::fuzz_target;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache::new("memory", Box::new(MemoryCacheHandler::new(16)), "", None))
}

fn enveloped_or_counter(bytes: &[u8]) -> bool {
    matches!(bytes, [0xCE, 1, 1, ..])
        || (!bytes.is_empty() && bytes.len() <= 20 && bytes.iter().all(u8::is_ascii_digit))
}

fuzz_target!(|data: &[u8]| {
    let cache = cache();
    cache.handler().set("k", data, None).expect("memory set");
    let before = cache.stats().decode_errors;
    let value = cache
        .get::<Value>("k")
        .expect("a decode failure is a miss, not an error");
    let _ = cache
        .get::<serde_json::Value>("k")
        .expect("miss, not an error");
    let _ = cache.get::<String>("k").expect("miss, not an error");
    let _ = cache.get::<u64>("k").expect("miss, not an error");
    let _ = cache
        .get::<Vec<Option<f64>>>("k")
        .expect("miss, not an error");
    if !enveloped_or_counter(data) {
        assert!(value.is_none(), "foreign bytes decoded as {value:?}");
        assert_eq!(
            cache.stats().decode_errors,
            before + 5,
            "foreign bytes were not counted"
        );
    }
    if let Some(value) = value {
        // What decodes is a value like any other: it stores and reads back the same.
        cache.set("again", &value).expect("a decoded value stores");
        let again: Value = cache.get("again").expect("get").expect("hit");
        assert!(same(&value, &again), "{value:?} read back as {again:?}");
    }
});
