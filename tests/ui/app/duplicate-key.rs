use cement::App;

#[derive(App)]
#[app(label = "myapp", cache_handler = "memory", label = "other")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
