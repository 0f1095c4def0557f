//! Helpers shared by the handler tests (`tests/memcached/`, `tests/redis/`) and the benches
//! (`benches/memcached.rs`, `benches/redis.rs`): settings, caches and apps for each backend, on
//! servers that the caller starts with `cement_ext::testing`.
//!
//! A test binary includes it as `#[path = "../support/mod.rs"] mod support;`, a bench as
//! `#[path = "../tests/support/mod.rs"] mod support;`.

// Each binary uses only some of the helpers.
#![allow(dead_code)]

pub mod memcached;
pub mod redis;

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
