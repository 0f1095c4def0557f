use cement::cache_handler;

// Registered, but `impl CacheHandler for MyCacheHandler` is missing.
#[cache_handler(label = "my_cache_handler")]
#[derive(Default)]
struct MyCacheHandler;

fn main() {}
