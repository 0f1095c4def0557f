//! TTLs on the wire: memcached's expiry rules.
//!
//! * `None` is `0`, "never expires" (the item may still be evicted);
//! * a duration is sent in whole seconds, **rounded up**, so a sub-second TTL is one second and
//!   never `0` ("never");
//! * up to 30 days it is sent as it is (relative); longer ones are sent as an absolute Unix time
//!   (memcached reads any value over 30 days that way), computed from this machine's clock;
//! * memcached stores expiry times as signed 32-bit Unix times: a TTL that would end after
//!   2038-01-19 is stored without expiry;
//! * a zero duration is an error (it would mean "never", the opposite of what was asked).
//!
//! memcached's clock ticks once a second, so an item may expire up to a second early.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cement::{Error, Result};

/// Longest TTL memcached takes as relative; longer values are absolute Unix times.
pub(crate) const MAX_RELATIVE_SECS: u64 = 30 * 24 * 60 * 60;

/// memcached parses expiry times as signed 32-bit integers.
const MAX_ABSOLUTE: u64 = i32::MAX as u64;

/// The expiry to send for `ttl`, given the current time.
pub(crate) fn wire_ttl(ttl: Option<Duration>, now: SystemTime) -> Result<u32> {
    let Some(ttl) = ttl else {
        return Ok(0);
    };
    if ttl.is_zero() {
        return Err(Error::InvalidArgument(
            "a zero ttl would expire the value at once, and memcached reads 0 as \"never expire\"; \
             pass `None` to store without expiry"
                .into(),
        ));
    }
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    if secs <= MAX_RELATIVE_SECS {
        // At most 2_592_000: fits.
        return Ok(u32::try_from(secs).unwrap_or(u32::MAX));
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let at = now.saturating_add(secs);
    if at > MAX_ABSOLUTE {
        // Beyond memcached's clock: the closest it can do is "never".
        return Ok(0);
    }
    Ok(u32::try_from(at).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn none_is_never() {
        assert_eq!(wire_ttl(None, now()).unwrap(), 0);
    }

    #[test]
    fn sub_second_rounds_up_never_to_zero() {
        assert_eq!(wire_ttl(Some(Duration::from_nanos(1)), now()).unwrap(), 1);
        assert_eq!(
            wire_ttl(Some(Duration::from_millis(999)), now()).unwrap(),
            1
        );
        assert_eq!(
            wire_ttl(Some(Duration::from_millis(1500)), now()).unwrap(),
            2
        );
        assert_eq!(
            wire_ttl(Some(Duration::from_secs(300)), now()).unwrap(),
            300
        );
    }

    #[test]
    fn zero_is_an_error() {
        let err = wire_ttl(Some(Duration::ZERO), now()).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }

    #[test]
    fn thirty_days_is_the_relative_limit() {
        let limit = Duration::from_secs(MAX_RELATIVE_SECS);
        assert_eq!(wire_ttl(Some(limit), now()).unwrap(), 2_592_000);
        // One second more: absolute.
        let over = limit + Duration::from_secs(1);
        assert_eq!(
            wire_ttl(Some(over), now()).unwrap(),
            1_800_000_000 + 2_592_001
        );
        // 30 days and a bit rounds up into absolute too.
        let just_over = limit + Duration::from_millis(1);
        assert_eq!(
            wire_ttl(Some(just_over), now()).unwrap(),
            1_800_000_000 + 2_592_001
        );
    }

    #[test]
    fn beyond_2038_is_never() {
        let ttl = Duration::from_secs(u64::from(u32::MAX));
        assert_eq!(wire_ttl(Some(ttl), now()).unwrap(), 0);
        assert_eq!(wire_ttl(Some(Duration::MAX), now()).unwrap(), 0);
    }
}
