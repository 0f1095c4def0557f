use cement::{App, Application};

fn ready(_app: &Application) -> cement::Result<()> {
    Ok(())
}

#[derive(App)]
#[app(label = "myapp", hooks = [(post_stup, ready)])]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
