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

/// Caches a function's result on the app's cache: the call looks its key up, and on a miss
/// runs the body and stores what it returns.
///
/// ```
/// use cement::App;
///
/// #[derive(App)]
/// #[app(label = "rates")]
/// struct Rates;
///
/// #[cement::cached(ttl = 60)]
/// fn exchange_rate(app: &cement::Application, from: &str, to: &str) -> Result<f64, String> {
///     // an expensive call
///     if from == to { Ok(1.0) } else { Ok(1.08) }
/// }
///
/// # fn main() -> cement::Result<()> {
/// let app = Rates::setup()?;
/// assert_eq!(exchange_rate(&app, "EUR", "USD"), Ok(1.08)); // computed and stored
/// assert_eq!(exchange_rate(&app, "EUR", "USD"), Ok(1.08)); // read from the cache
/// // The body as written, without the cache:
/// assert_eq!(exchange_rate_uncached(&app, "EUR", "EUR"), Ok(1.0));
/// app.close()
/// # }
/// ```
///
/// **The cache** comes from a parameter, which is not part of the key: `&Application` or
/// `&cache::Cache` for a sync fn, `&Application` or `&cache::AsyncCache` for an `async fn`
/// (feature `tokio`). It is found by its type's last path segment, or named with
/// `cache = param`.
///
/// **Arguments** of the attribute, all optional:
///
/// | argument | meaning |
/// |---|---|
/// | `ttl = 60` | seconds a value lives (not 0); default: the section's `expire_time` |
/// | `key = "user:{id}"` | a readable key from the named parameters (`Display`); other parameters are then not part of the key |
/// | `version = 2` | part of the key: bump it when the function's meaning changes, and old values are never read |
/// | `cache = param` | the parameter that gives the cache, when its type is an alias |
/// | `cache_none` | for an `Option<T>` fn: cache a returned `None` too (negative caching) |
///
/// **Keys.** The default key is `"{module_path}::{fn}@v{version}:{digest}"`, where the digest
/// is 128 bits of SHA-256 over the JSON (`serde_json`) encoding of the tuple of the other
/// parameters, so it is the same across builds, compilers and machines (parameters must be
/// `serde::Serialize`; a map must iterate in a stable order, a `BTreeMap` rather than a
/// `HashMap`). A `key = "..."` template is the key as rendered, with `#v{version}` appended
/// when `version` is given. Either goes through the facade like any key: the section's
/// `prefix`, then the handler's key mapping.
///
/// **Returns.** `Result<T, E>` stores `Ok` only; `Option<T>` stores `Some` only (and `None`
/// too with `cache_none`); any other `T` is always stored. The stored type must be
/// `serde::Serialize + serde::de::DeserializeOwned`.
///
/// **Concurrency.** A call is one [`Cache::get_or_set_with`](cache::Cache::get_or_set_with):
/// concurrent misses of one key in a process compute once, and with `lease_time` set, once
/// across processes.
///
/// **Faults.** The function keeps its signature, so the cache never adds an error to it: a
/// fault that the section's policy absorbs (`on_read_error = "miss"`, `on_write_error =
/// "drop"`) is a miss or an unstored value, as for any call; one that the policy raises is
/// logged (`tracing` at `warn`) and the function's own result is returned — the body runs
/// uncached if it had not run, and never twice.
///
/// **The uncached function.** The body stays callable as `<name>_uncached`, with the same
/// signature and visibility.
///
/// The macro rejects at compile time, each at its token: a fn without a cache parameter,
/// parameters or return types that are not serde types, `ttl = 0`, unknown arguments (with a
/// did-you-mean), `key = "{x}"` naming no parameter, generic or `impl Trait` parameters, and
/// an `AsyncCache` on a sync fn or a `Cache` on an `async fn`.
pub use cement_macros::cached;

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
