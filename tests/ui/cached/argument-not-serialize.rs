struct Connection;

#[cement::cached]
fn lookup(app: &cement::Application, conn: &Connection, id: u64) -> u64 {
    let _ = conn;
    id
}

fn main() {}
