use cement::cache_handler;

#[cache_handler(label = "my_cache_handler")]
pub(crate) unsafe trait MyCache {}

fn main() {}
