//! The one error type of cement, and its `Result` alias.
//!
//! Every fallible function in cement and in `cement-ext` returns [`Result`]. The variants are
//! grouped by what went wrong so that callers can match on them:
//!
//! * configuration: [`Error::Config`];
//! * the handler/extension registry: [`Error::UnknownHandler`], [`Error::HandlerNotLoaded`],
//!   [`Error::UnknownExtension`], [`Error::DuplicateHandler`], [`Error::InvalidLabel`];
//! * cache operations: [`Error::Unavailable`], [`Error::Timeout`], [`Error::InvalidKey`],
//!   [`Error::ValueTooLarge`], [`Error::Codec`], [`Error::Backend`], [`Error::InvalidArgument`],
//!   [`Error::Unsupported`];
//! * application hooks: [`Error::Hook`].
//!
//! Messages say what was wrong and how to fix it; none of them ever contains a password.

use std::fmt;

/// A boxed error from a client library or from user code, kept as the `source()` of an
/// [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `std::result::Result` with cement's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in cement.
///
/// ```
/// use cement::Error;
///
/// let err = Error::InvalidArgument("a zero ttl never expires nothing; use `set` for no expiry".into());
/// assert!(matches!(err, Error::InvalidArgument(_)));
/// assert!(err.to_string().contains("zero ttl"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing, has the wrong type, or a config file cannot be read.
    /// The message names the section, the key and where the value came from.
    #[error("config error: {0}")]
    Config(String),

    /// `cache_handler` (or another handler label) names no registered handler.
    #[error(
        "no {interface} handler is registered with label \"{label}\"; registered {interface} handlers: {}{}",
        list_or_none(registered),
        did_you_mean(label, registered)
    )]
    UnknownHandler {
        /// The interface that was searched, e.g. `"cache"`.
        interface: &'static str,
        /// The label that was asked for.
        label: String,
        /// Every registered label of that interface, sorted.
        registered: Vec<String>,
    },

    /// The handler exists but belongs to an extension that the app did not load.
    #[error(
        "{interface} handler \"{label}\" is provided by extension \"{extension}\", which this app does not load; \
         add it: #[app(extensions = [\"{extension}\"], ...)] (or `extensions = [\"{extension}\"]` in the app's config section)"
    )]
    HandlerNotLoaded {
        /// The interface of the handler, e.g. `"cache"`.
        interface: &'static str,
        /// The handler's label.
        label: String,
        /// The extension that provides it.
        extension: String,
    },

    /// An extension label that no linked crate registers.
    #[error(
        "unknown extension \"{label}\"; registered extensions: {}{}. {hint}",
        list_or_none(registered),
        did_you_mean(label, registered)
    )]
    UnknownExtension {
        /// The label that was asked for.
        label: String,
        /// Every registered extension label, sorted.
        registered: Vec<String>,
        /// Which crate and cargo feature provide the extensions cement knows of.
        hint: String,
    },

    /// Two different types registered the same handler label.
    #[error(
        "{interface} handler label \"{label}\" is registered twice, by `{first}` and by `{second}`; \
         give one of them another label"
    )]
    DuplicateHandler {
        /// The interface, e.g. `"cache"`.
        interface: &'static str,
        /// The contested label.
        label: String,
        /// One of the two types (the first in type-name order).
        first: String,
        /// The other type.
        second: String,
    },

    /// An app, handler or extension label that breaks the label rule `[a-z][a-z0-9_]*`.
    #[error("invalid {what} label \"{label}\": labels are lowercase ASCII letters, digits and `_`, starting with a letter (e.g. \"my_app\")")]
    InvalidLabel {
        /// What carries the label: `"app"`, `"handler"`, `"extension"`.
        what: &'static str,
        /// The label as given.
        label: String,
    },

    /// The cache backend cannot be reached (connection refused, reset, server down).
    #[error("{backend} cache is unavailable: {source}")]
    Unavailable {
        /// The handler label, e.g. `"memcached"`.
        backend: &'static str,
        /// What the client library said.
        #[source]
        source: BoxError,
    },

    /// The cache backend did not answer within the configured timeout.
    #[error("{backend} cache did not answer in time: {source}")]
    Timeout {
        /// The handler label.
        backend: &'static str,
        /// What the client library said.
        #[source]
        source: BoxError,
    },

    /// A key that the backend cannot store, even after cement's key mapping.
    #[error("invalid cache key {key:?}: {reason}")]
    InvalidKey {
        /// The key as the caller gave it (shortened when long).
        key: String,
        /// Why it was refused and what to do.
        reason: String,
    },

    /// A value larger than the backend accepts: refused before sending (nothing was sent), or
    /// refused by the server itself (`by_server`), whose own limit is then below `limit`.
    #[error("{}", too_large_message(backend, *size, *limit, *by_server))]
    ValueTooLarge {
        /// The handler label.
        backend: &'static str,
        /// The encoded size in bytes (the memory handler: of key and value).
        size: usize,
        /// The limit in bytes that cement checked (the handler's `max_value_size`; the memory
        /// handler's largest entry, from its `max_size`).
        limit: usize,
        /// `true` when the server refused the item although it was within `limit`: the
        /// server's own item size limit is smaller than the configured `max_value_size`.
        by_server: bool,
    },

    /// A value could not be encoded, or stored bytes could not be decoded as the requested type.
    #[error("cache value codec error: {message}")]
    Codec {
        /// What failed, naming the key and type where known.
        message: String,
        /// The serde error.
        #[source]
        source: BoxError,
    },

    /// Any other error reported by the backend or its client library.
    #[error("{backend} cache error: {source}")]
    Backend {
        /// The handler label.
        backend: &'static str,
        /// What the client library said.
        #[source]
        source: BoxError,
    },

    /// An argument that makes no sense, such as a zero TTL.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The handler cannot do this operation (atomically); nothing was changed.
    #[error("the {backend} cache handler does not support `{operation}`")]
    Unsupported {
        /// The handler label.
        backend: &'static str,
        /// The operation, e.g. `"incr"`.
        operation: &'static str,
    },

    /// A call of the blocking [`Cache`](crate::cache::Cache) (`app.cache()`) on a cache whose
    /// handler is async-only (an `AsyncCacheHandler` registered with
    /// `#[cache_handler(..., async_only)]`, feature `tokio`); nothing was done.
    #[error(
        "`{operation}` was called through the blocking cache (`app.cache()`), but this cache's handler is async-only; \
         call it through `app.async_cache()` (cement feature \"tokio\") from a tokio task, or give the handler a sync \
         `CacheHandler` implementation"
    )]
    AsyncOnly {
        /// The operation, e.g. `"get"`.
        operation: &'static str,
    },

    /// An application hook returned an error.
    #[error("{hook} hook failed: {source}")]
    Hook {
        /// The hook's name, e.g. `"post_setup"`.
        hook: &'static str,
        /// The hook's error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Shorthand for [`Error::Config`].
    pub(crate) fn config(message: impl fmt::Display) -> Self {
        Error::Config(message.to_string())
    }
}

fn list_or_none(labels: &[String]) -> String {
    if labels.is_empty() {
        "(none)".to_string()
    } else {
        labels
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn did_you_mean(label: &str, candidates: &[String]) -> String {
    match crate::suggest::closest(label, candidates.iter().map(String::as_str)) {
        Some(best) => format!(" (did you mean \"{best}\"?)"),
        None => String::new(),
    }
}

/// I/O error kinds that mean the server is not there (any more): refused, reset, dropped,
/// unreachable. Handlers report them as [`Error::Unavailable`], which a failure policy may
/// absorb and the breaker counts.
pub const CONNECTION_LOSS: [std::io::ErrorKind; 11] = {
    use std::io::ErrorKind::*;
    [
        ConnectionRefused,
        ConnectionReset,
        ConnectionAborted,
        NotConnected,
        BrokenPipe,
        UnexpectedEof,
        AddrNotAvailable,
        HostUnreachable,
        NetworkUnreachable,
        NetworkDown,
        NotFound,
    ]
};

/// Whether an I/O error of this kind is a lost or refused connection ([`CONNECTION_LOSS`]).
///
/// ```
/// assert!(cement::error::is_connection_loss(std::io::ErrorKind::ConnectionRefused));
/// assert!(!cement::error::is_connection_loss(std::io::ErrorKind::TimedOut));
/// ```
pub fn is_connection_loss(kind: std::io::ErrorKind) -> bool {
    CONNECTION_LOSS.contains(&kind)
}

/// The `source` of a backend error that a handler describes in its own words: what happened,
/// on which server, and what to check. Built by [`Error::unavailable`], [`Error::timeout`] and
/// [`Error::backend`], so every handler reports failures the same way.
#[derive(Debug)]
pub struct BackendFailure(String);

impl BackendFailure {
    /// What happened.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendFailure {}

impl Error {
    /// [`Error::Unavailable`] for `backend` (a handler label), with `message` as its source.
    ///
    /// ```
    /// let err = cement::Error::unavailable("redis", "redis at 10.0.0.5:6379 refused the connection");
    /// assert!(matches!(err, cement::Error::Unavailable { backend: "redis", .. }));
    /// ```
    pub fn unavailable(backend: &'static str, message: impl Into<String>) -> Error {
        Error::Unavailable {
            backend,
            source: Box::new(BackendFailure(message.into())),
        }
    }

    /// [`Error::Timeout`] for `backend`, with `message` as its source.
    pub fn timeout(backend: &'static str, message: impl Into<String>) -> Error {
        Error::Timeout {
            backend,
            source: Box::new(BackendFailure(message.into())),
        }
    }

    /// [`Error::Backend`] for `backend`, with `message` as its source.
    pub fn backend(backend: &'static str, message: impl Into<String>) -> Error {
        Error::Backend {
            backend,
            source: Box::new(BackendFailure(message.into())),
        }
    }
}

fn too_large_message(backend: &str, size: usize, limit: usize, by_server: bool) -> String {
    if by_server {
        format!(
            "the {backend} server refused a cache value of {size} bytes as too large, although it is \
             within `max_value_size` ({limit} bytes): the server's own item size limit is smaller; \
             lower `max_value_size` to the server's limit (memcached: its -I option) or raise the server's"
        )
    } else if backend == "memory" {
        // The embedded store has no `max_value_size`: its bound is what limits one entry.
        format!(
            "cache entry of {size} bytes (key and value) is larger than the memory cache keeps \
             in one entry ({limit} bytes, a share of its `max_size`); store smaller values or \
             raise `max_size` in [cache.memory]"
        )
    } else {
        format!(
            "cache value of {size} bytes is larger than the {backend} limit of {limit} bytes; store \
             smaller values or raise `max_value_size` (and the server's own limit)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_handler_lists_labels_and_suggests() {
        let err = Error::UnknownHandler {
            interface: "cache",
            label: "memcahced".into(),
            registered: vec!["memcached".into(), "memory".into()],
        };
        let msg = err.to_string();
        assert!(msg.contains("\"memcahced\""), "{msg}");
        assert!(msg.contains("\"memcached\", \"memory\""), "{msg}");
        assert!(msg.contains("did you mean \"memcached\"?"), "{msg}");
    }

    #[test]
    fn unknown_handler_with_nothing_registered_says_none() {
        let err = Error::UnknownHandler {
            interface: "cache",
            label: "x".into(),
            registered: vec![],
        };
        assert!(err.to_string().contains("(none)"));
    }
}
