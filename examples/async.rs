//! The cache from async code: `app.async_cache()` in a tokio service (feature `tokio` of
//! `cement`). Run it with `cargo run --example async`; it uses the embedded memory handler, so
//! no server is needed. On memcached or redis only `extensions` and `cache_handler` change:
//! redis (with cement-ext's feature `redis-async`) is then awaited natively on one multiplexed
//! connection, and memcached's blocking calls run on tokio's blocking pool, at most
//! `async_blocking_limit` at once, never on the runtime's own threads.

use std::time::Duration;

use cement::{App, Config};

#[derive(App)]
#[app(label = "asyncapp", config_defaults = defaults)]
struct AsyncApp;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("asyncapp", "cache.memory");
    config.set("cache.memory", "expire_time", 300); // seconds
    config.set("cache.memory", "async_blocking_limit", 32); // unused by memory; shown for redis
    config
}

/// What a request handler of a service would do: read through the cache, computing once.
async fn user_name(app: &cement::Application, id: u32) -> cement::Result<String> {
    let key = format!("user:{id}");
    app.async_cache()
        .get_or_set_with(&key, Some(Duration::from_secs(60)), || async move {
            // Stands for a database query; concurrent misses of one key run it once.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(format!("user number {id}"))
        })
        .await
}

#[tokio::main]
async fn main() -> cement::Result<()> {
    let app = std::sync::Arc::new(AsyncApp::setup()?);
    let cache = app.async_cache();
    cache.set("my_key", "my value").await?;
    let value: Option<String> = cache.get("my_key").await?;
    println!("my_key = {value:?}");

    // Ten requests for one user at once: one computation.
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let app = std::sync::Arc::clone(&app);
            tokio::spawn(async move { user_name(&app, 7).await })
        })
        .collect();
    for request in requests {
        let name = request
            .await
            .map_err(|e| cement::Error::InvalidArgument(e.to_string()))??;
        assert_eq!(name, "user number 7");
    }
    let stats = cache.stats();
    println!(
        "get_or_set_with called {} times, computed {} time(s)",
        stats.ops["get_or_set_with"].calls, stats.ops["compute"].calls
    );

    // A call cut short by a timeout leaves the cache as it was: the next call is unaffected.
    let _ = tokio::time::timeout(Duration::from_micros(1), cache.get::<String>("my_key")).await;
    assert_eq!(
        cache.get::<String>("my_key").await?.as_deref(),
        Some("my value")
    );

    cache.delete("my_key").await?;
    cache.purge().await?;
    // The blocking face of the same app sees the same cache and the same counters.
    assert_eq!(app.cache().stats(), cache.stats());
    Ok(())
}
