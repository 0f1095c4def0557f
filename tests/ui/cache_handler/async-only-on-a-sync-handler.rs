use std::time::Duration;

use cement::cache::CacheHandler;
use cement::cache_handler;

// `async_only` on a type that implements only the sync `CacheHandler`.
#[cache_handler(label = "my_cache_handler", async_only)]
#[derive(Default)]
struct MyCacheHandler;

impl CacheHandler for MyCacheHandler {
    fn get(&self, _key: &str) -> cement::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn set(&self, _key: &str, _value: &[u8], _ttl: Option<Duration>) -> cement::Result<()> {
        Ok(())
    }
    fn delete(&self, _key: &str) -> cement::Result<bool> {
        Ok(false)
    }
    fn purge(&self) -> cement::Result<()> {
        Ok(())
    }
}

fn main() {}
