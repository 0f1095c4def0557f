#[cement::cached(cache = pool)]
fn count(pool: &String, id: u64) -> u64 {
    let _ = pool;
    id
}

fn main() {}
