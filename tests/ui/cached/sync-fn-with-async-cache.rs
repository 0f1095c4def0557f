#[cement::cached]
fn user(cache: &cement::cache::AsyncCache, id: u64) -> String {
    id.to_string()
}

fn main() {}
