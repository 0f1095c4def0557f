use cement::App;

// A post_setup hook takes `&Application` and returns `cement::Result<()>`.
fn ready() {}

#[derive(App)]
#[app(label = "myapp", hooks = [(post_setup, ready)])]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
