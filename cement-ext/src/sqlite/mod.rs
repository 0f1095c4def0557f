//! The `sqlite` cache handler: [`SqliteCacheHandler`], label `"sqlite"`, owned by the extension
//! `"sqlite"` (cargo feature `sqlite` of `cement-ext`); config section `[cache.sqlite]`.
//!
//! A persistent cache in one local file, for CLI programs whose runs are short: what one run
//! stores, the next run reads, and many processes can use the file at once. SQLite is compiled
//! in (`rusqlite` with `bundled`), so nothing needs installing. The design is Python
//! diskcache's: WAL mode, one table keyed by key, expiry and size culling as writes happen,
//! eviction policies named by what they keep.
//!
//! ```no_run
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "myapp", extensions = ["sqlite"], cache_handler = "sqlite")]
//! struct MyApp;
//!
//! fn main() -> cement::Result<()> {
//!     let app = MyApp::setup()?; // opens (or creates) ~/.cache/myapp/cache.sqlite3
//!     app.cache().set("user:42", &vec![1, 2, 3])?; // still there in the next run
//!     let ids: Option<Vec<u32>> = app.cache().get("user:42")?;
//!     assert_eq!(ids, Some(vec![1, 2, 3]));
//!     app.cache().purge()?; // only "myapp:" keys
//!     app.close()
//! }
//! ```
//!
//! `cargo run --example cli_cache -- <word>` is a small CLI whose slow step is instant on the
//! second run. A handler can also be built by hand, on any file:
//!
//! ```
//! use cement::cache::Cache;
//! use cement_ext::sqlite::{SqliteCacheHandler, SqliteSettings};
//!
//! let dir = std::env::temp_dir().join(format!("cement-sqlite-doc-{}", std::process::id()));
//! let handler = SqliteCacheHandler::new(SqliteSettings {
//!     path: Some(dir.join("cache.sqlite3")),
//!     prefix: "doc:".into(),
//!     max_entries: Some(1000),
//!     ..Default::default()
//! })?;
//! let cache = Cache::new("sqlite", Box::new(handler), "doc:", None);
//! cache.set("answer", &42)?;
//! assert_eq!(cache.get::<u32>("answer")?, Some(42));
//! assert_eq!(cache.incr("runs", 1)?, 1);
//! cache.purge()?;
//! assert_eq!(cache.get::<u32>("answer")?, None);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), cement::Error>(())
//! ```
//!
//! # Config
//!
//! Section `[cache.sqlite]`, typed as [`SqliteSettings`] (one field per key):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `path` | `<user cache dir>/<app label>/cache.sqlite3` | the database file; the user cache dir is `$XDG_CACHE_HOME`, else `~/.cache` on Linux (`~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), see [`default_path`]. Missing directories are created with mode 0700, the file with mode 0600 |
//! | `expire_time` | `0` | seconds until entries written by `set` expire; `0` = never (Cement's meaning). `set_with_ttl` overrides it per call. Read by the [`Cache`](cement::cache::Cache) facade |
//! | `prefix` | `"<app label>:"` | put in front of every key; apps sharing a file never collide, and `purge` removes only keys under it |
//! | `max_size` | `1073741824` (1 GiB, diskcache's `size_limit`) | most bytes of keys plus values kept; past it, writes evict by `eviction`. From 1 to 2^63 - 1. A single entry larger than it is refused with [`Error::ValueTooLarge`] |
//! | `max_entries` | unset (no bound) | most entries kept; past it, writes evict by `eviction`. From 1 to 2^63 - 1 |
//! | `eviction` | `"least-recently-stored"` | which entries go when over a bound, named by what is kept: `"least-recently-stored"` (the oldest writes go, to the second: see below), `"least-recently-used"` (the longest unread go; every hit records its time, so a `get` writes), `"none"` (bounds not enforced, as diskcache) |
//! | `busy_timeout` | `10.0` | seconds a write waits for another process's write lock (and a call for a free pooled connection) before [`Error::Timeout`]. More than 0, at most 86400 |
//! | `pool_size` | `4` | most connections open at once in this process; more threads wait (up to `busy_timeout`). 1 to 1024 |
//! | `synchronous` | `"normal"` | `"normal"`: a write that returned survives the process being killed (the last ones may be lost on power loss, never the file); `"full"`: synced to disk before returning, slower |
//! | `read_cache_size` | `4194304` (4 MiB) | most bytes (keys + values + 64 per entry) of the [read cache](#the-read-cache): recent reads served again from this process while the file is unchanged. `0` turns it off; not used under `least-recently-used` |
//!
//! Durations are seconds and may be fractional (`0.25`). Environment variables follow
//! Cement's naming, `<APP>_CACHE_SQLITE_<KEY>` (`MYAPP_CACHE_SQLITE_PATH=/tmp/c.sqlite3`).
//! The section also takes the keys the cache facade reads for every handler: the failure
//! policy ([`cement::cache::policy`]), `lease_time` and `log_keys`. Any other key is an error
//! that lists the known ones.
//!
//! # The file
//!
//! The file is the user's. Setup opens it (creating it when missing) and fails with
//! [`Error::Config`] naming the path and what to do when it cannot be used: the path is a
//! directory, a directory on the way cannot be created, the file or its directory is not
//! writable (or on a read-only file system), the file is not a SQLite database, or it is a
//! SQLite database of another program (one with tables and no cement `application_id`). The
//! handler never removes or truncates a file; a damaged cache is reported with the advice to
//! remove it.
//!
//! The journal is WAL: readers never wait for writers. What is promised:
//!
//! * **A write that returned `Ok` survives the process**: killed mid-write (even with
//!   `SIGKILL`), panicking or exiting, it leaves a file that the next process opens and reads,
//!   with every write that had returned (tested by killing a writer in a loop). SQLite has
//!   handed the commit to the operating system before `Ok`, and the kernel keeps it.
//! * **Power loss or an operating-system crash** is not covered by default, as with Python
//!   diskcache's default: with `synchronous = "normal"` the last writes before it may be lost
//!   (the file stays a valid database; SQLite syncs at checkpoints). `"full"` syncs every
//!   commit to the disk before returning, at the price of one `fsync` per write.
//!
//! The file must be on a local file system (WAL needs shared memory between the processes).
//!
//! # Values, keys, expiry and bounds
//!
//! One table, `cement_cache`, keyed by the key (as bytes, so every UTF-8 key is kept as it is,
//! after the prefix); values are the facade's encoded bytes, and read back with their type.
//! An entry's expiry is stored with it, in Unix milliseconds (sub-millisecond TTLs round up,
//! never down to "never"); an expired entry is never returned, whatever its row says.
//!
//! Culling happens as writes happen, in the write's own transaction, without a full scan: each
//! write reads the running totals and the earliest expiry (one indexed read); when an entry is
//! due, it removes up to 10 expired entries (by an index on the expiry), then, while the running
//! size or count (kept in `cement_meta` by triggers, in the same transaction) is over
//! `max_size` or `max_entries`, removes the oldest entries by the `eviction` order (indexed),
//! as many as the excess needs (at most 10 a round), never the entry just written. The bounds hold after every write, for the
//! file as a whole (every prefix in it). Freed pages are reused, so the file stays about
//! `max_size` plus SQLite's overhead (indexes, free pages, a WAL file of at most 64 MiB kept
//! after checkpoints); it does not shrink by itself (`VACUUM` would rewrite it).
//!
//! **The `least-recently-stored` order is exact to one second.** An entry's place in it is the
//! time it was inserted or last moved; an overwrite moves it to the newest end only when that
//! time is a second old or more, and otherwise rewrites the value in place, keeping its place.
//! So of two entries, the one written earlier goes first, except that an entry overwritten
//! within a second of its last move may go before entries first written during that second.
//! The reason is speed: moving an entry rewrites two pages of the order's index in the
//! commit, which tripled the pages, and about doubled the time, of an overwrite
//! (`benches/README.md`, sqlite). `least-recently-used` stays exact: every hit and every write
//! records its time.
//!
//! # The read cache
//!
//! A `get` of a key read before is served from an in-process copy (values, and misses too)
//! as long as the file has not changed since: every `get` (and `exists`) first reads SQLite's
//! WAL-index header, the first 96 bytes of the `<file>-shm` file, which every commit to the
//! file rewrites, by any connection of any process (SQLite's documented, version-independent
//! format: <https://www.sqlite.org/walformat.html>). Equal bytes mean no commit since; other
//! bytes clear the whole copy before the `get` goes on. So a `get` never returns a state
//! older than the file's state when it started, whoever wrote last, and an expired entry is
//! never returned (the copy keeps each row's expiry and checks it against the clock). A hit
//! costs one `pread` and a hash lookup instead of an SQLite read transaction, about a quarter
//! of its time (`benches/README.md`, sqlite); this handler's own writes commit, so they too
//! clear the copy: it pays off for reads that repeat between writes, the common case of a
//! CLI run over a warm cache.
//!
//! * **Size**: `read_cache_size` bytes (4 MiB by default), counted as key + value + 64 bytes
//!   per entry; past it, the oldest copies go first, and a value larger than the whole
//!   budget is never copied. `0` turns the copy off.
//! * **Not under `least-recently-used`**: there every hit must record its time in the file.
//! * **What it holds open**: while in use (from the second `get` of the handler on: a
//!   process that reads once does not pay for it), one idle connection of its own, which keeps the `-shm` file the one SQLite uses (SQLite removes it when the last
//!   connection closes), and a read-only descriptor of the `-shm` file, kept until the process
//!   exits (closing it would drop SQLite's own locks on the file in this process; one per
//!   file, shared by the handlers on it). [`close`](CacheHandler::close) drops the copy and
//!   the connection; the next `get` opens them again.
//! * **What defeats it**: a program that writes without the shared `-shm` file. The one way
//!   SQLite offers, `PRAGMA locking_mode = EXCLUSIVE` (the WAL index is then kept in that
//!   process's private memory), needs an exclusive lock on the file, which it cannot get while
//!   this handler has the file open (its write fails with "database is locked"; tested); a
//!   program that bypasses SQLite's locking (the `unix-none` VFS, `nolock=1`) corrupts
//!   readers of any kind and is not seen by the copy either. Anything unexpected in the
//!   `-shm` file (missing, short, a header that does not validate twice in a row) makes that
//!   `get` read the file instead. Unix only (elsewhere every `get` reads the file).
//! * [`read_cache_hits`](SqliteCacheHandler::read_cache_hits) counts the `get`s it served.
//!
//! # Atomic operations
//!
//! The handler declares [`Capabilities::ALL`]: `add`, `incr`, `decr` and `touch` are native and
//! atomic across threads and processes, each one SQLite transaction (`BEGIN IMMEDIATE`, which
//! takes the write lock first, so two processes never both read the old value).
//!
//! ```
//! # use cement::cache::Cache;
//! # use cement_ext::sqlite::{SqliteCacheHandler, SqliteSettings};
//! # use std::time::Duration;
//! # let dir = std::env::temp_dir().join(format!("cement-sqlite-doc2-{}", std::process::id()));
//! # let handler = SqliteCacheHandler::new(SqliteSettings {
//! #     path: Some(dir.join("cache.sqlite3")), prefix: "doc:".into(), ..Default::default()
//! # })?;
//! # let cache = Cache::new("sqlite", Box::new(handler), "doc:", None);
//! if cache.add_with_ttl("lock:report", &"worker-7", Duration::from_secs(30))? {
//!     // only one process gets here until the lock expires or is deleted
//! }
//! assert!(!cache.add("lock:report", &"worker-8")?);
//! assert_eq!(cache.incr("views", 5)?, 5); // atomic across processes
//! assert_eq!(cache.decr("views", 9)?, 0); // stops at 0
//! assert!(cache.touch("lock:report", None)?); // never expires now
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), cement::Error>(())
//! ```
//!
//! | operation | on sqlite | semantics |
//! |---|---|---|
//! | `add(key, value, ttl)` | a read of the key's row, then an insert or an update of an expired row, in one `BEGIN IMMEDIATE` transaction | stores only if the key is absent (an expired key is absent); `true` if it stored. Of many concurrent adds, one wins |
//! | `incr(key, delta)` / `decr(key, delta)` | read, compute, write in one `BEGIN IMMEDIATE` transaction | unsigned 64-bit counters stored as ASCII decimal digits (`set(key, &41u64)` makes one; read one with `get::<u64>`). A missing key starts from 0 and gets the TTL; an existing one keeps its expiry. `decr` stops at 0; an `incr` past `u64::MAX`, or a value that is not a counter, is [`Error::InvalidArgument`] and leaves the value as it was |
//! | `touch(key, ttl)` | one `UPDATE` of the expiry | a new TTL (`None`: never) without rewriting the value; `true` if the key exists |
//! | `exists(key)` | the read cache, else one `SELECT` | whether the key holds an unexpired value |
//!
//! `set_many` and `delete_many` are one transaction each.
//!
//! # Purge
//!
//! `purge()` removes the keys under this handler's prefix with one key-range delete,
//! `key >= prefix AND key < next(prefix)` (the prefix with its last byte raised by one), which
//! the key index serves; never a `LIKE` scan, and no escaping problem with `%` or `_` in a
//! prefix. Other apps' keys in the same file stay. With an empty `prefix`, every entry goes.
//!
//! # Failures
//!
//! * A write that cannot get the lock within `busy_timeout` (another process holds a long
//!   transaction) fails with [`Error::Timeout`] naming the file; so does a call that finds all
//!   `pool_size` connections busy for that long.
//! * A file that disappears or stops being writable while the app runs gives
//!   [`Error::Unavailable`]; a full disk or a damaged file [`Error::Backend`], saying what to
//!   do. Failure policies ([`cement::cache::policy`]) apply as for every handler.
//! * `app.close()` closes the idle connections; a later call opens new ones.
//!
//! # Testing and benchmarks
//!
//! `cargo test --test sqlite` runs the shared conformance suite and the value property on the
//! handler, and real processes on one file (the test binary starts copies of itself): a second
//! process reads what the first wrote, 8 processes × 1000 `incr` make exactly 8000, 8 processes
//! of mixed writes on their own keys lose nothing, of 8 concurrent `add`s exactly one wins,
//! `max_size` holds under 50 MB of writes, and a writer killed with `SIGKILL` in a loop leaves
//! every acknowledged value readable; and each setup error by its message. The read cache is
//! tested against another handler and another process changing the file (300 rounds each,
//! the next `get` seeing every change), a cull by another process, TTLs, its budget, readers
//! in threads and reads racing another process's commits (never going back), and an
//! exclusive-mode writer.

mod clock;
mod config;
mod error;
mod open;
mod pool;
mod read_cache;
mod sql;
mod wal_index;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use cement::cache::key::shorten;
use cement::cache::{parse_counter, CacheHandler, Capabilities, HandlerSetup};
use cement::registry::HandlerContext;
use cement::{Error, Result};

pub use config::{
    default_path, defaults, Eviction, MaxEntries, MaxSize, PoolSize, ReadCacheSize, SqliteSettings,
    Synchronous, DEFAULT_MAX_SIZE, DEFAULT_READ_CACHE_SIZE, FILE_NAME, SECTION,
};

use clock::Now;
use error::{classify, code, BACKEND};
use pool::{CheckoutError, Pool};
use read_cache::{Lookup, ReadCache};
use sql::{
    evict_sql, next_prefix, returning_one, CULL_EXPIRED, CULL_LIMIT, DELETE, EXISTS, FIND,
    FIND_COUNTER, FIND_WITH_STATE, GET, GET_TOUCHING, GET_WITH_EXPIRY, INSERT, RESTAMP, REWRITE,
    STATE, STORED_WINDOW_US, TOTALS, TOUCH,
};

cement::register_extension!(
    "sqlite",
    "sqlite cache handler (cement-ext feature \"sqlite\")"
);

/// Cache handler backed by a local SQLite file; see the [module docs](self).
///
/// Built by the framework from the `cache.sqlite` section, or by hand with
/// [`new`](Self::new).
#[cement::cache_handler(label = "sqlite", extension = "sqlite", config_defaults = defaults)]
pub struct SqliteCacheHandler {
    pool: Pool,
    path: PathBuf,
    prefix: String,
    max_size: i64,
    max_entries: i64,
    eviction: Eviction,
    busy_timeout: Duration,
    /// The in-process copy of recent reads; `None` when off (`read_cache_size = 0`,
    /// `least-recently-used`, or not a Unix system).
    read_cache: Option<ReadCache>,
}

impl fmt::Debug for SqliteCacheHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteCacheHandler")
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .field("max_size", &self.max_size)
            .field("max_entries", &self.max_entries)
            .field("eviction", &self.eviction)
            .field("busy_timeout", &self.busy_timeout)
            .field("pool_size", &self.pool.size())
            .field("read_cache", &self.read_cache.is_some())
            .finish_non_exhaustive()
    }
}

impl HandlerSetup for SqliteCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        let settings: SqliteSettings = ctx.settings()?;
        let path = match settings.path {
            Some(path) => path,
            None => default_path(ctx.app_label())?,
        };
        SqliteCacheHandler::new(SqliteSettings {
            path: Some(path),
            prefix: ctx.prefix()?,
            ..settings
        })
    }
}

impl SqliteCacheHandler {
    /// A handler on the file `settings.path`, opened (and created, with its directories, when
    /// missing) now: a path that cannot hold the cache is an [`Error::Config`] naming it and
    /// saying what to do. A lock held by another process for longer than `busy_timeout` while
    /// the file is first set up is an [`Error::Timeout`].
    pub fn new(settings: SqliteSettings) -> Result<Self> {
        let resolved = settings.resolve()?;
        let first = open::open(
            &resolved.path,
            resolved.busy_timeout,
            settings.synchronous,
            settings.eviction == Eviction::LeastRecentlyUsed,
        )?;
        let pool = Pool::new(
            resolved.path.clone(),
            resolved.busy_timeout,
            settings.synchronous,
            usize::try_from(settings.pool_size).unwrap_or(usize::MAX),
            first,
        );
        let read_cache = (cfg!(unix)
            && settings.read_cache_size > 0
            && settings.eviction != Eviction::LeastRecentlyUsed)
            .then(|| {
                ReadCache::new(
                    &resolved.path,
                    resolved.busy_timeout,
                    usize::try_from(settings.read_cache_size).unwrap_or(usize::MAX),
                )
            });
        Ok(SqliteCacheHandler {
            pool,
            read_cache,
            path: resolved.path,
            prefix: settings.prefix,
            max_size: i64::try_from(settings.max_size).unwrap_or(i64::MAX),
            max_entries: settings
                .max_entries
                .map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX)),
            eviction: settings.eviction,
            busy_timeout: resolved.busy_timeout,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The prefix `purge` removes keys under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many `get`s (and `exists`) the read cache answered without reading the file, since
    /// the handler was made: the copy at work. Always 0 when it is off (`read_cache_size = 0`,
    /// or `eviction = "least-recently-used"`).
    ///
    /// ```
    /// use cement::cache::CacheHandler;
    /// use cement_ext::sqlite::{SqliteCacheHandler, SqliteSettings};
    ///
    /// let dir = std::env::temp_dir().join(format!("cement-sqlite-hits-{}", std::process::id()));
    /// let handler = SqliteCacheHandler::new(SqliteSettings {
    ///     path: Some(dir.join("cache.sqlite3")),
    ///     ..Default::default()
    /// })?;
    /// handler.set("k", b"v", None)?;
    /// for _ in 0..2 {
    ///     // read from the file (the copy starts at the second get)
    ///     assert_eq!(handler.get("k")?.as_deref(), Some(&b"v"[..]));
    /// }
    /// assert_eq!(handler.get("k")?.as_deref(), Some(&b"v"[..])); // from the copy
    /// # #[cfg(unix)]
    /// assert_eq!(handler.read_cache_hits(), 1);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn read_cache_hits(&self) -> u64 {
        self.read_cache.as_ref().map_or(0, ReadCache::hits)
    }

    /// How many entries the file holds and their size in bytes (keys plus values), expired
    /// ones not yet culled included: the running totals that the bounds are checked against.
    pub fn totals(&self) -> Result<(u64, u64)> {
        self.run(|conn| {
            let (size, count): (i64, i64) = conn
                .prepare_cached(TOTALS)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((
                u64::try_from(count).unwrap_or(0),
                u64::try_from(size).unwrap_or(0),
            ))
        })
    }

    /// Runs `op` on a pooled connection, turning errors into cement's.
    fn run<T>(&self, op: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let result = self
            .pool
            .run(op, |err| {
                matches!(
                    code(err),
                    Some(
                        ErrorCode::SystemIoFailure
                            | ErrorCode::CannotOpen
                            | ErrorCode::DatabaseCorrupt
                            | ErrorCode::NotADatabase
                    )
                )
            })
            .map_err(|err| match err {
                CheckoutError::Open(err) => self.error(&err),
                CheckoutError::Exhausted { size, waited } => Error::timeout(
                    BACKEND,
                    format!(
                        "all {size} connections to {} stayed busy for {waited:?}; raise [cache.sqlite] \
                         pool_size (or busy_timeout, which is also how long a call waits for a free \
                         connection)",
                        self.path.display()
                    ),
                ),
            })?;
        result.map_err(|err| self.error(&err))
    }

    /// Runs `op` in a write transaction (`BEGIN IMMEDIATE`: the write lock is taken first, so
    /// what `op` reads cannot change under it), commits if it returns `Ok(Ok(_))`, and rolls
    /// back otherwise. `BEGIN` and `COMMIT` are cached statements (rusqlite's `Transaction`
    /// parses them again on every call: measured, 8-15 % of a small write).
    fn write<T>(&self, op: impl FnOnce(&Connection) -> rusqlite::Result<Result<T>>) -> Result<T> {
        self.run(|conn| {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            let outcome = match op(conn) {
                Ok(Ok(value)) => conn
                    .prepare_cached("COMMIT")?
                    .execute([])
                    .map(|_| Ok(value)),
                other => other,
            };
            if !conn.is_autocommit() {
                // Not committed (an error, or `op`'s own refusal): nothing of it stays. A
                // failed rollback is reported unless an earlier error is.
                if let Err(err) = conn.execute_batch("ROLLBACK") {
                    return outcome.and(Err(err));
                }
            }
            outcome
        })?
    }

    fn error(&self, err: &rusqlite::Error) -> Error {
        let err = classify(err, &self.path, self.busy_timeout);
        tracing::debug!(target: "cement_ext::sqlite", "{err}");
        err
    }

    fn check_size(&self, key: &str, value: &[u8]) -> Result<i64> {
        let size = key.len() + value.len();
        let size_i64 = i64::try_from(size).unwrap_or(i64::MAX);
        if self.eviction != Eviction::None && size_i64 > self.max_size {
            return Err(Error::ValueTooLarge {
                backend: BACKEND,
                size,
                limit: usize::try_from(self.max_size).unwrap_or(usize::MAX),
                by_server: false,
            });
        }
        Ok(size_i64)
    }

    /// The row of `key` in this write transaction, if any (expired or not).
    fn find(tx: &Connection, key: &str) -> rusqlite::Result<Option<Found>> {
        tx.prepare_cached(FIND)?
            .query_row([key.as_bytes()], |r| {
                Ok(Found {
                    rowid: r.get(0)?,
                    expire: r.get(1)?,
                    stored: r.get(2)?,
                })
            })
            .optional()
    }

    /// Writes `value` under `key`, whose row (if any) is `found`: an insert, or an update in
    /// place that moves the entry to the newest end of the eviction order only when it must
    /// (see [`STORED_WINDOW_US`]).
    fn put(
        &self,
        tx: &Connection,
        key: &str,
        value: &[u8],
        expire: Option<i64>,
        now: &Now,
        found: Option<Found>,
    ) -> rusqlite::Result<()> {
        let size = i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
        match found {
            None => tx.prepare_cached(INSERT)?.execute(params![
                key.as_bytes(),
                value,
                size,
                expire,
                now.us
            ])?,
            Some(row)
                if self.eviction == Eviction::LeastRecentlyUsed
                    || row.stored <= now.us.saturating_sub(STORED_WINDOW_US)
                    || !now.live(row.expire) =>
            {
                tx.prepare_cached(RESTAMP)?
                    .execute(params![row.rowid, value, size, expire, now.us])?
            }
            Some(row) => tx
                .prepare_cached(REWRITE)?
                .execute(params![row.rowid, value, size, expire])?,
        };
        Ok(())
    }

    /// What the cull reads first: the totals and the earliest expiry.
    fn state(tx: &Connection) -> rusqlite::Result<State> {
        tx.prepare_cached(STATE)?.query_row([], |r| {
            Ok(State {
                size: r.get(0)?,
                count: r.get(1)?,
                next_expiry: r.get(2)?,
            })
        })
    }

    /// Removes expired entries (a few) and, unless eviction is `none`, evicts until the totals
    /// are within the bounds, never `keep` (the key just written). When nothing is due (the
    /// usual case), this is one read of the totals and of the earliest expiry.
    fn cull(&self, tx: &Connection, now: &Now, keep: Option<&[u8]>) -> rusqlite::Result<()> {
        self.cull_from(tx, now, keep, Self::state(tx)?)
    }

    /// [`cull`](Self::cull) from `state`, the totals after this transaction's writes and an
    /// expiry at or before the earliest (an earlier one only makes the expired-entries
    /// `DELETE` run and find nothing).
    fn cull_from(
        &self,
        tx: &Connection,
        now: &Now,
        keep: Option<&[u8]>,
        state: State,
    ) -> rusqlite::Result<()> {
        let (mut size, mut count) = (state.size, state.count);
        let totals = |tx: &Connection| -> rusqlite::Result<(i64, i64)> {
            tx.prepare_cached(TOTALS)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        };
        if state.next_expiry.is_some_and(|at| at <= now.ms)
            && tx.prepare_cached(CULL_EXPIRED)?.execute([now.ms])? > 0
        {
            (size, count) = totals(tx)?;
        }
        let order = match self.eviction {
            Eviction::None => return Ok(()),
            Eviction::LeastRecentlyStored => "stored",
            Eviction::LeastRecentlyUsed => "accessed",
        };
        loop {
            if size <= self.max_size && count <= self.max_entries {
                return Ok(());
            }
            // As few as bring the totals back within the bounds: the excess entries, or the
            // excess bytes in entries of the average size; at least one, at most CULL_LIMIT
            // per round.
            let over_count = count.saturating_sub(self.max_entries);
            let over_size = match size.saturating_sub(self.max_size) {
                0 => 0,
                excess => {
                    let average = (size / count.max(1)).max(1);
                    excess.saturating_add(average - 1) / average
                }
            };
            let batch = over_count.max(over_size).clamp(1, CULL_LIMIT);
            if tx
                .prepare_cached(&evict_sql(order, batch))?
                .execute(params![keep])?
                == 0
            {
                return Ok(());
            }
            (size, count) = totals(tx)?;
        }
    }

    /// `get_with` through the read cache: a live copy if the file is unchanged, else the SQL
    /// read, whose result the copy keeps (see [`ReadCache::offer`] for why that is right).
    fn get_through(
        &self,
        copy: &ReadCache,
        key: &str,
        visit: &mut dyn FnMut(&[u8]),
    ) -> Result<bool> {
        let now = Now::ms();
        let mut ticket = match copy.lookup(key, now) {
            Lookup::Hit(Some(value)) => {
                visit(&value);
                return Ok(true);
            }
            Lookup::Hit(None) => return Ok(false),
            Lookup::Miss(ticket) => ticket,
        };
        let found = self.run(|conn| {
            conn.prepare_cached(GET_WITH_EXPIRY)?
                .query_row(params![key.as_bytes(), now], |row| {
                    let expire: Option<i64> = row.get(1)?;
                    match row.get_ref(0)? {
                        ValueRef::Blob(value) => {
                            if let Some(ticket) = ticket.take() {
                                copy.offer(ticket, key, Some((value, expire)));
                            }
                            visit(value);
                            Ok(())
                        }
                        other => Err(rusqlite::Error::InvalidColumnType(
                            0,
                            "value".into(),
                            other.data_type(),
                        )),
                    }
                })
                .optional()
        })?;
        if found.is_none() {
            if let Some(ticket) = ticket {
                copy.offer(ticket, key, None);
            }
        }
        Ok(found.is_some())
    }

    /// One counter step: `f` maps the current value (0 when absent) to the new one.
    fn step(
        &self,
        key: &str,
        ttl: Option<Duration>,
        f: impl FnOnce(u64) -> Result<u64>,
    ) -> Result<u64> {
        let now = Now::get();
        self.write(|tx| {
            let row: Option<(Found, Vec<u8>)> = tx
                .prepare_cached(FIND_COUNTER)?
                .query_row([key.as_bytes()], |r| {
                    Ok((
                        Found {
                            rowid: r.get(0)?,
                            expire: r.get(1)?,
                            stored: r.get(2)?,
                        },
                        r.get(3)?,
                    ))
                })
                .optional()?;
            let (current, expire, found) = match row {
                Some((found, value)) if now.live(found.expire) => {
                    match parse_counter(key, &value) {
                        Ok(current) => (current, found.expire, Some(found)),
                        Err(err) => return Ok(Err(err)),
                    }
                }
                found => (0, now.expiry(ttl), found.map(|(found, _)| found)),
            };
            let next = match f(current) {
                Ok(next) => next,
                Err(err) => return Ok(Err(err)),
            };
            let digits = next.to_string();
            self.put(tx, key, digits.as_bytes(), expire, &now, found)?;
            self.cull(tx, &now, Some(key.as_bytes()))?;
            Ok(Ok(next))
        })
    }
}

/// What the cull checks: the running totals and the earliest expiry.
struct State {
    size: i64,
    count: i64,
    next_expiry: Option<i64>,
}

/// A key's row, as a write reads it first.
struct Found {
    rowid: i64,
    expire: Option<i64>,
    stored: i64,
}

impl CacheHandler for SqliteCacheHandler {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let mut found = None;
        self.get_with(key, &mut |value| found = Some(value.to_vec()))?;
        Ok(found)
    }

    /// Hands `visit` the value as SQLite holds it in the row, without copying it out.
    fn get_with(&self, key: &str, visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let visit_row = |row: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
            match row.get_ref(0)? {
                ValueRef::Blob(value) => {
                    visit(value);
                    Ok(())
                }
                other => Err(rusqlite::Error::InvalidColumnType(
                    0,
                    "value".into(),
                    other.data_type(),
                )),
            }
        };
        if let Some(copy) = &self.read_cache {
            return self.get_through(copy, key, visit);
        }
        self.run(|conn| match self.eviction {
            Eviction::LeastRecentlyUsed => {
                let now = Now::get();
                let mut stmt = conn.prepare_cached(GET_TOUCHING)?;
                let found = returning_one(
                    &mut stmt,
                    params![key.as_bytes(), now.ms, now.us],
                    visit_row,
                )?;
                Ok(found.is_some())
            }
            _ => Ok(conn
                .prepare_cached(GET)?
                .query_row(params![key.as_bytes(), Now::ms()], visit_row)
                .optional()?
                .is_some()),
        })
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        let size = self.check_size(key, value)?;
        let now = Now::get();
        self.write(|tx| {
            let seen = tx
                .prepare_cached(FIND_WITH_STATE)?
                .query_row([key.as_bytes()], |r| {
                    let found = Found {
                        rowid: r.get(0)?,
                        expire: r.get(1)?,
                        stored: r.get(2)?,
                    };
                    let old_size: i64 = r.get(3)?;
                    let state = State {
                        size: r.get(4)?,
                        count: r.get(5)?,
                        next_expiry: r.get(6)?,
                    };
                    Ok((found, old_size, state))
                })
                .optional()?;
            let keep = Some(key.as_bytes());
            match seen {
                // An overwrite: the count stays, the size changes by the difference (what the
                // size trigger adds in this transaction).
                Some((found, old_size, state)) => {
                    self.put(tx, key, value, now.expiry(ttl), &now, Some(found))?;
                    let state = State {
                        size: state.size.saturating_add(size).saturating_sub(old_size),
                        ..state
                    };
                    self.cull_from(tx, &now, keep, state)?;
                }
                None => {
                    self.put(tx, key, value, now.expiry(ttl), &now, None)?;
                    self.cull(tx, &now, keep)?;
                }
            }
            Ok(Ok(()))
        })
    }

    /// `true` if an unexpired entry was removed (an expired one goes too, but reports `false`).
    fn delete(&self, key: &str) -> Result<bool> {
        let now = Now::get();
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(DELETE)?;
            let expire: Option<Option<i64>> =
                returning_one(&mut stmt, [key.as_bytes()], |r| r.get(0))?;
            Ok(expire.is_some_and(|expire| now.live(expire)))
        })
    }

    /// Every entry under this handler's prefix, as one key-range delete (the key index serves
    /// it); other prefixes in the file stay.
    fn purge(&self) -> Result<()> {
        let start = self.prefix.as_bytes();
        self.write(|tx| {
            match next_prefix(start) {
                Some(end) => tx.execute(
                    "DELETE FROM cement_cache WHERE key >= ?1 AND key < ?2",
                    params![start, end],
                )?,
                None => tx.execute("DELETE FROM cement_cache WHERE key >= ?1", [start])?,
            };
            Ok(Ok(()))
        })
    }

    /// One `get` per key when the read cache is on (each a hit, or an SQL read that the copy
    /// keeps) or under `least-recently-used`; otherwise one pooled connection for all.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if self.read_cache.is_some() || self.eviction == Eviction::LeastRecentlyUsed {
            return keys.iter().map(|key| self.get(key)).collect();
        }
        let now = Now::get();
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(GET)?;
            keys.iter()
                .map(|key| {
                    stmt.query_row(params![key.as_bytes(), now.ms], |r| r.get(0))
                        .optional()
                })
                .collect()
        })
    }

    fn set_many(&self, entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<()> {
        for (key, value) in entries {
            self.check_size(key, value)?;
        }
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let now = Now::get();
        self.write(|tx| {
            for (key, value) in entries {
                let found = Self::find(tx, key)?;
                self.put(tx, key, value, now.expiry(ttl), &now, found)?;
            }
            self.cull(tx, &now, Some(last.0.as_bytes()))?;
            Ok(Ok(()))
        })
    }

    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        let now = Now::get();
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(DELETE)?;
            let mut removed = 0;
            for key in keys {
                let expire: Option<Option<i64>> =
                    stmt.query_row([key.as_bytes()], |r| r.get(0)).optional()?;
                removed += usize::from(expire.is_some_and(|expire| now.live(expire)));
            }
            Ok(Ok(removed))
        })
    }

    fn close(&self) -> Result<()> {
        self.pool.close_idle();
        if let Some(copy) = &self.read_cache {
            copy.close();
        }
        Ok(())
    }

    /// All of them: `add`, counters and `touch` are native and atomic.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Reads the row and stores only when it is absent or expired, in one write transaction:
    /// `true` if it stored.
    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.check_size(key, value)?;
        let now = Now::get();
        self.write(|tx| {
            let found = Self::find(tx, key)?;
            let stored = !found.as_ref().is_some_and(|row| now.live(row.expire));
            if stored {
                self.put(tx, key, value, now.expiry(ttl), &now, found)?;
                self.cull(tx, &now, Some(key.as_bytes()))?;
            }
            Ok(Ok(stored))
        })
    }

    /// Read, add, write back in one `BEGIN IMMEDIATE` transaction. A missing key starts from 0
    /// and gets `ttl`; an existing one keeps its expiry. Past `u64::MAX` is an
    /// [`Error::InvalidArgument`] and leaves the counter unchanged.
    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, ttl, |current| {
            current.checked_add(delta).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "cannot incr key {:?} by {delta}: the counter holds {current} and would pass {} \
                     (u64::MAX); it was left unchanged",
                    shorten(key),
                    u64::MAX
                ))
            })
        })
    }

    /// As [`incr`](Self::incr), subtracting and stopping at 0.
    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, ttl, |current| Ok(current.saturating_sub(delta)))
    }

    /// One `UPDATE` of the expiry of an unexpired entry: `true` if there was one.
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let now = Now::get();
        self.run(|conn| {
            Ok(conn.prepare_cached(TOUCH)?.execute(params![
                key.as_bytes(),
                now.expiry(ttl),
                now.ms
            ])? > 0)
        })
    }

    fn exists(&self, key: &str) -> Result<bool> {
        let now = Now::get();
        if let Some(copy) = &self.read_cache {
            if let Lookup::Hit(value) = copy.lookup(key, now.ms) {
                return Ok(value.is_some());
            }
        }
        self.run(|conn| {
            Ok(conn
                .prepare_cached(EXISTS)?
                .query_row(params![key.as_bytes(), now.ms], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_digits() {
        assert_eq!(parse_counter("k", b"007").unwrap(), 7);
        assert!(parse_counter("k", b"-1").is_err());
        assert!(parse_counter("k", b"").is_err());
        assert!(parse_counter("k", b"18446744073709551616").is_err());
    }
}
