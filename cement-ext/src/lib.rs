//! # cement-ext
//!
//! Cache handler extensions for [`cement`], one cargo feature and one module each:
//!
//! | feature | extension label | handler |
//! |---|---|---|
//! | `memcached` | `"memcached"` | `memcached::MemcachedCacheHandler` (label `"memcached"`) |
//! | `redis` | `"redis"` | `redis::RedisCacheHandler` (label `"redis"`) |
//! | `sqlite` | `"sqlite"` | `sqlite::SqliteCacheHandler` (label `"sqlite"`): a persistent cache in a local file |
//!
//! The `testing` feature adds `testing`: real `memcached` and `redis-server` processes for
//! tests (`testing::MemcachedServer`, `testing::RedisServer`), beside the handlers they test.
//!
//! An app loads an extension by label, `#[app(extensions = ["redis"], cache_handler = "redis")]`,
//! or from its config file (`[myapp] extensions = ["redis"]`, `cache_handler = "redis"`).
//! `#[derive(App)]` links this crate by itself when the app's package depends on it; when the
//! app is built from another package, add `use cement_ext as _;` once so that its registrations
//! are linked.

#![warn(missing_docs)]

#[cfg(feature = "memcached")]
pub mod memcached;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
