//! Setup errors: each a clear `Error::Config` naming the path (or key) and what to do, never a
//! panic, and never a file removed or changed.

use cement::Error;
use cement_ext::sqlite::{SqliteCacheHandler, SqliteSettings};

use crate::support::sqlite::{app, settings, TempDir};

pub(crate) fn setup_error(settings: SqliteSettings) -> String {
    match SqliteCacheHandler::new(settings) {
        Ok(handler) => panic!("accepted: {handler:?}"),
        Err(err) => {
            assert!(matches!(err, Error::Config(_)), "{err}");
            err.to_string()
        }
    }
}

fn assert_has(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
}

#[test]
fn a_directory_as_path() {
    let dir = TempDir::new("is-dir");
    let msg = setup_error(settings(dir.path(), "x:"));
    assert_has(
        &msg,
        &[
            "[cache.sqlite]",
            &dir.path().display().to_string(),
            "is a directory",
            "set path to a file",
        ],
    );
}

#[test]
fn a_file_on_the_way() {
    let dir = TempDir::new("file-parent");
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let msg = setup_error(settings(&file.join("cache.sqlite3"), "x:"));
    assert_has(&msg, &["not a directory", &file.display().to_string()]);
}

#[test]
fn a_file_that_is_not_a_database_is_left_untouched() {
    let dir = TempDir::new("not-db");
    let content = b"these are my notes, not a database\n".repeat(200);
    std::fs::write(dir.db(), &content).unwrap();
    let msg = setup_error(settings(&dir.db(), "x:"));
    assert_has(
        &msg,
        &[
            &dir.db().display().to_string(),
            "not a SQLite database",
            "left untouched",
        ],
    );
    assert_eq!(std::fs::read(dir.db()).unwrap(), content);
    assert!(!dir.db().with_extension("sqlite3-wal").exists());
}

#[test]
fn another_programs_database_is_refused() {
    let dir = TempDir::new("foreign");
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.execute_batch("CREATE TABLE notes(t TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let msg = setup_error(settings(&dir.db(), "x:"));
    assert_has(
        &msg,
        &["another program", "not a cement cache", "left untouched"],
    );
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tables, 1,
        "the handler added tables to someone else's database"
    );
}

#[test]
fn an_unwritable_location() {
    // /proc takes no new files or directories, even for root (the tests may run as root, for
    // whom permission bits do not stop writes).
    let msg = setup_error(settings(
        "/proc/cement-no-such/cache.sqlite3".as_ref(),
        "x:",
    ));
    assert_has(
        &msg,
        &[
            "cannot create the directory /proc/cement-no-such",
            "writable",
        ],
    );
    let msg = setup_error(settings("/proc/cement-cache.sqlite3".as_ref(), "x:"));
    assert_has(
        &msg,
        &["cannot create /proc/cement-cache.sqlite3", "writable"],
    );
}

#[cfg(unix)]
#[test]
fn an_unwritable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ro-file");
    SqliteCacheHandler::new(settings(&dir.db(), "x:")).unwrap();
    std::fs::set_permissions(dir.db(), std::fs::Permissions::from_mode(0o400)).unwrap();
    // Root writes through permission bits: for root the file is writable, so the setup
    // succeeds (the read-only case for root is `a_read_only_file_system`).
    if std::fs::OpenOptions::new()
        .write(true)
        .open(dir.db())
        .is_ok()
    {
        let handler = SqliteCacheHandler::new(settings(&dir.db(), "x:")).unwrap();
        cement::cache::CacheHandler::set(&handler, "k", b"v", None).unwrap();
        return;
    }
    let msg = setup_error(settings(&dir.db(), "x:"));
    assert_has(&msg, &["cannot open", "for writing", "writable"]);
}

/// A read-only file system, for root too (whom permission bits do not stop): a child process
/// in a private mount namespace (`unshare`, util-linux) sees the temporary directory as a
/// read-only bind mount, and sets up a handler on the database that is there and on a path
/// where none is yet. Each is a setup error naming the path; the database is left as it was.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_file_system() {
    let dir = TempDir::new("ro-fs");
    let existing = SqliteCacheHandler::new(settings(&dir.db(), "x:")).unwrap();
    cement::cache::CacheHandler::set(&existing, "k", b"kept", None).unwrap();
    cement::cache::CacheHandler::close(&existing).unwrap();
    drop(existing);
    let fresh = dir.path().join("fresh/cache.sqlite3");
    let inner = crate::child_command(
        "setup_errors",
        &dir.db(),
        &[("CHILD_FRESH", fresh.display().to_string())],
    );
    let remount =
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@""#;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        remount,
        "sh",
    ])
    .arg(dir.path())
    .arg(inner.get_program())
    .args(inner.get_args())
    .stdout(std::process::Stdio::piped());
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let child = cmd
        .spawn()
        .expect("run unshare (util-linux; apt-get install util-linux)");
    let lines = crate::results(child);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let db = dir.db().display().to_string();
    assert_has(&lines[0], &[&db, "for writing", "Read-only file system"]);
    assert_has(&lines[1], &["fresh", "writable", "Read-only file system"]);
    let again = SqliteCacheHandler::new(settings(&dir.db(), "x:")).unwrap();
    let kept = cement::cache::CacheHandler::get(&again, "k").unwrap();
    assert_eq!(kept.as_deref(), Some(&b"kept"[..]));
}

#[test]
fn bad_values_and_unknown_keys_name_the_key() {
    let dir = TempDir::new("keys");
    let cases = [
        ("max_sise", "1", "max_sise"),
        ("eviction", "lru", "least-recently-stored"),
        ("max_size", "0", "max_size"),
        ("max_entries", "0", "max_entries"),
        ("busy_timeout", "0", "busy_timeout"),
        ("pool_size", "0", "pool_size"),
        ("synchronous", "off", "synchronous"),
    ];
    for (key, value, expected) in cases {
        let err = app("sqlite_keys", &dir.db())
            .set("cache.sqlite", key, value)
            .setup()
            .err()
            .unwrap_or_else(|| panic!("{key} = {value} was accepted"));
        let msg = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{msg}");
        assert!(msg.contains(expected), "{key} = {value}: {msg}");
    }
}

#[test]
fn a_lock_held_past_busy_timeout_is_a_timeout_and_reads_go_on() {
    let dir = TempDir::new("busy");
    let handler = SqliteCacheHandler::new(SqliteSettings {
        busy_timeout: 0.2,
        ..settings(&dir.db(), "b:")
    })
    .unwrap();
    use cement::cache::CacheHandler;
    handler.set("b:k", b"before", None).unwrap();
    // Another "process" holds the write lock.
    let other = rusqlite::Connection::open(dir.db()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let err = handler.set("b:k", b"after", None).unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_has(
        &err.to_string(),
        &["busy_timeout", &dir.db().display().to_string()],
    );
    assert!(
        waited >= std::time::Duration::from_millis(150),
        "gave up after {waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_secs(3),
        "waited {waited:?}"
    );
    // WAL: readers do not wait for the writer.
    assert_eq!(handler.get("b:k").unwrap().as_deref(), Some(&b"before"[..]));
    other.execute_batch("COMMIT").unwrap();
    handler.set("b:k", b"after", None).unwrap();
    assert_eq!(handler.get("b:k").unwrap().as_deref(), Some(&b"after"[..]));
}
