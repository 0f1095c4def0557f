use cement::App;

// Not registered with #[cache_handler].
#[derive(Default)]
struct NotAHandler;

#[derive(App)]
#[app(label = "myapp", handlers = [NotAHandler])]
struct MyApp;

fn main() {
    let _ = MyApp::setup();
}
