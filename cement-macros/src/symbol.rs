//! Attribute names, keys and hook names, each named once (serde_derive's `symbol.rs`).

use std::fmt::{self, Display};

use proc_macro2::Ident;

/// A name the macros accept, and how its use is written (shown in error messages).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Symbol {
    pub(crate) name: &'static str,
    pub(crate) syntax: &'static str,
}

const fn symbol(name: &'static str, syntax: &'static str) -> Symbol {
    Symbol { name, syntax }
}

/// The derive's helper attribute: `#[app(...)]`.
pub(crate) const APP: &str = "app";
/// The attribute macro: `#[cache_handler(...)]`.
pub(crate) const CACHE_HANDLER_ATTR: &str = "cache_handler";

pub(crate) const LABEL: Symbol = symbol("label", "label = \"...\"");
pub(crate) const CONFIG_DEFAULTS: Symbol =
    symbol("config_defaults", "config_defaults = my_defaults");
pub(crate) const EXTENSIONS: Symbol = symbol("extensions", "extensions = [\"memcached\", ...]");
pub(crate) const CACHE_HANDLER: Symbol = symbol("cache_handler", "cache_handler = \"...\"");
pub(crate) const HANDLERS: Symbol = symbol("handlers", "handlers = [MyCacheHandler, ...]");
pub(crate) const HOOKS: Symbol = symbol("hooks", "hooks = [(post_setup, my_hook), ...]");
pub(crate) const CONFIG_FILES: Symbol =
    symbol("config_files", "config_files = [\"app.toml\", ...]");
pub(crate) const EXTENSION: Symbol = symbol("extension", "extension = \"...\"");
/// A flag (no `= value`): the handler implements `AsyncCacheHandler` only.
pub(crate) const ASYNC_ONLY: Symbol = symbol("async_only", "async_only");

/// The attribute macro: `#[cached(...)]`.
pub(crate) const CACHED_ATTR: &str = "cached";
pub(crate) const TTL: Symbol = symbol("ttl", "ttl = 60 (seconds)");
pub(crate) const KEY: Symbol = symbol("key", "key = \"user:{id}\"");
pub(crate) const VERSION: Symbol = symbol("version", "version = 2");
pub(crate) const CACHE: Symbol = symbol("cache", "cache = my_param");
pub(crate) const CACHE_NONE: Symbol = symbol("cache_none", "cache_none");

/// Keys of `#[cached(...)]`.
pub(crate) const CACHED_KEYS: &[Symbol] = &[TTL, KEY, VERSION, CACHE, CACHE_NONE];

/// Keys of `#[app(...)]`, in the order the docs list them.
pub(crate) const APP_KEYS: &[Symbol] = &[
    LABEL,
    CONFIG_DEFAULTS,
    EXTENSIONS,
    CACHE_HANDLER,
    HANDLERS,
    HOOKS,
    CONFIG_FILES,
];

/// Keys of `#[cache_handler(...)]`.
pub(crate) const HANDLER_KEYS: &[Symbol] = &[LABEL, EXTENSION, CONFIG_DEFAULTS, ASYNC_ONLY];

/// The hooks of `hooks = [(name, f)]`, in the order they run; each is a constructor of
/// `cement::Hook` (the runtime reads the same file for `cement::Hook::NAMES`).
mod hook_names;
pub(crate) use hook_names::HOOK_NAMES;

impl Symbol {
    /// Whether the key is a flag, written without `= value` (its syntax has no `=`).
    pub(crate) fn is_flag(self) -> bool {
        !self.syntax.contains('=')
    }
}

impl PartialEq<Symbol> for Ident {
    fn eq(&self, word: &Symbol) -> bool {
        self == word.name
    }
}

impl Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
