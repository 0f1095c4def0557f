//! The `cache.sqlite` config section: [`SqliteSettings`], its defaults and the default path.
//! The keys are listed, with their defaults, in the [handler's docs](super#config).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

pub use cement::config::PoolSize;
use cement::config::{Bounded, Seconds};
use cement::{Error, Result};

/// The config section the sqlite handler reads.
pub const SECTION: &str = "cache.sqlite";

/// The file name under the user cache dir: `<cache dir>/<app label>/cache.sqlite3`.
pub const FILE_NAME: &str = "cache.sqlite3";

/// The default `max_size`: 1 GiB, as diskcache's `size_limit`.
pub const DEFAULT_MAX_SIZE: u64 = 1024 * 1024 * 1024;

/// The range of `max_size`, in bytes: 1 to `i64::MAX` (SQLite's integers are signed 64-bit).
pub type MaxSize = Bounded<1, { i64::MAX as u64 }>;

/// The range of `max_entries`: 1 to `i64::MAX`.
pub type MaxEntries = Bounded<1, { i64::MAX as u64 }>;

/// The default `read_cache_size`: 4 MiB of recently read entries kept in the process.
pub const DEFAULT_READ_CACHE_SIZE: u64 = 4 * 1024 * 1024;

/// The range of `read_cache_size`, in bytes: 0 (off) to `i64::MAX`.
pub type ReadCacheSize = Bounded<0, { i64::MAX as u64 }>;

/// The handler's config defaults, registered with the handler: they fill only the keys the
/// app's own defaults, config files and environment leave unset. `prefix` is filled by cement
/// (`"<app label>:"`); `path` is left unset, so that setup puts the file under the user cache
/// dir for the app's label.
///
/// ```
/// let defaults = cement_ext::sqlite::defaults();
/// assert_eq!(defaults.get::<u64>("cache.sqlite", "max_size").unwrap(), 1 << 30);
/// assert_eq!(
///     defaults.get::<String>("cache.sqlite", "eviction").unwrap(),
///     "least-recently-stored"
/// );
/// assert!(!defaults.has_key("cache.sqlite", "path"));
/// ```
pub fn defaults() -> cement::Config {
    // Written out from `SqliteSettings::default()`, so the defaults are stated once; the types
    // serialize infallibly, and a unit test reads them back.
    cement::Config::from_serialize(SECTION, &SqliteSettings::default())
        .unwrap_or_else(|_| cement::init_defaults!("cache.sqlite"))
}

/// Where the cache of the app labelled `app_label` lives when `path` is unset: the user cache
/// dir (`$XDG_CACHE_HOME`, else `~/.cache` on Linux; `~/Library/Caches` on macOS;
/// `%LOCALAPPDATA%` on Windows) + `/<app label>/cache.sqlite3`.
///
/// ```
/// # if std::env::var_os("HOME").is_some() {
/// let path = cement_ext::sqlite::default_path("myapp")?;
/// assert!(path.ends_with("myapp/cache.sqlite3"));
/// # }
/// # Ok::<(), cement::Error>(())
/// ```
pub fn default_path(app_label: &str) -> Result<PathBuf> {
    let dir = dirs::cache_dir().ok_or_else(|| {
        config_error(
            "path is unset and there is no user cache dir to put the file in (neither \
             $XDG_CACHE_HOME nor $HOME is set); set path to a file, e.g. path = \"/var/cache/myapp/cache.sqlite3\"",
        )
    })?;
    Ok(dir.join(app_label).join(FILE_NAME))
}

/// The `cache.sqlite` section, typed. Every field has a default, so
/// `SqliteSettings { path: Some(path), ..Default::default() }` works for building a handler by
/// hand with [`SqliteCacheHandler::new`](super::SqliteCacheHandler::new).
///
/// An unknown key in the section is an error that lists the known ones, so a misspelt
/// `max_sise` is reported instead of silently leaving the cache unbounded.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteSettings {
    /// The database file. Unset: [`default_path`] for the app's label (filled in by setup; a
    /// handler built by hand needs it set). Missing directories are created (mode 0700), the
    /// file too (mode 0600).
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub path: Option<PathBuf>,
    /// The prefix the facade puts in front of every key; `purge` removes only keys under it.
    /// Not read from this section's own keys: setup fills it from the section's `prefix` (a
    /// key the facade owns, default `"<app label>:"`).
    #[serde(skip)]
    pub prefix: String,
    /// Most bytes of keys plus values kept in the file; past it, entries are evicted by
    /// `eviction` as writes happen. From 1 to 2^63 - 1 ([`MaxSize`]).
    #[serde(deserialize_with = "MaxSize::deserialize_into")]
    pub max_size: u64,
    /// Most entries kept; unset: no bound but `max_size`. From 1 to 2^63 - 1
    /// ([`MaxEntries`]).
    #[serde(
        deserialize_with = "optional_entries",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_entries: Option<u64>,
    /// Which entries go when the cache is over `max_size` or `max_entries`.
    pub eviction: Eviction,
    /// Seconds a write waits for another process's (or thread's) write lock, and a call for a
    /// free pooled connection, before it fails with `Error::Timeout`. More than 0, at most
    /// 86400 ([`Seconds`]).
    #[serde(deserialize_with = "Seconds::deserialize_f64")]
    pub busy_timeout: f64,
    /// Most connections to the file open at once in this process; more threads than that wait
    /// (up to `busy_timeout`). From 1 to 1024 ([`PoolSize`]).
    #[serde(deserialize_with = "PoolSize::deserialize_into")]
    pub pool_size: u32,
    /// How hard a write insists on reaching the disk.
    pub synchronous: Synchronous,
    /// Most bytes (keys, values and a small overhead per entry) of the in-process read cache:
    /// recently read entries, and misses, served again without an SQLite read while the file
    /// is unchanged (checked on every `get` against SQLite's WAL index). `0` turns it off. Not
    /// used under `least-recently-used` eviction, where every `get` writes. From 0 to
    /// 2^63 - 1 ([`ReadCacheSize`]).
    #[serde(deserialize_with = "ReadCacheSize::deserialize_into")]
    pub read_cache_size: u64,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings {
            path: None,
            prefix: String::new(),
            max_size: DEFAULT_MAX_SIZE,
            max_entries: None,
            eviction: Eviction::LeastRecentlyStored,
            busy_timeout: 10.0,
            pool_size: 4,
            synchronous: Synchronous::Normal,
            read_cache_size: DEFAULT_READ_CACHE_SIZE,
        }
    }
}

/// Which entries are evicted when the cache is over `max_size` or `max_entries` (diskcache's
/// names: each says what is kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Eviction {
    /// Keeps the most recently stored entries: the oldest writes go first. Reads stay reads.
    #[default]
    LeastRecentlyStored,
    /// Keeps the most recently read or stored entries. Every hit records its time, so a `get`
    /// is a (small) write.
    LeastRecentlyUsed,
    /// Never evicts: `max_size` and `max_entries` are not enforced (diskcache's `"none"`);
    /// expired entries are still removed.
    None,
}

impl Eviction {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Eviction::LeastRecentlyStored => "least-recently-stored",
            Eviction::LeastRecentlyUsed => "least-recently-used",
            Eviction::None => "none",
        }
    }
}

/// SQLite's `PRAGMA synchronous` in WAL mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// A write that returned survives the process being killed; the last writes before a
    /// power loss or OS crash may be lost (never the file). What diskcache uses.
    #[default]
    Normal,
    /// Each write is synced to disk before it returns: survives a power loss too, slower.
    Full,
}

impl Synchronous {
    /// The pragma's value.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Unset, or a path; empty text counts as unset.
fn optional_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<PathBuf>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    Ok(value.filter(|s| !s.trim().is_empty()).map(PathBuf::from))
}

fn optional_entries<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<u64>, D::Error> {
    let value: Option<MaxEntries> = Option::deserialize(deserializer)?;
    Ok(value.map(MaxEntries::get))
}

/// What the settings resolve to.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) path: PathBuf,
    pub(crate) busy_timeout: std::time::Duration,
}

impl SqliteSettings {
    /// Checks the settings made in code (those read from config are checked as they are read).
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let busy_timeout = Seconds::checked(SECTION, "busy_timeout", self.busy_timeout)?.duration();
        PoolSize::checked(SECTION, "pool_size", u64::from(self.pool_size))?;
        MaxSize::checked(SECTION, "max_size", self.max_size)?;
        if let Some(max_entries) = self.max_entries {
            MaxEntries::checked(SECTION, "max_entries", max_entries)?;
        }
        let path = self.path.clone().ok_or_else(|| {
            config_error(
                "path is unset; set it to the database file, or let setup choose \
                 cement_ext::sqlite::default_path(<app label>)",
            )
        })?;
        Ok(Resolved { path, busy_timeout })
    }
}

pub(crate) fn config_error(message: impl fmt::Display) -> Error {
    Error::Config(format!("[{SECTION}] {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let settings: SqliteSettings = defaults().section(SECTION).unwrap();
        assert_eq!(settings, SqliteSettings::default());
        assert_eq!(
            defaults().get::<String>(SECTION, "synchronous").unwrap(),
            "normal"
        );
        assert!(!defaults().has_key(SECTION, "max_entries"));
    }

    #[test]
    fn section_is_the_label_s() {
        assert_eq!(SECTION, format!("cache.{}", super::super::error::BACKEND));
    }

    #[test]
    fn hand_built_settings_are_checked() {
        let with_path = |s: SqliteSettings| SqliteSettings {
            path: Some("/tmp/x.sqlite3".into()),
            ..s
        };
        let cases = [
            SqliteSettings::default(),
            with_path(SqliteSettings {
                busy_timeout: 0.0,
                ..Default::default()
            }),
            with_path(SqliteSettings {
                pool_size: 0,
                ..Default::default()
            }),
            with_path(SqliteSettings {
                max_size: 0,
                ..Default::default()
            }),
            with_path(SqliteSettings {
                max_entries: Some(0),
                ..Default::default()
            }),
        ];
        for s in cases {
            let err = s
                .resolve()
                .err()
                .unwrap_or_else(|| panic!("accepted {s:?}"));
            let msg = err.to_string();
            assert!(matches!(err, Error::Config(_)), "{msg}");
            assert!(msg.contains("[cache.sqlite]"), "{msg}");
        }
    }

    #[test]
    fn eviction_names_are_diskcaches() {
        for e in [
            Eviction::LeastRecentlyStored,
            Eviction::LeastRecentlyUsed,
            Eviction::None,
        ] {
            let mut config = defaults();
            config.set(SECTION, "eviction", e.as_str());
            assert_eq!(
                config.section::<SqliteSettings>(SECTION).unwrap().eviction,
                e
            );
        }
        let mut config = defaults();
        config.set(SECTION, "eviction", "lru");
        let err = config
            .section::<SqliteSettings>(SECTION)
            .unwrap_err()
            .to_string();
        assert!(err.contains("least-recently-used"), "{err}");
    }
}
