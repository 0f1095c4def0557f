//! # cement
//!
//! A Rust port of the application framework [Cement]'s cache subsystem, as a declarative
//! framework: an app is a struct whose `#[derive(App)]` attributes declare its Meta, handlers
//! are types registered at link time with `#[cache_handler(label = "...")]`, and a running app
//! offers `app.cache().get / set / delete / purge` on the handler its Meta (or its config)
//! names.
//!
//! ```
//! use cement::{App, Config};
//!
//! #[derive(App)]
//! #[app(label = "myapp", config_defaults = defaults)]
//! struct MyApp;
//!
//! fn defaults() -> Config {
//!     let mut config = cement::init_defaults!("myapp", "cache.memory");
//!     config.set("cache.memory", "expire_time", 300); // seconds
//!     config
//! }
//!
//! fn main() -> cement::Result<()> {
//!     let app = MyApp::setup()?;
//!     app.run()?;
//!     app.cache().set("my_key", "my value")?;
//!     let value: Option<String> = app.cache().get("my_key")?;
//!     assert_eq!(value.as_deref(), Some("my value"));
//!     app.cache().delete("my_key")?;
//!     app.cache().purge()?;
//!     app.close()
//! }
//! ```
//!
//! [Cement]: https://builtoncement.com

#![warn(missing_docs)]

// Lets the macros' absolute `::cement::…` paths resolve inside this crate too.
extern crate self as cement;

pub mod app;
pub mod cache;
pub mod config;
pub mod error;
pub mod hook;
pub mod meta;
pub mod registry;
// A symlink to cement-macros/src/suggest/closest.rs: one rule for every "did you mean".
mod label;
mod suggest;
#[cfg(feature = "testing")]
pub mod testing;

pub use app::{App, Application, Builder};
pub use config::Config;
pub use error::{Error, Result};
pub use hook::Hook;
pub use meta::Meta;

/// Derives [`App`] from `#[app(...)]`: the app's Meta, plus `setup()` and `builder()`.
///
/// Keys: `label = "..."` (required, `[a-z][a-z0-9_]*`), `config_defaults = path` (a
/// `fn() -> Config`), `extensions = ["...", ...]`, `cache_handler = "..."` (default
/// `"memory"`), `handlers = [Type, ...]`, `hooks = [(name, path), ...]`,
/// `config_files = ["...", ...]`.
pub use cement_macros::App;

/// Registers a type as a cache handler under a label: `#[cache_handler(label = "...")]`.
///
/// Optional keys: `extension = "..."` (the handler resolves only in apps that load that
/// extension) and `config_defaults = path` (a `fn() -> Config` with the handler's
/// `cache.<label>` section; it fills only keys the app left unset).
pub use cement_macros::cache_handler;

/// A [`Config`] with the given (empty) sections, like Cement's `init_defaults`.
///
/// ```
/// let mut config = cement::init_defaults!("myapp", "cache.redis");
/// config.set("cache.redis", "port", 6380);
/// assert_eq!(config.get::<u16>("cache.redis", "port").unwrap(), 6380);
/// ```
#[macro_export]
macro_rules! init_defaults {
    ($($section:expr),* $(,)?) => {
        $crate::Config::with_sections(&[$($section),*])
    };
}

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// What generated code uses; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{HandlerRegistration, RegisteredHandler};
    pub use inventory;
}
