use cement::App;

#[derive(App)]
#[app(label = myapp)]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
