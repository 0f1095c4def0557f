//! Arbitrary prefixes and keys under arbitrary key rules: the wire key obeys the rules byte by
//! byte, and two different keys never share a wire key.
#![no_main]

use cement::cache::KeyRules;
use libfuzzer_sys::fuzz_target;

fn obeys(rules: &KeyRules, wire: &str) -> bool {
    rules.max_len.is_none_or(|max| wire.len() <= max)
        && (!rules.graphic_only
            || (!wire.is_empty() && wire.bytes().all(|b| b > b' ' && b != 0x7f)))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let rules = match selector % 4 {
        0 => KeyRules::ANY,
        1 => KeyRules::MEMCACHED,
        2 => KeyRules {
            max_len: Some(34 + usize::from(selector / 4)),
            graphic_only: true,
        },
        _ => KeyRules {
            max_len: Some(34 + usize::from(selector / 4)),
            graphic_only: false,
        },
    };
    // prefix \0 key-a \0 key-b
    let mut parts = text.splitn(3, '\u{0}');
    let (prefix, a, b) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let wa = rules
        .wire_key(prefix, a)
        .expect("max_len >= 34 always fits a mapped key");
    let wb = rules
        .wire_key(prefix, b)
        .expect("max_len >= 34 always fits a mapped key");
    assert!(
        obeys(&rules, &wa),
        "{prefix:?} + {a:?} -> {wa:?} breaks {rules:?}"
    );
    assert!(
        obeys(&rules, &wb),
        "{prefix:?} + {b:?} -> {wb:?} breaks {rules:?}"
    );
    if a != b {
        assert_ne!(wa, wb, "{a:?} and {b:?} share a wire key under {rules:?}");
    }
});
