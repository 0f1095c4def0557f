//! Opening the database file: the checks on the path (made before SQLite sees it, so that
//! every problem is an [`Error::Config`] naming the path), the connection pragmas, and the
//! schema.
//!
//! The schema follows diskcache's: one table keyed by key, with the size of each entry, its
//! expiry and the times the eviction policies order by, each indexed (the read time only once
//! a `least-recently-used` handler opened the file); a running count and size kept by triggers
//! in the same transaction as the write, so culling never scans the table. What a write costs
//! is mostly the pages its commit appends to the WAL: the row's page; the `stored` index's two
//! pages (where the entry was, the newest end) only when the entry moves in the order (an
//! insert, or an overwrite a second or more after its last move); and the totals' page when
//! the count or the size changed (the triggers skip a zero change). The times are Unix
//! microseconds, as in files written before the one-second window: both read alike.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use cement::{Error, Result};

use super::config::{config_error, Synchronous};
use super::error::{classify, code};

/// `PRAGMA application_id` of a cement cache file: "cemt". A SQLite database with tables and
/// another id is someone else's, and is refused rather than written into.
pub(crate) const APPLICATION_ID: i32 = 0x6365_6d74;

/// The layout version, kept in `cement_meta`; a file with a newer one is refused.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// WAL files past this size are truncated back to it after a checkpoint.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Pages the WAL holds before a commit checkpoints it into the database (SQLite's default is
/// 1000). A checkpoint syncs the WAL and the database to disk even under `synchronous =
/// NORMAL`, two `fsync`s paid by one write in every few hundred; 10,000 pages (40 MiB of 4 KiB
/// pages, under `JOURNAL_SIZE_LIMIT`) pays them ten times less often. On the loaded machine
/// of the benches the difference against 1000 did not show above the noise, and a longer WAL
/// makes SQLite's WAL hash chains of hot pages longer (`walIndexAppend` led the profile of
/// writes): re-measure both on a quiet machine (`benches/README.md`, sqlite).
pub(crate) const WAL_AUTOCHECKPOINT: i64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE cement_cache (
    key BLOB NOT NULL UNIQUE,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    expire INTEGER,
    stored INTEGER NOT NULL,
    accessed INTEGER NOT NULL
);
CREATE INDEX cement_cache_expire ON cement_cache(expire) WHERE expire IS NOT NULL;
CREATE INDEX cement_cache_stored ON cement_cache(stored);
CREATE TABLE cement_meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO cement_meta(name, value) VALUES ('count', 0), ('size', 0), ('schema', 1);
CREATE TRIGGER cement_cache_insert AFTER INSERT ON cement_cache BEGIN
    UPDATE cement_meta SET value = value + 1 WHERE name = 'count';
    UPDATE cement_meta SET value = value + NEW.size WHERE name = 'size';
END;
CREATE TRIGGER cement_cache_update AFTER UPDATE OF size ON cement_cache
WHEN NEW.size != OLD.size BEGIN
    UPDATE cement_meta SET value = value + NEW.size - OLD.size WHERE name = 'size';
END;
CREATE TRIGGER cement_cache_delete AFTER DELETE ON cement_cache BEGIN
    UPDATE cement_meta SET value = value - 1 WHERE name = 'count';
    UPDATE cement_meta SET value = value - OLD.size WHERE name = 'size';
END;
";

/// Checks `path` and creates what is missing: directories (mode 0700) and an empty file (mode
/// 0600; SQLite gives its `-wal` and `-shm` files the same mode). Never removes or truncates
/// anything.
pub(crate) fn prepare(path: &Path) -> Result<()> {
    let shown = path.display();
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(config_error(format!(
                "path {shown} is a directory; set path to a file in it, e.g. {}",
                path.join(super::config::FILE_NAME).display()
            )))
        }
        Ok(meta) if !meta.is_file() => {
            return Err(config_error(format!(
                "path {shown} is not a regular file; set path to a file"
            )))
        }
        Ok(_) => {
            // Ours or the user's: it must be writable, or every write would fail later.
            return fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map(drop)
                .map_err(|e| {
                    config_error(format!(
                        "cannot open {shown} for writing ({e}); make it writable by this user, or set path \
                         to a file in a writable directory"
                    ))
                });
        }
        // Missing, or a file on the way (reported below, by the directory check).
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
        Err(e) => {
            return Err(config_error(format!(
                "cannot reach {shown} ({e}); check the directories on the way to it, or set path elsewhere"
            )))
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if dir.exists() && !dir.is_dir() {
            return Err(config_error(format!(
                "path {shown}: {} is not a directory; set path to a file in a directory",
                dir.display()
            )));
        }
        create_dirs(dir).map_err(|e| {
            config_error(format!(
                "cannot create the directory {} for {shown} ({e}); create it, or set path to a file in a \
                 writable directory",
                dir.display()
            ))
        })?;
    }
    match create_file(path) {
        Ok(()) => Ok(()),
        // Another process created it meanwhile.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(config_error(format!(
            "cannot create {shown} ({e}); make its directory writable by this user, or set path to a \
             file in a writable directory (a read-only file system cannot hold a cache)"
        ))),
    }
}

#[cfg(unix)]
fn create_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_dirs(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_file(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_file(path: &Path) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
}

/// Runs `step` again while SQLite answers busy or locked, until `busy_timeout` has passed.
///
/// SQLite's busy handler does not cover every lock it takes: switching a new file to WAL and
/// the first schema transaction can answer `SQLITE_BUSY` at once when another process is doing
/// the same (seen with eight processes creating one cache file together), so opening retries.
fn retry_busy<T>(
    busy_timeout: Duration,
    mut step: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match step() {
            Err(err)
                if matches!(
                    code(&err),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && Instant::now() + pause < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// A connection to `path` in WAL mode with the busy timeout and `synchronous` set.
pub(crate) fn connect(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> rusqlite::Result<Connection> {
    retry_busy(busy_timeout, || {
        connect_once(path, busy_timeout, synchronous)
    })
}

fn connect_once(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> rusqlite::Result<Connection> {
    // Read-write without CREATE: `prepare` made the file, and a file removed meanwhile should
    // fail rather than be silently recreated elsewhere's permissions.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the file stays in journal mode {mode:?}, not WAL (is it on a network file system?)"
            )),
        ));
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A connection that only holds the file open, for the read cache (`read_cache.rs`): opened
/// like the pool's, with one read so that SQLite has opened the WAL and its `-shm` file, and
/// nothing else set (it never runs a statement again).
pub(crate) fn pin(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    retry_busy(busy_timeout, || {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(busy_timeout)?;
        conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("the file is in journal mode {mode:?}, not WAL")),
            ));
        }
        Ok(conn)
    })
}

/// What the file holds, as far as the schema goes.
enum Found {
    /// An empty database (a new file): create the schema.
    Empty,
    /// A cement cache of this layout.
    Ours,
}

/// The index `least-recently-used` eviction orders by. Made by the first handler with that
/// policy to open the file, not with the schema: every write changes the `accessed` column, so
/// under the other policies the index would be one more page written per commit for nothing.
const ACCESSED_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS cement_cache_accessed ON cement_cache(accessed)";

/// Creates the schema in an empty database, or checks that the file is a cement cache; with
/// `lru`, makes sure the index of the `accessed` column exists.
pub(crate) fn init_schema(conn: &mut Connection, lru: bool) -> rusqlite::Result<Result<()>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id: i32 = tx.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    let tables: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    let found = match (id, tables) {
        (APPLICATION_ID, _) => Found::Ours,
        (0, 0) => Found::Empty,
        _ => {
            return Ok(Err(config_error(format!(
                "{} is a SQLite database of another program (application_id {id:#x}, {tables} tables), \
                 not a cement cache; it was left untouched: set path to another file",
                conn_path(&tx)
            ))))
        }
    };
    match found {
        Found::Empty => {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        Found::Ours => {
            let version: i64 = tx.query_row(
                "SELECT value FROM cement_meta WHERE name = 'schema'",
                [],
                |row| row.get(0),
            )?;
            if version != SCHEMA_VERSION {
                return Ok(Err(config_error(format!(
                    "{} is a cement cache of layout version {version}, which this version of cement-ext \
                     (layout {SCHEMA_VERSION}) cannot read; set path to another file, or remove this one \
                     (it is only a cache)",
                    conn_path(&tx)
                ))));
            }
        }
    }
    if lru {
        tx.execute(ACCESSED_INDEX, [])?;
    }
    tx.commit()?;
    Ok(Ok(()))
}

fn conn_path(conn: &Connection) -> String {
    conn.path().unwrap_or("the database").to_string()
}

/// Opens the file at setup: checks the path, connects, and creates or checks the schema. Every
/// failure but a lock held past `busy_timeout` is an [`Error::Config`] naming the path.
pub(crate) fn open(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
    lru: bool,
) -> Result<Connection> {
    prepare(path)?;
    let setup_error = |err: rusqlite::Error| -> Error {
        let shown = path.display();
        match code(&err) {
            Some(ErrorCode::NotADatabase) => config_error(format!(
                "{shown} is not a SQLite database ({err}); it was left untouched: set path to another \
                 file, or remove it yourself if it is a cache file that got damaged"
            )),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                classify(&err, path, busy_timeout)
            }
            Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                config_error(format!(
                    "cannot write to {shown} ({err}); make the file and its directory writable by this \
                     user (a read-only file system cannot hold a cache), or set path elsewhere"
                ))
            }
            _ => config_error(format!(
                "cannot use {shown} as a cache ({err}); set path to another file"
            )),
        }
    };
    let mut conn = connect(path, busy_timeout, synchronous).map_err(setup_error)?;
    retry_busy(busy_timeout, || init_schema(&mut conn, lru)).map_err(setup_error)??;
    Ok(conn)
}
