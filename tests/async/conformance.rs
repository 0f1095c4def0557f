//! The async conformance kit on every built-in handler with a server.

use cement_ext::testing::{MemcachedServer, RedisServer};

use crate::support;

#[tokio::test(flavor = "current_thread")]
async fn redis_conforms_through_the_async_face() {
    let server = RedisServer::start().unwrap();
    let app = support::redis::app("async_rd_conf", &server)
        .setup()
        .unwrap();
    // Native: the multiplexed connection of cement-ext's `redis-async`, not the blocking pool.
    assert!(app.async_cache().handler().as_async().is_some());
    cement::testing::conformance_async::run_all_async(app.async_cache()).await;
    assert_eq!(app.cache().stats(), app.async_cache().stats());
}

#[tokio::test(flavor = "current_thread")]
async fn memcached_conforms_through_the_async_face() {
    let server = MemcachedServer::start().unwrap();
    let app = support::memcached::app("async_mc_conf")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .setup()
        .unwrap();
    cement::testing::conformance_async::run_all_async(app.async_cache()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn memory_conforms_through_the_async_face() {
    let app = cement::Builder::new(cement::Meta::new("async_mem_conf").default_config_files(false))
        .env_vars(Vec::<(String, String)>::new())
        .setup()
        .unwrap();
    assert_eq!(app.async_cache().handler_label(), "memory");
    cement::testing::conformance_async::run_all_async(app.async_cache()).await;
}
