use cement::App;

#[derive(App)]
#[app(label = "myapp")]
union MyApp {
    a: u32,
    b: f32,
}

fn main() {
    let _ = MyApp::setup();
}
