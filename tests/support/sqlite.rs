//! SQLite settings, handlers, caches and apps, on files in temporary directories that are
//! removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cement::cache::Cache;
use cement::Builder;
use cement_ext::sqlite::{SqliteCacheHandler, SqliteSettings};

/// A fresh directory under the system temp dir (`$TMPDIR`), removed with what is in it on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("cement-sqlite-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The cache file in it.
    pub fn db(&self) -> PathBuf {
        self.0.join("cache.sqlite3")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Settings for the file `path` under `prefix`, with a short busy timeout.
pub fn settings(path: &Path, prefix: &str) -> SqliteSettings {
    SqliteSettings {
        path: Some(path.to_path_buf()),
        prefix: prefix.into(),
        busy_timeout: 20.0,
        ..Default::default()
    }
}

pub fn handler_with(settings: SqliteSettings) -> SqliteCacheHandler {
    SqliteCacheHandler::new(settings).expect("valid settings")
}

/// A cache on the handler alone, without an app.
pub fn cache_with(settings: SqliteSettings) -> Cache {
    let prefix = settings.prefix.clone();
    Cache::new("sqlite", Box::new(handler_with(settings)), prefix, None)
}

pub fn cache(path: &Path, prefix: &str) -> Cache {
    cache_with(settings(path, prefix))
}

/// An app with the sqlite handler on `path`, set up through the framework.
pub fn app(label: &str, path: &Path) -> Builder {
    super::app(label, "sqlite").set("cache.sqlite", "path", path.display().to_string())
}
