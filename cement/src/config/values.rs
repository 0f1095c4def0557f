//! Config value types that check themselves when read: a setting outside its range is a
//! config error naming the key, the section and where the value came from, like any other
//! bad value, before a handler ever sees it.
//!
//! Handler settings types use them for their fields (`connect_timeout: Seconds`,
//! `pool_size: Bounded<1, 1024>`), so the range is stated once, in the type, and a settings
//! value built by hand cannot hold a value outside it either.
//!
//! ```
//! use cement::config::{Bounded, Seconds};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! struct Settings {
//!     timeout: Seconds,
//!     pool_size: Bounded<1, 64>,
//! }
//!
//! let mut config = cement::init_defaults!("cache.mine");
//! config.set("cache.mine", "timeout", "0.5").set("cache.mine", "pool_size", 0);
//! let err = match config.section::<Settings>("cache.mine") {
//!     Ok(s) => panic!("accepted pool_size {} (timeout {})", s.pool_size, s.timeout),
//!     Err(err) => err.to_string(),
//! };
//! assert!(err.contains("invalid value for key \"pool_size\" in section [cache.mine]"), "{err}");
//! assert!(err.contains("from 1 to 64"), "{err}");
//! # Ok::<(), cement::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::{Error, Result};

/// A whole number from `MIN` to `MAX`: a size, a pool size, a count.
///
/// ```
/// use cement::config::Bounded;
///
/// let size = Bounded::<1, 1024>::new(16)?;
/// assert_eq!(size.get(), 16);
/// assert!(Bounded::<1, 1024>::new(0).is_err());
/// assert_eq!(Bounded::<1, 1024>::saturating(5000).get(), 1024);
/// # Ok::<(), cement::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    /// `value`, or an [`Error::Config`] saying the range when it is outside it.
    pub fn new(value: u64) -> Result<Self> {
        Self::check(value).map_err(Error::Config)
    }

    /// `value` moved into the range (for defaults written in code).
    pub const fn saturating(value: u64) -> Self {
        if value < MIN {
            Bounded(MIN)
        } else if value > MAX {
            Bounded(MAX)
        } else {
            Bounded(value)
        }
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Reads a plain integer field through this range check, for settings types that keep
    /// plain fields: `#[serde(deserialize_with = "Bounded::<1, 1024>::deserialize_into")]`.
    /// The error then names the key, section and origin like any bad value.
    pub fn deserialize_into<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        let value = Self::deserialize(deserializer)?;
        T::try_from(value.0).map_err(|_| de::Error::custom(format!("{value} does not fit")))
    }

    /// Checks `value` of `key` in a settings value built in code (no origin to name):
    /// an [`Error::Config`] naming `[section] key` when it is outside the range.
    pub fn checked(section: &str, key: &str, value: u64) -> Result<Self> {
        Self::check(value).map_err(|why| Error::Config(format!("[{section}] {key} = {why}")))
    }

    /// The number as a `usize` (saturating on targets where it does not fit).
    pub fn to_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    fn check(value: u64) -> std::result::Result<Self, String> {
        if (MIN..=MAX).contains(&value) {
            Ok(Bounded(value))
        } else {
            Err(format!(
                "{value} is out of range: give a whole number from {MIN} to {MAX}"
            ))
        }
    }
}

impl<const MIN: u64, const MAX: u64> fmt::Debug for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MIN: u64, const MAX: u64> fmt::Display for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Bounded<MIN, MAX> {
    type Error = Error;

    fn try_from(value: u64) -> Result<Self> {
        Self::new(value)
    }
}

impl<const MIN: u64, const MAX: u64> From<Bounded<MIN, MAX>> for u64 {
    fn from(value: Bounded<MIN, MAX>) -> u64 {
        value.0
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> Visitor<'_> for V<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Bounded::check(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| {
                        E::custom(format!(
                            "{v} is out of range: give a whole number from {MIN} to {MAX}"
                        ))
                    })
                    .and_then(|v| self.visit_u64(v))
            }
        }
        deserializer.deserialize_u64(V::<MIN, MAX>)
    }
}

impl<const MIN: u64, const MAX: u64> Serialize for Bounded<MIN, MAX> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

/// Connections a handler may hold open at once (per server): 1 to 1024. More is a
/// configuration mistake that would exhaust the server's connection limit.
pub type PoolSize = Bounded<1, 1024>;

/// A positive number of seconds, at most a day (86 400): a timeout or a cooldown. A call that
/// may block for longer than a day is a configuration mistake; `0`, negative numbers, `NaN`
/// and infinity are refused.
///
/// ```
/// use std::time::Duration;
/// use cement::config::Seconds;
///
/// assert_eq!(Seconds::new(0.25)?.duration(), Duration::from_millis(250));
/// assert!(Seconds::new(0.0).is_err());
/// assert!(Seconds::new(f64::NAN).is_err());
/// # Ok::<(), cement::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub struct Seconds(f64);

impl Seconds {
    /// The most a `Seconds` may hold: one day.
    pub const MAX: f64 = 86_400.0;

    /// `seconds`, or an [`Error::Config`] saying what is allowed.
    pub fn new(seconds: f64) -> Result<Self> {
        Self::check(seconds).map_err(Error::Config)
    }

    /// A whole number of seconds from 1 to a day, for defaults written in code.
    pub const fn whole(seconds: u32) -> Self {
        let s = if seconds == 0 {
            1
        } else if seconds > 86_400 {
            86_400
        } else {
            seconds
        };
        Seconds(s as f64)
    }

    /// Reads a plain `f64` field through this check, for settings types that keep plain
    /// fields: `#[serde(deserialize_with = "Seconds::deserialize_f64")]`. The error then
    /// names the key, section and origin like any bad value.
    pub fn deserialize_f64<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<f64, D::Error> {
        Self::deserialize(deserializer).map(Seconds::get)
    }

    /// Checks `value` of `key` in a settings value built in code (no origin to name): an
    /// [`Error::Config`] naming `[section] key` when it is not a usable number of seconds.
    pub fn checked(section: &str, key: &str, value: f64) -> Result<Self> {
        Self::check(value).map_err(|why| Error::Config(format!("[{section}] {key} = {why}")))
    }

    /// The number of seconds.
    pub fn get(self) -> f64 {
        self.0
    }

    /// As a [`Duration`].
    pub fn duration(self) -> Duration {
        Duration::from_secs_f64(self.0)
    }

    fn check(seconds: f64) -> std::result::Result<Self, String> {
        if seconds.is_finite() && seconds > 0.0 && seconds <= Self::MAX {
            Ok(Seconds(seconds))
        } else {
            Err(format!(
                "{seconds} is not a usable number of seconds: give more than 0 and at most 86400 \
                 (a day), e.g. 1 or 0.25"
            ))
        }
    }
}

impl fmt::Debug for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} seconds", self.0)
    }
}

impl TryFrom<f64> for Seconds {
    type Error = Error;

    fn try_from(seconds: f64) -> Result<Self> {
        Self::new(seconds)
    }
}

impl From<Seconds> for Duration {
    fn from(seconds: Seconds) -> Duration {
        seconds.duration()
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Seconds, E> {
                Seconds::check(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Seconds, E> {
                self.visit_f64(v as f64)
            }
        }
        deserializer.deserialize_f64(V)
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct S {
        t: Option<Seconds>,
        n: Option<Bounded<1, 10>>,
    }

    fn read(key: &str, value: impl Into<crate::config::Value>) -> Result<S> {
        let mut config = crate::Config::with_sections(&["s"]);
        config.set("s", key, value);
        config.section::<S>("s")
    }

    #[test]
    fn out_of_range_values_name_key_section_and_origin() {
        for (key, value) in [
            ("n", crate::config::Value::from(0)),
            ("n", 11.into()),
            ("n", (-1).into()),
            ("n", "0".into()),
            ("t", 0.into()),
            ("t", (-0.5).into()),
            ("t", "nan".into()),
            ("t", "inf".into()),
            ("t", 86_401.into()),
        ] {
            let err = read(key, value.clone()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("invalid value for key \"{key}\" in section [s]")),
                "{value:?}: {err}"
            );
            assert!(
                err.contains("config_defaults at cement/src/config/values.rs"),
                "{err}"
            );
        }
    }

    #[test]
    fn in_range_values_from_numbers_and_text() {
        let s = read("t", "0.25").unwrap();
        assert_eq!(s.t.unwrap().duration(), Duration::from_millis(250));
        assert_eq!(read("t", 2).unwrap().t.unwrap().get(), 2.0);
        assert_eq!(read("n", "10").unwrap().n.unwrap().get(), 10);
        assert_eq!(read("n", 1).unwrap().n.unwrap().get(), 1);
    }

    #[test]
    fn constructors_keep_the_range() {
        assert_eq!(Bounded::<1, 10>::saturating(0).get(), 1);
        assert_eq!(Seconds::whole(0).get(), 1.0);
        assert_eq!(Seconds::whole(100_000).get(), Seconds::MAX);
        assert!(Bounded::<1, 10>::try_from(11).is_err());
        assert!(Seconds::try_from(-1.0).is_err());
    }
}
