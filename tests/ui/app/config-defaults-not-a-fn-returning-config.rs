use cement::App;

fn defaults() -> u32 {
    300
}

#[derive(App)]
#[app(label = "myapp", config_defaults = defaults)]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
