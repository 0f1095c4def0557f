use cement::App;

#[derive(App)]
#[app(label = "myapp", extensions = ["mem-cached"])]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
