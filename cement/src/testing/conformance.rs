//! The cache contract, one function per clause, to run against any handler.
//!
//! Every built-in handler passes it in cement's own tests; a third-party handler passes the
//! same suite with one call:
//!
//! ```
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "conformance_doc")]
//! struct DocApp;
//!
//! let app = DocApp::setup().unwrap();
//! cement::testing::conformance::run_all(app.cache()); // panics with every broken clause
//! ```
//!
//! Each clause is written once against [`Face`], which [`Cache`] implements, so that
//! `conformance_async` (feature `tokio`) runs the same clauses
//! through the async face. Each clause uses its own keys and leaves nothing behind but what [`purge_empties`] clears;
//! [`ttl_expires`] and [`touch_sets_a_new_ttl`] sleep two to three seconds each, because
//! memcached counts TTLs in whole seconds. Clauses for optional operations (`add`, counters,
//! `touch`) check the native behaviour where the handler declares the capability, and
//! [`Error::Unsupported`] where it does not.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::face::Face;
use super::ok;
use crate::cache::Cache;
use crate::Error;

/// What a clause returns: `Err` with what broke.
pub type Outcome = std::result::Result<(), String>;

/// A clause of the contract.
pub type Clause = fn(&Cache) -> Outcome;

/// Declares [`CLAUSES`] (for [`Cache`]) and `clauses::<C>()` (for any [`Face`]) from one
/// list, so that both faces run the same clauses in the same order.
macro_rules! clauses {
    ($($name:ident => $clause:path,)*) => {
        /// Every clause, with its name, in the order [`run_all`] runs them.
        pub const CLAUSES: &[(&str, Clause)] = &[$((stringify!($name), $clause),)*];

        /// [`CLAUSES`] for any face.
        pub(crate) fn clauses<C: Face>() -> Vec<(&'static str, fn(&C) -> Outcome)> {
            vec![$((stringify!($name), $clause as fn(&C) -> Outcome),)*]
        }
    };
}

clauses! {
    set_then_get => set_then_get,
    miss_is_none => miss_is_none,
    get_or_falls_back_on_miss_only => get_or_falls_back_on_miss_only,
    falsy_values_are_hits => falsy_values_are_hits,
    stored_null_is_not_a_miss => stored_null_is_not_a_miss,
    values_round_trip_exactly => values_round_trip_exactly,
    unstorable_values_are_refused => super::values::unstorable_values_are_refused,
    overwrite_replaces => overwrite_replaces,
    delete_reports_presence => delete_reports_presence,
    any_utf8_key => any_utf8_key,
    similar_keys_stay_apart => similar_keys_stay_apart,
    undecodable_values_read_as_misses => undecodable_values_read_as_misses,
    exists_reports_presence => exists_reports_presence,
    add_stores_only_if_absent => add_stores_only_if_absent,
    counters_are_atomic => counters_are_atomic,
    touch_sets_a_new_ttl => touch_sets_a_new_ttl,
    get_or_set_with_computes_once => get_or_set_with_computes_once,
    zero_ttl_is_an_error => zero_ttl_is_an_error,
    batch_operations => batch_operations,
    concurrent_writers_lose_nothing => concurrent_writers_lose_nothing,
    ttl_expires => ttl_expires,
    purge_empties => purge_empties,
}

/// Runs every clause and returns the broken ones with what broke (empty: all hold).
pub fn check_all(cache: &Cache) -> Vec<(&'static str, String)> {
    check_with(cache)
}

/// Runs every clause against any face.
pub(crate) fn check_with<C: Face>(cache: &C) -> Vec<(&'static str, String)> {
    clauses::<C>()
        .into_iter()
        .filter_map(|(name, clause)| clause(cache).err().map(|msg| (name, msg)))
        .collect()
}

/// Runs every clause; panics listing every broken one. Meant for tests.
#[track_caller]
pub fn run_all(cache: &Cache) {
    report(cache.handler_label(), &check_all(cache));
}

/// Panics listing every broken clause, if any.
#[track_caller]
pub(crate) fn report(handler: &str, broken: &[(&'static str, String)]) {
    if !broken.is_empty() {
        let report: Vec<String> = broken
            .iter()
            .map(|(name, msg)| format!("  {name}: {msg}"))
            .collect();
        panic!(
            "the {} cache handler breaks {} clause(s) of the cache contract:\n{}",
            handler,
            broken.len(),
            report.join("\n")
        );
    }
}

/// `set` then `get` returns the value.
pub fn set_then_get<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:set_then_get", "my value"))?;
    let got: Option<String> = ok("get", cache.get("conformance:set_then_get"))?;
    ensure!(
        got.as_deref() == Some("my value"),
        "get returned {got:?}, expected Some(\"my value\")"
    );
    ok("delete", cache.delete("conformance:set_then_get"))?;
    Ok(())
}

/// `get` of a key never set is `None`.
pub fn miss_is_none<C: Face>(cache: &C) -> Outcome {
    let got: Option<u32> = ok("get", cache.get("conformance:never_set"))?;
    ensure!(got.is_none(), "get of a key never set returned {got:?}");
    Ok(())
}

/// `get_or` returns the fallback on a miss and the stored value on a hit.
pub fn get_or_falls_back_on_miss_only<C: Face>(cache: &C) -> Outcome {
    ok("delete", cache.delete("conformance:fallback"))?;
    ensure!(
        ok("get_or", cache.get_or("conformance:fallback", 1234))? == 1234,
        "a miss did not return the fallback"
    );
    ok("set", cache.set("conformance:fallback", &1001))?;
    ensure!(
        ok("get_or", cache.get_or("conformance:fallback", 1234))? == 1001,
        "a hit returned the fallback"
    );
    ok("delete", cache.delete("conformance:fallback"))?;
    Ok(())
}

/// `0`, `false`, `""` and empty lists are hits, not misses.
pub fn falsy_values_are_hits<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:zero", &0))?;
    ok("set", cache.set("conformance:false", &false))?;
    ok("set", cache.set("conformance:empty", ""))?;
    ok(
        "set",
        cache.set("conformance:empty_list", &Vec::<u8>::new()),
    )?;
    ensure!(
        ok("get", cache.get::<i32>("conformance:zero"))? == Some(0),
        "0 read as a miss"
    );
    ensure!(
        ok("get", cache.get::<bool>("conformance:false"))? == Some(false),
        "false read as a miss"
    );
    ensure!(
        ok("get", cache.get::<String>("conformance:empty"))? == Some(String::new()),
        "\"\" read as a miss"
    );
    ensure!(
        ok("get", cache.get::<Vec<u8>>("conformance:empty_list"))? == Some(vec![]),
        "[] read as a miss"
    );
    ok(
        "delete_many",
        cache.delete_many(&[
            "conformance:zero",
            "conformance:false",
            "conformance:empty",
            "conformance:empty_list",
        ]),
    )?;
    Ok(())
}

/// A stored `None` reads back as `Some(None)`: distinguishable from a miss.
pub fn stored_null_is_not_a_miss<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:null", &None::<u8>))?;
    let got: Option<Option<u8>> = ok("get", cache.get("conformance:null"))?;
    ensure!(
        got == Some(None),
        "a stored None read back as {got:?}, expected Some(None)"
    );
    ok("delete", cache.delete("conformance:null"))?;
    Ok(())
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Shape {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: BTreeMap<String, f64>,
    parent: Option<Box<Shape>>,
    kind: Kind,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Kind {
    Plain,
    Tuple(i8, char),
    Struct { flag: bool },
}

/// Every value that serializes comes back equal, with its type (unlike Cement's redis handler,
/// which returned text).
pub fn values_round_trip_exactly<C: Face>(cache: &C) -> Outcome {
    let shape = Shape {
        id: u64::MAX,
        name: "naïve \u{1F600} \"quoted\"\n".into(),
        tags: vec!["a".into(), String::new()],
        scores: [
            ("pi".to_string(), std::f64::consts::PI),
            ("neg".to_string(), -0.5),
        ]
        .into(),
        parent: Some(Box::new(Shape {
            id: 0,
            name: String::new(),
            tags: vec![],
            scores: BTreeMap::new(),
            parent: None,
            kind: Kind::Tuple(-128, 'é'),
        })),
        kind: Kind::Struct { flag: true },
    };
    ok("set", cache.set("conformance:shape", &shape))?;
    ensure!(
        ok("get", cache.get::<Shape>("conformance:shape"))?.as_ref() == Some(&shape),
        "a nested struct did not round-trip"
    );

    let bytes: Vec<u8> = (0..=255).collect();
    ok("set", cache.set("conformance:bytes", &bytes))?;
    ensure!(
        ok("get", cache.get::<Vec<u8>>("conformance:bytes"))? == Some(bytes),
        "bytes 0..=255 did not round-trip"
    );

    ok("set", cache.set("conformance:int", &i64::MIN))?;
    ensure!(
        ok("get", cache.get::<i64>("conformance:int"))? == Some(i64::MIN),
        "i64::MIN did not round-trip"
    );
    ok("set", cache.set("conformance:unit", &Kind::Plain))?;
    ensure!(
        ok("get", cache.get::<Kind>("conformance:unit"))? == Some(Kind::Plain),
        "a unit variant did not round-trip"
    );

    let big = "x".repeat(512 * 1024);
    ok("set", cache.set("conformance:big", &big))?;
    ensure!(
        ok("get", cache.get::<String>("conformance:big"))? == Some(big),
        "a 512 KiB value did not round-trip"
    );
    ok(
        "delete_many",
        cache.delete_many(&[
            "conformance:shape",
            "conformance:bytes",
            "conformance:int",
            "conformance:unit",
            "conformance:big",
        ]),
    )?;
    Ok(())
}

/// A second `set` replaces the first value.
pub fn overwrite_replaces<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:overwrite", &1))?;
    ok("set", cache.set("conformance:overwrite", &2))?;
    ensure!(
        ok("get", cache.get::<i32>("conformance:overwrite"))? == Some(2),
        "the second set did not replace the first"
    );
    ok("delete", cache.delete("conformance:overwrite"))?;
    Ok(())
}

/// `delete` returns `true` for a present key and `false` for a missing one.
pub fn delete_reports_presence<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:delete", &4321))?;
    ensure!(
        ok("delete", cache.delete("conformance:delete"))?,
        "delete of a present key returned false"
    );
    ensure!(
        !ok("delete", cache.delete("conformance:delete"))?,
        "delete of a missing key returned true"
    );
    ensure!(
        ok("get", cache.get::<i32>("conformance:delete"))?.is_none(),
        "the key is still there after delete"
    );
    Ok(())
}

/// Any UTF-8 string is a key: spaces, newlines, protocol words, control characters, 1000
/// bytes, the empty string.
pub fn any_utf8_key<C: Face>(cache: &C) -> Outcome {
    let long = "k".repeat(1000);
    let keys = [
        "conformance:with space",
        "conformance:x\r\nflush_all\r\nset y 0 0 1",
        "conformance:tab\tand\0nul",
        "conformance:ünïcødé ✓",
        long.as_str(),
        "",
        "conformance:looks#~mapped",
    ];
    for (i, key) in keys.iter().enumerate() {
        ok("set", cache.set(key, &i))?;
    }
    for (i, key) in keys.iter().enumerate() {
        let got: Option<usize> = ok("get", cache.get(key))?;
        ensure!(
            got == Some(i),
            "key {key:?} read back {got:?}, expected Some({i})"
        );
    }
    for key in keys {
        ensure!(
            ok("delete", cache.delete(key))?,
            "delete of key {key:?} returned false"
        );
    }
    Ok(())
}

/// Keys that differ only where a backend could not store them (whitespace, length beyond the
/// backend's limit) stay distinct.
pub fn similar_keys_stay_apart<C: Face>(cache: &C) -> Outcome {
    let a = format!("conformance:{}a", "p".repeat(300));
    let b = format!("conformance:{}b", "p".repeat(300));
    let keys = [
        "conformance:a b",
        "conformance:a_b",
        "conformance:a\tb",
        "conformance:a\nb",
        a.as_str(),
        b.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        ok("set", cache.set(key, &i))?;
    }
    for (i, key) in keys.iter().enumerate() {
        let got: Option<usize> = ok("get", cache.get(key))?;
        ensure!(
            got == Some(i),
            "key {key:?} collided with another (read {got:?}, expected Some({i}))"
        );
    }
    ok("delete_many", cache.delete_many(&keys))?;
    Ok(())
}

/// A value that cannot be read as the asked type — stored as another type, or foreign bytes
/// written by another program — reads as a miss and is counted (or, with
/// `on_decode_error = "raise"`, is an [`Error::Codec`]); never a panic or garbage.
pub fn undecodable_values_read_as_misses<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:typed", "text"))?;
    let wire = ok("wire_key", cache.wire_key("conformance:foreign"))?;
    ok(
        "handler set",
        cache.handler_set(&wire, b"\xff\x00 not ours"),
    )?;
    let before = cache.stats().decode_errors;
    for key in ["conformance:typed", "conformance:foreign"] {
        match cache.get::<u64>(key) {
            Ok(None) | Err(Error::Codec { .. }) => {}
            other => {
                return Err(format!(
                    "reading {key} as u64 gave {other:?}, expected a miss or Error::Codec"
                ))
            }
        }
    }
    let counted = cache.stats().decode_errors - before;
    ensure!(
        counted == 2,
        "{counted} decode errors were counted, expected 2"
    );
    ensure!(
        ok("get", cache.get::<String>("conformance:typed"))?.as_deref() == Some("text"),
        "the value was damaged by a wrong-type read"
    );
    ok(
        "delete_many",
        cache.delete_many(&["conformance:typed", "conformance:foreign"]),
    )?;
    Ok(())
}

/// `exists` tells a present key from a missing one.
pub fn exists_reports_presence<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:exists", &0))?;
    ensure!(
        ok("exists", cache.exists("conformance:exists"))?,
        "exists of a present key returned false"
    );
    ok("delete", cache.delete("conformance:exists"))?;
    ensure!(
        !ok("exists", cache.exists("conformance:exists"))?,
        "exists of a missing key returned true"
    );
    Ok(())
}

fn expect_unsupported<T: std::fmt::Debug>(what: &str, result: crate::Result<T>) -> Outcome {
    match result {
        Err(Error::Unsupported { .. }) => Ok(()),
        other => Err(format!("{what} on a handler that does not declare it gave {other:?}, expected Error::Unsupported")),
    }
}

/// `add` stores only when the key is absent, atomically: of eight threads adding one key, one
/// wins. A handler without the capability refuses with [`Error::Unsupported`].
pub fn add_stores_only_if_absent<C: Face>(cache: &C) -> Outcome {
    if !cache.capabilities().add {
        return expect_unsupported("add", cache.add("conformance:add", &1));
    }
    ok("delete", cache.delete("conformance:add"))?;
    ensure!(
        ok("add", cache.add("conformance:add", &1))?,
        "add of a missing key returned false"
    );
    ensure!(
        !ok("add", cache.add("conformance:add", &2))?,
        "add of a present key returned true"
    );
    ensure!(
        ok("get", cache.get::<i32>("conformance:add"))? == Some(1),
        "add overwrote a present key"
    );
    ok("delete", cache.delete("conformance:add"))?;
    let winners: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| s.spawn(move || cache.add("conformance:add", &t)))
            .collect();
        handles
            .into_iter()
            .map(|h| matches!(h.join(), Ok(Ok(true))) as usize)
            .sum()
    });
    ensure!(
        winners == 1,
        "{winners} of 8 concurrent adds won, expected exactly 1"
    );
    ok("delete", cache.delete("conformance:add"))?;
    Ok(())
}

/// `incr`/`decr` are atomic unsigned counters: they start from 0, `decr` stops at 0, eight
/// threads × 100 increments make 800, a counter reads back with `get::<u64>`, `set` of an
/// unsigned integer makes a counter, and a value that is not a counter is refused.
pub fn counters_are_atomic<C: Face>(cache: &C) -> Outcome {
    if !cache.capabilities().counters {
        expect_unsupported("incr", cache.incr("conformance:counter", 1))?;
        return expect_unsupported("decr", cache.decr("conformance:counter", 1));
    }
    ok("delete", cache.delete("conformance:counter"))?;
    ensure!(
        ok("incr", cache.incr("conformance:counter", 5))? == 5,
        "incr of a missing key did not start from 0"
    );
    ensure!(
        ok("decr", cache.decr("conformance:counter", 2))? == 3,
        "decr did not subtract"
    );
    ensure!(
        ok("decr", cache.decr("conformance:counter", 10))? == 0,
        "decr went below 0"
    );
    // A failed increment (a timeout on a loaded host) is reported as itself, not as a short total.
    let failures = std::sync::Mutex::new((0usize, None));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..100 {
                    if let Err(e) = cache.incr("conformance:counter", 1) {
                        let mut failed = failures.lock().unwrap_or_else(|p| p.into_inner());
                        failed.0 += 1;
                        failed.1.get_or_insert(e);
                    }
                }
            });
        }
    });
    if let (count, Some(first)) = failures.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(format!("{count}/800 concurrent incr calls failed: {first}"));
    }
    let total = ok("get", cache.get::<u64>("conformance:counter"))?;
    ensure!(
        total == Some(800),
        "8 threads x 100 increments read back as {total:?}, expected Some(800)"
    );
    ok("set", cache.set("conformance:counter", &41u64))?;
    ensure!(
        ok("incr", cache.incr("conformance:counter", 1))? == 42,
        "set(&41u64) did not make a counter"
    );
    ok("set", cache.set("conformance:not_counter", "text"))?;
    ensure!(
        cache.incr("conformance:not_counter", 1).is_err(),
        "incr of a text value did not fail"
    );
    ok(
        "delete_many",
        cache.delete_many(&["conformance:counter", "conformance:not_counter"]),
    )?;
    Ok(())
}

/// `touch` gives a present key a new TTL and reports a missing one.
pub fn touch_sets_a_new_ttl<C: Face>(cache: &C) -> Outcome {
    if !cache.capabilities().touch {
        return expect_unsupported("touch", cache.touch("conformance:touch", None));
    }
    ensure!(
        !ok("touch", cache.touch("conformance:touch_missing", None))?,
        "touch of a missing key returned true"
    );
    ok("set", cache.set("conformance:touch", &1))?;
    ensure!(
        ok(
            "touch",
            cache.touch("conformance:touch", Some(Duration::from_secs(2)))
        )?,
        "touch of a present key returned false"
    );
    ensure!(
        ok("get", cache.get::<i32>("conformance:touch"))? == Some(1),
        "touch changed the value"
    );
    std::thread::sleep(Duration::from_millis(3100));
    ensure!(
        ok("get", cache.get::<i32>("conformance:touch"))?.is_none(),
        "the value outlived the TTL touch gave it"
    );
    Ok(())
}

/// `get_or_set_with` computes on a miss, stores, and serves the stored value afterwards.
pub fn get_or_set_with_computes_once<C: Face>(cache: &C) -> Outcome {
    ok("delete", cache.delete("conformance:computed"))?;
    let first: String = ok(
        "get_or_set_with",
        cache.get_or_set_with("conformance:computed", None, || Ok("made".to_string())),
    )?;
    let second: String = ok(
        "get_or_set_with",
        cache.get_or_set_with(
            "conformance:computed",
            None,
            || Ok("made again".to_string()),
        ),
    )?;
    ensure!(
        first == "made" && second == "made",
        "got {first:?} then {second:?}, expected \"made\" twice"
    );
    ok("delete", cache.delete("conformance:computed"))?;
    Ok(())
}

/// `set_with_ttl` with a zero duration is an error and stores nothing.
pub fn zero_ttl_is_an_error<C: Face>(cache: &C) -> Outcome {
    match cache.set_with_ttl("conformance:zero_ttl", &1, Duration::ZERO) {
        Err(Error::InvalidArgument(_)) => {}
        other => {
            return Err(format!(
                "a zero ttl gave {other:?}, expected Error::InvalidArgument"
            ))
        }
    }
    ensure!(
        ok("get", cache.get::<i32>("conformance:zero_ttl"))?.is_none(),
        "a zero-ttl set stored the value"
    );
    Ok(())
}

/// `get_many` answers in key order with misses in place; `set_many` stores all; `delete_many`
/// counts what it removed.
pub fn batch_operations<C: Face>(cache: &C) -> Outcome {
    let keys: Vec<String> = (0..20).map(|i| format!("conformance:batch:{i}")).collect();
    let entries: Vec<(&str, usize)> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    ok("set_many", cache.set_many(&entries))?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got: Vec<Option<usize>> = ok("get_many", cache.get_many(&refs))?;
    let expected: Vec<Option<usize>> = (0..20).map(|i| (i % 2 == 0).then_some(i)).collect();
    ensure!(
        got == expected,
        "get_many returned {got:?}, expected {expected:?}"
    );
    ensure!(
        ok("get_many", cache.get_many::<u8>(&[]))?.is_empty(),
        "get_many of no keys returned values"
    );
    let removed = ok("delete_many", cache.delete_many(&refs))?;
    ensure!(removed == 10, "delete_many removed {removed}, expected 10");
    Ok(())
}

/// Eight threads writing and reading their own keys lose nothing.
pub fn concurrent_writers_lose_nothing<C: Face>(cache: &C) -> Outcome {
    const THREADS: usize = 8;
    const OPS: usize = 200;
    let results: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || -> Outcome {
                    for i in 0..OPS {
                        let key = format!("conformance:thread:{t}:{i}");
                        ok("set", cache.set(&key, &(t * OPS + i)))?;
                        let got: Option<usize> = ok("get", cache.get(&key))?;
                        ensure!(
                            got == Some(t * OPS + i),
                            "thread {t} read {got:?} for {key}"
                        );
                    }
                    for i in (0..OPS).step_by(2) {
                        ensure!(
                            ok(
                                "delete",
                                cache.delete(&format!("conformance:thread:{t}:{i}"))
                            )?,
                            "thread {t} lost key {i}"
                        );
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a thread panicked".to_string()))
            })
            .collect()
    });
    results.into_iter().collect::<Outcome>()?;
    for t in 0..THREADS {
        for i in 0..OPS {
            let key = format!("conformance:thread:{t}:{i}");
            let got: Option<usize> = ok("get", cache.get(&key))?;
            let expected = (i % 2 == 1).then_some(t * OPS + i);
            ensure!(
                got == expected,
                "after the threads ended {key} read {got:?}, expected {expected:?}"
            );
        }
    }
    let keys: Vec<String> = (0..THREADS)
        .flat_map(|t| (0..OPS).map(move |i| format!("conformance:thread:{t}:{i}")))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    ok("delete_many", cache.delete_many(&refs))?;
    Ok(())
}

/// A value set with a TTL is there at first and gone after it (Cement's `time=`).
pub fn ttl_expires<C: Face>(cache: &C) -> Outcome {
    ok(
        "set_with_ttl",
        cache.set_with_ttl("conformance:ttl", &1003, Duration::from_secs(2)),
    )?;
    ok("set", cache.set("conformance:no_ttl", &1))?;
    ensure!(
        ok("get", cache.get::<i32>("conformance:ttl"))? == Some(1003),
        "the value was gone before its TTL"
    );
    std::thread::sleep(Duration::from_millis(3100));
    ensure!(
        ok("get", cache.get::<i32>("conformance:ttl"))?.is_none(),
        "the value outlived its 2 s TTL by over a second"
    );
    if cache.default_ttl().is_none() {
        ensure!(
            ok("get", cache.get::<i32>("conformance:no_ttl"))? == Some(1),
            "a value set without expiry expired"
        );
    }
    ok("delete", cache.delete("conformance:no_ttl"))?;
    Ok(())
}

/// After `purge`, nothing this cache stored is found.
pub fn purge_empties<C: Face>(cache: &C) -> Outcome {
    ok("set", cache.set("conformance:purge:a", &1002))?;
    ok("set", cache.set("conformance:purge:b", "x"))?;
    ok("purge", cache.purge())?;
    ensure!(
        ok("get", cache.get::<i32>("conformance:purge:a"))?.is_none(),
        "a value survived purge"
    );
    ensure!(
        ok("get", cache.get::<String>("conformance:purge:b"))?.is_none(),
        "a value survived purge"
    );
    Ok(())
}
