use cement::App;

#[derive(App)]
#[app(label = "myapp")]
enum MyApp {
    Dev,
    Prod,
}

fn main() {
    let _ = MyApp::setup();
}
