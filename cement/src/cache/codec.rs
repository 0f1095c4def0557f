//! How typed values become bytes and back: a small envelope around serde JSON.
//!
//! Every stored value starts with a three-byte header — `0xCE`, the envelope version, the codec
//! id — followed by the payload. Reading checks the header first, so a value written by
//! another program, another codec or a future envelope version is recognised as *foreign*
//! and read as a miss (and counted), never mis-decoded; a codec change rolls out without a
//! purge.
//!
//! One exception keeps counters native: a value whose JSON is a plain unsigned integer (`42`)
//! is stored as those ASCII digits alone, which is what memcached's `incr` and redis' `INCRBY`
//! work on. JSON never starts with `0xCE`, so the two forms cannot be confused.
//!
//! What JSON would store but not give back is refused at encode time with [`Error::Codec`]
//! (a `set` that returns `Ok` reads back equal): non-finite floats (serde_json writes them as
//! `null`), `Some(None)` and `Some(())` (also `null`, read back as `None`), and nesting deeper
//! than the decoder reads (127 levels of arrays and objects). See [`guard`].
//!
//! This module is the only place that knows the format; handlers only ever see bytes.

mod guard;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::key::shorten;
use crate::{Error, Result};

/// First byte of every enveloped value.
const MAGIC: u8 = 0xCE;
/// The envelope version this build writes and reads.
const VERSION: u8 = 1;
/// Codec id of serde JSON.
const JSON: u8 = 1;
const HEADER: [u8; 3] = [MAGIC, VERSION, JSON];
/// Longest run of digits stored raw (u64::MAX has 20).
const MAX_COUNTER_DIGITS: usize = 20;

/// Encodes `value` for storage under `key` (the key only serves the error message).
pub(crate) fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&HEADER);
    guard::serialize(value, &mut serde_json::Serializer::new(&mut out)).map_err(|e| {
        Error::Codec {
            message: format!(
                "cannot store the value for key {:?} (a {}): {e}",
                shorten(key),
                std::any::type_name::<V>()
            ),
            source: Box::new(e),
        }
    })?;
    if is_counter(&out[HEADER.len()..]) {
        out.drain(..HEADER.len());
    }
    Ok(out)
}

/// Why stored bytes could not be read as the asked type.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// Not written by this envelope version and codec.
    Foreign(String),
    /// Our envelope, but the payload is not a valid value of the asked type (written as another
    /// type, or by an older schema).
    Mismatch(serde_json::Error),
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
                source: Box::new(e),
            },
        }
    }
}

/// Decodes stored bytes as a `T`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, DecodeError> {
    let payload = match bytes {
        [MAGIC, VERSION, JSON, payload @ ..] => payload,
        [MAGIC, version, codec, ..] => {
            return Err(DecodeError::Foreign(format!(
                "envelope version {version}, codec {codec} (this build reads version {VERSION}, codec {JSON})"
            )))
        }
        digits if is_counter(digits) => digits,
        _ => return Err(DecodeError::Foreign("no cement envelope".into())),
    };
    serde_json::from_slice(payload).map_err(DecodeError::Mismatch)
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

    #[test]
    fn unencodable_values_are_codec_errors() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(encode("k", &map), Err(Error::Codec { .. })));
    }
}
