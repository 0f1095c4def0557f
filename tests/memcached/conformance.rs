//! The cache contract: the conformance suite on one server, three servers and in server purge
//! mode, Cement's own memcached tests through `#[derive(App)]`, and bytes at the handler level.

use cement::cache::{CacheHandler, KeyRules};
use cement_ext::memcached::{MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{app, cache, cache_with, handler_with, hosts, settings};

#[test]
fn conformance_suite_one_server() {
    let server = MemcachedServer::start().unwrap();
    let app = app("mc_conformance")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "memcached");
    cement::testing::conformance::run_all(app.cache());
}

#[test]
fn conformance_suite_three_servers() {
    let servers = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let cache = cache(&hosts(&[&servers[0], &servers[1], &servers[2]]), "mc3:");
    cement::testing::conformance::run_all(&cache);
}

#[test]
fn conformance_suite_server_purge_mode() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&[server.host_spec()], "mcs:")
    });
    cement::testing::conformance::run_all(&cache);
}

/// The seed's "Working with Caches", through `#[derive(App)]`, plus Cement's own memcached tests.
#[test]
fn derived_app_works_like_cements_memcached_tests() {
    #[derive(cement::App)]
    #[app(label = "mc_test", extensions = ["memcached"], cache_handler = "memcached")]
    struct McApp;

    let server = MemcachedServer::start().unwrap();
    let app = McApp::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .setup()
        .unwrap();
    app.run().unwrap();
    let cache = app.cache();
    // test_memcached_set: ints round-trip as ints
    cache.set("key", &1001).unwrap();
    assert_eq!(cache.get::<i32>("key").unwrap(), Some(1001));
    // test_memcached_delete / get: delete reports presence; misses use the fallback
    assert!(cache.delete("key").unwrap());
    assert!(!cache.delete("key").unwrap());
    assert_eq!(cache.get::<i32>("key").unwrap(), None);
    assert_eq!(cache.get_or("key", 1234).unwrap(), 1234);
    // test_memcached_purge
    cache.set("key", &1002).unwrap();
    cache.purge().unwrap();
    assert_eq!(cache.get::<i32>("key").unwrap(), None);
    // the prefix defaults to "<app label>:"
    assert_eq!(cache.prefix(), "mc_test:");
    assert_eq!(cache.handler().key_rules(), KeyRules::MEMCACHED);
    app.close().unwrap();
}

#[test]
fn bytes_round_trip_at_the_handler_level() {
    let server = MemcachedServer::start().unwrap();
    let handler = handler_with(settings(&[server.host_spec()], "h:"));
    for value in [&b""[..], b"\0\r\n\xff", &[7u8; 100_000]] {
        handler.set("h:k", value, None).unwrap();
        assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(value));
    }
    assert!(handler.delete("h:k").unwrap());
    assert!(!handler.delete("h:k").unwrap());
    assert_eq!(handler.get("h:k").unwrap(), None);
    handler.close().unwrap();
    // usable again after close: it reconnects
    handler.set("h:k", b"again", None).unwrap();
    assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(&b"again"[..]));
}
