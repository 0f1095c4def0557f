use cement::App;

#[derive(App)]
#[app(label = "myapp", extensions = "memcached")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
