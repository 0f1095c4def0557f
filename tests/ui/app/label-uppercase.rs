use cement::App;

#[derive(App)]
#[app(label = "MyApp")]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
