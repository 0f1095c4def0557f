//! What the cache's logs may show of keys and errors: keys can hold personal data (an e-mail, a
//! session id) and errors can quote keys or values, so both are reduced unless the handler
//! section sets `log_keys = true`.

use std::borrow::Cow;
use std::fmt;

use crate::Error;

/// A key as logs show it: a short digest, or the whole key when `log_keys = true`.
pub(super) struct KeyLog<'a> {
    pub(super) key: &'a str,
    pub(super) full: bool,
}

impl fmt::Display for KeyLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.full {
            return f.write_str(self.key);
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.key.as_bytes());
        write!(
            f,
            "#{:02x}{:02x}{:02x}{:02x} ({} bytes)",
            digest[0],
            digest[1],
            digest[2],
            digest[3],
            self.key.len()
        )
    }
}

/// An error as logs show it: errors that quote a key or a value (`InvalidKey`, `Codec`) are
/// reduced to their kind unless `log_keys` is set.
pub(super) fn loggable(error: &Error, log_keys: bool) -> Cow<'_, str> {
    match error {
        Error::InvalidKey { .. } if !log_keys => "invalid key".into(),
        Error::Codec { .. } if !log_keys => "value codec error".into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_logged_as_digests() {
        let shown = KeyLog {
            key: "user:alice@example.com",
            full: false,
        }
        .to_string();
        assert!(!shown.contains("alice"), "{shown}");
        assert!(
            shown.starts_with('#') && shown.ends_with("(22 bytes)"),
            "{shown}"
        );
        assert_eq!(
            KeyLog {
                key: "k",
                full: true
            }
            .to_string(),
            "k"
        );
    }

    #[test]
    fn errors_that_quote_a_key_are_reduced_to_their_kind() {
        let error = Error::InvalidKey {
            key: "user:alice@example.com".into(),
            reason: "too long".into(),
        };
        assert_eq!(loggable(&error, false), "invalid key");
        assert!(loggable(&error, true).contains("alice"));
        let error = Error::InvalidArgument("a zero ttl".into());
        assert_eq!(loggable(&error, false), error.to_string());
    }
}
