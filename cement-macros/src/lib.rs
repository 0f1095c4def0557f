//! Procedural macros for [cement](https://docs.rs/cement): `#[derive(App)]`,
//! `#[cache_handler]` and `#[cached]`. Use them through `cement` (`cement::App`, `cement::cache_handler`);
//! the generated code names only `::cement::…` paths.
//!
//! Each macro is a small front end: parse the attribute into our own types (keeping the
//! original tokens for spans), validate, expand. Every error of an invocation is collected and
//! reported at its own token; on error the macro still emits the item (or a stub impl), so
//! the user sees the real errors and no cascade.

#![warn(missing_docs)]

mod app;
mod cached;
mod ctxt;
mod handler;
mod label;
mod parse;
mod suggest;
mod symbol;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Implements `cement::App` for a struct from its `#[app(...)]` attribute, and adds inherent
/// `setup()` and `builder()` so that callers need not import the trait.
///
/// ```ignore
/// use cement::{App, Config};
///
/// #[derive(App)]
/// #[app(
///     label = "myapp",                       // required; [a-z][a-z0-9_]*
///     config_defaults = defaults,            // fn() -> cement::Config
///     extensions = ["memcached"],            // extensions to load, by label
///     cache_handler = "memcached",           // default "memory"
///     handlers = [MyCacheHandler],           // checked: each must be registered
///     hooks = [(post_setup, on_ready)],      // pre_setup, post_setup, pre_run, post_run,
///                                            // pre_close, post_close
///     config_files = ["/etc/myapp/extra.toml"],
/// )]
/// struct MyApp;
///
/// let app = MyApp::setup()?;
/// ```
///
/// When the package depends on `cement-ext`, the derive also names that crate, so that its
/// extensions and handlers (registered at link time) are linked even though the app refers to
/// them only by label.
#[proc_macro_derive(App, attributes(app))]
pub fn derive_app(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    app::derive(&input).into()
}

/// Registers a struct or enum as a cache handler under a label, at link time.
///
/// ```ignore
/// #[cement::cache_handler(
///     label = "my_cache_handler",      // required; [a-z][a-z0-9_]*
///     extension = "my_extension",      // optional: resolves only in apps that load it
///     config_defaults = defaults,      // optional: fn() -> cement::Config with the handler's
///                                      // `cache.<label>` section
///     async_only,                      // optional flag: the type implements
///                                      // `cement::cache::AsyncCacheHandler` instead
///                                      // (cement feature "tokio")
/// )]
/// #[derive(Default)]
/// struct MyCacheHandler { /* ... */ }
///
/// impl cement::cache::CacheHandler for MyCacheHandler { /* get, set, delete, purge */ }
/// ```
///
/// The type must implement `cement::cache::CacheHandler` (with `async_only`:
/// `cement::cache::AsyncCacheHandler`, registered wrapped in `cement::cache::AsyncOnly`, so that
/// `app.cache()` answers `cement::Error::AsyncOnly` and `app.async_cache()` calls it natively)
/// and be constructible by the registry
/// (`Default`, or `cement::cache::HandlerSetup` to read its config section). The item itself
/// is emitted unchanged.
#[proc_macro_attribute]
pub fn cache_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    handler::cache_handler(args.into(), item.into()).into()
}

/// Caches a function's result on the app's cache: `#[cement::cached(ttl = 60)]`. The docs, with
/// examples, are at `cement::cached`.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    cached::cached(args.into(), item.into()).into()
}
