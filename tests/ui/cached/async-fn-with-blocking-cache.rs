#[cement::cached]
async fn user(cache: &cement::cache::Cache, id: u64) -> String {
    id.to_string()
}

fn main() {}
