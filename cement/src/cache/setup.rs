//! How a handler is built from its config section: [`HandlerSetup`], and the
//! [`HandlerContext`] it is given.

use serde::de::DeserializeOwned;

use super::settings::CacheSettings;
use crate::{Config, Result};

/// How a handler type is built from its config section. Every `Default` type gets this for
/// free; a handler that reads its `cache.<label>` section implements it.
///
/// ```
/// use cement::cache::{HandlerContext, HandlerSetup};
///
/// #[derive(serde::Deserialize)]
/// struct Settings { max_entries: u64 }
///
/// struct Bounded { max_entries: u64 }
///
/// impl HandlerSetup for Bounded {
///     fn setup(ctx: &HandlerContext<'_>) -> cement::Result<Self> {
///         let settings: Settings = ctx.settings()?;
///         Ok(Bounded { max_entries: settings.max_entries })
///     }
/// }
/// ```
pub trait HandlerSetup: Sized {
    /// Builds the handler; `ctx` gives its config section, typed through serde.
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self>;
}

impl<T: Default> HandlerSetup for T {
    fn setup(_ctx: &HandlerContext<'_>) -> Result<Self> {
        Ok(T::default())
    }
}

/// What a handler gets when it is built: its label, its config section and the whole config.
#[derive(Debug)]
pub struct HandlerContext<'a> {
    app_label: &'a str,
    label: &'a str,
    section: String,
    config: &'a Config,
}

impl<'a> HandlerContext<'a> {
    pub(crate) fn new(
        app_label: &'a str,
        interface: &str,
        label: &'a str,
        config: &'a Config,
    ) -> Self {
        HandlerContext {
            app_label,
            label,
            section: format!("{interface}.{label}"),
            config,
        }
    }

    /// The label of the app being set up.
    pub fn app_label(&self) -> &str {
        self.app_label
    }

    /// The handler's own label.
    pub fn label(&self) -> &str {
        self.label
    }

    /// The handler's config section, `"<interface>.<label>"`, e.g. `"cache.redis"`.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// The app's whole config.
    pub fn config(&self) -> &Config {
        self.config
    }

    /// The handler's section deserialized as `T`; environment values are parsed to the type
    /// each field expects, and a bad value is reported with where it came from.
    ///
    /// The keys the cache facade reads for every handler (see [`Cache`](super::Cache):
    /// `prefix`, `expire_time`, the failure policy, `log_keys`, `lease_time`) are left out, so
    /// a handler's settings type can deny unknown fields without declaring them. A handler
    /// that needs the prefix asks [`prefix`](Self::prefix).
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T> {
        self.config
            .section_without(&self.section, &CacheSettings::KEYS)
    }

    /// The prefix the facade puts in front of every key of this handler's section (default
    /// `"<app label>:"`), for handlers whose own work depends on it: a prefix-scoped purge, a
    /// namespace key.
    pub fn prefix(&self) -> Result<String> {
        self.config.get(&self.section, "prefix")
    }
}
