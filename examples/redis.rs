//! Cement's "Working with Caches", on the redis cache handler.
//!
//! Needs a redis-server on 127.0.0.1:6379 (`apt-get install redis-server`; then
//! `redis-server --save '' --appendonly no`), or point it elsewhere without recompiling:
//! `MYAPP_CACHE_REDIS_PORT=6380 cargo run --example redis`, or
//! `MYAPP_CACHE_REDIS_URL=redis://user:password@host:6379/0`. Without a server it stops with a
//! message that says so (the app itself starts: the handler connects on first use).

use std::process::ExitCode;

use cement::{App, Config, Error};

#[derive(App)]
#[app(label = "myapp", config_defaults = defaults, extensions = ["redis"], cache_handler = "redis")]
struct MyApp;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("myapp", "cache.redis");
    config.set("cache.redis", "expire_time", 300); // seconds
    config.set("cache.redis", "host", "127.0.0.1");
    config.set("cache.redis", "port", 6379);
    config
}

fn run() -> cement::Result<()> {
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

    // Values keep their type (Cement's redis handler returned everything as text)
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

    // Delete the entire cache: only this app's keys (prefix "myapp:"), not the whole server
    app.cache().purge()?;
    println!(
        "purge -> get answer -> {:?}",
        app.cache().get::<u32>("answer")?
    );

    app.close()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            if matches!(err, Error::Unavailable { .. } | Error::Timeout { .. }) {
                eprintln!(
                    "\nThis example needs a running redis server. Start one with\n    \
                     redis-server --port 6379 --save '' --appendonly no\n\
                     (install it with `apt-get install redis-server`), or point the example at yours:\n    \
                     MYAPP_CACHE_REDIS_URL=redis://host:6379/0 cargo run --example redis"
                );
            }
            ExitCode::FAILURE
        }
    }
}
