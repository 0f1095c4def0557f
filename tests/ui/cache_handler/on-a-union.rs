use cement::cache_handler;

#[cache_handler(label = "my_cache_handler")]
union MyCacheHandler {
    a: u32,
    b: f32,
}

fn main() {
    let _ = MyCacheHandler { a: 1 };
}
