type Store = cement::cache::Cache;

#[cement::cached(cache = stor)]
fn count(store: &Store, id: u64) -> u64 {
    id
}

fn main() {}
