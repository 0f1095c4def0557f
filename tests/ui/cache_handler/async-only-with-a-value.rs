use cement::cache_handler;

// `async_only` is a flag: `async_only = true` is refused.
#[cache_handler(label = "my_cache_handler", async_only = true)]
#[derive(Default)]
struct MyCacheHandler;

fn main() {}
