//! Memcached settings, handlers, caches and apps.

use cement::cache::Cache;
use cement::Builder;
use cement_ext::memcached::{MemcachedCacheHandler, MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

/// Settings for `hosts` under `prefix`, with short timeouts (0.5 s).
pub fn settings(hosts: &[String], prefix: &str) -> MemcachedSettings {
    MemcachedSettings {
        hosts: hosts.to_vec(),
        prefix: prefix.into(),
        connect_timeout: 0.5,
        response_timeout: 0.5,
        ..Default::default()
    }
}

pub fn handler_with(settings: MemcachedSettings) -> MemcachedCacheHandler {
    MemcachedCacheHandler::new(settings).expect("valid settings")
}

/// A cache on the handler alone, without an app.
pub fn cache_with(settings: MemcachedSettings) -> Cache {
    let prefix = settings.prefix.clone();
    Cache::new("memcached", Box::new(handler_with(settings)), prefix, None)
}

pub fn cache(hosts: &[String], prefix: &str) -> Cache {
    cache_with(settings(hosts, prefix))
}

/// A cache in `purge = "server"` mode (no namespace generation).
pub fn server_mode(hosts: &[String], prefix: &str) -> Cache {
    cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(hosts, prefix)
    })
}

pub fn hosts(servers: &[&MemcachedServer]) -> Vec<String> {
    servers.iter().map(|s| s.host_spec()).collect()
}

/// An app with the memcached handler, set up through the framework (config layers, registry).
pub fn app(label: &str) -> Builder {
    super::app(label, "memcached")
}
