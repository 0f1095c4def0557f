use cement::App;

#[derive(App)]
#[app = "myapp"]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
