//! Cement's "Working with Caches", ported: the memcached extension with a memcached server on
//! `localhost:11211`.
//!
//! ```text
//! apt-get install memcached && memcached -u memcache &   # or any running memcached
//! cargo run --example memcached
//! MYAPP_CACHE_MEMCACHED_HOSTS=10.0.0.5:11211 cargo run --example memcached   # another server
//! ```
//!
//! Without a server it stops with a message that says what to start, not with a panic.

use std::process::ExitCode;

use cement::{App, Config, Error};

#[derive(App)]
#[app(
    label = "myapp",
    config_defaults = defaults,
    extensions = ["memcached"],
    cache_handler = "memcached"
)]
struct MyApp;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("myapp", "cache.memcached");
    config.set("cache.memcached", "expire_time", 300); // seconds
    config.set("cache.memcached", "hosts", vec!["127.0.0.1"]);
    config
}

fn run() -> cement::Result<()> {
    // Python's `with MyApp() as app:`
    let app = MyApp::setup()?;

    // Run the app
    app.run()?;

    // Set a cached value
    app.cache().set("my_key", "my value")?;

    // Get a cached value
    let value: Option<String> = app.cache().get("my_key")?;
    println!("my_key = {value:?}");

    // Delete a cached value
    app.cache().delete("my_key")?;

    // Delete the entire cache
    app.cache().purge()?;

    app.close()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err @ (Error::Unavailable { .. } | Error::Timeout { .. })) => {
            eprintln!("error: {err}");
            eprintln!(
                "\nThis example needs a memcached server on localhost:11211. Start one \
                 (`apt-get install memcached`, then `memcached -u memcache &`), or name another \
                 with MYAPP_CACHE_MEMCACHED_HOSTS=host:port."
            );
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
