//! An app's declaration: what `#[derive(App)]` generates from `#[app(...)]`.

use std::path::PathBuf;

use crate::registry::RegisteredHandler;
use crate::{Config, Hook};

/// The label of the handler an app uses when it names none: the embedded [`memory`] handler.
///
/// [`memory`]: crate::cache::MemoryCacheHandler
pub const DEFAULT_CACHE_HANDLER: &str = "memory";

/// An app's Meta (Cement's `App.Meta`): its label, config defaults, extensions, cache handler,
/// handlers, hooks and config files.
///
/// `#[derive(App)]` builds one from `#[app(...)]`; [`Builder`](crate::Builder) can change it
/// before setup, and the `[<label>]` config section can override `cache_handler` and
/// `extensions`.
///
/// ```
/// use cement::Meta;
///
/// let meta = Meta::new("myapp").extensions(["redis"]).cache_handler("redis");
/// assert_eq!(meta.label(), "myapp");
/// assert_eq!(meta.cache_handler_label(), "redis");
/// assert_eq!(meta.extension_labels(), ["redis"]);
/// ```
#[derive(Clone, Debug)]
pub struct Meta {
    pub(crate) label: String,
    pub(crate) config_defaults: Option<fn() -> Config>,
    pub(crate) extensions: Vec<String>,
    pub(crate) cache_handler: String,
    pub(crate) handlers: Vec<&'static str>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) config_files: Vec<PathBuf>,
    pub(crate) default_config_files: bool,
}

impl Meta {
    /// A Meta with this label and every other option at its default.
    pub fn new(label: impl Into<String>) -> Self {
        Meta {
            label: label.into(),
            config_defaults: None,
            extensions: Vec::new(),
            cache_handler: DEFAULT_CACHE_HANDLER.to_string(),
            handlers: Vec::new(),
            hooks: Vec::new(),
            config_files: Vec::new(),
            default_config_files: true,
        }
    }

    /// The function that returns the app's config defaults.
    pub fn config_defaults(mut self, defaults: fn() -> Config) -> Self {
        self.config_defaults = Some(defaults);
        self
    }

    /// Adds extensions to load (their labels).
    pub fn extensions<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for label in labels {
            let label = label.into();
            if !self.extensions.contains(&label) {
                self.extensions.push(label);
            }
        }
        self
    }

    /// The label of the cache handler to use.
    pub fn cache_handler(mut self, label: impl Into<String>) -> Self {
        self.cache_handler = label.into();
        self
    }

    /// Declares a handler type the app relies on (`handlers = [...]`); it must be registered.
    pub fn handler<H: RegisteredHandler>(mut self) -> Self {
        self.handlers.push(H::LABEL);
        self
    }

    /// Adds a hook; hooks of one kind run in the order they were added.
    pub fn hook(mut self, hook: Hook) -> Self {
        self.hooks.push(hook);
        self
    }

    /// Adds a config file to read after the default locations; it must exist.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config_files.push(path.into());
        self
    }

    /// Whether to read the default config files (`/etc/<label>/<label>.toml`,
    /// `~/.config/<label>/<label>.toml`, `~/.<label>.toml`); on by default.
    pub fn default_config_files(mut self, read: bool) -> Self {
        self.default_config_files = read;
        self
    }

    /// The app's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The label of the cache handler.
    pub fn cache_handler_label(&self) -> &str {
        &self.cache_handler
    }

    /// The labels of the extensions to load.
    pub fn extension_labels(&self) -> &[String] {
        &self.extensions
    }

    /// The labels of the handlers declared with `handlers = [...]`.
    pub fn handler_labels(&self) -> &[&'static str] {
        &self.handlers
    }

    /// The config files named by the Meta or the builder.
    pub fn config_files(&self) -> &[PathBuf] {
        &self.config_files
    }
}
