#[cement::cached(cache_none)]
fn count(app: &cement::Application, id: u64) -> u64 {
    id
}

fn main() {}
