#[cement::cached(key = "user:{user_di}")]
fn user(app: &cement::Application, user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
