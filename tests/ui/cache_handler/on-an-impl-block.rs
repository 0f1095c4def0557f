use cement::cache_handler;

#[derive(Default)]
struct MyCacheHandler;

#[cache_handler(label = "my_cache_handler")]
impl MyCacheHandler {
    fn new() -> Self {
        MyCacheHandler
    }
}

fn main() {
    let _ = MyCacheHandler::new();
}
