//! Key handling for every handler, in one place: the app prefix, then the handler's key rules.
//!
//! The [`Cache`](crate::cache::Cache) facade turns the caller's key into the *wire key* that a
//! [`CacheHandler`](crate::cache::CacheHandler) receives:
//!
//! 1. the handler section's `prefix` (default `"<app label>:"`) is put in front, so apps that
//!    share a server never collide;
//! 2. if the handler declares [`KeyRules`] and the prefixed key breaks them (too long, or it
//!    holds whitespace or control characters), it is mapped to a *safe* key: a readable head
//!    (unsafe bytes replaced by `_`) followed by [`MAPPED_MARKER`] and a 128-bit SHA-256
//!    digest of the whole prefixed key.
//!
//! The mapping is injective: a key is sent as it is only if it obeys the rules *and* does not
//! contain the marker, while every mapped key contains it, so a raw key can never equal a mapped
//! one, and two mapped keys collide only if SHA-256 does. No key can carry a protocol command
//! to a handler that declares its rules.

use std::borrow::Cow;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// The marker that separates a mapped key's readable head from its digest.
pub const MAPPED_MARKER: &str = "#~";

/// Number of hex characters of the digest in a mapped key (128 bits).
const DIGEST_HEX_LEN: usize = 32;

/// What keys a handler's backend accepts. Handlers declare it with
/// [`CacheHandler::key_rules`](crate::cache::CacheHandler::key_rules).
///
/// ```
/// use cement::cache::KeyRules;
///
/// let rules = KeyRules::MEMCACHED;
/// assert_eq!(rules.max_len, Some(250));
/// let wire = rules.wire_key("myapp:", "a key with spaces\r\nflush_all").unwrap();
/// assert!(wire.len() <= 250);
/// assert!(!wire.bytes().any(|b| b <= b' ' || b == 0x7f));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRules {
    /// Longest key the backend accepts, in bytes. `None`: no limit.
    pub max_len: Option<usize>,
    /// Whether the backend needs keys without whitespace and control characters (every byte
    /// above `0x20` and not `0x7f`).
    pub graphic_only: bool,
}

impl KeyRules {
    /// Any UTF-8 string is a valid key (memory, redis).
    pub const ANY: KeyRules = KeyRules {
        max_len: None,
        graphic_only: false,
    };

    /// memcached's rules: at most 250 bytes, no whitespace or control characters. The memcached
    /// handler declares its own (`cement_ext::memcached::KEY_RULES`, tested equal); this preset
    /// serves handlers of other memcached-protocol servers.
    pub const MEMCACHED: KeyRules = KeyRules {
        max_len: Some(250),
        graphic_only: true,
    };

    /// The wire key for `key` under `prefix`: `prefix + key` when that obeys these rules,
    /// otherwise the deterministic mapped form described in the [module docs](self).
    ///
    /// Fails with [`Error::InvalidKey`](crate::Error::InvalidKey) only when `max_len` is too
    /// small to hold even a mapped key (less than 34 bytes).
    pub fn wire_key<'a>(&self, prefix: &str, key: &'a str) -> crate::Result<Cow<'a, str>> {
        if self.passes(prefix, key) {
            return Ok(if prefix.is_empty() {
                Cow::Borrowed(key)
            } else {
                // At its size in one allocation (`format!` would grow it twice).
                let mut wire = String::with_capacity(prefix.len() + key.len());
                wire.push_str(prefix);
                wire.push_str(key);
                Cow::Owned(wire)
            });
        }
        self.mapped(prefix, key).map(Cow::Owned)
    }

    /// Whether `prefix + key` is sent as it is (no mapping needed). Under restrictive rules, a
    /// key that could be mistaken for a mapped one (or is empty, which such backends refuse) is
    /// mapped too: that keeps the mapping injective.
    pub(crate) fn passes(&self, prefix: &str, key: &str) -> bool {
        self.passes_after(prefix, plain_prefix(prefix), key)
    }

    /// [`passes`](Self::passes), told whether `prefix` is [`plain_prefix`] (a cache checks its
    /// prefix once, not with every key).
    #[inline]
    pub(crate) fn passes_after(&self, prefix: &str, prefix_is_plain: bool, key: &str) -> bool {
        if *self == KeyRules::ANY {
            return true;
        }
        if prefix_is_plain && plain_ascii(key.as_bytes()) {
            // The common key, decided in one branch-free pass: visible ASCII without `#` obeys
            // `graphic_only` and cannot hold (or, joined, form) the marker.
            let len = prefix.len() + key.len();
            return len != 0 && self.max_len.is_none_or(|max| len <= max);
        }
        self.passes_in_general(prefix, key)
    }

    /// [`passes`](Self::passes) for any key, without the shortcut.
    fn passes_in_general(&self, prefix: &str, key: &str) -> bool {
        let full_len = prefix.len() + key.len();
        let fits = self.max_len.is_none_or(|max| full_len <= max);
        let clean = !self.graphic_only || (is_graphic(prefix) && is_graphic(key));
        let restricted = self.max_len.is_some() || self.graphic_only;
        let ambiguous = restricted
            && (full_len == 0
                || prefix.contains(MAPPED_MARKER)
                || key.contains(MAPPED_MARKER)
                || joins_marker(prefix, key));
        fits && clean && !ambiguous
    }

    /// [`wire_key`](Self::wire_key) written into `out` (cleared first), to reuse a buffer.
    /// `prefix_is_plain`: whether `prefix` is [`plain_prefix`].
    pub(crate) fn write_wire_key(
        &self,
        prefix: &str,
        prefix_is_plain: bool,
        key: &str,
        out: &mut String,
    ) -> crate::Result<()> {
        out.clear();
        self.append_wire_key(prefix, prefix_is_plain, key, out)
    }

    /// [`wire_key`](Self::wire_key) appended to `out`: a batch's keys share one buffer.
    /// `prefix_is_plain`: whether `prefix` is [`plain_prefix`].
    #[inline]
    pub(crate) fn append_wire_key(
        &self,
        prefix: &str,
        prefix_is_plain: bool,
        key: &str,
        out: &mut String,
    ) -> crate::Result<()> {
        if self.passes_after(prefix, prefix_is_plain, key) {
            out.push_str(prefix);
            out.push_str(key);
        } else {
            out.push_str(&self.mapped(prefix, key)?);
        }
        Ok(())
    }

    fn mapped(&self, prefix: &str, key: &str) -> crate::Result<String> {
        let tail = MAPPED_MARKER.len() + DIGEST_HEX_LEN;
        let max = self.max_len.unwrap_or(usize::MAX);
        if max < tail {
            return Err(crate::Error::InvalidKey {
                key: shorten(key),
                reason: format!("the handler allows keys of at most {max} bytes, too short for cement's key mapping ({tail} bytes)"),
            });
        }
        let mut hasher = Sha256::new();
        hasher.update(prefix.as_bytes());
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        // Readable head: prefix + key with unsafe characters replaced, cut at a char boundary.
        let budget = (max - tail).min(64);
        let mut out = String::with_capacity(budget + tail);
        for c in prefix.chars().chain(key.chars()) {
            let c = if self.graphic_only && (c.is_whitespace() || c.is_control()) {
                '_'
            } else {
                c
            };
            if out.len() + c.len_utf8() > budget {
                break;
            }
            out.push(c);
        }
        // A head ending in '#' followed by the marker could be read back ambiguously; keep it plain.
        while out.ends_with('#') {
            out.pop();
        }
        out.push_str(MAPPED_MARKER);
        for byte in &digest[..DIGEST_HEX_LEN / 2] {
            let _ = write!(out, "{byte:02x}");
        }
        Ok(out)
    }
}

impl Default for KeyRules {
    fn default() -> Self {
        KeyRules::ANY
    }
}

/// Every byte is a visible, non-space character: ASCII graphic or part of a multi-byte UTF-8
/// sequence, with Unicode whitespace and control characters excluded too.
fn is_graphic(s: &str) -> bool {
    if s.is_ascii() {
        // The same test for ASCII, byte by byte: its whitespace and control characters are
        // exactly the bytes up to `0x20` and `0x7f`.
        return s.bytes().all(|b| b > b' ' && b != 0x7f);
    }
    s.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// Whether a prefix is made of visible ASCII other than `#` (or is empty): then a key that is
/// too passes the rules, whatever they are, if it fits.
pub(crate) fn plain_prefix(prefix: &str) -> bool {
    plain_ascii(prefix.as_bytes())
}

/// Whether every byte is visible ASCII other than `#` (`0x21..=0x7e` but `0x23`): such a key
/// passes every rule but the length. It runs for every key of every call, so it checks eight
/// bytes at a time without a branch per byte (the general checks below cost ~10× more).
#[inline]
fn plain_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Non-zero iff some byte of `w` is below `0x21`, above `0x7e` or `#`. Each test is exact
    /// for "some byte": a borrow or carry can only spread past a byte that is itself flagged.
    #[inline(always)]
    fn odd(w: u64) -> u64 {
        let below = w.wrapping_sub(ONES * 0x21) & !w;
        let above = w.wrapping_add(ONES) | w;
        let hash = w ^ (ONES * u64::from(b'#'));
        (below | above | (hash.wrapping_sub(ONES) & !hash)) & HIGH
    }
    let word = |chunk: &[u8]| chunk.try_into().map_or(HIGH, u64::from_ne_bytes);
    let mut chunks = bytes.chunks_exact(8);
    let mut seen = 0;
    for chunk in &mut chunks {
        seen |= odd(word(chunk));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        seen |= match bytes.len().checked_sub(8) {
            // the last eight bytes, overlapping the word before
            Some(from) => odd(word(&bytes[from..])),
            None => rest.iter().fold(0, |seen, &b| {
                seen | u64::from(b.wrapping_sub(0x21) >= 0x5e) | u64::from(b == b'#')
            }),
        };
    }
    seen == 0
}

/// The marker could also appear across the join of prefix and key (prefix ends with '#', key
/// starts with '~').
fn joins_marker(prefix: &str, key: &str) -> bool {
    prefix.ends_with('#') && key.starts_with('~')
}

/// A key as error messages show it: whole up to 80 bytes, else cut at a character boundary
/// and followed by its length. For handler authors' errors too.
///
/// ```
/// use cement::cache::key::shorten;
///
/// assert_eq!(shorten("user:1"), "user:1");
/// assert_eq!(shorten(&"k".repeat(100)), format!("{}… (100 bytes)", "k".repeat(80)));
/// ```
pub fn shorten(key: &str) -> String {
    const MAX: usize = 80;
    if key.len() <= MAX {
        return key.to_string();
    }
    let mut end = MAX;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &key[..end], key.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_rules_only_prefix() {
        assert_eq!(
            KeyRules::ANY.wire_key("app:", "a b\r\n").unwrap(),
            "app:a b\r\n"
        );
        assert_eq!(KeyRules::ANY.wire_key("", "k").unwrap(), "k");
    }

    #[test]
    fn memcached_safe_keys_pass_unchanged() {
        assert_eq!(
            KeyRules::MEMCACHED.wire_key("app:", "user:42").unwrap(),
            "app:user:42"
        );
        assert_eq!(
            KeyRules::MEMCACHED.wire_key("app:", "héllo").unwrap(),
            "app:héllo"
        );
    }

    #[test]
    fn memcached_unsafe_keys_are_mapped_safely() {
        let keys = [
            "a b".to_string(),
            "x\r\nflush_all".to_string(),
            "tab\there".to_string(),
            "nul\0".to_string(),
            "k".repeat(300),
            "é".repeat(200),
            String::new(),
            "looks#~like a mapped key".to_string(),
        ];
        for key in &keys {
            let wire = KeyRules::MEMCACHED.wire_key("app:", key).unwrap();
            assert!(wire.len() <= 250, "{wire}");
            assert!(is_graphic(&wire) && !wire.is_empty(), "{wire:?}");
            if key.is_empty() {
                assert_eq!(wire, "app:");
            } else {
                assert!(wire.contains(MAPPED_MARKER), "{wire}");
            }
        }
    }

    #[test]
    fn mapping_is_deterministic_and_distinct() {
        let a = KeyRules::MEMCACHED.wire_key("app:", "a b").unwrap();
        let b = KeyRules::MEMCACHED.wire_key("app:", "a b").unwrap();
        let c = KeyRules::MEMCACHED.wire_key("app:", "a_b").unwrap();
        let d = KeyRules::MEMCACHED.wire_key("app:", "a\tb").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Same head, different digests.
        assert_eq!(a.split(MAPPED_MARKER).next(), d.split(MAPPED_MARKER).next());
    }

    #[test]
    fn a_raw_key_cannot_impersonate_a_mapped_one() {
        let mapped = KeyRules::MEMCACHED
            .wire_key("app:", "a b")
            .unwrap()
            .into_owned();
        let forged = mapped.strip_prefix("app:").unwrap();
        let wire = KeyRules::MEMCACHED.wire_key("app:", forged).unwrap();
        assert_ne!(wire, mapped);
    }

    #[test]
    fn marker_across_the_join_is_mapped() {
        let wire = KeyRules::MEMCACHED.wire_key("app#", "~x").unwrap();
        assert_ne!(wire, "app#~x");
    }

    #[test]
    fn ascii_is_graphic_as_its_characters_are() {
        for byte in 0..0x80u8 {
            let c = char::from(byte);
            let text = format!("key{c}");
            assert_eq!(
                is_graphic(&text),
                !c.is_whitespace() && !c.is_control(),
                "{byte:#x}"
            );
        }
        assert!(!is_graphic("caf\u{e9}\u{a0}"));
        assert!(is_graphic("caf\u{e9}"));
    }

    #[test]
    fn plain_ascii_is_visible_ascii_without_a_hash() {
        let plain = |b: u8| (0x21..=0x7e).contains(&b) && b != b'#';
        // every byte at every position of every length up to three words, among plain bytes
        for len in 1..=24 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    let mut bytes = vec![b'k'; len];
                    bytes[at] = byte;
                    assert_eq!(
                        plain_ascii(&bytes),
                        plain(byte),
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(plain_ascii(b""));
    }

    proptest::proptest! {
        #[test]
        fn the_shortcut_decides_as_the_general_rules(
            prefix in "[a-z:#~ \\x7fé]{0,12}",
            key in "[a-z:#~ \\x7fé\\u{a0}]{0,40}",
        ) {
            for rules in [KeyRules::MEMCACHED, KeyRules { max_len: Some(20), graphic_only: false }, KeyRules::ANY] {
                proptest::prop_assert_eq!(
                    rules.passes(&prefix, &key),
                    rules.passes_in_general(&prefix, &key),
                    "{:?}", rules
                );
            }
        }
    }

    #[test]
    fn tiny_max_len_is_an_error() {
        let rules = KeyRules {
            max_len: Some(10),
            graphic_only: true,
        };
        let err = rules
            .wire_key("", "a key that is far too long")
            .unwrap_err();
        assert!(err.to_string().contains("at most 10 bytes"), "{err}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys that reach the mapping's corners: any Unicode, the marker, `#`/`~` at the
        /// edges, whitespace and control characters, and lengths around every limit.
        fn key() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                4 => any::<char>().prop_map(String::from),
                1 => Just(MAPPED_MARKER.to_string()),
                1 => Just("#".to_string()),
                1 => Just("~".to_string()),
                1 => Just(" ".to_string()),
                1 => Just("\r\n".to_string()),
                1 => (1usize..300).prop_map(|n| "k".repeat(n)),
            ];
            proptest::collection::vec(piece, 0..6).prop_map(|parts| parts.concat())
        }

        fn rules() -> impl Strategy<Value = KeyRules> {
            prop_oneof![
                Just(KeyRules::ANY),
                Just(KeyRules::MEMCACHED),
                (34usize..300, any::<bool>()).prop_map(|(max, graphic_only)| KeyRules {
                    max_len: Some(max),
                    graphic_only,
                }),
                Just(KeyRules {
                    max_len: None,
                    graphic_only: true,
                }),
            ]
        }

        /// What the backend itself checks, byte by byte (memcached: no byte <= 0x20, no 0x7f).
        fn obeys(rules: &KeyRules, wire: &str) -> bool {
            rules.max_len.is_none_or(|max| wire.len() <= max)
                && (!rules.graphic_only
                    || (!wire.is_empty() && wire.bytes().all(|b| b > b' ' && b != 0x7f)))
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn distinct_keys_never_share_a_wire_key(rules in rules(), prefix in key(), a in key(), b in key()) {
                prop_assume!(a != b);
                let wa = rules.wire_key(&prefix, &a).unwrap();
                let wb = rules.wire_key(&prefix, &b).unwrap();
                prop_assert_ne!(wa, wb);
            }

            #[test]
            fn wire_keys_obey_the_rules(rules in rules(), prefix in key(), key in key()) {
                let wire = rules.wire_key(&prefix, &key).unwrap();
                prop_assert!(obeys(&rules, &wire), "{:?} + {:?} -> {:?}", prefix, key, wire);
                let mut buffer = String::from("stale");
                rules.write_wire_key(&prefix, plain_prefix(&prefix), &key, &mut buffer).unwrap();
                prop_assert_eq!(buffer, wire.into_owned());
            }
        }
    }
}
