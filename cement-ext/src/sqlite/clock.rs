//! The handler's clock: Unix milliseconds for expiry, and a strictly growing stamp for the
//! eviction order.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The clock for one call: Unix milliseconds for expiry, and a Unix-microsecond stamp for the
/// eviction order that grows strictly within this process (so two writes in one microsecond
/// still have an order).
pub(super) struct Now {
    pub(super) ms: i64,
    pub(super) us: i64,
}

static LAST_STAMP: AtomicI64 = AtomicI64::new(0);

impl Now {
    /// Unix milliseconds only: what a read needs to tell expired rows (one clock read, no
    /// stamp).
    pub(super) fn ms() -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }

    pub(super) fn get() -> Now {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let ms = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
        let wall = i64::try_from(since.as_micros()).unwrap_or(i64::MAX);
        let prev = LAST_STAMP.fetch_max(wall, Ordering::Relaxed);
        let us = if prev >= wall {
            LAST_STAMP.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            wall
        };
        Now { ms, us }
    }

    /// The expiry column for `ttl` from now: whole milliseconds rounded up.
    pub(super) fn expiry(&self, ttl: Option<Duration>) -> Option<i64> {
        ttl.map(|ttl| {
            let ms = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
            self.ms
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX).max(1))
        })
    }

    /// Whether a row with this expiry column is live now.
    pub(super) fn live(&self, expire: Option<i64>) -> bool {
        expire.is_none_or(|at| at > self.ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_grow_strictly() {
        let a = Now::get().us;
        let b = Now::get().us;
        assert!(b > a);
    }

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        let now = Now { ms: 1000, us: 0 };
        assert_eq!(now.expiry(Some(Duration::from_micros(1))), Some(1001));
        assert_eq!(now.expiry(Some(Duration::from_millis(1500))), Some(2500));
        assert_eq!(now.expiry(None), None);
        assert_eq!(now.expiry(Some(Duration::MAX)), Some(i64::MAX));
        assert!(now.live(None) && now.live(Some(1001)) && !now.live(Some(1000)));
    }
}
