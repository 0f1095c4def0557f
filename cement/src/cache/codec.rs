//! How typed values become bytes and back: a small envelope around serde JSON or MessagePack.
//!
//! Every stored value starts with a three-byte header — `0xCE`, the envelope version, the codec
//! id — followed by the payload. The codec id's low bits name the codec (`1` JSON, `2`
//! MessagePack); its high bit says the payload is LZ4-compressed (its uncompressed length
//! first, as four little-endian bytes). Reading goes by the header, never by the section's
//! `codec` setting, so a value written under either codec, compressed or not, reads back
//! under any setting: switching codec or compression needs no purge. A value written by
//! another program or a future envelope version is recognised as *foreign* and read as a miss
//! (and counted), never mis-decoded.
//!
//! One exception keeps counters native: a value that is a plain unsigned integer (`42`) is
//! stored as those ASCII digits alone, whatever the codec and never compressed, which is what
//! memcached's `incr` and redis' `INCRBY` work on. JSON never starts with `0xCE`, so the two
//! forms cannot be confused.
//!
//! What the codec would store but not give back is refused at encode time with
//! [`Error::Codec`] (a `set` that returns `Ok` reads back equal): under JSON non-finite floats
//! (serde_json writes them as `null`); under both `Some(None)` and `Some(())` (written as
//! `null`, read back as `None`), and nesting deeper than JSON's decoder reads (127 levels of
//! arrays and objects), so that any value one codec stores the other stores too. See [`guard`].
//!
//! This module is the only place that knows the format; handlers only ever see bytes.

mod guard;

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cache::key::shorten;
use crate::{Error, Result};

/// First byte of every enveloped value.
const MAGIC: u8 = 0xCE;
/// The envelope version this build writes and reads.
const VERSION: u8 = 1;
/// Codec id of serde JSON.
const JSON: u8 = 1;
/// Codec id of MessagePack (`rmp-serde`, structs as maps).
const MSGPACK: u8 = 2;
/// Set in the codec id when the payload is LZ4-compressed.
const COMPRESSED: u8 = 0x80;
const HEADER: [u8; 3] = [MAGIC, VERSION, JSON];
/// Longest run of digits stored raw (u64::MAX has 20).
const MAX_COUNTER_DIGITS: usize = 20;
/// LZ4 expands a byte to at most 255: a declared length beyond this is corrupt (and is never
/// allocated).
const MAX_LZ4_RATIO: usize = 255;

/// How a cache encodes the values it stores: the handler section's `codec` key.
///
/// Reading never depends on it (the stored value names its codec), so it can be changed
/// without a purge.
///
/// ```
/// use cement::cache::Codec;
///
/// let codec: Codec = serde_json::from_str("\"msgpack\"").unwrap();
/// assert_eq!(codec, Codec::MsgPack);
/// assert_eq!(Codec::default(), Codec::Json);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// serde JSON (the default): readable by other programs and languages. Refuses non-finite
    /// floats, which JSON cannot hold.
    #[default]
    Json,
    /// MessagePack through `rmp-serde`, structs as maps (self-describing, like JSON): smaller
    /// and faster, and it carries `NaN` and infinities.
    MsgPack,
}

impl Codec {
    /// The setting's value: `"json"` or `"msgpack"`.
    ///
    /// ```
    /// assert_eq!(cement::cache::Codec::MsgPack.name(), "msgpack");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::MsgPack => "msgpack",
        }
    }

    fn id(self) -> u8 {
        match self {
            Codec::Json => JSON,
            Codec::MsgPack => MSGPACK,
        }
    }
}

/// How a cache writes values: its codec, and the size above which payloads are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) codec: Codec,
    /// Payloads (encoded, before compression) longer than this many bytes are LZ4-compressed;
    /// `None`: never.
    pub(crate) compress_above: Option<usize>,
}

/// Encodes `value` as JSON, uncompressed, for storage under `key` (the key only serves the
/// error message).
#[cfg(test)]
pub(crate) fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Vec<u8>> {
    encode_with(Format::default(), key, value)
}

/// Encodes `value` in `format` for storage under `key` (the key only serves the error message).
pub(crate) fn encode_with<V: Serialize + ?Sized>(
    format: Format,
    key: &str,
    value: &V,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(INITIAL_CAPACITY);
    let start = encode_into(format, key, value, &mut out)?;
    if start > 0 {
        out.drain(..start);
    }
    Ok(out)
}

/// Room for the envelope and a small value without growing the buffer (serde_json's own
/// `to_vec` starts at 128 too).
pub(crate) const INITIAL_CAPACITY: usize = 128;

/// Encodes `value` in `format` into `out` (cleared first), in one pass: the header goes in
/// first and the serializer writes the payload behind it, so a buffer kept from call to call
/// serves every value without an allocation. The stored bytes are `out[start..]`, `start`
/// returned (a JSON counter is stored without its header).
pub(crate) fn encode_into<V: Serialize + ?Sized>(
    format: Format,
    key: &str,
    value: &V,
    out: &mut Vec<u8>,
) -> Result<usize> {
    out.clear();
    out.extend_from_slice(&[MAGIC, VERSION, format.codec.id()]);
    let failed = match format.codec {
        Codec::Json => {
            guard::serialize_with(value, &mut serde_json::Serializer::new(&mut *out), true)
                .err()
                .map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        }
        Codec::MsgPack => guard::serialize_with(
            value,
            &mut rmp_serde::Serializer::new(&mut *out).with_struct_map(),
            false,
        )
        .err()
        .map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
    };
    if let Some(e) = failed {
        return Err(Error::Codec {
            message: format!(
                "cannot store the value for key {:?} (a {}) as {}: {e}",
                shorten(key),
                std::any::type_name::<V>(),
                format.codec.name()
            ),
            source: e,
        });
    }
    let payload = &out[HEADER.len()..];
    match format.codec {
        Codec::Json if is_counter(payload) => return Ok(HEADER.len()),
        Codec::MsgPack => {
            if let Some(n) = msgpack_counter(payload) {
                out.clear();
                out.extend_from_slice(n.to_string().as_bytes());
                return Ok(0);
            }
        }
        Codec::Json => {}
    }
    match format.compress_above {
        // The LZ4 block format declares its length in four bytes.
        Some(limit) if payload.len() > limit && u32::try_from(payload.len()).is_ok() => {
            if let Some(packed) = compress(format.codec, out) {
                *out = packed;
            }
            Ok(0)
        }
        _ => Ok(0),
    }
}

/// `out` (header and payload) with its payload LZ4-compressed, or `None` where compression
/// would not make it smaller.
fn compress(codec: Codec, out: &[u8]) -> Option<Vec<u8>> {
    let payload = &out[HEADER.len()..];
    let mut packed = Vec::with_capacity(HEADER.len() + 4 + payload.len() / 2);
    packed.extend_from_slice(&[MAGIC, VERSION, codec.id() | COMPRESSED]);
    packed.extend_from_slice(&lz4_flex::block::compress_prepend_size(payload));
    (packed.len() < out.len()).then_some(packed)
}

/// The value of a MessagePack payload that is one non-negative integer, in any integer form.
fn msgpack_counter(payload: &[u8]) -> Option<u64> {
    let len = match payload.first()? {
        0x00..=0x7f => 1,
        0xcc | 0xd0 => 2,
        0xcd | 0xd1 => 3,
        0xce | 0xd2 => 5,
        0xcf | 0xd3 => 9,
        _ => return None,
    };
    (payload.len() == len)
        .then(|| rmp_serde::from_slice::<u64>(payload).ok())
        .flatten()
}

/// Why stored bytes could not be read as the asked type.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not written by this envelope version and codec.
    Foreign(String),
    /// Our envelope, but the payload is not a valid value of the asked type (written as another
    /// type, or by an older schema).
    Mismatch(Box<dyn std::error::Error + Send + Sync>),
}

impl DecodeError {
    /// `"foreign"` or `"type mismatch"`, for logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            DecodeError::Foreign(_) => "foreign",
            DecodeError::Mismatch(_) => "type mismatch",
        }
    }

    /// The error callers get when the policy says to raise.
    pub(crate) fn into_error<T>(self, key: &str, len: usize) -> Error {
        let ty = std::any::type_name::<T>();
        match self {
            DecodeError::Foreign(why) => Error::Codec {
                message: format!(
                    "the value under key {:?} ({len} bytes) was not written by this version of cement: {why}",
                    shorten(key)
                ),
                source: why.into(),
            },
            DecodeError::Mismatch(e) => Error::Codec {
                message: format!(
                    "the value under key {:?} ({len} bytes) is not a valid {ty}: {e}; it was stored as another type",
                    shorten(key)
                ),
                source: e,
            },
        }
    }
}

/// Decodes stored bytes as a `T`, by the codec and compression their header names.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, DecodeError> {
    let (id, payload) = match bytes {
        [MAGIC, VERSION, id, payload @ ..] => (*id, payload),
        [MAGIC, version, codec, ..] => {
            return Err(DecodeError::Foreign(format!(
                "envelope version {version}, codec {codec} (this build reads version {VERSION})"
            )))
        }
        digits if is_counter(digits) => (JSON, digits),
        _ => return Err(DecodeError::Foreign("no cement envelope".into())),
    };
    let payload = match id & COMPRESSED {
        0 => Cow::Borrowed(payload),
        _ => Cow::Owned(decompress(payload)?),
    };
    match id & !COMPRESSED {
        JSON => serde_json::from_slice(&payload).map_err(|e| DecodeError::Mismatch(Box::new(e))),
        MSGPACK => rmp_serde::from_slice(&payload).map_err(|e| DecodeError::Mismatch(Box::new(e))),
        other => Err(DecodeError::Foreign(format!(
            "codec {other} (this build reads codecs {JSON} (json) and {MSGPACK} (msgpack))"
        ))),
    }
}

/// Decodes stored bytes that the caller owns, as [`decode`] does, with one shortcut: a JSON
/// string with nothing to unescape (the common cached `String`) becomes the asked type's
/// `String` in the bytes' own buffer (serde's `visit_string`: the text moved to the front),
/// not in a fresh allocation with the text copied in. Everything else, and any type that does
/// not ask for a `String`, goes to serde_json over the same payload, so what decodes and every
/// error are the same as [`decode`]'s.
#[inline]
pub(crate) fn decode_owned<T: DeserializeOwned>(
    mut bytes: Vec<u8>,
) -> std::result::Result<T, DecodeError> {
    // A `String` made of the bytes keeps their buffer's capacity: not for a buffer far larger.
    if bytes.capacity() > 2 * bytes.len() + 64 || !is_plain_json_string(&bytes) {
        return decode(&bytes);
    }
    T::deserialize(PlainJsonString { bytes: &mut bytes })
        .map_err(|e| DecodeError::Mismatch(Box::new(e)))
}

/// Whether `bytes` are an uncompressed JSON value that is one string with no escape, quote or
/// control character inside: its text is the bytes between the quotes (if they are UTF-8).
#[inline]
fn is_plain_json_string(bytes: &[u8]) -> bool {
    let [MAGIC, VERSION, JSON, b'"', body @ .., b'"'] = bytes else {
        return false;
    };
    // Sixteen bytes at a time, each chunk checked whole (vector compares, no branch per byte);
    // the last chunk ends where the text ends (overlapping the one before).
    #[inline(always)]
    fn special(chunk: &[u8; 16]) -> bool {
        chunk.iter().fold(0u8, |seen, &b| {
            seen | u8::from(b == b'"') | u8::from(b == b'\\') | u8::from(b < 0x20)
        }) != 0
    }
    let Some(last) = body.len().checked_sub(16) else {
        return !body.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
    };
    let mut seen = false;
    let mut at = 0;
    while at < last {
        seen |= body[at..].first_chunk::<16>().is_some_and(special);
        at += 16;
    }
    !(seen || body[last..].first_chunk::<16>().is_some_and(special))
}

/// The deserializer of [`decode_owned`] for a value that [`is_plain_json_string`]: `String`s
/// are made in place, the rest is serde_json's.
struct PlainJsonString<'a> {
    bytes: &'a mut Vec<u8>,
}

impl PlainJsonString<'_> {
    /// The text between the quotes as a `String` in the same buffer, or `None` (the bytes
    /// unchanged) if it is not UTF-8.
    fn into_text(bytes: &mut Vec<u8>) -> Option<String> {
        const OPEN: [u8; 4] = [MAGIC, VERSION, JSON, b'"'];
        // Moved to the front, then checked as UTF-8 where it now lies: one pass over the text
        // besides the move. `is_plain_json_string` saw the opening and closing quote.
        let len = bytes.len() - OPEN.len() - 1;
        bytes.copy_within(OPEN.len()..OPEN.len() + len, 0);
        bytes.truncate(len);
        match String::from_utf8(std::mem::take(bytes)) {
            Ok(text) => Some(text),
            Err(e) => {
                // Put back what was there: serde_json then reports it as it would have.
                let mut back = e.into_bytes();
                back.resize(len + OPEN.len() + 1, b'"');
                back.copy_within(..len, OPEN.len());
                back[..OPEN.len()].copy_from_slice(&OPEN);
                *bytes = back;
                None
            }
        }
    }
}

/// serde_json over `payload`, as `serde_json::from_slice` runs it (nothing may follow the value).
fn with_json<'a, R>(
    payload: &'a [u8],
    f: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::SliceRead<'a>>,
    ) -> serde_json::Result<R>,
) -> serde_json::Result<R> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let value = f(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The error serde_json gives when a visitor refuses a string of `len` payload bytes: the
/// visitor's message with the position serde_json adds (just past the string). Got from
/// serde_json itself, over a stand-in string of the same length.
fn positioned(refusal: serde_json::Error, len: usize) -> serde_json::Error {
    struct Refuse(serde_json::Error);
    impl serde::de::Visitor<'_> for Refuse {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<(), E> {
            // A visitor's error is always a message (serde's `de::Error` constructors).
            Err(E::custom(self.0))
        }
    }
    let mut stand_in = vec![b'a'; len];
    stand_in[0] = b'"';
    stand_in[len - 1] = b'"';
    match with_json(&stand_in, |de| {
        serde::Deserializer::deserialize_string(de, Refuse(refusal))
    }) {
        Err(e) => e,
        Ok(()) => serde::de::Error::custom("a string was refused"),
    }
}

/// Forwards each `deserialize_*` to serde_json over the payload.
macro_rules! forward_to_json {
    ($($method:ident$(($($arg:ident: $ty:ty),*))?,)*) => {$(
        fn $method<V: serde::de::Visitor<'a>>(self, $($($arg: $ty,)*)? visitor: V) -> serde_json::Result<V::Value> {
            let bytes: &'a Vec<u8> = self.bytes;
            with_json(&bytes[HEADER.len()..], |de| serde::Deserializer::$method(de, $($($arg,)*)? visitor))
        }
    )*};
}

impl<'a> serde::Deserializer<'a> for PlainJsonString<'a> {
    type Error = serde_json::Error;

    fn deserialize_string<V: serde::de::Visitor<'a>>(
        self,
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        let len = self.bytes.len() - HEADER.len();
        match Self::into_text(self.bytes) {
            Some(text) => visitor.visit_string(text).map_err(|e| positioned(e, len)),
            None => {
                let bytes: &'a Vec<u8> = self.bytes;
                with_json(&bytes[HEADER.len()..], |de| {
                    serde::Deserializer::deserialize_string(de, visitor)
                })
            }
        }
    }

    forward_to_json! {
        deserialize_any, deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32,
        deserialize_i64, deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32,
        deserialize_u64, deserialize_u128, deserialize_f32, deserialize_f64, deserialize_char,
        deserialize_str, deserialize_bytes, deserialize_byte_buf, deserialize_option,
        deserialize_unit, deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq,
        deserialize_tuple(len: usize), deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map, deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier, deserialize_ignored_any,
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// An LZ4 block with its length first; a length it cannot hold is refused before allocating.
fn decompress(packed: &[u8]) -> std::result::Result<Vec<u8>, DecodeError> {
    let corrupt = |why: String| DecodeError::Foreign(format!("corrupt compressed value: {why}"));
    let (len, block) =
        lz4_flex::block::uncompressed_size(packed).map_err(|e| corrupt(e.to_string()))?;
    if len > block.len().saturating_mul(MAX_LZ4_RATIO) {
        return Err(corrupt(format!(
            "{} compressed bytes cannot hold the {len} it declares",
            block.len()
        )));
    }
    lz4_flex::block::decompress(block, len).map_err(|e| corrupt(e.to_string()))
}

fn is_counter(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() <= MAX_COUNTER_DIGITS && bytes.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_envelope() {
        let bytes = encode("k", &vec![1u8, 2]).unwrap();
        assert_eq!(&bytes[..3], &HEADER);
        assert_eq!(decode::<Vec<u8>>(&bytes).unwrap(), vec![1, 2]);
        let bytes = encode("k", "text").unwrap();
        assert_eq!(decode::<String>(&bytes).unwrap(), "text");
    }

    #[test]
    fn unsigned_integers_are_stored_as_native_counters() {
        assert_eq!(encode("k", &42u64).unwrap(), b"42");
        assert_eq!(decode::<u64>(b"42").unwrap(), 42);
        assert_eq!(decode::<u64>(b"18446744073709551615").unwrap(), u64::MAX);
        // Negative numbers and floats keep the envelope.
        assert_eq!(&encode("k", &-1i32).unwrap()[..3], &HEADER);
        assert_eq!(&encode("k", &1.5f64).unwrap()[..3], &HEADER);
    }

    #[test]
    fn foreign_and_mismatched_values_are_told_apart() {
        assert!(matches!(
            decode::<String>(b"plain text"),
            Err(DecodeError::Foreign(_))
        ));
        assert!(matches!(
            decode::<String>(&[MAGIC, 9, JSON, b'1']),
            Err(DecodeError::Foreign(_))
        ));
        assert!(matches!(
            decode::<String>(b""),
            Err(DecodeError::Foreign(_))
        ));
        let text = encode("k", "text").unwrap();
        assert!(matches!(
            decode::<u64>(&text),
            Err(DecodeError::Mismatch(_))
        ));
        let err = decode::<u64>(&text)
            .unwrap_err()
            .into_error::<u64>("k", text.len());
        assert!(err.to_string().contains("is not a valid u64"), "{err}");
    }

    const MSGPACK_FORMAT: Format = Format {
        codec: Codec::MsgPack,
        compress_above: None,
    };

    #[test]
    fn either_codec_reads_back_under_either_setting() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Rec {
            name: String,
            score: f64,
        }
        let rec = Rec {
            name: "a".repeat(300),
            score: 1.5,
        };
        for codec in [Codec::Json, Codec::MsgPack] {
            for compress_above in [None, Some(16)] {
                let format = Format {
                    codec,
                    compress_above,
                };
                let bytes = encode_with(format, "k", &rec).unwrap();
                assert_eq!(bytes[2] & !COMPRESSED, codec.id());
                assert_eq!(bytes[2] & COMPRESSED != 0, compress_above.is_some());
                // decode takes no setting: the header says how.
                assert_eq!(decode::<Rec>(&bytes).unwrap(), rec);
            }
        }
    }

    #[test]
    fn msgpack_carries_non_finite_floats_and_keeps_counters_native() {
        let bytes = encode_with(MSGPACK_FORMAT, "k", &f64::NAN).unwrap();
        assert!(decode::<f64>(&bytes).unwrap().is_nan());
        let bytes = encode_with(MSGPACK_FORMAT, "k", &f32::NEG_INFINITY).unwrap();
        assert_eq!(decode::<f32>(&bytes).unwrap(), f32::NEG_INFINITY);
        assert!(matches!(
            encode_with(MSGPACK_FORMAT, "k", &Some(None::<u8>)),
            Err(Error::Codec { .. })
        ));
        for n in [0u64, 127, 128, 70_000, u64::MAX] {
            assert_eq!(
                encode_with(MSGPACK_FORMAT, "k", &n).unwrap(),
                n.to_string().into_bytes()
            );
        }
        assert_eq!(encode_with(MSGPACK_FORMAT, "k", &300i64).unwrap(), b"300");
        assert_eq!(
            &encode_with(MSGPACK_FORMAT, "k", &-1i64).unwrap()[..3],
            &[MAGIC, VERSION, MSGPACK]
        );
    }

    #[test]
    fn compression_only_where_it_pays_and_never_for_counters() {
        let format = Format {
            codec: Codec::Json,
            compress_above: Some(0),
        };
        assert_eq!(encode_with(format, "k", &12345u64).unwrap(), b"12345");
        // Too short to shrink: stored plain.
        assert_eq!(&encode_with(format, "k", "ab").unwrap()[..3], &HEADER);
        let long = "x".repeat(10_000);
        let bytes = encode_with(format, "k", &long).unwrap();
        assert!(bytes.len() < 200, "{}", bytes.len());
        assert_eq!(decode::<String>(&bytes).unwrap(), long);
    }

    #[test]
    fn corrupt_compressed_values_are_foreign_and_never_allocated() {
        // Declares 4 GiB in a few bytes.
        let bomb = [
            MAGIC,
            VERSION,
            JSON | COMPRESSED,
            0xff,
            0xff,
            0xff,
            0xff,
            0x10,
            b'x',
        ];
        let err = decode::<String>(&bomb).unwrap_err();
        assert!(
            matches!(err, DecodeError::Foreign(ref why) if why.contains("cannot hold")),
            "{err:?}"
        );
        let truncated = {
            let mut b = encode_with(
                Format {
                    codec: Codec::Json,
                    compress_above: Some(0),
                },
                "k",
                &"y".repeat(1000),
            )
            .unwrap();
            b.truncate(b.len() - 3);
            b
        };
        assert!(matches!(
            decode::<String>(&truncated),
            Err(DecodeError::Foreign(_))
        ));
        assert!(matches!(
            decode::<String>(&[MAGIC, VERSION, 9, b'1']),
            Err(DecodeError::Foreign(_))
        ));
    }

    /// `decode_owned` and `decode` of the same bytes: the same value, or errors of the same
    /// kind and text.
    fn same_as_decode<T>(bytes: &[u8])
    where
        T: DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let by_ref = decode::<T>(bytes);
        let owned = decode_owned::<T>(bytes.to_vec());
        match (&by_ref, &owned) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{bytes:?}"),
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind(), "{bytes:?}");
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{bytes:?}");
            }
            _ => panic!("{bytes:?}: decode {by_ref:?}, decode_owned {owned:?}"),
        }
    }

    fn enveloped(payload: &[u8]) -> Vec<u8> {
        [&HEADER[..], payload].concat()
    }

    #[test]
    fn owned_strings_are_made_in_their_own_buffer() {
        let text = "a cached value of about sixty-four bytes, typical of a session!";
        let bytes = encode("k", text).unwrap();
        let start = bytes.as_ptr();
        let decoded: String = decode_owned(bytes).unwrap();
        assert_eq!(decoded, text);
        assert_eq!(
            decoded.as_ptr(),
            start,
            "the text was copied to a new buffer"
        );
        // Not in a buffer far larger than the value: that would be kept as the string's.
        let mut roomy = Vec::with_capacity(4096);
        roomy.extend_from_slice(&encode("k", text).unwrap());
        let start = roomy.as_ptr();
        let decoded: String = decode_owned(roomy).unwrap();
        assert_eq!(decoded, text);
        assert_ne!(decoded.as_ptr(), start);
        assert!(decoded.capacity() < 4096);
    }

    #[derive(serde::Deserialize, PartialEq, Debug)]
    enum Colour {
        Red,
    }

    /// A type whose visitor takes a string from `deserialize_string` and refuses some.
    #[derive(PartialEq, Debug)]
    struct Even(String);

    impl<'de> serde::Deserialize<'de> for Even {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct Visit;
            impl serde::de::Visitor<'_> for Visit {
                type Value = Even;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string of even length")
                }
                fn visit_str<E: serde::de::Error>(
                    self,
                    text: &str,
                ) -> std::result::Result<Even, E> {
                    self.visit_string(text.to_string())
                }
                fn visit_string<E: serde::de::Error>(
                    self,
                    text: String,
                ) -> std::result::Result<Even, E> {
                    if text.len().is_multiple_of(2) {
                        Ok(Even(text))
                    } else {
                        Err(E::custom("odd length"))
                    }
                }
            }
            d.deserialize_string(Visit)
        }
    }

    #[test]
    fn owned_decoding_reads_and_refuses_as_decode_does() {
        let cases: Vec<Vec<u8>> = vec![
            enveloped(b"\"plain\""),
            enveloped(b"\"\""),
            enveloped(b"\"odd\""),
            enveloped(b"\"Red\""),
            enveloped(b"\"x\""),
            enveloped(b"\"127.0.0.1\""),
            enveloped("\"h\u{e9}llo w\u{f6}rld, a string longer than sixteen bytes\"".as_bytes()),
            enveloped(b"\"esc\\\"aped\""),
            enveloped(b"\"tab\there\""),
            enveloped(b"\"not utf-8 \xff\xfe in a long enough string\""),
            enveloped(b"\"\xc3\""),
            enveloped(b"\"trailing\" "),
            enveloped(b"\"a\"\"b\""),
            enveloped(b"42"),
            enveloped(b"[1,2]"),
            b"12".to_vec(),
            b"plain text".to_vec(),
            vec![MAGIC, VERSION, JSON | COMPRESSED, b'"', b'"'],
            vec![MAGIC, VERSION, MSGPACK, b'"', b'"'],
        ];
        for bytes in &cases {
            same_as_decode::<String>(bytes);
            same_as_decode::<Even>(bytes);
            same_as_decode::<Colour>(bytes);
            same_as_decode::<char>(bytes);
            same_as_decode::<u64>(bytes);
            same_as_decode::<Option<String>>(bytes);
            same_as_decode::<Vec<u8>>(bytes);
            same_as_decode::<std::net::IpAddr>(bytes);
            same_as_decode::<serde_json::Value>(bytes);
        }
        // A refusal keeps the position serde_json gives it.
        let err = decode_owned::<Even>(enveloped(b"\"odd\"")).unwrap_err();
        assert!(
            format!("{err:?}").contains(r#""odd length", line: 1, column: 5"#),
            "{err:?}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, failure_persistence: None, ..Default::default() })]

        #[test]
        fn owned_decoding_is_decoding(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            ascii in proptest::prelude::any::<bool>(),
        ) {
            // Text that is often plain (ASCII), or any bytes at all.
            let body: Vec<u8> = if ascii { body.into_iter().map(|b| b % 0x80).collect() } else { body };
            let bytes = enveloped(&[&b"\""[..], &body, b"\""].concat());
            same_as_decode::<String>(&bytes);
            same_as_decode::<Even>(&bytes);
            same_as_decode::<char>(&bytes);
        }
    }

    #[test]
    fn unencodable_values_are_codec_errors() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(encode("k", &map), Err(Error::Codec { .. })));
    }
}
