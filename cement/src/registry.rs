//! The link-time registry of handlers and extensions.
//!
//! `#[cache_handler(label = "...")]` submits a [`HandlerRegistration`] and
//! [`register_extension!`](crate::register_extension) an [`ExtensionRegistration`], both through
//! `inventory`: each registration is a static built before `main`, wherever the type is
//! defined. At setup the app looks its `cache_handler` label up here.
//!
//! Iteration order of `inventory` differs between builds, so every listing here is sorted by
//! label, and a label registered by two types is reported rather than picked arbitrarily.
//!
//! A crate that only registers things must be linked to count: rustc drops a dependency that
//! nothing names. `#[derive(App)]` names `cement-ext` itself when the app's package depends on
//! it; elsewhere add `use cement_ext as _;` once.
//!
//! ```
//! let labels = cement::registry::handler_labels("cache");
//! assert!(labels.iter().any(|l| l == "memory"));
//! ```

/// What a handler gets when it is built (defined beside [`HandlerSetup`], in `cache::setup`).
pub use crate::cache::HandlerContext;
use crate::cache::{CacheHandler, HandlerSetup};
use crate::{Config, Error, Result};

/// Extensions that cement knows of, and which crate and feature provide them; used to explain
/// an unknown extension. The one piece of extension knowledge core keeps: an app that names
/// `"redis"` without linking `cement-ext` learns which crate and feature to add.
const KNOWN_EXTENSIONS: &[(&str, &str)] = &[
    ("memcached", "crate `cement-ext` with feature \"memcached\""),
    ("redis", "crate `cement-ext` with feature \"redis\""),
    ("sqlite", "crate `cement-ext` with feature \"sqlite\""),
];

/// One handler type, registered at link time by `#[cache_handler]`.
#[derive(Debug)]
pub struct HandlerRegistration {
    interface: &'static str,
    label: &'static str,
    type_name: &'static str,
    extension: Option<&'static str>,
    config_defaults: Option<fn() -> Config>,
    build: fn(&HandlerContext<'_>) -> Result<Box<dyn CacheHandler>>,
}

inventory::collect!(HandlerRegistration);

impl HandlerRegistration {
    /// A cache handler registration; what `#[cache_handler]` expands to.
    #[doc(hidden)]
    pub const fn cache<T: CacheHandler + HandlerSetup>(
        label: &'static str,
        type_name: &'static str,
        extension: Option<&'static str>,
        config_defaults: Option<fn() -> Config>,
    ) -> Self {
        Self::cache_built_by(
            label,
            type_name,
            extension,
            config_defaults,
            build_cache::<T>,
        )
    }

    /// A cache handler registration whose handler `build` makes.
    const fn cache_built_by(
        label: &'static str,
        type_name: &'static str,
        extension: Option<&'static str>,
        config_defaults: Option<fn() -> Config>,
        build: fn(&HandlerContext<'_>) -> Result<Box<dyn CacheHandler>>,
    ) -> Self {
        HandlerRegistration {
            interface: "cache",
            label,
            type_name,
            extension,
            config_defaults,
            build,
        }
    }

    /// An async-only cache handler's registration (feature `tokio`): what
    /// `#[cache_handler(..., async_only)]` expands to. The handler is built wrapped in
    /// [`AsyncOnly`](crate::cache::AsyncOnly).
    #[doc(hidden)]
    #[cfg(feature = "tokio")]
    pub const fn cache_async<T: crate::cache::AsyncCacheHandler + HandlerSetup>(
        label: &'static str,
        type_name: &'static str,
        extension: Option<&'static str>,
        config_defaults: Option<fn() -> Config>,
    ) -> Self {
        Self::cache_built_by(
            label,
            type_name,
            extension,
            config_defaults,
            build_async_cache::<T>,
        )
    }

    /// The interface, e.g. `"cache"`.
    pub fn interface(&self) -> &'static str {
        self.interface
    }

    /// The handler's label.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// The Rust type that registered it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The extension that must be loaded for this handler to resolve, if any.
    pub fn extension(&self) -> Option<&'static str> {
        self.extension
    }

    pub(crate) fn config_defaults(&self) -> Option<Config> {
        self.config_defaults.map(|f| f())
    }

    pub(crate) fn build(&self, ctx: &HandlerContext<'_>) -> Result<Box<dyn CacheHandler>> {
        (self.build)(ctx)
    }
}

fn build_cache<T: CacheHandler + HandlerSetup>(
    ctx: &HandlerContext<'_>,
) -> Result<Box<dyn CacheHandler>> {
    Ok(Box::new(T::setup(ctx)?))
}

#[cfg(feature = "tokio")]
fn build_async_cache<T: crate::cache::AsyncCacheHandler + HandlerSetup>(
    ctx: &HandlerContext<'_>,
) -> Result<Box<dyn CacheHandler>> {
    Ok(Box::new(crate::cache::AsyncOnly(T::setup(ctx)?)))
}

/// Implemented by `#[cache_handler]` for the type it registers; `#[app(handlers = [...])]`
/// checks its types against it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered handler",
    label = "listed in `handlers = [...]` but not registered",
    note = "add `#[cement::cache_handler(label = \"...\")]` to the definition of `{Self}`"
)]
pub trait RegisteredHandler {
    /// The interface, e.g. `"cache"`.
    const INTERFACE: &'static str;
    /// The handler's label.
    const LABEL: &'static str;
}

/// One extension, registered at link time with [`register_extension!`](crate::register_extension).
#[derive(Debug)]
pub struct ExtensionRegistration {
    label: &'static str,
    description: &'static str,
}

inventory::collect!(ExtensionRegistration);

impl ExtensionRegistration {
    #[doc(hidden)]
    pub const fn new(label: &'static str, description: &'static str) -> Self {
        ExtensionRegistration { label, description }
    }

    /// The extension's label, e.g. `"redis"`.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// What it provides.
    pub fn description(&self) -> &'static str {
        self.description
    }
}

/// Registers an extension label at link time. Handlers that name it with
/// `#[cache_handler(label = "...", extension = "...")]` resolve only in apps that load it.
///
/// ```ignore
/// cement::register_extension!("memcached", "memcached cache handler (memcached)");
/// ```
#[macro_export]
macro_rules! register_extension {
    ($label:literal, $description:literal $(,)?) => {
        $crate::__private::inventory::submit! {
            $crate::registry::ExtensionRegistration::new($label, $description)
        }
    };
}

/// Every registered handler of `interface`, sorted by label (then type name).
pub fn handlers(interface: &str) -> Vec<&'static HandlerRegistration> {
    let mut all: Vec<&'static HandlerRegistration> = inventory::iter::<HandlerRegistration>
        .into_iter()
        .filter(|r| r.interface == interface)
        .collect();
    all.sort_by(|a, b| {
        a.label
            .cmp(b.label)
            .then_with(|| a.type_name.cmp(b.type_name))
    });
    all
}

/// The sorted, de-duplicated labels of every registered handler of `interface`.
pub fn handler_labels(interface: &str) -> Vec<String> {
    let mut labels: Vec<String> = handlers(interface)
        .iter()
        .map(|r| r.label.to_string())
        .collect();
    labels.dedup();
    labels
}

/// Every registered extension, sorted by label.
pub fn extensions() -> Vec<&'static ExtensionRegistration> {
    let mut all: Vec<&'static ExtensionRegistration> = inventory::iter::<ExtensionRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|e| e.label);
    all.dedup_by_key(|e| e.label);
    all
}

/// Checks that every label in `wanted` is a registered extension.
pub(crate) fn check_extensions(wanted: &[String]) -> Result<()> {
    let registered: Vec<String> = extensions().iter().map(|e| e.label.to_string()).collect();
    for label in wanted {
        if !registered.iter().any(|r| r == label) {
            let hint = match KNOWN_EXTENSIONS.iter().find(|(known, _)| known == label) {
                Some((_, provider)) => format!(
                    "\"{label}\" is provided by {provider}: enable that feature and depend on the crate \
                     (if the app is built from another package than the one that depends on it, add `use cement_ext as _;`)"
                ),
                None => {
                    let known: Vec<String> = KNOWN_EXTENSIONS
                        .iter()
                        .map(|(l, provider)| format!("\"{l}\" ({provider})"))
                        .collect();
                    format!("extensions cement knows of: {}", known.join(", "))
                }
            };
            return Err(Error::UnknownExtension {
                label: label.clone(),
                registered,
                hint,
            });
        }
    }
    Ok(())
}

/// Finds the handler `label` of `interface`, given the extensions the app loads.
pub(crate) fn resolve(
    interface: &'static str,
    label: &str,
    loaded_extensions: &[String],
) -> Result<&'static HandlerRegistration> {
    let all = handlers(interface);
    let matching: Vec<&'static HandlerRegistration> =
        all.iter().copied().filter(|r| r.label == label).collect();
    let found = match matching.as_slice() {
        [] => {
            return Err(Error::UnknownHandler {
                interface,
                label: label.to_string(),
                registered: handler_labels(interface),
            })
        }
        [one] => *one,
        [first, rest @ ..] => {
            // The same type can be submitted only once; two entries are two types.
            if let Some(other) = rest.iter().find(|r| r.type_name != first.type_name) {
                return Err(Error::DuplicateHandler {
                    interface,
                    label: label.to_string(),
                    first: first.type_name.to_string(),
                    second: other.type_name.to_string(),
                });
            }
            *first
        }
    };
    if let Some(extension) = found.extension {
        if !loaded_extensions.iter().any(|e| e == extension) {
            return Err(Error::HandlerNotLoaded {
                interface,
                label: label.to_string(),
                extension: extension.to_string(),
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_registered_and_resolves() {
        let found = resolve("cache", "memory", &[]).unwrap();
        assert_eq!(found.label(), "memory");
        assert_eq!(found.extension(), None);
    }

    #[test]
    fn unknown_label_lists_registered_ones() {
        let err = resolve("cache", "bogus_handler", &[]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::UnknownHandler { .. }));
        assert!(
            msg.contains("\"bogus_handler\"") && msg.contains("\"memory\""),
            "{msg}"
        );
    }

    #[test]
    fn unknown_extension_names_the_provider() {
        let err = check_extensions(&["memcached_x".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cement-ext"), "{msg}");
    }
}
