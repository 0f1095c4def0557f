//! Arbitrary values for property tests of a cache: a [`Value`] type that reaches every corner
//! of serde's data model (nested enums, maps with text and integer keys, options of options,
//! every float including `NaN` and infinities, text over all of Unicode, bytes, 128-bit
//! integers, nesting up to and past the codec's depth limit), its `proptest` strategies, and
//! [`check`], the property every handler must keep:
//!
//! *a `set` that returns `Ok` reads back equal, and a `set` that is refused is refused with
//! [`Error::Codec`] — exactly for the values JSON cannot give back — and leaves the value
//! stored before intact.*
//!
//! ```
//! use cement::cache::{Cache, MemoryCacheHandler};
//! use cement::testing::values;
//!
//! let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(1000)), "doc:", None);
//! values::run(&cache, 64); // panics with the smallest failing value, if any
//! ```

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde::{Deserialize, Serialize};

use super::ok;
use crate::cache::{Cache, Codec};
use crate::Error;

/// A value of nearly every shape serde knows. Compare two with [`same`] (bit-exact floats).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Value {
    Unit,
    Bool(bool),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    F32(f32),
    Char(char),
    Text(String),
    Bytes(Vec<u8>),
    Maybe(Option<Box<Value>>),
    MaybeMaybe(Option<Option<u8>>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    IntMap(BTreeMap<i32, Value>),
    Pair(Box<Value>, Box<Value>),
    Record {
        name: String,
        score: Option<f64>,
        tags: Vec<Value>,
    },
}

/// Whether two values are the same, floats compared bit for bit (`-0.0` is not `0.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    // `Debug` prints every float exactly (shortest round-trip form), so equal text is equal bits
    // for every float that can be stored (all but NaN).
    format!("{a:?}") == format!("{b:?}")
}

/// Whether the JSON codec can give `value` back: no non-finite float, no `Some(None)`, and at
/// most 127 levels of JSON arrays and objects. The oracle for [`check`] under JSON.
pub fn storable(value: &Value) -> bool {
    storable_as(Codec::Json, value)
}

/// Whether `codec` stores `value`: as [`storable`], except that MessagePack also stores
/// non-finite floats. The oracle for [`check`].
pub fn storable_as(codec: Codec, value: &Value) -> bool {
    let finite = codec == Codec::Json;
    fn clean_with(value: &Value, finite: bool) -> bool {
        let clean = |value: &Value| clean_with(value, finite);
        match value {
            Value::F64(f) => !finite || f.is_finite(),
            Value::F32(f) => !finite || f.is_finite(),
            Value::MaybeMaybe(Some(None)) => false,
            Value::Maybe(Some(v)) => clean(v),
            Value::List(items) => items.iter().all(clean),
            Value::Map(map) => map.values().all(clean),
            Value::IntMap(map) => map.values().all(clean),
            Value::Pair(a, b) => clean(a) && clean(b),
            Value::Record { score, tags, .. } => {
                score.is_none_or(|s| !finite || s.is_finite()) && tags.iter().all(clean)
            }
            _ => true,
        }
    }
    clean_with(value, finite) && json_depth(value) <= 127
}

/// Levels of JSON arrays and objects `value` is written as (externally tagged: a variant with
/// content is an object around it).
pub fn json_depth(value: &Value) -> usize {
    let deepest =
        |items: &mut dyn Iterator<Item = &Value>| items.map(json_depth).max().unwrap_or(0);
    match value {
        Value::Unit => 0,
        Value::Maybe(Some(v)) => 1 + json_depth(v),
        // {"Bytes": [..]}
        Value::Bytes(_) => 2,
        Value::List(items) => 2 + deepest(&mut items.iter()),
        Value::Map(map) => 2 + deepest(&mut map.values()),
        Value::IntMap(map) => 2 + deepest(&mut map.values()),
        Value::Pair(a, b) => 2 + json_depth(a).max(json_depth(b)),
        // {"Record": {"tags": [..]}}
        Value::Record { tags, .. } => 3 + deepest(&mut tags.iter()),
        _ => 1,
    }
}

/// Any `f64`, with the edges drawn often: `NaN`, infinities, `-0.0`, the smallest subnormal,
/// the extremes.
pub fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(5e-324),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(0.1 + 0.2),
        ],
    ]
}

/// Text over all of Unicode, control characters included.
pub fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

/// Values of every shape, a few levels deep.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Unit),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(Value::U64),
        any::<i128>().prop_map(Value::I128),
        any::<u128>().prop_map(Value::U128),
        float().prop_map(Value::F64),
        any::<f32>().prop_map(Value::F32),
        any::<char>().prop_map(Value::Char),
        text().prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        any::<Option<Option<u8>>>().prop_map(Value::MaybeMaybe),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::option::of(inner.clone().prop_map(Box::new)).prop_map(Value::Maybe),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(text(), inner.clone(), 0..5).prop_map(Value::Map),
            proptest::collection::btree_map(any::<i32>(), inner.clone(), 0..5)
                .prop_map(Value::IntMap),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Value::Pair(Box::new(a), Box::new(b))),
            (
                text(),
                proptest::option::of(float()),
                proptest::collection::vec(inner, 0..4)
            )
                .prop_map(|(name, score, tags)| Value::Record { name, score, tags }),
        ]
    })
}

/// A value nested `levels` deep in lists (`{"List": [...]}`: two JSON levels each), around a leaf.
pub fn nested(levels: usize, leaf: Value) -> Value {
    (0..levels).fold(leaf, |inner, _| Value::List(vec![inner]))
}

/// Values nested from shallow to well past the codec's depth limit.
pub fn deep_value() -> impl Strategy<Value = Value> {
    (0usize..90, value()).prop_map(|(levels, leaf)| nested(levels, leaf))
}

/// A clause of the conformance suite (`conformance::CLAUSES`): what JSON would store but not give back — `NaN`, `±inf`, `Some(None)`, nesting of 128
/// levels or more — is refused by `set` (and `set_many`, `add`) with [`Error::Codec`], and the
/// value stored before stays; values just inside the limits round-trip.
pub fn unstorable_values_are_refused<C: super::face::Face>(cache: &C) -> Result<(), String> {
    #[derive(Serialize)]
    struct Reading {
        name: &'static str,
        value: f64,
    }
    const KEY: &str = "conformance:unstorable";
    ok("set", cache.set(KEY, "before"))?;
    let deep = |levels: usize| {
        (0..levels).fold(serde_json::json!(1), |inner, _| serde_json::json!([inner]))
    };
    let refused: [(&str, crate::Result<()>); 8] = [
        ("NaN", cache.set(KEY, &f64::NAN)),
        ("infinity", cache.set(KEY, &f64::INFINITY)),
        ("-infinity", cache.set(KEY, &f32::NEG_INFINITY)),
        (
            "a struct with a NaN field",
            cache.set(
                KEY,
                &Reading {
                    name: "t",
                    value: f64::NAN,
                },
            ),
        ),
        ("Some(None)", cache.set(KEY, &Some(None::<u8>))),
        ("128 levels of arrays", cache.set(KEY, &deep(128))),
        (
            "set_many with one NaN",
            cache.set_many(&[(KEY, 1.0), ("conformance:unstorable2", f64::NAN)]),
        ),
        (
            "add of NaN",
            cache.add("conformance:unstorable3", &f64::NAN).map(|_| ()),
        ),
    ];
    for (what, result) in refused {
        match result {
            Err(Error::Codec { message, .. }) => ensure!(
                message.contains("conformance:unstorable"),
                "refusing {what}: the message does not name the key: {message}"
            ),
            // add is optional: a handler without it refuses with Unsupported first.
            Err(Error::Unsupported { .. }) if what == "add of NaN" => {}
            other => {
                return Err(format!(
                    "set of {what} returned {other:?}, expected Error::Codec"
                ))
            }
        }
    }
    let got: Option<String> = ok("get", cache.get(KEY))?;
    ensure!(
        got.as_deref() == Some("before"),
        "a refused set changed the stored value: get returned {got:?}"
    );
    let none: Option<u64> = ok("get", cache.get("conformance:unstorable2"))?;
    ensure!(none.is_none(), "a refused set_many stored {none:?}");
    let deepest = deep(127);
    ok("set", cache.set(KEY, &deepest))?;
    let got: Option<serde_json::Value> = ok("get", cache.get(KEY))?;
    ensure!(
        got.as_ref() == Some(&deepest),
        "127 levels of arrays did not round-trip"
    );
    for value in [-0.0, f64::MIN_POSITIVE, f64::MAX, 5e-324, 0.1 + 0.2] {
        ok("set", cache.set(KEY, &value))?;
        let got: Option<f64> = ok("get", cache.get(KEY))?;
        ensure!(
            got.map(f64::to_bits) == Some(value.to_bits()),
            "{value:e} read back as {got:?}"
        );
    }
    ok("delete", cache.delete(KEY).map(|_| ()))
}

/// The property, for one value under `key`: see the [module docs](self).
pub fn check(cache: &Cache, key: &str, value: &Value) -> Result<(), String> {
    let before = "the value before";
    cache
        .set(key, before)
        .map_err(|e| format!("set of a plain string failed: {e}"))?;
    let expected_ok = storable_as(cache.codec(), value);
    match cache.set(key, value) {
        Ok(()) => {
            let got: Option<Value> = cache
                .get(key)
                .map_err(|e| format!("get after a set that returned Ok failed: {e}"))?;
            match got {
                Some(got) if same(&got, value) => {}
                other => {
                    return Err(format!(
                        "set returned Ok but get returned {other:?} for {value:?}"
                    ))
                }
            }
            if !expected_ok {
                return Err(format!(
                    "set stored {value:?}, which {} cannot give back",
                    cache.codec().name()
                ));
            }
        }
        Err(Error::Codec { .. }) if !expected_ok => {
            let got: Option<String> = cache
                .get(key)
                .map_err(|e| format!("get after a refused set failed: {e}"))?;
            if got.as_deref() != Some(before) {
                return Err(format!(
                    "a refused set of {value:?} left {got:?} instead of the value before"
                ));
            }
        }
        Err(e) => return Err(format!("set of {value:?} failed: {e}")),
    }
    Ok(())
}

/// Runs [`check`] on `cases` values of [`value`] and `cases` of [`deep_value`]; panics with
/// the smallest failing value it finds. The keys used start with `"values:"`.
#[track_caller]
pub fn run(cache: &Cache, cases: u32) {
    for (name, strategy) in [
        ("value", value().boxed()),
        ("deep_value", deep_value().boxed()),
    ] {
        let mut runner = TestRunner::new(RunnerConfig {
            cases,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let result = runner.run(&strategy, |value| {
            check(cache, "values:property", &value).map_err(TestCaseError::fail)
        });
        if let Err(failure) = result {
            panic!(
                "the {} cache handler breaks the value property ({name}): {failure}",
                cache.handler_label()
            );
        }
    }
}
