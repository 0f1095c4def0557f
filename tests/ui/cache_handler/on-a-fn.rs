use cement::cache_handler;

#[cache_handler(label = "my_cache_handler")]
pub fn my_cache_handler() {}

fn main() {
    // The item is kept as written.
    my_cache_handler();
}
