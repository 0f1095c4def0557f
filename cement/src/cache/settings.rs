//! The keys of a handler section that the [`Cache`](super::Cache) facade reads, whatever the
//! handler: one owner for their names, defaults, ranges and reading.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `prefix` | `"<app label>:"` | put in front of every key |
//! | `expire_time` | `0` | seconds `set` keeps a value; `0` = never expire |
//! | `on_read_error`, `on_write_error`, `on_delete_error`, `on_decode_error`, `breaker_failures`, `breaker_cooldown` | see [`policy`](super::policy) | what a backend failure does |
//! | `log_keys` | `false` | show whole keys in traces instead of a digest |
//! | `lease_time` | `0` | seconds of the cross-process stampede lease of `get_or_set_with`; `0` = off; else more than 0, at most 86400 |
//! | `codec` | `"json"` | how values are encoded: `"json"` (readable by other languages) or `"msgpack"` (smaller, faster, carries non-finite floats); see [`Codec`](super::Codec). Values read back whatever codec wrote them, so changing it needs no purge |
//! | `compress_above` | off | LZ4-compress encoded values longer than this many bytes (e.g. `1024`), from 0 to 4294967295; what is compressed is flagged in the value, so readers always know. Counters are never compressed. A handler's `max_value_size` applies to what is sent |
//! | `async_blocking_limit` | `64` | how many calls of the async face (`app.async_cache()`, feature `tokio`) may run on tokio's blocking pool at once for this cache; more wait, without blocking, for a turn; from 1 to 512 (tokio's default blocking-pool size). Unused by handlers that never block (memory) |
//!
//! Handlers never see these keys in their own settings ([`HandlerContext::settings`] leaves
//! them out), so a handler's settings type can deny unknown fields without declaring them; a
//! handler that needs the prefix asks [`HandlerContext::prefix`].
//!
//! [`HandlerContext::settings`]: crate::cache::HandlerContext::settings
//! [`HandlerContext::prefix`]: crate::cache::HandlerContext::prefix

use std::time::Duration;

use super::codec::{Codec, Format};
use super::policy::{self, Policy};
use crate::config::{Bounded, Seconds};
use crate::{Config, Result};

/// The facade-owned keys of a handler section, read.
#[derive(Debug)]
pub(crate) struct CacheSettings {
    pub(crate) prefix: String,
    pub(crate) default_ttl: Option<Duration>,
    pub(crate) policy: Policy,
    pub(crate) log_keys: bool,
    pub(crate) lease_time: Option<Duration>,
    pub(crate) async_blocking_limit: AsyncBlockingLimit,
    pub(crate) format: Format,
}

/// The range of `compress_above`: any payload length an LZ4 block can declare.
type CompressAbove = Bounded<0, { u32::MAX as u64 }>;

/// The range of `async_blocking_limit`: at least one call, at most tokio's default number of
/// blocking threads (512), beyond which calls would queue inside tokio anyway.
pub(crate) type AsyncBlockingLimit = Bounded<1, 512>;

/// `async_blocking_limit` when the section does not set it.
const ASYNC_BLOCKING_LIMIT: AsyncBlockingLimit = Bounded::saturating(64);

impl CacheSettings {
    /// Every key the facade reads from a handler section.
    pub(crate) const KEYS: [&'static str; 13] = [
        "prefix",
        "codec",
        "compress_above",
        "expire_time",
        "log_keys",
        "lease_time",
        "async_blocking_limit",
        policy::KEYS[0],
        policy::KEYS[1],
        policy::KEYS[2],
        policy::KEYS[3],
        policy::KEYS[4],
        policy::KEYS[5],
    ];

    /// The defaults an app's handler section starts from (under every layer).
    pub(crate) fn defaults(app_label: &str, section: &str) -> Config {
        let mut config = Config::with_sections(&[section]);
        config.set(section, "prefix", format!("{app_label}:"));
        config.set(section, "expire_time", 0);
        config
    }

    /// Reads the keys of `section`; every error names the key, section and origin.
    pub(crate) fn from_config(config: &Config, section: &str) -> Result<Self> {
        let prefix: String = config.get(section, "prefix")?;
        let expire_time: u64 = config.get(section, "expire_time")?;
        let log_keys = if config.has_key(section, "log_keys") {
            config.get(section, "log_keys")?
        } else {
            false
        };
        // 0 (the default) is off; anything else must be a usable number of seconds, and reading
        // it as `Seconds` names the key, section and origin when it is not.
        let lease_time = match config.has_key(section, "lease_time")
            && config.get::<f64>(section, "lease_time")? != 0.0
        {
            true => Some(config.get::<Seconds>(section, "lease_time")?.duration()),
            false => None,
        };
        let async_blocking_limit = match config.has_key(section, "async_blocking_limit") {
            true => config.get(section, "async_blocking_limit")?,
            false => ASYNC_BLOCKING_LIMIT,
        };
        let codec = match config.has_key(section, "codec") {
            true => config.get::<Codec>(section, "codec")?,
            false => Codec::default(),
        };
        let compress_above = match config.has_key(section, "compress_above") {
            true => Some(
                config
                    .get::<CompressAbove>(section, "compress_above")?
                    .to_usize(),
            ),
            false => None,
        };
        Ok(CacheSettings {
            format: Format {
                codec,
                compress_above,
            },
            prefix,
            default_ttl: (expire_time > 0).then(|| Duration::from_secs(expire_time)),
            policy: Policy::from_config(config, section)?,
            log_keys,
            lease_time,
            async_blocking_limit,
        })
    }

    /// Settings for a cache built in code: this prefix and TTL, the default policy.
    pub(crate) fn new(prefix: String, default_ttl: Option<Duration>) -> Self {
        CacheSettings {
            prefix,
            default_ttl,
            policy: Policy::default(),
            log_keys: false,
            lease_time: None,
            async_blocking_limit: ASYNC_BLOCKING_LIMIT,
            format: Format::default(),
        }
    }
}
