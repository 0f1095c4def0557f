//! The value property on every built-in handler, through an app as users set it up: a `set`
//! that returns `Ok` reads back equal; a refused `set` is an `Error::Codec`, exactly for what
//! JSON cannot give back, and leaves the value before intact (`cement::testing::values`).
//!
//! memcached and redis are real servers on free loopback ports, started once for this binary.

// The handlers register at link time; nothing else here names the crate.
use cement_ext as _;

use cement::testing::values;
use cement::{Application, Builder, Meta};
use cement_ext::testing::{MemcachedServer, RedisServer};

/// Cases per strategy and handler: enough to reach the depth limit and the float edges
/// every run, few enough for a loaded CI machine.
const CASES: u32 = 256;

fn app(label: &str, handler: &str) -> Builder {
    let mut meta = Meta::new(label)
        .cache_handler(handler)
        .default_config_files(false);
    if handler != "memory" {
        meta = meta.extensions([handler]);
    }
    Builder::new(meta).env_vars(Vec::<(String, String)>::new())
}

fn setup(builder: Builder) -> Application {
    builder.setup().expect("the app sets up")
}

#[test]
fn memory_keeps_the_value_property() {
    let app = setup(app("values_memory", "memory"));
    values::run(app.cache(), CASES);
}

#[test]
fn memcached_keeps_the_value_property() {
    let server = MemcachedServer::start().unwrap();
    let app = setup(app("values_memcached", "memcached").set(
        "cache.memcached",
        "hosts",
        server.host_spec(),
    ));
    values::run(app.cache(), CASES);
}

#[test]
fn redis_keeps_the_value_property() {
    let server = RedisServer::start().unwrap();
    let app = setup(app("values_redis", "redis").set("cache.redis", "port", server.port()));
    values::run(app.cache(), CASES);
}
