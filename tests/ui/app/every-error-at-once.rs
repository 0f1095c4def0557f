use cement::{App, Application};

fn ready(_app: &Application) -> cement::Result<()> {
    Ok(())
}

// Every mistake is reported in one compile, each at its own token.
#[derive(App)]
#[app(
    label = "My-App",
    extensions = ["memcached", "Redis"],
    cache_handlr = "memory",
    hooks = [(post_setup, ready), (on_close, ready)],
    config_files = [42],
)]
enum MyApp {}

fn main() {
    let _ = MyApp::setup();
}
