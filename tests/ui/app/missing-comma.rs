use cement::App;

#[derive(App)]
#[app(label = "myapp" cache_handler = "memory")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
