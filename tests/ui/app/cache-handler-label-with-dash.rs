use cement::App;

#[derive(App)]
#[app(label = "myapp", cache_handler = "my-cache")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
