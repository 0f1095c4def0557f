//! How typed values become bytes and back: serde with JSON.
//!
//! This module is the only place that knows the format; a different serde format can replace
//! it without touching handlers, which only ever see bytes.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::key::shorten;
use crate::{Error, Result};

/// Encodes `value` for storage under `key` (the key only serves the error message).
pub(crate) fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Codec {
        message: format!(
            "cannot encode the value for key {:?} as {}: {e}",
            shorten(key),
            std::any::type_name::<V>()
        ),
        source: Box::new(e),
    })
}

/// Decodes stored bytes as a `T` (the key only serves the error message).
pub(crate) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Codec {
        message: format!(
            "the value stored under key {:?} is not a valid {} ({} bytes): {e}; \
             it was stored as another type or by another program",
            shorten(key),
            std::any::type_name::<T>(),
            bytes.len()
        ),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let bytes = encode("k", &vec![1u8, 2]).unwrap();
        assert_eq!(decode::<Vec<u8>>("k", &bytes).unwrap(), vec![1, 2]);
        let err = decode::<u32>("k", b"\xff\xfe").unwrap_err();
        assert!(matches!(err, Error::Codec { .. }));
        assert!(err.to_string().contains("key \"k\""), "{err}");
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(encode("k", &map), Err(Error::Codec { .. })));
    }
}
