//! Secrets are never shown: values of secret-named keys, the password in a URL, and
//! [`Secret`] values print as `<redacted>` in every `Debug`, `Display` and error message.

use std::borrow::Cow;
use std::fmt;

use figment::value::Value;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::de::num_text;

/// Words that make a config key secret: a key whose name contains one of them (any case) never
/// has its value shown.
pub const SECRET_WORDS: [&str; 4] = ["password", "secret", "token", "credential"];

/// What stands where a secret was.
const REDACTED: &str = "<redacted>";

/// Whether a key names a secret, whose value is never shown.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| key.contains(word))
}

/// A config value as `Debug` shows it, with secrets hidden.
pub(super) struct Redacted<'a> {
    pub(super) key: &'a str,
    pub(super) value: &'a Value,
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret_key(self.key) {
            return f.write_str(REDACTED);
        }
        match self.value {
            Value::String(_, s) => write!(f, "{:?}", redact_url(s)),
            Value::Array(_, items) => f
                .debug_list()
                .entries(items.iter().map(|v| Redacted {
                    key: self.key,
                    value: v,
                }))
                .finish(),
            Value::Num(_, n) => f.write_str(&num_text(n)),
            Value::Bool(_, b) => write!(f, "{b}"),
            Value::Char(_, c) => write!(f, "{c:?}"),
            Value::Empty(..) => f.write_str("none"),
            Value::Dict(..) => f.write_str("{..}"),
        }
    }
}

/// An error message about `key`'s value, without the value when it is a secret.
pub(super) fn value_message(key: &str, message: String) -> String {
    if is_secret_key(key) {
        "the value (a secret, not shown) is not valid here".to_string()
    } else {
        redact_url(&message).into_owned()
    }
}

/// Text with the password of any URL in it replaced by `<redacted>`:
/// `redis://user:pw@host` → `redis://user:<redacted>@host`. Text without credentials comes
/// back unchanged (and unallocated).
///
/// Passwords are often written unencoded, so this does not parse the URL: everything from the
/// first `:` after the first `scheme://` up to the *last* `@` is hidden. That hides a password
/// whatever it holds — `#`, `/`, `?`, `@`, `:`, spaces, `%40`, any Unicode — at the price of
/// hiding too much in odd text such as `redis://host:1/0?to=a@b`. In text with an `@` but no
/// well-formed `scheme://` (a mistyped URL), everything from the first `:` to the last `@` is
/// hidden.
///
/// ```
/// use cement::config::redact_url;
///
/// assert_eq!(redact_url("redis://app:s3cret@db:6379/0"), "redis://app:<redacted>@db:6379/0");
/// assert_eq!(redact_url("redis://:wr#ong/?p@ss@db:6379"), "redis://:<redacted>@db:6379");
/// assert_eq!(redact_url("redis:/:s3cret@db"), "redis:<redacted>@db");
/// assert_eq!(redact_url("rediss://db.example:6380/2"), "rediss://db.example:6380/2");
/// assert_eq!(redact_url("no url here"), "no url here");
/// ```
pub fn redact_url(text: &str) -> Cow<'_, str> {
    let Some(at) = text.rfind('@') else {
        return Cow::Borrowed(text);
    };
    let before = &text[..at];
    let colon = match scheme_end(before) {
        // userinfo starts after `scheme://`; without a `:` in it, it is only a user name.
        Some(start) => before[start..].find(':').map(|c| start + c),
        None => before.find(':'),
    };
    match colon {
        Some(colon) => Cow::Owned(format!("{}{REDACTED}{}", &text[..=colon], &text[at..])),
        None => Cow::Borrowed(text),
    }
}

/// Where the userinfo of the first well-formed `scheme://` in `text` starts: a scheme is a
/// letter then letters, digits, `+`, `-` or `.`, at the start of the text or after a space,
/// quote, bracket, `=` or `,` (so a `://` inside a mistyped URL's password does not count).
fn scheme_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let is_scheme = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    text.match_indices("://")
        .map(|(i, _)| i)
        .find(|&i| {
            let start = bytes[..i]
                .iter()
                .rposition(|&b| !is_scheme(b))
                .map_or(0, |p| p + 1);
            start < i
                && bytes[start].is_ascii_alphabetic()
                && (start == 0
                    || bytes[start - 1].is_ascii_whitespace()
                    || matches!(
                        bytes[start - 1],
                        b'"' | b'\'' | b'(' | b'<' | b'[' | b'=' | b','
                    ))
        })
        .map(|i| i + 3)
}

/// A password or other secret: usable, never shown. `Debug` and `Display` print
/// `"<redacted>"`, and a config value that is not text is refused without being echoed.
///
/// Handler settings declare their secret keys with it, so a secret never reaches a log
/// through a settings type's `Debug`.
///
/// ```
/// use cement::config::Secret;
///
/// let secret = Secret::new("s3cret");
/// assert_eq!(secret.expose(), "s3cret");
/// assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Secret::new(secret)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret::new(secret)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            // A secret of digits reaches us as a number from some config sources.
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret::new(v.to_string()))
            }
        }
        // Never echo the value in an error message.
        deserializer
            .deserialize_string(V)
            .map_err(|_| serde::de::Error::custom("a secret must be text"))
    }
}

/// Serializes as the secret itself, for handing settings to a config layer (never for logs:
/// `Debug` and `Display` are what logs use).
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every shape of password the issue tracker has seen, and some it has not.
    pub(crate) const PASSWORDS: [&str; 14] = [
        "s3cret",
        "wr#ong-Pw",
        "a/b",
        "a?b",
        "p@ss",
        "a:b",
        "p%40ss",
        "with space",
        "пароль",
        "#/?@:",
        "@",
        "::",
        "a@b:c/d?e#f",
        "://",
    ];

    #[test]
    fn url_passwords_are_hidden_whatever_they_hold() {
        // (text with the password at {}, what it must read when redacted)
        let cases = [
            (
                "redis://:{}@127.0.0.1:6379",
                "redis://:<redacted>@127.0.0.1:6379",
            ),
            (
                "redis://user:{}@127.0.0.1:6379/0",
                "redis://user:<redacted>@127.0.0.1:6379/0",
            ),
            (
                "rediss://user:{}@[::1]:6380/2?x=1",
                "rediss://user:<redacted>@[::1]:6380/2?x=1",
            ),
            (
                "error talking to redis://u:{}@h:1: refused",
                "error talking to redis://u:<redacted>@h:1: refused",
            ),
            ("url = \"redis://:{}@h\"", "url = \"redis://:<redacted>@h\""),
            // Mistyped URLs: everything from the first `:` goes.
            ("redis:/:{}@host", "redis:<redacted>@host"),
            ("redis//:{}@host", "redis//:<redacted>@host"),
        ];
        for pw in PASSWORDS {
            for (template, expected) in cases {
                let text = template.replace("{}", pw);
                assert_eq!(redact_url(&text), expected, "{text}");
            }
        }
    }

    #[test]
    fn text_without_credentials_is_unchanged() {
        for text in [
            "plain text",
            "redis://host/0?x=a@b",
            "redis://127.0.0.1:6379/0",
            "redis://user@host",
            "",
        ] {
            assert!(matches!(redact_url(text), Cow::Borrowed(t) if t == text));
        }
        assert_eq!(redact_url("redis://:@h"), "redis://:<redacted>@h");
    }

    #[test]
    fn secret_keys_by_word() {
        assert!(is_secret_key("password"));
        assert!(is_secret_key("AUTH_TOKEN"));
        assert!(is_secret_key("aws_credentials"));
        assert!(!is_secret_key("url"));
    }

    #[test]
    fn secrets_are_never_echoed() {
        let err = serde_json::from_str::<Secret>("[\"s3cret\"]").unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let secret: Secret = serde_json::from_str("\"s3cret\"").unwrap();
        assert_eq!(secret.expose(), "s3cret");
    }
}
