//! The sqlite handler against raw `rusqlite` running the same statements on the same file, in
//! the same run: `get`, `set` and `incr`.
//!
//! `cargo bench --bench sqlite` (nothing to install: SQLite is bundled; the file is in a temp
//! dir). Each group `sqlite/get`, `sqlite/set`, `sqlite/incr` has three lines:
//!
//! * `raw`: one `rusqlite::Connection` with the handler's pragmas (WAL, `synchronous =
//!   NORMAL`, the busy timeout), running by hand the statements the handler runs, prepared and
//!   cached, with the wire key and the encoded value ready-made: for `set` and `incr` the same
//!   `BEGIN IMMEDIATE` transaction (cached `BEGIN` and `COMMIT`) with the read of the key's
//!   row, the insert or update, and the read of the totals and the earliest expiry. What the
//!   handler saves you from writing;
//! * `handler`: `SqliteCacheHandler` through the byte-level `CacheHandler` trait (pool
//!   checkout, clock, error mapping): the handler's own overhead;
//! * `cache`: `app.cache()`, the typed facade (key prefix + JSON codec on top).
//!
//! Both serve repeated `get`s from the read cache (on by default: `read_cache_size`), which
//! answers a hit with one `pread` of SQLite's WAL-index header instead of an SQLite read;
//! the `get` groups add the same app on the same file with it off (`copy off`:
//! `read_cache_size = 0`), whose every `get` runs raw's statement.
//!
//! After the criterion groups, the bench prints interleaved comparisons (the three variants in
//! a new order every round, many rounds, the ratio of the medians to `raw`), which a busy machine
//! disturbs less than criterion's one-after-the-other rows. Skipped with `--test` / `--list`.
//! The last block has the shape of `benches/diskcache_anchor.py` (Python diskcache, run right
//! after the bench for the comparison) and the floor of a write.

mod bench_support;
use bench_support::median;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, Criterion};
// Links cement-ext's registrations: the app is built from a `Meta` value.
use cement_ext as _;
use rusqlite::{params, Connection, OptionalExtension};

#[path = "../tests/support/mod.rs"]
mod support;

use support::sqlite::TempDir;

const PREFIX: &str = "bench:";
const KEY: &str = "user:1:profile";
const COUNTER: &str = "hits";

// The handler's statements (cement-ext/src/sqlite/mod.rs).
const GET: &str =
    "SELECT value FROM cement_cache WHERE key = ?1 AND (expire IS NULL OR expire > ?2)";
const GET_TOUCHING: &str = "UPDATE cement_cache SET accessed = ?3 \
     WHERE key = ?1 AND (expire IS NULL OR expire > ?2) RETURNING value";
const FIND_WITH_STATE: &str = "SELECT rowid, expire, stored, size, \
     (SELECT value FROM cement_meta WHERE name = 'size'), \
     (SELECT value FROM cement_meta WHERE name = 'count'), \
     (SELECT min(expire) FROM cement_cache WHERE expire IS NOT NULL) \
     FROM cement_cache WHERE key = ?1";
const FIND_COUNTER: &str = "SELECT rowid, expire, stored, value FROM cement_cache WHERE key = ?1";
const INSERT: &str = "INSERT INTO cement_cache(key, value, size, expire, stored, accessed) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
const REWRITE: &str = "UPDATE cement_cache SET value = ?2, size = ?3, expire = ?4 WHERE rowid = ?1";
const RESTAMP: &str = "UPDATE cement_cache SET value = ?2, size = ?3, expire = ?4, \
     stored = ?5, accessed = ?5 WHERE rowid = ?1";
const CULL_EXPIRED: &str = "DELETE FROM cement_cache WHERE rowid IN (SELECT rowid FROM \
     cement_cache WHERE expire IS NOT NULL AND expire <= ?1 ORDER BY expire LIMIT 10)";
const STATE: &str = "SELECT (SELECT value FROM cement_meta WHERE name = 'size'), \
     (SELECT value FROM cement_meta WHERE name = 'count'), \
     (SELECT min(expire) FROM cement_cache WHERE expire IS NOT NULL)";
/// The handler's `STORED_WINDOW_US`.
const STORED_WINDOW_US: i64 = 1_000_000;

fn value() -> String {
    "a cached value of about sixty-four bytes, typical of a session!".to_string()
}

fn now() -> (i64, i64) {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (since.as_millis() as i64, since.as_micros() as i64)
}

fn raw_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .unwrap();
    let checkpoint =
        std::env::var("BENCH_WAL_AUTOCHECKPOINT").map_or(10_000, |n| n.parse().unwrap());
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint)
        .unwrap();
    conn
}

/// `least-recently-used`'s get: the hit records its time, so it is a write (autocommit).
/// Stepped to its end, as the handler does: an autocommit write ended by a reset (what
/// `query_row` does) commits without SQLite's automatic checkpoint, and the WAL grows.
fn raw_get_touching(conn: &Connection, key: &str) -> Option<Vec<u8>> {
    let (ms, us) = now();
    let mut stmt = conn.prepare_cached(GET_TOUCHING).unwrap();
    let mut rows = stmt.query(params![key.as_bytes(), ms, us]).unwrap();
    let found = rows.next().unwrap().map(|r| r.get(0).unwrap());
    while rows.next().unwrap().is_some() {}
    found
}

fn raw_get(conn: &Connection, key: &str) -> Option<Vec<u8>> {
    let (ms, _) = now();
    conn.prepare_cached(GET)
        .unwrap()
        .query_row(params![key.as_bytes(), ms], |r| r.get(0))
        .optional()
        .unwrap()
}

/// The transaction tail every write runs: one read of the totals and the earliest expiry
/// (nothing is due here, so no `DELETE` and no eviction follow, as in the handler).
fn raw_cull(tx: &Connection, ms: i64) {
    let (_, _, next): (i64, i64, Option<i64>) = tx
        .prepare_cached(STATE)
        .unwrap()
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    if next.is_some_and(|at| at <= ms) {
        tx.prepare_cached(CULL_EXPIRED)
            .unwrap()
            .execute([ms])
            .unwrap();
    }
}

/// The handler's write of one entry whose row `found` (rowid, expire, stored) was read first:
/// an insert, or an update in place that rewrites `stored` only past the window.
fn raw_put(
    tx: &Connection,
    key: &[u8],
    value: &[u8],
    expire: Option<i64>,
    us: i64,
    found: Option<(i64, Option<i64>, i64)>,
) {
    let size = (key.len() + value.len()) as i64;
    match found {
        None => tx
            .prepare_cached(INSERT)
            .unwrap()
            .execute(params![key, value, size, expire, us]),
        Some((rowid, _, stored)) if stored <= us - STORED_WINDOW_US => tx
            .prepare_cached(RESTAMP)
            .unwrap()
            .execute(params![rowid, value, size, expire, us]),
        Some((rowid, _, _)) => tx
            .prepare_cached(REWRITE)
            .unwrap()
            .execute(params![rowid, value, size, expire]),
    }
    .unwrap();
}

/// `BEGIN IMMEDIATE` and `COMMIT` as the handler runs them: cached statements.
fn begin(conn: &mut Connection) -> &Connection {
    conn.prepare_cached("BEGIN IMMEDIATE")
        .unwrap()
        .execute([])
        .unwrap();
    conn
}

fn commit(conn: &Connection) {
    conn.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
}

/// The handler's `set`: one read of the key's row with the totals and the earliest expiry,
/// the insert or update; for a new key, the totals read again (not here: the keys exist).
fn raw_set(conn: &mut Connection, key: &str, value: &[u8]) {
    let (ms, us) = now();
    let tx = begin(conn);
    type Seen = ((i64, Option<i64>, i64), i64, i64, i64, Option<i64>);
    let seen: Option<Seen> = tx
        .prepare_cached(FIND_WITH_STATE)
        .unwrap()
        .query_row([key.as_bytes()], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?),
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()
        .unwrap();
    match seen {
        Some((found, _old_size, _size, _count, next)) => {
            raw_put(tx, key.as_bytes(), value, None, us, Some(found));
            if next.is_some_and(|at| at <= ms) {
                tx.prepare_cached(CULL_EXPIRED)
                    .unwrap()
                    .execute([ms])
                    .unwrap();
            }
        }
        None => {
            raw_put(tx, key.as_bytes(), value, None, us, None);
            raw_cull(tx, ms);
        }
    }
    commit(tx);
}

fn raw_incr(conn: &mut Connection, key: &str) -> u64 {
    let (ms, us) = now();
    let tx = begin(conn);
    type Row = ((i64, Option<i64>, i64), Vec<u8>);
    let row: Option<Row> = tx
        .prepare_cached(FIND_COUNTER)
        .unwrap()
        .query_row([key.as_bytes()], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?))
        })
        .optional()
        .unwrap();
    let (current, found) = match row {
        Some((found, v)) => (
            std::str::from_utf8(&v).unwrap().parse::<u64>().unwrap(),
            Some(found),
        ),
        None => (0, None),
    };
    let digits = (current + 1).to_string();
    let expire = found.and_then(|(_, expire, _)| expire);
    raw_put(tx, key.as_bytes(), digits.as_bytes(), expire, us, found);
    raw_cull(tx, ms);
    commit(tx);
    current + 1
}

struct Fixture {
    app: cement::Application,
    /// The same app on the same file with the read cache off (`read_cache_size = 0`): every
    /// `get` is an SQLite read.
    app_off: cement::Application,
    raw: Connection,
    value: String,
    wire: String,
    wire_counter: String,
    encoded: Vec<u8>,
    // Dropped last: the app and the raw connection use the file in it.
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture::with_eviction("least-recently-stored")
    }

    fn with_eviction(eviction: &str) -> Self {
        let dir = TempDir::new("bench");
        let app = support::app("bench", "sqlite")
            .set("cache.sqlite", "path", dir.db().display().to_string())
            .set("cache.sqlite", "eviction", eviction)
            .setup()
            .expect("app setup");
        let app_off = support::app("bench", "sqlite")
            .set("cache.sqlite", "path", dir.db().display().to_string())
            .set("cache.sqlite", "eviction", eviction)
            .set("cache.sqlite", "read_cache_size", 0)
            .setup()
            .expect("app setup");
        let value = value();
        app.cache().set(KEY, &value).unwrap();
        let raw = raw_connection(&dir.db());
        let wire = format!("{PREFIX}{KEY}");
        let encoded = raw_get(&raw, &wire).expect("the value the app stored");
        Fixture {
            app,
            app_off,
            raw,
            value,
            wire,
            wire_counter: format!("{PREFIX}{COUNTER}"),
            encoded,
            _dir: dir,
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut f = Fixture::new();
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let (wire, encoded, value) = (f.wire.as_str(), &f.encoded, &f.value);

    let mut group = c.benchmark_group("sqlite/get");
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_get(&f.raw, black_box(wire))))
    });
    group.bench_function("handler", |b| {
        b.iter(|| black_box(handler.get(black_box(wire)).unwrap()))
    });
    group.bench_function("cache", |b| {
        b.iter(|| black_box(cache.get::<String>(black_box(KEY)).unwrap()))
    });
    let cache_off = f.app_off.cache().clone();
    group.bench_function("cache, read cache off", |b| {
        b.iter(|| black_box(cache_off.get::<String>(black_box(KEY)).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("sqlite/set");
    group.bench_function("raw", |b| {
        b.iter(|| raw_set(&mut f.raw, black_box(wire), encoded))
    });
    group.bench_function("handler", |b| {
        b.iter(|| {
            handler
                .set(black_box(wire), black_box(encoded), None)
                .unwrap()
        })
    });
    group.bench_function("cache", |b| {
        b.iter(|| cache.set(black_box(KEY), black_box(value)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("sqlite/incr");
    let counter = f.wire_counter.clone();
    group.bench_function("raw", |b| {
        b.iter(|| black_box(raw_incr(&mut f.raw, &counter)))
    });
    group.bench_function("handler", |b| {
        b.iter(|| black_box(handler.incr(black_box(&counter), 1, None).unwrap()))
    });
    group.bench_function("cache", |b| {
        b.iter(|| black_box(cache.incr(black_box(COUNTER), 1).unwrap()))
    });
    group.finish();
}

const BATCH: usize = 200;
const ROUNDS: usize = 60;

type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// The three variants of each operation in a new order every round, `ROUNDS` rounds of `BATCH`
/// calls; prints each variant's median time per call and its ratio to `raw`.
fn interleaved() {
    let f = Fixture::new();
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let cache_off = f.app_off.cache().clone();
    let handler_off = cache_off.handler();
    let (wire, encoded, value) = (f.wire.as_str(), &f.encoded, &f.value);
    let counter = f.wire_counter.as_str();
    let raw = std::cell::RefCell::new(f.raw);
    let ops: Vec<(&str, Vec<Variant<'_>>)> = vec![
        (
            "get",
            vec![
                (
                    "raw",
                    Box::new(|| drop(black_box(raw_get(&raw.borrow(), wire)))),
                ),
                (
                    "handler",
                    Box::new(|| drop(black_box(handler.get(wire).unwrap()))),
                ),
                (
                    "cache",
                    Box::new(|| drop(black_box(cache.get::<String>(KEY).unwrap()))),
                ),
                (
                    "handler (copy off)",
                    Box::new(|| drop(black_box(handler_off.get(wire).unwrap()))),
                ),
                (
                    "cache (copy off)",
                    Box::new(|| drop(black_box(cache_off.get::<String>(KEY).unwrap()))),
                ),
            ],
        ),
        (
            "set",
            vec![
                (
                    "raw",
                    Box::new(|| raw_set(&mut raw.borrow_mut(), wire, encoded)),
                ),
                (
                    "handler",
                    Box::new(|| handler.set(wire, encoded, None).unwrap()),
                ),
                ("cache", Box::new(|| cache.set(KEY, value).unwrap())),
            ],
        ),
        (
            "incr",
            vec![
                (
                    "raw",
                    Box::new(|| {
                        black_box(raw_incr(&mut raw.borrow_mut(), counter));
                    }),
                ),
                (
                    "handler",
                    Box::new(|| {
                        black_box(handler.incr(counter, 1, None).unwrap());
                    }),
                ),
                (
                    "cache",
                    Box::new(|| {
                        black_box(cache.incr(COUNTER, 1).unwrap());
                    }),
                ),
            ],
        ),
    ];
    println!("\nsqlite, interleaved ({ROUNDS} rounds of {BATCH} calls; median µs per call, ratio to raw):");
    for (name, variants) in ops {
        report(name, variants);
    }
    lru_get();
    anchor_shape();
    threaded_get();
}

/// `get` from 4 threads at once (the read cache's mutex shared, the pool's 4 connections),
/// copy on and off in turn: 20 rounds of 4 threads × 2,000 gets over the anchor's 1,000 keys;
/// the median wall time per get (all threads together).
fn threaded_get() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2000;
    let f = Fixture::new();
    let keys: Vec<String> = (0..1000).map(|i| format!("user:{i}:profile")).collect();
    for key in &keys {
        f.app.cache().set(key, &value()).unwrap();
    }
    let caches = [f.app.cache().clone(), f.app_off.cache().clone()];
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..20 {
        for i in 0..2 {
            let v = (i + round) % 2;
            let cache = &caches[v];
            let started = Instant::now();
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let keys = &keys;
                    s.spawn(move || {
                        for n in 0..PER_THREAD {
                            let key = &keys[(n * 7 + t * 131) % keys.len()];
                            black_box(cache.get::<String>(key).unwrap());
                        }
                    });
                }
            });
            times[v].push(started.elapsed().as_secs_f64() * 1e6 / (THREADS * PER_THREAD) as f64);
        }
    }
    let [on, off] = times.map(|mut t| median(&mut t));
    println!(
        "\nsqlite, {THREADS} threads at once (20 rounds of {THREADS} × {PER_THREAD} gets, 1,000 keys; \
         median wall µs per get):\n  get      cache {on:.2} µs   cache (copy off) {off:.2} µs ({:.2}×)",
        off / on
    );
}

/// `ROUNDS` rounds of `BATCH` calls of each variant in a new order every round; prints the medians
/// per call and their ratio to the first variant.
fn report(name: &str, variants: Vec<Variant<'_>>) {
    report_rounds(name, variants, false)
}

/// [`report`], and with `best`, a second line with each variant's fastest round (what
/// `diskcache_anchor.py` prints as "best", for a like-for-like comparison).
fn report_rounds(name: &str, mut variants: Vec<Variant<'_>>, best: bool) {
    let mut times = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for round in 0..ROUNDS {
        for v in bench_support::order(round, variants.len()) {
            (variants[v].1)(); // untimed: see `bench_support::order`
            let started = Instant::now();
            for _ in 0..BATCH {
                (variants[v].1)();
            }
            times[v].push(started.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
        }
    }
    let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    let line: Vec<String> = variants
        .iter()
        .zip(&medians)
        .map(|((label, _), m)| format!("{label} {m:.2} µs ({:.2}×)", m / medians[0]))
        .collect();
    println!("  {name:<8} {}", line.join("   "));
    if best {
        // `median` sorted each variant's rounds.
        let line: Vec<String> = variants
            .iter()
            .zip(&times)
            .map(|((label, _), t)| format!("{label} {:.2} µs", t[0]))
            .collect();
        println!("  {:<8} best round: {}", "", line.join("   "));
    }
}

/// `least-recently-used` eviction: every hit records its time, so a `get` is a write (one
/// autocommit `UPDATE … RETURNING`).
fn lru_get() {
    let f = Fixture::with_eviction("least-recently-used");
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let wire = f.wire.as_str();
    let raw = f.raw;
    report(
        "lru get",
        vec![
            (
                "raw",
                Box::new(|| drop(black_box(raw_get_touching(&raw, wire)))),
            ),
            (
                "handler",
                Box::new(|| drop(black_box(handler.get(wire).unwrap()))),
            ),
            (
                "cache",
                Box::new(|| drop(black_box(cache.get::<String>(KEY).unwrap()))),
            ),
        ],
    );
}

/// The shape of `benches/diskcache_anchor.py` (1,000 keys cycled, 100-byte values), and the
/// floor of a write: raw `rusqlite` doing only an upsert of the same entries in a `BEGIN
/// IMMEDIATE` transaction, on a bare two-column table (no expiry, no totals, no eviction
/// order) with the same pragmas. Every write stores a value that differs from the one it
/// replaces (16 values of the same length in turn): SQLite skips writing a page whose bytes do
/// not change, so rewriting one constant value would time commits that write nothing.
fn anchor_shape() {
    let f = Fixture::new();
    let cache = f.app.cache().clone();
    let handler = cache.handler();
    let cache_off = f.app_off.cache().clone();
    let keys: Vec<String> = (0..1000).map(|i| format!("user:{i}:profile")).collect();
    // JSON-encoded, a 98-character string is 100 bytes.
    let values: Vec<String> = (0..16)
        .map(|i| format!("{i:02}{}", "v".repeat(96)))
        .collect();
    let encoded: Vec<Vec<u8>> = values
        .iter()
        .map(|v| format!("\"{v}\"").into_bytes())
        .collect();
    for key in &keys {
        cache.set(key, &values[0]).unwrap();
    }
    let floor_dir = TempDir::new("bench-floor");
    let mut floor = raw_connection(&floor_dir.db());
    floor
        .execute_batch("CREATE TABLE t (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL)")
        .unwrap();
    let floor_set = |conn: &mut Connection, key: &[u8], value: &[u8]| {
        let tx = begin(conn);
        tx.prepare_cached(
            "INSERT INTO t(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .unwrap()
        .execute(params![key, value])
        .unwrap();
        commit(tx);
    };
    // raw and the handler write keys of their own (the cache's are `bench:user:…`), so that
    // every variant's write replaces a value that variant wrote, one that differs.
    let wire = |tag: &str| -> Vec<String> {
        let wire: Vec<String> = keys.iter().map(|k| format!("{PREFIX}{tag}{k}")).collect();
        for key in &wire {
            handler.set(key, &encoded[0], None).unwrap();
        }
        wire
    };
    let (raw_wire, handler_wire) = (wire("raw:"), wire("handler:"));
    let floor_wire: Vec<&[u8]> = raw_wire.iter().map(|k| k.as_bytes()).collect();
    for key in &floor_wire {
        floor_set(&mut floor, key, &encoded[0]);
    }
    let raw = std::cell::RefCell::new(f.raw);
    // Each variant has its own turn of keys and values.
    let turn = |n: &std::cell::Cell<usize>| {
        let i = n.get();
        n.set(i + 1);
        (i % 1000, i % 16)
    };
    let turns: Vec<std::cell::Cell<usize>> = (0..5).map(|_| Default::default()).collect();
    println!("\nsqlite, diskcache's shape (1,000 keys cycled, 100-byte values, each set a changed value):");
    report_rounds(
        "set",
        vec![
            (
                "floor (bare upsert)",
                Box::new(|| {
                    let (k, v) = turn(&turns[0]);
                    floor_set(&mut floor, floor_wire[k], &encoded[v])
                }),
            ),
            (
                "raw",
                Box::new(|| {
                    let (k, v) = turn(&turns[1]);
                    raw_set(&mut raw.borrow_mut(), &raw_wire[k], &encoded[v])
                }),
            ),
            (
                "handler",
                Box::new(|| {
                    let (k, v) = turn(&turns[2]);
                    handler.set(&handler_wire[k], &encoded[v], None).unwrap()
                }),
            ),
            (
                "cache",
                Box::new(|| {
                    let (k, v) = turn(&turns[3]);
                    cache.set(&keys[k], &values[v]).unwrap()
                }),
            ),
        ],
        true,
    );
    report_rounds(
        "get",
        vec![
            (
                "raw",
                Box::new(|| {
                    let (k, _) = turn(&turns[1]);
                    drop(black_box(raw_get(&raw.borrow(), &raw_wire[k])))
                }),
            ),
            (
                "handler",
                Box::new(|| {
                    let (k, _) = turn(&turns[2]);
                    drop(black_box(handler.get(&handler_wire[k]).unwrap()))
                }),
            ),
            (
                "cache",
                Box::new(|| {
                    let (k, _) = turn(&turns[3]);
                    drop(black_box(cache.get::<String>(&keys[k]).unwrap()))
                }),
            ),
            (
                "cache (copy off)",
                Box::new(|| {
                    let (k, _) = turn(&turns[4]);
                    drop(black_box(cache_off.get::<String>(&keys[k]).unwrap()))
                }),
            ),
        ],
        true,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = bench
}

fn main() {
    bench_support::main(benches, &[interleaved]);
}
