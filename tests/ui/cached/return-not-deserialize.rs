struct Report {
    rows: Vec<u32>,
}

#[cement::cached]
fn report(app: &cement::Application, year: u16) -> Option<Report> {
    Some(Report { rows: vec![u32::from(year)] })
}

fn main() {}
