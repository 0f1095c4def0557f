use cement::App;

#[derive(App)]
struct MyApp;

fn main() {
    // The stub impl keeps this from adding "no function `setup`" to the error.
    let _ = MyApp::setup();
}
