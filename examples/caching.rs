//! Cement's "Working with Caches", on the embedded `memory` cache handler (no server needed).
//!
//! Run it with `cargo run --example caching`. The same program on memcached or redis changes
//! only `extensions` and `cache_handler` (see `examples/memcached.rs` and `examples/redis.rs`),
//! or, without recompiling, the `[myapp]` section of a config file or `MYAPP_CACHE_HANDLER`.

use cement::{App, Config};

#[derive(App)]
#[app(label = "myapp", config_defaults = defaults, cache_handler = "memory")]
struct MyApp;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("myapp", "cache.memory");
    config.set("cache.memory", "expire_time", 300); // seconds
    config.set("cache.memory", "max_entries", 10_000);
    config
}

fn main() -> cement::Result<()> {
    // Python's `with MyApp() as app:`
    let app = MyApp::setup()?;
    println!(
        "app {:?} set up with the {:?} cache handler (keys prefixed with {:?}, expire_time {:?})",
        app.label(),
        app.cache().handler_label(),
        app.cache().prefix(),
        app.cache().default_ttl(),
    );

    // Run the app
    app.run()?;

    // Set a cached value
    app.cache().set("my_key", "my value")?;
    println!("set my_key = \"my value\"");

    // Get a cached value
    let value: Option<String> = app.cache().get("my_key")?;
    println!("get my_key -> {value:?}");

    // Values are typed: anything serde can serialize round-trips
    app.cache().set("answer", &42u32)?;
    println!("get answer -> {:?}", app.cache().get::<u32>("answer")?);
    println!(
        "get_or missing, fallback 7 -> {}",
        app.cache().get_or("missing", 7)?
    );

    // Delete a cached value
    let removed = app.cache().delete("my_key")?;
    println!(
        "delete my_key -> {removed} (a second delete -> {})",
        app.cache().delete("my_key")?
    );

    // Delete the entire cache
    app.cache().purge()?;
    println!(
        "purge -> get answer -> {:?}",
        app.cache().get::<u32>("answer")?
    );

    app.close()
}
