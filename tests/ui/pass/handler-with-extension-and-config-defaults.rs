// A handler owned by an extension, with config defaults read through `HandlerSetup`; and an
// enum handler.
use std::time::Duration;

use cement::cache::{CacheHandler, HandlerSetup};
use cement::registry::HandlerContext;
use cement::{App, Config};

cement::register_extension!("greeting", "a handler that greets");

#[derive(serde::Deserialize)]
struct Settings {
    greeting: String,
}

fn greeting_defaults() -> Config {
    let mut config = cement::init_defaults!("cache.greeting");
    config.set("cache.greeting", "greeting", "hello");
    config
}

#[cement::cache_handler(label = "greeting", extension = "greeting", config_defaults = greeting_defaults)]
struct GreetingCache {
    greeting: String,
}

impl HandlerSetup for GreetingCache {
    fn setup(ctx: &HandlerContext<'_>) -> cement::Result<Self> {
        let settings: Settings = ctx.settings()?;
        Ok(GreetingCache {
            greeting: settings.greeting,
        })
    }
}

impl CacheHandler for GreetingCache {
    fn get(&self, _key: &str) -> cement::Result<Option<Vec<u8>>> {
        // The greeting comes from the handler's config section.
        Ok(Some(self.greeting.clone().into_bytes()))
    }
    fn set(&self, _key: &str, _value: &[u8], _ttl: Option<Duration>) -> cement::Result<()> {
        Ok(())
    }
    fn delete(&self, _key: &str) -> cement::Result<bool> {
        Ok(false)
    }
    fn purge(&self) -> cement::Result<()> {
        Ok(())
    }
}

/// An enum works as a handler type too.
#[cement::cache_handler(label = "always_empty")]
#[derive(Default)]
pub enum AlwaysEmpty {
    #[default]
    Only,
}

impl CacheHandler for AlwaysEmpty {
    fn get(&self, _key: &str) -> cement::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn set(&self, _key: &str, _value: &[u8], _ttl: Option<Duration>) -> cement::Result<()> {
        Ok(())
    }
    fn delete(&self, _key: &str) -> cement::Result<bool> {
        Ok(false)
    }
    fn purge(&self) -> cement::Result<()> {
        Ok(())
    }
}

// A `#[cfg]`-ed out type takes its registration with it.
#[cement::cache_handler(label = "configured_out")]
#[cfg(any())]
#[derive(Default)]
struct ConfiguredOut;

#[derive(App)]
#[app(label = "greeter", extensions = ["greeting"], cache_handler = "greeting", handlers = [GreetingCache, AlwaysEmpty])]
struct Greeter;

fn main() {
    let handler = cement::registry::handlers("cache")
        .into_iter()
        .find(|r| r.label() == "greeting")
        .expect("registered");
    assert_eq!(handler.extension(), Some("greeting"));
    assert!(
        handler.type_name().ends_with("::GreetingCache"),
        "{}",
        handler.type_name()
    );
    assert!(cement::registry::handler_labels("cache")
        .iter()
        .all(|l| l != "configured_out"));

    let app = Greeter::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .setup()
        .unwrap();
    assert_eq!(
        app.cache().handler().get("anything").unwrap(),
        Some(b"hello".to_vec())
    );
    app.close().unwrap();
}
