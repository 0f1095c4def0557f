//! Redis settings, caches and apps, and a raw connection to inspect the server with.

use cement::cache::Cache;
use cement::Builder;
use cement_ext::redis::{RedisCacheHandler, RedisSettings};
use cement_ext::testing::RedisServer;

/// Settings for the server on `port` under `prefix`, with short timeouts (0.5 s).
pub fn settings(port: u16, prefix: &str) -> RedisSettings {
    RedisSettings {
        port,
        prefix: prefix.into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    }
}

/// A cache on the handler alone, without an app.
pub fn cache_with(settings: RedisSettings) -> Cache {
    let prefix = settings.prefix.clone();
    let handler = RedisCacheHandler::new(settings).expect("valid settings");
    Cache::new("redis", Box::new(handler), prefix, None)
}

pub fn cache(port: u16, prefix: &str) -> Cache {
    cache_with(settings(port, prefix))
}

/// An app with the redis handler on `server`, set up through the framework (config layers,
/// registry).
pub fn app(label: &str, server: &RedisServer) -> Builder {
    super::app(label, "redis").set("cache.redis", "port", server.port())
}

/// A connection of the raw `redis` client to `server`.
pub fn raw(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("raw connection")
}
