//! The cache contract: the conformance suite on the handler and through an app, and how a
//! derived app resolves the handler (or is told to load its extension).

use cement::{Builder, Error, Meta};
use cement_ext::redis::RedisCacheHandler;
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, cache, raw};

#[test]
fn conformance_suite() {
    let server = RedisServer::start().unwrap();
    cement::testing::conformance::run_all(&cache(server.port(), "conf:"));
}

#[test]
fn conformance_suite_through_an_app() {
    let server = RedisServer::start().unwrap();
    let app = app("rd_conformance", &server).setup().unwrap();
    assert_eq!(app.cache().handler_label(), "redis");
    assert_eq!(app.cache().prefix(), "rd_conformance:");
    cement::testing::conformance::run_all(app.cache());
    app.close().unwrap();
}

#[derive(cement::App)]
#[app(label = "rd_test", extensions = ["redis"], cache_handler = "redis", handlers = [RedisCacheHandler])]
struct RdApp;

#[test]
fn a_derived_app_resolves_the_redis_handler() {
    let server = RedisServer::start().unwrap();
    let app = RdApp::builder()
        .set("cache.redis", "port", server.port())
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "redis");
    app.cache().set("k", &[1, 2, 3]).unwrap();
    assert_eq!(
        app.cache().get::<Vec<i32>>("k").unwrap(),
        Some(vec![1, 2, 3])
    );
    // Stored under the prefixed key, in cement's envelope (0xCE, version, codec) + JSON.
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("rd_test:k")
        .query(&mut raw(&server))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"\xCE\x01\x01[1,2,3]"[..]));
    // The handler's own defaults fill what the app left unset.
    assert_eq!(
        app.config().get::<String>("cache.redis", "host").unwrap(),
        "127.0.0.1"
    );
    assert_eq!(
        app.config().get::<String>("cache.redis", "purge").unwrap(),
        "prefix"
    );
    app.close().unwrap();
}

#[test]
fn the_handler_needs_the_redis_extension() {
    let err = Builder::new(
        Meta::new("rd_noext")
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars(Vec::<(String, String)>::new())
    .setup()
    .unwrap_err();
    assert!(matches!(err, Error::HandlerNotLoaded { .. }), "{err}");
    assert!(
        err.to_string().contains("extensions = [\"redis\"]"),
        "{err}"
    );
}
