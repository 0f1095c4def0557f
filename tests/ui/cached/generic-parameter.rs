#[cement::cached]
fn describe<T: serde::Serialize>(app: &cement::Application, value: T) -> String {
    let _ = value;
    String::new()
}

fn main() {}
