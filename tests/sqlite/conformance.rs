//! The cache contract on sqlite: the conformance suite and the value property, through an app
//! and on a handler built by hand, plus what is particular to a file: the bounds, the
//! eviction orders, purge by key range, and the file's permissions.

use std::time::Duration;

use cement::cache::CacheHandler;
use cement_ext::sqlite::{Eviction, SqliteSettings};

use crate::support::sqlite::{app, cache, cache_with, handler_with, settings, TempDir};

#[test]
fn conformance_suite_through_an_app() {
    let dir = TempDir::new("conformance");
    let app = app("sqlite_conformance", &dir.db()).setup().unwrap();
    assert_eq!(app.cache().handler_label(), "sqlite");
    assert_eq!(app.cache().prefix(), "sqlite_conformance:");
    cement::testing::conformance::run_all(app.cache());
    app.close().unwrap();
}

#[test]
fn conformance_suite_least_recently_used() {
    let dir = TempDir::new("conformance-lru");
    let cache = cache_with(SqliteSettings {
        eviction: Eviction::LeastRecentlyUsed,
        max_entries: Some(100_000),
        ..settings(&dir.db(), "lru:")
    });
    cement::testing::conformance::run_all(&cache);
}

#[test]
fn keeps_the_value_property() {
    let dir = TempDir::new("values");
    let app = app("sqlite_values", &dir.db()).setup().unwrap();
    cement::testing::values::run(app.cache(), 256);
}

#[test]
fn bytes_round_trip_at_the_handler_level() {
    let dir = TempDir::new("bytes");
    let handler = handler_with(settings(&dir.db(), "h:"));
    for value in [&b""[..], b"\0\r\n\xff", &[7u8; 300_000]] {
        handler.set("h:k", value, None).unwrap();
        assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(value));
    }
    assert!(handler.delete("h:k").unwrap());
    assert!(!handler.delete("h:k").unwrap());
    handler.close().unwrap();
    // usable again after close: it opens new connections
    handler.set("h:k", b"again", None).unwrap();
    assert_eq!(handler.get("h:k").unwrap().as_deref(), Some(&b"again"[..]));
}

#[test]
fn purge_is_a_key_range_of_this_prefix_only() {
    let dir = TempDir::new("purge");
    // Prefixes next to each other in byte order, and LIKE's wildcards.
    let a = cache(&dir.db(), "app:");
    let b = cache(&dir.db(), "app;");
    let c = cache(&dir.db(), "ap%_:");
    let d = cache(&dir.db(), "app:x:");
    for cache in [&a, &b, &c, &d] {
        cache.set("k", &1).unwrap();
    }
    a.purge().unwrap();
    assert_eq!(a.get::<i32>("k").unwrap(), None);
    assert_eq!(d.get::<i32>("k").unwrap(), None, "app:x:k is under app:");
    assert_eq!(b.get::<i32>("k").unwrap(), Some(1));
    assert_eq!(c.get::<i32>("k").unwrap(), Some(1));
    c.purge().unwrap();
    assert_eq!(b.get::<i32>("k").unwrap(), Some(1));
    let all = cache(&dir.db(), "");
    all.purge().unwrap();
    assert_eq!(b.get::<i32>("k").unwrap(), None);
}

#[test]
fn max_entries_evicts_the_least_recently_stored() {
    let dir = TempDir::new("entries");
    let handler = handler_with(SqliteSettings {
        max_entries: Some(10),
        ..settings(&dir.db(), "e:")
    });
    for i in 0..25 {
        handler.set(&format!("e:{i}"), b"v", None).unwrap();
    }
    assert_eq!(handler.totals().unwrap().0, 10);
    for i in 0..25 {
        assert_eq!(
            handler.get(&format!("e:{i}")).unwrap().is_some(),
            i >= 15,
            "{i}"
        );
    }
}

#[test]
fn an_overwrite_a_second_later_makes_the_entry_the_newest() {
    // The order is exact to one second (module docs): past it, an overwrite moves the entry.
    let dir = TempDir::new("restamp");
    let handler = handler_with(SqliteSettings {
        max_entries: Some(3),
        ..settings(&dir.db(), "r:")
    });
    for key in ["r:a", "r:b", "r:c"] {
        handler.set(key, b"v", None).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1100));
    handler.set("r:a", b"w", None).unwrap(); // a is now the most recently stored
    handler.set("r:d", b"v", None).unwrap(); // evicts b, the oldest
    assert!(handler.get("r:b").unwrap().is_none());
    for key in ["r:a", "r:c", "r:d"] {
        assert!(handler.get(key).unwrap().is_some(), "{key}");
    }
    assert_eq!(handler.get("r:a").unwrap().as_deref(), Some(&b"w"[..]));
}

#[test]
fn least_recently_used_keeps_what_is_read() {
    let dir = TempDir::new("lru");
    let handler = handler_with(SqliteSettings {
        max_entries: Some(3),
        eviction: Eviction::LeastRecentlyUsed,
        ..settings(&dir.db(), "u:")
    });
    for key in ["u:a", "u:b", "u:c"] {
        handler.set(key, b"v", None).unwrap();
    }
    assert!(handler.get("u:a").unwrap().is_some()); // a is now the most recently used
    handler.set("u:d", b"v", None).unwrap(); // evicts b
    assert!(handler.get("u:b").unwrap().is_none());
    for key in ["u:a", "u:c", "u:d"] {
        assert!(handler.get(key).unwrap().is_some(), "{key}");
    }
}

#[test]
fn the_wal_stays_bounded_under_least_recently_used_hits() {
    // Every hit is an autocommit write; SQLite checkpoints only after a write stepped to its
    // end, so a hit ended by a reset grew the WAL without bound (module `returning_one`).
    let dir = TempDir::new("lru-wal");
    let handler = handler_with(SqliteSettings {
        eviction: Eviction::LeastRecentlyUsed,
        ..settings(&dir.db(), "w:")
    });
    handler.set("w:k", b"v", None).unwrap();
    // Three pages a hit (the row, two of the `accessed` index): 45,000 frames, past the
    // 10,000-page checkpoint interval four times over.
    for _ in 0..15_000 {
        assert!(handler.get("w:k").unwrap().is_some());
    }
    let wal = std::fs::metadata(dir.db().with_extension("sqlite3-wal"))
        .unwrap()
        .len();
    assert!(wal < 64 << 20, "the WAL grew to {wal} bytes");
}

#[test]
fn eviction_none_enforces_no_bound() {
    let dir = TempDir::new("none");
    let handler = handler_with(SqliteSettings {
        max_entries: Some(2),
        max_size: 10,
        eviction: Eviction::None,
        ..settings(&dir.db(), "n:")
    });
    for i in 0..5 {
        handler.set(&format!("n:{i}"), b"0123456789", None).unwrap();
    }
    assert_eq!(handler.totals().unwrap(), (5, 5 * 13));
}

#[test]
fn an_entry_larger_than_max_size_is_refused() {
    let dir = TempDir::new("too-large");
    let cache = cache_with(SqliteSettings {
        max_size: 1000,
        ..settings(&dir.db(), "t:")
    });
    cache.set("small", &"x").unwrap();
    let err = cache.set("big", &"y".repeat(2000)).unwrap_err();
    assert!(
        matches!(err, cement::Error::ValueTooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert_eq!(cache.get::<String>("small").unwrap().as_deref(), Some("x"));
}

#[test]
fn expired_rows_are_culled_as_writes_happen() {
    let dir = TempDir::new("cull");
    let handler = handler_with(settings(&dir.db(), "c:"));
    for i in 0..5 {
        handler
            .set(&format!("c:{i}"), b"v", Some(Duration::from_millis(1)))
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert!(handler.get("c:0").unwrap().is_none());
    assert!(!handler.exists("c:0").unwrap());
    assert!(
        !handler.delete("c:1").unwrap(),
        "an expired entry is not reported deleted"
    );
    handler.set("c:fresh", b"v", None).unwrap();
    assert_eq!(
        handler.totals().unwrap().0,
        1,
        "the write culled the expired rows"
    );
}

#[test]
fn counters_refuse_overflow_and_non_counters() {
    let dir = TempDir::new("counters");
    let cache = cache(&dir.db(), "n:");
    cache.set("max", &u64::MAX).unwrap();
    let err = cache.incr("max", 1).unwrap_err();
    assert!(err.to_string().contains("u64::MAX"), "{err}");
    assert_eq!(cache.get::<u64>("max").unwrap(), Some(u64::MAX));
    assert_eq!(cache.decr("max", 5).unwrap(), u64::MAX - 5);
    cache.set("text", &"seven").unwrap();
    let err = cache.incr("text", 1).unwrap_err();
    assert!(matches!(err, cement::Error::InvalidArgument(_)), "{err}");
    assert_eq!(
        cache.get::<String>("text").unwrap().as_deref(),
        Some("seven")
    );
    // a counter created with a TTL keeps it through later steps
    let handler = handler_with(settings(&dir.db(), "n:"));
    let ttl = Some(Duration::from_millis(300));
    assert_eq!(handler.incr("n:t", 1, ttl).unwrap(), 1);
    assert_eq!(handler.incr("n:t", 1, None).unwrap(), 2);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(cache.get::<u64>("t").unwrap(), None);
    assert_eq!(
        handler.incr("n:t", 1, None).unwrap(),
        1,
        "an expired counter starts again"
    );
}

#[cfg(unix)]
#[test]
fn the_file_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    let db = dir.path().join("a/b/cache.sqlite3");
    let cache = cache(&db, "m:");
    cache.set("k", &1).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    assert_eq!(mode(&db.with_extension("sqlite3-wal")), 0o600);
}
