//! Turns `rusqlite` errors into [`cement::Error`]: a lock held past `busy_timeout` is
//! [`Error::Timeout`], a file that cannot be opened or written any more is
//! [`Error::Unavailable`], everything else is [`Error::Backend`]. Every message names the
//! file and says what to check.

use std::path::Path;
use std::time::Duration;

use rusqlite::ErrorCode;

use cement::Error;

/// The handler label, as errors name it: the one `#[cache_handler(label = ...)]` declares.
pub(crate) const BACKEND: &str =
    <super::SqliteCacheHandler as cement::registry::RegisteredHandler>::LABEL;

/// The SQLite error code of `err`, if it is one.
pub(crate) fn code(err: &rusqlite::Error) -> Option<ErrorCode> {
    match err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.code),
        _ => None,
    }
}

/// The cement error for an error on the file at `path` during a cache call.
pub(crate) fn classify(err: &rusqlite::Error, path: &Path, busy_timeout: Duration) -> Error {
    let path = path.display();
    match code(err) {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::timeout(
            BACKEND,
            format!(
                "{path} stayed locked by another writer for busy_timeout = {busy_timeout:?} ({err}); \
                 another process holds a long write, or raise [cache.sqlite] busy_timeout"
            ),
        ),
        Some(ErrorCode::DiskFull) => Error::backend(
            BACKEND,
            format!("{path}: the disk is full ({err}); free space or lower [cache.sqlite] max_size"),
        ),
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure
            | ErrorCode::PermissionDenied
            | ErrorCode::NotADatabase,
        ) => Error::unavailable(
            BACKEND,
            format!(
                "cannot use {path} ({err}); check that the file and its directory still exist and \
                 are writable by this user"
            ),
        ),
        Some(ErrorCode::DatabaseCorrupt) => Error::backend(
            BACKEND,
            format!(
                "{path} is damaged ({err}); it is only a cache: stop the app, remove the file (and its \
                 -wal and -shm files) and start again"
            ),
        ),
        _ => Error::backend(BACKEND, format!("{path}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn busy_is_a_timeout_naming_busy_timeout() {
        let err = classify(
            &failure(rusqlite::ffi::SQLITE_BUSY),
            Path::new("/c/cache.sqlite3"),
            Duration::from_secs(2),
        );
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("busy_timeout"), "{err}");
        assert!(err.to_string().contains("/c/cache.sqlite3"), "{err}");
    }

    #[test]
    fn unopenable_is_unavailable_and_the_rest_backend() {
        let p = Path::new("/c/x");
        let d = Duration::from_secs(1);
        let err = classify(&failure(rusqlite::ffi::SQLITE_READONLY), p, d);
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
        let err = classify(&failure(rusqlite::ffi::SQLITE_FULL), p, d);
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        assert!(err.to_string().contains("disk is full"), "{err}");
    }
}
