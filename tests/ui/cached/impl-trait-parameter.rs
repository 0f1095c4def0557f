#[cement::cached]
fn total(app: &cement::Application, items: impl Iterator<Item = u32>) -> u32 {
    items.sum()
}

fn main() {}
