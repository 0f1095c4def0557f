//! Several OS processes on one file: copies of this test binary in the roles of [`child`](crate::child).

use std::io::{BufRead, BufReader};

use cement::cache::CacheHandler;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::sqlite::{cache, handler_with, settings, TempDir};
use crate::{results, spawn};

/// Creates the file before the children start, as the first run of a CLI would.
fn fresh(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    cache(&dir.db(), "proc:").set("created", &true).unwrap();
    dir
}

#[test]
fn a_second_process_reads_what_the_first_wrote() {
    let dir = TempDir::new("second");
    let n = ("COUNT", "200".to_string());
    assert_eq!(
        results(spawn("write", &dir.db(), std::slice::from_ref(&n))),
        ["written"]
    );
    let started = Instant::now();
    assert_eq!(results(spawn("read", &dir.db(), &[n])), ["200"]);
    // and this process too, including the value with a 1 s TTL while it lives
    let cache = cache(&dir.db(), "proc:");
    assert_eq!(
        cache.get::<String>("k199").unwrap().as_deref(),
        Some("value 199")
    );
    if started.elapsed() < Duration::from_millis(800) {
        assert_eq!(
            cache.get::<String>("short").unwrap().as_deref(),
            Some("soon gone")
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        cache.get::<String>("short").unwrap(),
        None,
        "outlived its TTL"
    );
    assert!(!cache.exists("short").unwrap());
}

#[test]
fn eight_processes_incr_one_key_exactly() {
    let dir = fresh("incr");
    let children: Vec<_> = (0..8)
        .map(|_| spawn("incr", &dir.db(), &[("COUNT", "1000".into())]))
        .collect();
    for child in children {
        assert_eq!(results(child), ["done"]);
    }
    assert_eq!(
        cache(&dir.db(), "proc:").get::<u64>("hits").unwrap(),
        Some(8000)
    );
}

#[test]
fn eight_processes_of_mixed_writes_lose_nothing() {
    let dir = fresh("mixed");
    let children: Vec<_> = (0..8)
        .map(|id| {
            spawn(
                "mixed",
                &dir.db(),
                &[("ID", id.to_string()), ("COUNT", "700".into())],
            )
        })
        .collect();
    let cache = cache(&dir.db(), "proc:");
    let mut checked = 0;
    for child in children {
        for line in results(child) {
            let (key, value) = line.split_once('=').unwrap();
            assert_eq!(
                cache.get::<u64>(key).unwrap(),
                Some(value.parse().unwrap()),
                "{key}"
            );
            checked += 1;
        }
    }
    assert!(checked > 8 * 20, "only {checked} keys were left to check");
}

#[test]
fn of_eight_concurrent_adds_exactly_one_wins() {
    // No file yet: the eight also race to create it.
    let dir = TempDir::new("add");
    let go = dir.db().with_extension("go");
    let children: Vec<_> = (0..8)
        .map(|id| spawn("add", &dir.db(), &[("ID", id.to_string())]))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, b"go").unwrap();
    let mut winners = Vec::new();
    for child in children {
        let line = results(child).pop().unwrap();
        let (id, won) = line.split_once(' ').unwrap();
        if won == "true" {
            winners.push(id.to_string());
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = cache(&dir.db(), "proc:").get::<String>("winner").unwrap();
    assert_eq!(stored.as_ref(), winners.first());
}

#[test]
fn max_size_holds_under_50_mb_of_writes() {
    // At the handler level, so that the sizes are exact bytes (not JSON arrays).
    let dir = TempDir::new("bounded");
    let max_size = 4 * 1024 * 1024;
    let handler = handler_with(cement_ext::sqlite::SqliteSettings {
        max_size,
        ..settings(&dir.db(), "b:")
    });
    let mut written = 0u64;
    let mut i = 0u64;
    let mut all = Vec::new();
    while written < 50 * 1024 * 1024 {
        // 1 KiB to 64 KiB, mixed
        let len = 1024 * (1 + (i * 37 % 64)) as usize;
        let key = format!("b:k{i}");
        handler
            .set(&key, &vec![(i % 251) as u8; len], None)
            .unwrap();
        written += (key.len() + len) as u64;
        all.push((key, len));
        i += 1;
    }
    let (count, size) = handler.totals().unwrap();
    assert!(
        size <= max_size,
        "{size} bytes kept, over max_size {max_size}"
    );
    assert!(
        size > max_size - 64 * 1024 - 16,
        "only {size} bytes kept of {max_size}"
    );
    // exactly the newest entries survive, as many as fit
    let mut newest = 0u64;
    let mut kept = 0;
    for (key, len) in all.iter().rev() {
        let fits = newest + (key.len() + len) as u64 <= size;
        assert_eq!(handler.exists(key).unwrap(), fits, "{key} (newest first)");
        if !fits {
            break;
        }
        newest += (key.len() + len) as u64;
        kept += 1;
    }
    assert_eq!(kept, count);
    let file = std::fs::metadata(dir.db()).unwrap().len();
    // the main file: the entries plus indexes and free pages; bounded, not 50 MB
    assert!(
        file < 3 * max_size,
        "file is {file} bytes for max_size {max_size}"
    );
    println!("{i} writes, {written} bytes; kept {count} entries, {size} bytes; file {file} bytes");
}

#[cfg(unix)]
#[test]
fn a_writer_killed_in_a_loop_loses_no_acknowledged_write() {
    let dir = fresh("kill");
    let mut acked = Vec::new();
    for round in 0..6u64 {
        let mut child = spawn("writer", &dir.db(), &[("ROUND", round.to_string())]);
        let stdout = child.stdout.take().unwrap();
        let last = Arc::new(AtomicI64::new(-1));
        let reader = {
            let last = Arc::clone(&last);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(i) = line.strip_prefix("ack ") {
                        last.store(i.parse().unwrap(), Ordering::SeqCst);
                    }
                }
            })
        };
        // Kill it at a different point of its work each round, once it has written some.
        let deadline = Instant::now() + Duration::from_secs(20);
        while last.load(Ordering::SeqCst) < 50 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(37 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let last = last.load(Ordering::SeqCst);
        assert!(
            last >= 50,
            "round {round}: the writer acknowledged only {last}"
        );
        acked.push(format!("{round}:{last}"));
        // The next process opens the file and finds every acknowledged write so far.
        let missing = results(spawn("verify", &dir.db(), &[("ACKED", acked.join(","))]));
        assert_eq!(missing, ["0"], "acknowledged: {acked:?}");
    }
}

#[cfg(unix)]
#[test]
fn the_default_path_is_under_the_user_cache_dir() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("xdg");
    let xdg = dir.path().join("xdg-cache");
    let child = spawn(
        "default_path",
        &dir.db(),
        &[("XDG_CACHE_HOME", xdg.display().to_string())],
    );
    let expected = xdg.join("cli_tool").join("cache.sqlite3");
    assert_eq!(results(child), [expected.display().to_string()]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&expected), 0o600);
    assert_eq!(mode(&xdg.join("cli_tool")), 0o700);
    let cache = cache(&expected, "cli_tool:");
    assert_eq!(cache.get::<i32>("x").unwrap(), Some(1));
}
