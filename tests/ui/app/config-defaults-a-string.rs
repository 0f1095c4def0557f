use cement::{App, Config};

fn defaults() -> Config {
    Config::new()
}

#[derive(App)]
#[app(label = "myapp", config_defaults = "defaults")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
