//! What a cache does when its backend fails: the `on_*_error` policies and the circuit breaker.
//!
//! Keys of every handler section (all optional):
//!
//! | key | values | default | meaning |
//! |---|---|---|---|
//! | `on_read_error` | `"raise"`, `"miss"` | `"raise"` | a failed `get`/`get_many`/`exists` returns the error, or reads as a miss |
//! | `on_write_error` | `"raise"`, `"drop"` | `"raise"` | a failed `set`/`set_many`/`touch` returns the error, or is dropped |
//! | `on_delete_error` | `"raise"`, `"ignore"` | `"raise"` | a failed `delete`/`delete_many`/`purge` returns the error, or is ignored (a failed delete can leave stale data: think twice) |
//! | `on_decode_error` | `"miss"`, `"raise"` | `"miss"` | a stored value that cannot be read as the asked type (foreign, or an older schema) reads as a miss, or is an `Error::Codec` |
//! | `breaker_failures` | integer | `0` (off) | after this many consecutive `Unavailable`/`Timeout` errors, skip the backend for `breaker_cooldown` seconds |
//! | `breaker_cooldown` | seconds | `10` | how long an open breaker refuses calls at once (with `Error::Unavailable`) before it lets calls try again |
//!
//! Policies apply to backend faults only (`Unavailable`, `Timeout`, `Backend`); a caller's
//! mistake (`InvalidKey`, `ValueTooLarge`, `InvalidArgument`, `Unsupported`, an unencodable
//! value) is always returned. `add`, `incr` and `decr` always raise: their answer cannot be
//! made up.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::Seconds;
use crate::{Config, Error, Result};

/// Every key this module reads; the framework keeps them out of handlers' own settings.
pub(crate) const KEYS: [&str; 6] = [
    "on_read_error",
    "on_write_error",
    "on_delete_error",
    "on_decode_error",
    "breaker_failures",
    "breaker_cooldown",
];

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnRead {
    #[default]
    Raise,
    Miss,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnWrite {
    #[default]
    Raise,
    Drop,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnDelete {
    #[default]
    Raise,
    Ignore,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnDecode {
    #[default]
    Miss,
    Raise,
}

/// The failure policy of one cache.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    pub(crate) on_read: OnRead,
    pub(crate) on_write: OnWrite,
    pub(crate) on_delete: OnDelete,
    pub(crate) on_decode: OnDecode,
    pub(crate) breaker: Option<Breaker>,
}

impl Policy {
    /// Reads the policy keys of `section`.
    pub(crate) fn from_config(config: &Config, section: &str) -> Result<Self> {
        fn opt<T: serde::de::DeserializeOwned>(
            config: &Config,
            section: &str,
            key: &str,
        ) -> Result<Option<T>> {
            if config.has_key(section, key) {
                config.get(section, key).map(Some)
            } else {
                Ok(None)
            }
        }
        let failures: u32 = opt(config, section, "breaker_failures")?.unwrap_or(0);
        let cooldown = opt::<Seconds>(config, section, "breaker_cooldown")?
            .map_or(Duration::from_secs(10), Seconds::duration);
        Ok(Policy {
            on_read: opt(config, section, "on_read_error")?.unwrap_or_default(),
            on_write: opt(config, section, "on_write_error")?.unwrap_or_default(),
            on_delete: opt(config, section, "on_delete_error")?.unwrap_or_default(),
            on_decode: opt(config, section, "on_decode_error")?.unwrap_or_default(),
            breaker: (failures > 0).then(|| Breaker::new(failures, cooldown)),
        })
    }
}

/// Whether an error is the backend's fault (a policy may absorb it) rather than the caller's.
pub(crate) fn is_backend_fault(error: &Error) -> bool {
    matches!(
        error,
        Error::Unavailable { .. } | Error::Timeout { .. } | Error::Backend { .. }
    )
}

/// A consecutive-failure circuit breaker: after `threshold` connectivity failures in a row,
/// calls are refused at once for `cooldown`; then calls go through again, and the first
/// failure re-opens it.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: AtomicU32,
    /// Nanoseconds after `epoch` until which the breaker is open; 0 = closed.
    open_until: AtomicU64,
    epoch: Instant,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// `Err` with the time left while the breaker is open.
    pub(crate) fn check(&self) -> std::result::Result<(), Duration> {
        let until = self.open_until.load(Ordering::Acquire);
        let now = self.now();
        if until > now {
            Err(Duration::from_nanos(until - now))
        } else {
            Ok(())
        }
    }

    /// Records the outcome of a call that went through.
    pub(crate) fn record<T>(&self, outcome: &Result<T>) {
        match outcome {
            Err(Error::Unavailable { .. } | Error::Timeout { .. }) => {
                let failures = self
                    .failures
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                if failures >= self.threshold {
                    let until = self.now().saturating_add(
                        u64::try_from(self.cooldown.as_nanos()).unwrap_or(u64::MAX),
                    );
                    self.open_until.store(until, Ordering::Release);
                }
            }
            _ => {
                if self.failures.load(Ordering::Relaxed) != 0 {
                    self.failures.store(0, Ordering::Release);
                }
            }
        }
    }

    pub(crate) fn threshold(&self) -> u32 {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Result<()> {
        Err(Error::Unavailable {
            backend: "test",
            source: "down".into(),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_and_closes_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(500));
        breaker.record(&unavailable());
        breaker.record(&unavailable());
        breaker.record(&Ok(()));
        breaker.record(&unavailable());
        breaker.record(&unavailable());
        assert!(
            breaker.check().is_ok(),
            "a success in between resets the count"
        );
        breaker.record(&unavailable());
        assert!(breaker.check().is_err());
        std::thread::sleep(Duration::from_millis(700));
        assert!(breaker.check().is_ok());
        breaker.record(&unavailable());
        assert!(
            breaker.check().is_err(),
            "the first failure after the cooldown re-opens it"
        );
    }

    #[test]
    fn other_errors_do_not_count() {
        let breaker = Breaker::new(1, Duration::from_secs(60));
        breaker.record::<()>(&Err(Error::InvalidArgument("x".into())));
        assert!(breaker.check().is_ok());
    }

    #[test]
    fn policy_from_config() {
        let mut config = Config::with_sections(&["cache.x"]);
        config.set("cache.x", "on_read_error", "miss");
        config.set("cache.x", "breaker_failures", "3");
        let policy = Policy::from_config(&config, "cache.x").unwrap();
        assert_eq!(policy.on_read, OnRead::Miss);
        assert_eq!(policy.on_write, OnWrite::Raise);
        assert_eq!(policy.breaker.map(|b| b.threshold()), Some(3));
        config.set("cache.x", "on_write_error", "ignore");
        let err = Policy::from_config(&config, "cache.x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("on_write_error"), "{err}");
    }
}
