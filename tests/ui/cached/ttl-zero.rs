#[cement::cached(ttl = 0)]
fn rate(app: &cement::Application, id: u64) -> u64 {
    id
}

fn main() {}
