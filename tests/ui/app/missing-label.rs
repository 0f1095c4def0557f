use cement::App;

#[derive(App)]
#[app(cache_handler = "memory")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
