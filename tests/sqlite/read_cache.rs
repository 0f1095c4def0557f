//! The read cache (`read_cache_size`): gets served from the in-process copy, and every change
//! to the file, by another handler in this process or by another OS process, seen by the next
//! get here.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cement::cache::CacheHandler;
use cement_ext::sqlite::{Eviction, SqliteCacheHandler, SqliteSettings};

use crate::spawn_interactive;
use crate::support::sqlite::{handler_with, settings, TempDir};

const PREFIX: &str = "rc:";
const KEYS: [&str; 3] = ["rc:k0", "rc:k1", "rc:k2"];

/// Runs one command of the mutating side on `handler` (the same commands in this process and
/// in a child, which reads them from its stdin): `set <key> <value>`, `delete <key>`, `purge`,
/// `fill <n>` (n entries of 1 KiB under other keys).
pub fn apply(handler: &SqliteCacheHandler, command: &str) {
    let parts: Vec<&str> = command.splitn(3, ' ').collect();
    match parts.as_slice() {
        ["set", key, value] => handler.set(key, value.as_bytes(), None).unwrap(),
        ["delete", key] => drop(handler.delete(key).unwrap()),
        ["purge"] => handler.purge().unwrap(),
        ["fill", n] => {
            for i in 0..n.parse::<u32>().unwrap() {
                handler
                    .set(&format!("{PREFIX}fill{i}"), &[7; 1024], None)
                    .unwrap();
            }
        }
        _ => panic!("unknown command {command:?}"),
    }
}

/// The command of round `round` and its effect on `expected`: sets, overwrites, deletes and
/// purges in turn, on the three keys.
fn command(round: usize, expected: &mut BTreeMap<&'static str, String>) -> String {
    let key = KEYS[round % KEYS.len()];
    match round % 5 {
        0..=2 => {
            let value = format!("value {round}");
            expected.insert(key, value.clone());
            format!("set {key} {value}")
        }
        3 => {
            expected.remove(key);
            format!("delete {key}")
        }
        _ => {
            expected.clear();
            "purge".to_string()
        }
    }
}

/// `rounds` rounds of: the other side changes the file (`mutate`), then this handler reads
/// every key twice (and `exists`, and all with `get_many`), and must see the new state each
/// time; every read of a key after its first is a hit of the copy (nothing changed the file
/// in between), so the hits are exactly counted.
fn changes_are_seen(this: &SqliteCacheHandler, rounds: usize, mut mutate: impl FnMut(&str)) {
    let mut expected = BTreeMap::new();
    // the copy starts at a handler's second read
    for _ in 0..2 {
        this.get("rc:warm-up").unwrap();
    }
    let hits_before = this.read_cache_hits();
    for round in 0..rounds {
        mutate(&command(round, &mut expected));
        for key in KEYS {
            let want = expected.get(key).map(|v| v.as_bytes().to_vec());
            for read in ["first", "second"] {
                assert_eq!(
                    this.get(key).unwrap(),
                    want,
                    "round {round}, {read} get of {key}"
                );
            }
            assert_eq!(
                this.exists(key).unwrap(),
                want.is_some(),
                "round {round}, exists {key}"
            );
        }
        let want: Vec<Option<Vec<u8>>> = KEYS
            .iter()
            .map(|key| expected.get(key).map(|v| v.as_bytes().to_vec()))
            .collect();
        assert_eq!(
            this.get_many(&KEYS).unwrap(),
            want,
            "round {round}, get_many"
        );
    }
    // per round and key: the second get, the exists and the get_many (the first get copied
    // the key)
    assert_eq!(
        this.read_cache_hits() - hits_before,
        (3 * KEYS.len() * rounds) as u64,
        "hits served from the copy"
    );
}

/// A temp dir and two handlers on one file in it: this one, which reads, and another.
fn two_handlers(tag: &str) -> (TempDir, SqliteCacheHandler, SqliteCacheHandler) {
    let dir = TempDir::new(tag);
    let this = handler_with(settings(&dir.db(), PREFIX));
    let other = handler_with(settings(&dir.db(), PREFIX));
    (dir, this, other)
}

#[test]
fn another_handler_on_the_file_is_seen_by_the_next_get() {
    let (_dir, this, other) = two_handlers("rc-handler");
    changes_are_seen(&this, 300, |cmd| apply(&other, cmd));
}

/// A copy of this test binary playing `mutator` ([`crate::child`]), fed commands on stdin.
struct Mutator {
    child: Child,
    acks: BufReader<ChildStdout>,
}

impl Mutator {
    fn start(db: &std::path::Path, max_size: u64) -> Mutator {
        let mut child = spawn_interactive("mutator", db, &[("MAX_SIZE", max_size.to_string())]);
        let acks = BufReader::new(child.stdout.take().unwrap());
        Mutator { child, acks }
    }

    /// Sends `command` and waits until the child has run it.
    fn run(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.acks.read_line(&mut line).unwrap();
            assert!(n > 0, "the mutator exited before running {command:?}");
            if line.trim_end() == "ack" {
                return;
            }
        }
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "mutator: {status}");
    }
}

#[test]
fn another_process_is_seen_by_the_next_get() {
    let dir = TempDir::new("rc-process");
    let this = handler_with(settings(&dir.db(), PREFIX));
    let mut mutator = Mutator::start(&dir.db(), cement_ext::sqlite::DEFAULT_MAX_SIZE);
    changes_are_seen(&this, 300, |cmd| mutator.run(cmd));
    mutator.finish();
}

#[test]
fn a_max_size_cull_by_another_process_is_seen() {
    let dir = TempDir::new("rc-cull");
    let this = handler_with(settings(&dir.db(), PREFIX));
    this.set("rc:victim", b"the oldest entry", None).unwrap();
    let mut mutator = Mutator::start(&dir.db(), 64 * 1024);
    // (the copy starts at a handler's second read)
    for _ in 0..3 {
        assert_eq!(
            this.get("rc:victim").unwrap().as_deref(),
            Some(&b"the oldest entry"[..])
        );
    }
    assert_eq!(
        this.read_cache_hits(),
        1,
        "the second get was served from the copy"
    );
    // 200 KiB of newer entries under a 64 KiB bound: the cull removes the oldest, the victim
    mutator.run("fill 200");
    mutator.finish();
    assert_eq!(this.get("rc:victim").unwrap(), None);
    assert!(!this.exists("rc:victim").unwrap());
    let (count, size) = this.totals().unwrap();
    assert!(size <= 64 * 1024, "{count} entries, {size} bytes");
}

#[test]
fn ttls_are_honoured_from_the_copy() {
    let (_dir, this, other) = two_handlers("rc-ttl");
    let ttl = Duration::from_millis(1000);
    other.set("rc:forever", b"stays", None).unwrap();
    let written = Instant::now();
    other.set("rc:t", b"short-lived", Some(ttl)).unwrap();
    let stored = Instant::now();
    let mut served_live = 0u64;
    // Read until it is gone: every answer while it lives is the value, from the copy after
    // the first read; once past its TTL, nothing, though the file still holds the row.
    loop {
        let before = Instant::now();
        let got = this.get("rc:t").unwrap();
        if got.is_none() {
            // (expiry is kept in whole milliseconds)
            assert!(
                written.elapsed() + Duration::from_millis(2) >= ttl,
                "gone before its TTL"
            );
            break;
        }
        assert_eq!(got.as_deref(), Some(&b"short-lived"[..]));
        // served only by a get that started before the expiry (the margin: the wall clock
        // the expiry is kept in against this monotonic one)
        assert!(
            before.duration_since(stored) < ttl + Duration::from_millis(50),
            "served {:?} after it was stored with a TTL of {ttl:?}",
            before.duration_since(stored)
        );
        served_live += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        this.read_cache_hits(),
        served_live.saturating_sub(2),
        "every live read but the first two was a hit (the copy starts at the second read)"
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(this.get("rc:t").unwrap(), None, "still gone");
    assert!(!this.exists("rc:t").unwrap());
    assert_eq!(
        this.get("rc:forever").unwrap().as_deref(),
        Some(&b"stays"[..])
    );
}

#[test]
fn zero_size_and_least_recently_used_turn_it_off() {
    let dir = TempDir::new("rc-off");
    for s in [
        SqliteSettings {
            read_cache_size: 0,
            ..settings(&dir.db(), PREFIX)
        },
        SqliteSettings {
            eviction: Eviction::LeastRecentlyUsed,
            ..settings(&dir.db(), PREFIX)
        },
    ] {
        let handler = handler_with(s);
        handler.set("rc:k", b"v", None).unwrap();
        for _ in 0..3 {
            assert_eq!(handler.get("rc:k").unwrap().as_deref(), Some(&b"v"[..]));
        }
        assert_eq!(handler.read_cache_hits(), 0);
    }
}

#[test]
fn a_small_budget_keeps_the_newest_reads_and_stays_right() {
    let dir = TempDir::new("rc-budget");
    // about 3 entries of 100 bytes (each costs key + value + 64)
    let this = handler_with(SqliteSettings {
        read_cache_size: 600,
        ..settings(&dir.db(), PREFIX)
    });
    let other = handler_with(settings(&dir.db(), PREFIX));
    let keys: Vec<String> = (0..20).map(|i| format!("rc:b{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        other.set(key, &[i as u8; 100], None).unwrap();
    }
    // one larger than the whole budget: read, never kept
    other.set("rc:big", &[1; 1000], None).unwrap();
    for key in &keys {
        assert!(this.get(key).unwrap().is_some());
    }
    for _ in 0..2 {
        assert_eq!(this.get("rc:big").unwrap().map(|v| v.len()), Some(1000));
    }
    let before = this.read_cache_hits();
    assert_eq!(this.get("rc:big").unwrap().map(|v| v.len()), Some(1000));
    assert_eq!(
        this.read_cache_hits(),
        before,
        "the large value is not kept"
    );
    // the last keys read are in the copy, the first are not
    let before = this.read_cache_hits();
    for key in &keys[17..] {
        assert_eq!(this.get(key).unwrap().map(|v| v.len()), Some(100));
    }
    assert_eq!(
        this.read_cache_hits() - before,
        3,
        "the three newest reads are kept"
    );
    let before = this.read_cache_hits();
    assert!(this.get(&keys[0]).unwrap().is_some());
    assert_eq!(
        this.read_cache_hits(),
        before,
        "the oldest read was evicted"
    );
}

#[test]
fn threads_reading_while_another_handler_writes_never_go_back() {
    let (_dir, this, other) = two_handlers("rc-threads");
    other.set("rc:n", b"0", None).unwrap();
    let done = AtomicBool::new(false);
    const LAST: u64 = 400;
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    // Each get is a state of the file that was current during the call: a
                    // reader never sees a counter older than one it has seen.
                    let mut seen = 0u64;
                    let mut reads = 0u64;
                    while !done.load(Ordering::Acquire) {
                        let value = this.get("rc:n").unwrap().expect("always set");
                        let n: u64 = std::str::from_utf8(&value).unwrap().parse().unwrap();
                        assert!(n >= seen, "read {n} after {seen}");
                        seen = n;
                        reads += 1;
                    }
                    let last = this.get("rc:n").unwrap().unwrap();
                    assert_eq!(last, LAST.to_string().as_bytes(), "after {reads} reads");
                })
            })
            .collect();
        for n in 1..=LAST {
            other.set("rc:n", n.to_string().as_bytes(), None).unwrap();
        }
        done.store(true, Ordering::Release);
        for reader in readers {
            reader.join().unwrap();
        }
    });
}

#[test]
fn close_drops_the_copy_and_a_later_get_pins_again() {
    let dir = TempDir::new("rc-close");
    let this = handler_with(settings(&dir.db(), PREFIX));
    this.set("rc:k", b"1", None).unwrap();
    assert!(this.get("rc:k").unwrap().is_some());
    this.close().unwrap();
    // every connection of this handler is closed: another one changes the file, then closes
    // too (the last connection: SQLite removes the -shm file), and a third makes a new one
    {
        let other = handler_with(settings(&dir.db(), PREFIX));
        other.set("rc:k", b"2", None).unwrap();
    }
    let third = handler_with(settings(&dir.db(), PREFIX));
    third.set("rc:k", b"3", None).unwrap();
    let before = this.read_cache_hits();
    for _ in 0..3 {
        assert_eq!(this.get("rc:k").unwrap().as_deref(), Some(&b"3"[..]));
    }
    // after close, as at first, the copy starts at the second read
    assert_eq!(this.read_cache_hits() - before, 1);
    third.set("rc:k", b"4", None).unwrap();
    assert_eq!(this.get("rc:k").unwrap().as_deref(), Some(&b"4"[..]));
}

/// The one way to write without the shared `-shm` file, `PRAGMA locking_mode = EXCLUSIVE`
/// (SQLite keeps the WAL index in private memory then), needs an exclusive lock on the file,
/// which it cannot get while this handler has the file open: its write fails, and what the
/// copy holds stays the file's state.
#[test]
fn an_exclusive_mode_writer_cannot_write_under_the_copy() {
    let dir = TempDir::new("rc-exclusive");
    let this = handler_with(settings(&dir.db(), PREFIX));
    this.set("rc:k", b"1", None).unwrap();
    for _ in 0..2 {
        assert_eq!(this.get("rc:k").unwrap().as_deref(), Some(&b"1"[..]));
    }
    let foreign = rusqlite::Connection::open(dir.db()).unwrap();
    foreign.busy_timeout(Duration::from_millis(200)).unwrap();
    let mode: String = foreign
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "exclusive");
    let write = foreign.execute(
        "UPDATE cement_cache SET value = x'32' WHERE key = CAST('rc:k' AS BLOB)",
        [],
    );
    assert!(
        matches!(&write, Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)),
        "{write:?}"
    );
    drop(foreign);
    assert_eq!(this.get("rc:k").unwrap().as_deref(), Some(&b"1"[..]));
    let file: Vec<u8> = rusqlite::Connection::open(dir.db())
        .unwrap()
        .query_row(
            "SELECT value FROM cement_cache WHERE key = CAST('rc:k' AS BLOB)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(file, b"1");
}

/// Another process incrementing a counter while this one reads it as fast as it can (the
/// header read while commits rewrite it): the reads never go back, and the last is the total.
#[test]
fn reads_racing_another_process_s_commits_never_go_back() {
    let dir = TempDir::new("rc-race");
    let this = handler_with(settings(&dir.db(), "proc:"));
    this.set("proc:hits", b"0", None).unwrap();
    let mut child = crate::spawn("incr", &dir.db(), &[("COUNT", "2000".into())]);
    let (mut seen, mut reads) = (0u64, 0u64);
    let read = |this: &SqliteCacheHandler| -> u64 {
        let value = this.get("proc:hits").unwrap().expect("always set");
        std::str::from_utf8(&value).unwrap().parse().unwrap()
    };
    while child.try_wait().unwrap().is_none() {
        let n = read(&this);
        assert!(n >= seen, "read {n} after {seen}");
        (seen, reads) = (n, reads + 1);
    }
    assert_eq!(crate::results(child), ["done"]);
    assert_eq!(read(&this), 2000, "after {reads} reads");
    assert_eq!(read(&this), 2000);
}
