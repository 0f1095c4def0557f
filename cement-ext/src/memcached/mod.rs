//! The `memcached` cache handler (feature `memcached`): [`MemcachedCacheHandler`], label
//! `"memcached"`, owned by the extension `"memcached"`.
//!
//! ```no_run
//! use cement::{App, Config};
//!
//! #[derive(App)]
//! #[app(label = "myapp", config_defaults = defaults,
//!       extensions = ["memcached"], cache_handler = "memcached")]
//! struct MyApp;
//!
//! fn defaults() -> Config {
//!     let mut config = cement::init_defaults!("myapp", "cache.memcached");
//!     config.set("cache.memcached", "expire_time", 300); // seconds
//!     config.set("cache.memcached", "hosts", vec!["127.0.0.1"]);
//!     config
//! }
//!
//! fn main() -> cement::Result<()> {
//!     let app = MyApp::setup()?;
//!     app.cache().set("my_key", "my value")?;
//!     let value: Option<String> = app.cache().get("my_key")?;
//!     app.cache().purge()?;
//!     app.close()
//! }
//! ```
//!
//! # Config
//!
//! Section `cache.memcached`; see [`MemcachedSettings`] for every key and its default.
//!
//! # Servers
//!
//! Keys are spread over `hosts` by consistent hashing (a ketama-style ring, 160 points per
//! server, XXH3): adding or removing one of N servers moves only about 1/N of the keys, and the
//! order of `hosts` does not matter. Each server has its own connection pool (`pool_size`) and
//! is reached over memcached's meta protocol (`memcache::exp`). `get_many`, `set_many` and
//! `delete_many` send one pipelined batch per server.
//!
//! # Keys
//!
//! The app's [`Cache`](cement::cache::Cache) facade puts `prefix` in front of each key and maps
//! any key that memcached cannot take (over 250 bytes, or with whitespace or control
//! characters) to a readable head plus a SHA-256 digest ([`KeyRules::MEMCACHED`]), so such keys
//! are sent unchanged in length. Should a key with unsafe bytes reach the handler anyway
//! (called directly), the client sends it base64-encoded (the meta protocol's `b` flag), never
//! raw: no key can inject a command.
//!
//! # TTLs
//!
//! `None` (or `expire_time = 0`) never expires. Durations are sent in whole seconds, rounded
//! up (a sub-second TTL is one second, never 0 = "never"); over 30 days they are sent as an
//! absolute Unix time (memcached's rule), from this machine's clock; a TTL ending after
//! 2038-01-19 (memcached's 32-bit clock) is stored without expiry. memcached's clock ticks once
//! a second, so items may expire up to a second early.
//!
//! # Purge
//!
//! memcached cannot list or delete keys by prefix. With `purge = "prefix"` (the default) each
//! server keeps a *namespace generation* number for the app's prefix under the key
//! `<prefix>#~gen` (a key no facade key can map to), and every value is stored with the current
//! generation's stamp in its client flags. Reads fetch the generation in the same pipelined
//! batch as the keys and treat a value with another stamp as a miss; writes read it back in the
//! batch of the store and store again if it changed. `purge()` is one increment of the
//! generation on each server, so it is O(1) however many keys there are; the stale values are
//! never returned again and memcached evicts them as memory is needed (or when they expire).
//!
//! * If a server loses the generation (restart, `flush_all`, eviction), the next write creates
//!   a new, random one: the values stored before become misses, never stale hits.
//! * A purge that races with a write may or may not keep that write (as if the write came just
//!   before or just after it); it never makes a purged value visible again.
//! * A purge fails with [`Error::Unavailable`]/[`Error::Timeout`] if a server is unreachable;
//!   the other servers are purged anyway. If that server comes back with its memory intact
//!   (a network outage rather than a restart), its old values are visible again until the next
//!   successful purge.
//! * `delete` reports `true` only for a current value (a purged one is already gone).
//!
//! With `purge = "server"`, `purge()` sends `flush_all` to every server: everything on them is
//! gone, whoever stored it. No generation is kept or read in this mode.
//!
//! # Atomic operations
//!
//! `add`, `incr`/`decr` and `touch` are native ([`Capabilities::ALL`]), each one pipelined
//! round trip to the key's server; `exists` too. In `purge = "prefix"` mode each also reads the
//! generation in that round trip, and a value with another generation's stamp is *absent* to
//! all of them, exactly as to `get`:
//!
//! * `add` is `ms <key> ME` (memcached's add) with the stamp, plus a probe of the key
//!   (`mg <key> f c`). When memcached refuses because the key holds a value of an older
//!   generation, that value is logically absent, so a second round trip replaces it with
//!   `ms … C<cas>`, guarded by the CAS the probe read. Of several adders racing for the same
//!   key — present, missing or stale — exactly one wins: a win is either memcached's own add or
//!   a CAS-guarded replace, and whoever loses a CAS race starts over and sees the winner's
//!   value. The same repair restamps a value added with a generation that another process had
//!   just replaced.
//! * `incr`/`decr` are memcached's own atomic arithmetic (`ma`): counters are ASCII digits
//!   without envelope, so `set(key, &41u64)` makes one and `get::<u64>` reads one. The
//!   exchange is `mg <gen> v`, `mg <key> f c`, `ms <key> ME F<stamp> T<ttl>` with `0` (creates
//!   the counter, stamped and with the TTL, only if it is missing), `ma <key> D<delta> c v`,
//!   `mg <key> f c`; memcached's own `N<ttl> J<initial>` autovivification is not used here
//!   because it would create the counter with client flags 0, outside every generation. An
//!   existing counter keeps its TTL. `decr` stops at 0 and `incr` wraps at 2^64 (memcached's
//!   rules). A value that is not a counter is an [`Error::InvalidArgument`] naming the key
//!   (memcached refuses the arithmetic and nothing changes).
//! * After a purge a counter restarts: the probes around the `ma` tell which item it changed,
//!   and when that was a counter (or any value) of an older generation, a second round trip
//!   replaces it with `0 ± delta` under a CAS guard; an increment that lost that race starts
//!   over. Increments are exact while a counter is current (each is one `ma`). On a counter
//!   that was just purged, concurrent first increments are exact too (tested: 8 threads on two
//!   handlers standing for two processes, × 50 increments of a just-purged counter; 900 rounds
//!   while developing, 10 in the suite), with one theoretical gap: if
//!   another client's restart lands between two commands of one pipeline *and* another change
//!   lands between the next two (each a gap of microseconds on the server), that increment may
//!   be counted twice. For a second after meeting a stale counter, and on every retry, steps
//!   probe the key first and restart a stale counter before incrementing (two round trips), so
//!   that many clients hammering a purged counter cannot starve the restart.
//! * `touch` is `mg <key> T<ttl>` without the value (`None` sends `T0`, memcached's "never
//!   expire"); `true` only for a current value. A stale value gets the new TTL too, which
//!   changes nothing that can be read.
//! * `exists` is `mg <key> f` without the value.
//!
//! In `purge = "server"` mode there is no generation: `add` is one `ms … ME`, `touch` and
//! `exists` one `mg`, and `incr`/`decr` one `ma <key> N<ttl> J<initial>` (memcached creates a
//! missing counter; a counter that never expires is created by an `ms … ME` pipelined before
//! the `ma`, since `N` cannot say "never").
//!
//! memcached may rewrite a counter that a step made shorter in place, padded with spaces
//! (`"10"` decremented as `"9 "`); reads return digits followed by spaces without the spaces,
//! so such a counter reads back as its number.
//!
//! # Failures
//!
//! Nothing is connected at setup, so an app starts while its servers are down. A call to a
//! server that refuses connections fails at once with [`Error::Unavailable`]; one that does not
//! answer (down host, black-holed network, hung server) fails with [`Error::Timeout`] after at
//! most `connect_timeout` plus `response_timeout`. Calls succeed again by themselves once the
//! server is back. Values larger than the server's item size limit fail with
//! [`Error::ValueTooLarge`] before anything is sent, and the connection stays usable.

mod config;
mod error;
mod host;
mod ring;
mod ttl;

use std::fmt;
use std::time::{Duration, SystemTime};

pub(crate) use cement::cache::key::shorten;
use cement::cache::{CacheHandler, Capabilities, HandlerSetup, KeyRules};
use cement::registry::HandlerContext;
use cement::{Error, Result};

pub use config::{
    defaults, HostSpec, MaxValueSize, MemcachedSettings, PoolSize, PurgeMode,
    DEFAULT_MAX_VALUE_SIZE, DEFAULT_PORT,
};

use error::BACKEND;
use host::{item_size, value_limit, Host, Shared, Step};
use ring::Ring;

cement::register_extension!(
    "memcached",
    "memcached cache handler (cement-ext feature \"memcached\")"
);

/// The name of the generation key under `prefix` (see [Purge](self#purge)).
const GENERATION_SUFFIX: &str = "#~gen";

/// memcached's longest key, in bytes on the wire.
const MAX_KEY_LEN: usize = 250;

/// Cache handler backed by one or more memcached servers; see the [module docs](self).
///
/// Built by the framework from the `cache.memcached` section, or by hand:
///
/// ```no_run
/// use cement::cache::{Cache, CacheHandler};
/// use cement_ext::memcached::{MemcachedCacheHandler, MemcachedSettings};
///
/// let handler = MemcachedCacheHandler::new(MemcachedSettings {
///     hosts: vec!["127.0.0.1:11211".into()],
///     prefix: "demo:".into(),
///     ..Default::default()
/// })?;
/// let cache = Cache::new("memcached", Box::new(handler), "demo:", None);
/// cache.set("k", &vec![1, 2, 3])?;
/// assert_eq!(cache.get::<Vec<i32>>("k")?, Some(vec![1, 2, 3]));
/// # Ok::<(), cement::Error>(())
/// ```
#[cement::cache_handler(label = "memcached", extension = "memcached", config_defaults = defaults)]
pub struct MemcachedCacheHandler {
    hosts: Vec<Host>,
    ring: Ring,
    shared: Shared,
}

impl fmt::Debug for MemcachedCacheHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemcachedCacheHandler")
            .field(
                "hosts",
                &self.hosts.iter().map(Host::name).collect::<Vec<_>>(),
            )
            .field("purge", &self.shared.purge)
            .field("connect_timeout", &self.shared.connect_timeout)
            .field("response_timeout", &self.shared.response_timeout)
            .field("pool_size", &self.shared.pool_size)
            .field("max_value_size", &self.shared.item_size_max)
            .finish_non_exhaustive()
    }
}

impl HandlerSetup for MemcachedCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        let settings: MemcachedSettings = ctx.settings()?;
        MemcachedCacheHandler::new(settings).map_err(|err| match err {
            // Say where a bad `hosts` came from (file and line, variable, code).
            Error::Config(message) if message.contains(" hosts ") => {
                match ctx.config().origin(ctx.section(), "hosts") {
                    Some(origin) => Error::Config(format!("{message} (hosts from {origin})")),
                    None => Error::Config(message),
                }
            }
            other => other,
        })
    }
}

impl MemcachedCacheHandler {
    /// A handler for these settings. Nothing is connected (or resolved) yet, so this succeeds
    /// while the servers are down; it fails only on bad settings ([`Error::Config`]).
    pub fn new(settings: MemcachedSettings) -> Result<Self> {
        let specs = settings.host_specs()?;
        let generation_key = format!("{}{GENERATION_SUFFIX}", settings.prefix);
        if wire_len(&generation_key) > MAX_KEY_LEN {
            return Err(Error::Config(format!(
                "[cache.memcached] prefix is too long ({} bytes): memcached keys are at most {MAX_KEY_LEN} bytes; \
                 use a prefix of at most {} bytes",
                settings.prefix.len(),
                MAX_KEY_LEN - GENERATION_SUFFIX.len()
            )));
        }
        let shared = Shared {
            purge: settings.purge,
            generation_key: generation_key.into_bytes(),
            connect_timeout: settings.connect_timeout()?,
            response_timeout: settings.response_timeout()?,
            pool_size: settings.pool_size()?.to_usize(),
            item_size_max: settings.max_value_size()?.to_usize(),
        };
        let ring = Ring::new(&specs.iter().map(HostSpec::to_string).collect::<Vec<_>>());
        let hosts = specs
            .into_iter()
            .map(|spec| Host::new(spec, &shared))
            .collect();
        Ok(MemcachedCacheHandler {
            hosts,
            ring,
            shared,
        })
    }

    /// The servers, as `host:port`, in config order.
    ///
    /// ```
    /// use cement_ext::memcached::{MemcachedCacheHandler, MemcachedSettings};
    ///
    /// let handler = MemcachedCacheHandler::new(MemcachedSettings {
    ///     hosts: vec!["10.0.0.1".into(), "10.0.0.2:11212".into()],
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(handler.servers(), ["10.0.0.1:11211", "10.0.0.2:11212"]);
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn servers(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name().to_string()).collect()
    }

    /// The server (`host:port`) that holds `key` (a wire key, as the handler receives it).
    ///
    /// ```
    /// use cement_ext::memcached::{MemcachedCacheHandler, MemcachedSettings};
    ///
    /// let handler = MemcachedCacheHandler::new(MemcachedSettings {
    ///     hosts: vec!["10.0.0.1".into(), "10.0.0.2".into()],
    ///     ..Default::default()
    /// })?;
    /// let server = handler.server_for("myapp:user:42");
    /// assert!(handler.servers().contains(&server.to_string()));
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn server_for(&self, key: &str) -> &str {
        self.hosts[self.route(key)].name()
    }

    fn route(&self, key: &str) -> usize {
        self.ring
            .server_for(key.as_bytes())
            .min(self.hosts.len() - 1)
    }

    /// Groups positions of `keys` by server: `(server, positions)` for each server involved.
    fn group<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Vec<Vec<usize>> {
        let mut groups = vec![Vec::new(); self.ring.len().max(1)];
        for (position, key) in keys.enumerate() {
            groups[self.route(key)].push(position);
        }
        groups
    }

    fn step(&self, key: &str, step: Step, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        check_key(key)?;
        let ttl = ttl::wire_ttl(ttl, SystemTime::now())?;
        self.hosts[self.route(key)].step_counter(&self.shared, key, step, delta, ttl)
    }

    /// Checks an item against the server's size limit before anything is sent.
    fn check_size(&self, key: &str, value: &[u8]) -> Result<()> {
        // The stamp is non-zero in prefix mode; count its 4 bytes either way (conservative).
        if item_size(key, value, 1) > self.shared.item_size_max {
            return Err(Error::ValueTooLarge {
                backend: BACKEND,
                size: value.len(),
                limit: value_limit(key, self.shared.item_size_max),
                by_server: false,
            });
        }
        Ok(())
    }
}

/// Checks a key against memcached's rules as the client will send it; a key the facade mapped
/// always passes.
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey {
            key: String::new(),
            reason: "memcached keys cannot be empty".into(),
        });
    }
    let len = wire_len(key);
    if len > MAX_KEY_LEN {
        return Err(Error::InvalidKey {
            key: shorten(key),
            reason: format!(
                "memcached keys are at most {MAX_KEY_LEN} bytes and this one takes {len} on the wire; \
                 use the app's cache facade (app.cache()), which maps long keys to short ones"
            ),
        });
    }
    Ok(())
}

/// A key's length on the wire: as it is when every byte is visible, else base64 (the meta
/// protocol's `b` flag), which is how the client sends such keys.
fn wire_len(key: &str) -> usize {
    if key.bytes().all(|b| b > b' ' && b != 0x7f) {
        key.len()
    } else {
        key.len().div_ceil(3) * 4
    }
}

impl CacheHandler for MemcachedCacheHandler {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let host = &self.hosts[self.route(key)];
        let mut values = host.get_many(&self.shared, &[key])?;
        Ok(values.pop().flatten())
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        check_key(key)?;
        self.check_size(key, value)?;
        let ttl = ttl::wire_ttl(ttl, SystemTime::now())?;
        self.hosts[self.route(key)].set_many(&self.shared, &[(key, value)], ttl)
    }

    fn delete(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        let removed = self.hosts[self.route(key)].delete_many(&self.shared, &[key])?;
        Ok(removed.first().copied().unwrap_or(false))
    }

    /// `purge = "prefix"`: a new namespace generation on every server; `"server"`:
    /// `flush_all` on every server. Every server is tried; the first failure is returned.
    fn purge(&self) -> Result<()> {
        let mut first_error = None;
        for host in &self.hosts {
            let outcome = match self.shared.purge {
                PurgeMode::Prefix => host.advance_generation(&self.shared),
                PurgeMode::Server => host.flush_all(&self.shared),
            };
            if let Err(err) = outcome {
                tracing::warn!(server = host.name(), "memcached purge failed: {err}");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn key_rules(&self) -> KeyRules {
        KeyRules::MEMCACHED
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().try_for_each(|key| check_key(key))?;
        let mut values = vec![None; keys.len()];
        for (server, positions) in self.group(keys.iter().copied()).into_iter().enumerate() {
            if positions.is_empty() {
                continue;
            }
            let batch: Vec<&str> = positions.iter().map(|&p| keys[p]).collect();
            let found = self.hosts[server].get_many(&self.shared, &batch)?;
            for (position, value) in positions.into_iter().zip(found) {
                values[position] = value;
            }
        }
        Ok(values)
    }

    fn set_many(&self, entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<()> {
        for (key, value) in entries {
            check_key(key)?;
            self.check_size(key, value)?;
        }
        let ttl = ttl::wire_ttl(ttl, SystemTime::now())?;
        for (server, positions) in self
            .group(entries.iter().map(|(k, _)| *k))
            .into_iter()
            .enumerate()
        {
            if positions.is_empty() {
                continue;
            }
            let batch: Vec<(&str, &[u8])> = positions.iter().map(|&p| entries[p]).collect();
            self.hosts[server].set_many(&self.shared, &batch, ttl)?;
        }
        Ok(())
    }

    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        keys.iter().try_for_each(|key| check_key(key))?;
        // A key listed twice is removed once.
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        let unique: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|key| seen.insert(*key))
            .collect();
        let mut removed = 0;
        for (server, positions) in self.group(unique.iter().copied()).into_iter().enumerate() {
            if positions.is_empty() {
                continue;
            }
            let batch: Vec<&str> = positions.iter().map(|&p| unique[p]).collect();
            removed += self.hosts[server]
                .delete_many(&self.shared, &batch)?
                .into_iter()
                .filter(|&r| r)
                .count();
        }
        Ok(removed)
    }

    /// `add`, `incr`/`decr` and `touch` are all native (see [Atomic
    /// operations](self#atomic-operations)).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// `ms <key> ME`: atomic among concurrent adders, and a value of an older generation
    /// counts as absent (it is replaced under a CAS guard).
    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        check_key(key)?;
        self.check_size(key, value)?;
        let ttl = ttl::wire_ttl(ttl, SystemTime::now())?;
        self.hosts[self.route(key)].add(&self.shared, key, value, ttl)
    }

    /// `ma <key>`: memcached's own atomic increment (wrapping at 2^64).
    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Step::Incr, delta, ttl)
    }

    /// `ma <key> MD`: memcached's own atomic decrement, stopping at 0.
    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Step::Decr, delta, ttl)
    }

    /// `mg <key> T<ttl>`; `None` is `T0`, which memcached reads as "never expire".
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        check_key(key)?;
        let ttl = ttl::wire_ttl(ttl, SystemTime::now())?;
        self.hosts[self.route(key)].probe_current(&self.shared, key, Some(ttl))
    }

    /// `mg <key> f`: the item's stamp without its value.
    fn exists(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.hosts[self.route(key)].probe_current(&self.shared, key, None)
    }

    /// Drops every connection; a later call connects again.
    fn close(&self) -> Result<()> {
        self.hosts.iter().for_each(Host::close);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(hosts: &[&str]) -> MemcachedCacheHandler {
        MemcachedCacheHandler::new(MemcachedSettings {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            prefix: "t:".into(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn keys_are_checked_before_sending() {
        assert!(check_key("app:ok").is_ok());
        assert!(check_key(&"k".repeat(250)).is_ok());
        assert!(matches!(check_key(""), Err(Error::InvalidKey { .. })));
        let err = check_key(&"k".repeat(251)).unwrap_err();
        assert!(err.to_string().contains("251 on the wire"), "{err}");
        // Unsafe bytes go base64: 187 bytes become 252 on the wire.
        let err = check_key(&format!("a b{}", "k".repeat(184))).unwrap_err();
        assert!(err.to_string().contains("252 on the wire"), "{err}");
    }

    #[test]
    fn facade_keys_never_expand() {
        for key in [
            "user:1",
            "héllo wörld",
            "a\r\nflush_all\r\n",
            &"x".repeat(300),
            "tab\there",
        ] {
            let wire = KeyRules::MEMCACHED.wire_key("app:", key).unwrap();
            assert_eq!(wire_len(&wire), wire.len(), "{wire:?}");
            assert!(check_key(&wire).is_ok());
        }
    }

    #[test]
    fn values_over_the_item_limit_are_refused_before_sending() {
        // Nothing listens on port 1: a check that sent anything would fail differently.
        let handler = handler(&["127.0.0.1:1"]);
        let err = handler.set("k", &vec![0; 1024 * 1024], None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ValueTooLarge {
                    backend: "memcached",
                    size: 1_048_576,
                    limit: 1_048_512,
                    by_server: false,
                }
            ),
            "{err}"
        );
        let err = handler
            .set_many(&[("a", b"x"), ("b", &vec![0; 2 << 20])], None)
            .unwrap_err();
        assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    }

    #[test]
    fn setup_errors_are_config_errors() {
        let too_long = MemcachedCacheHandler::new(MemcachedSettings {
            prefix: "p".repeat(250),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            too_long.to_string().contains("prefix is too long"),
            "{too_long}"
        );
        let no_pool = MemcachedCacheHandler::new(MemcachedSettings {
            pool_size: 0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(no_pool.to_string().contains("pool_size = 0"), "{no_pool}");
    }

    #[test]
    fn routing_uses_the_ring() {
        let handler = handler(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        let servers = handler.servers();
        let mut used = std::collections::HashSet::new();
        for i in 0..100 {
            let server = handler.server_for(&format!("t:{i}")).to_string();
            assert!(servers.contains(&server));
            used.insert(server);
        }
        assert_eq!(used.len(), 3);
    }

    #[test]
    fn zero_ttl_is_refused() {
        let handler = handler(&["127.0.0.1:1"]);
        let err = handler.set("k", b"v", Some(Duration::ZERO)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
}
