//! Cement's "Creating a Cache Handler": a handler type registered under a label, and an app
//! that selects it by that label.
//!
//! Run it with `cargo run --example custom_handler`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cement::cache::CacheHandler;
use cement::{App, Error};

/// Value and deadline of each entry.
type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

/// A cache in a `HashMap`, with expiry checked on read.
#[cement::cache_handler(label = "my_cache_handler")]
#[derive(Default)]
struct MyCacheHandler {
    entries: Mutex<Entries>,
}

impl MyCacheHandler {
    fn entries(&self) -> cement::Result<MutexGuard<'_, Entries>> {
        self.entries.lock().map_err(|_| Error::Backend {
            backend: "my_cache_handler",
            source: "a thread panicked while holding the cache lock".into(),
        })
    }
}

impl CacheHandler for MyCacheHandler {
    fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
        let mut entries = self.entries()?;
        match entries.get(key) {
            Some((_, Some(deadline))) if *deadline <= Instant::now() => {
                entries.remove(key);
                Ok(None)
            }
            Some((value, _)) => Ok(Some(value.clone())),
            None => Ok(None),
        }
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<()> {
        let deadline = ttl.map(|ttl| Instant::now() + ttl);
        self.entries()?
            .insert(key.to_string(), (value.to_vec(), deadline));
        Ok(())
    }

    fn delete(&self, key: &str) -> cement::Result<bool> {
        let live = self.get(key)?.is_some();
        Ok(self.entries()?.remove(key).is_some() && live)
    }

    fn purge(&self) -> cement::Result<()> {
        self.entries()?.clear();
        Ok(())
    }
}

#[derive(App)]
#[app(label = "myapp", cache_handler = "my_cache_handler", handlers = [MyCacheHandler])]
struct MyApp;

fn main() -> cement::Result<()> {
    let app = MyApp::setup()?;
    app.run()?;
    println!("cache handler: {}", app.cache().handler_label());
    app.cache().set("greeting", "hello from my_cache_handler")?;
    println!(
        "get greeting -> {:?}",
        app.cache().get::<String>("greeting")?
    );
    app.cache()
        .set_with_ttl("short", &1, Duration::from_millis(50))?;
    std::thread::sleep(Duration::from_millis(100));
    println!(
        "get short after its ttl -> {:?}",
        app.cache().get::<i32>("short")?
    );
    println!("delete greeting -> {}", app.cache().delete("greeting")?);
    app.close()
}
