//! Helpers shared by the server tests (`tests/memcached/`, `tests/redis/`, `tests/policy.rs`)
//! and the benches (`benches/memcached.rs`, `benches/redis.rs`): settings, caches and apps for
//! each backend, on servers that the caller starts with `cement_ext::testing`.
//!
//! Each includes it with `#[path]`: `#[path = "../support/mod.rs"] mod support;` from a test
//! binary's `main.rs`, `"support/mod.rs"` from a single-file test, `"../tests/support/mod.rs"`
//! from a bench.

// Each binary uses only some of the helpers.
#![allow(dead_code)]

pub mod memcached;
pub mod redis;
pub mod sqlite;

use cement::{Builder, Meta};

/// An app whose cache handler is `extension`'s, set up through the framework (config layers,
/// registry), with no config files and no environment variables, so that only what the caller
/// sets applies.
pub fn app(label: &str, extension: &str) -> Builder {
    Builder::new(
        Meta::new(label)
            .extensions([extension])
            .cache_handler(extension)
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
}
