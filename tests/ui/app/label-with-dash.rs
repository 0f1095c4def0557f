use cement::App;

#[derive(App)]
#[app(label = "my-app")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
