use cement::App;

#[derive(App)]
#[app(label = "myapp", version = "1.0")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
