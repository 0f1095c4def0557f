//! The `memcached` cache handler: [`MemcachedCacheHandler`], label `"memcached"`, owned by the
//! extension `"memcached"` (cargo feature `memcached` of `cement-ext`).
//!
//! It is built on the meta-protocol client of the [`memcache`](https://crates.io/crates/memcache)
//! crate (`memcache::exp`, pure Rust, no OpenSSL): one client and connection pool per server,
//! behind cement's own consistent-hash ring.
//!
//! ```toml
//! [dependencies]
//! cement = "0.1"
//! cement-ext = { version = "0.1", features = ["memcached"] }
//! ```
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
//!     let app = MyApp::setup()?; // connects lazily: starts even if memcached is down
//!     app.cache().set("my_key", "my value")?;
//!     let value: Option<String> = app.cache().get("my_key")?;
//!     assert_eq!(value.as_deref(), Some("my value"));
//!     app.cache().purge()?; // only this app's keys (see Purge)
//!     app.close()
//! }
//! ```
//!
//! `cargo run --example memcached` runs the same against `localhost:11211`, and says what to
//! start when no server answers.
//!
//! # Config
//!
//! Section `[cache.memcached]`, typed as [`MemcachedSettings`] (one field per key):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `hosts` | `["127.0.0.1"]` | the servers: a list, or a comma-separated string (`MYAPP_CACHE_MEMCACHED_HOSTS=10.0.0.1,10.0.0.2:11212`); each `host` or `host:port` (port 11211 by default), IPv6 as `[::1]:11211`. An empty or malformed entry is a config error naming the entry and where it came from; a duplicate is used once |
//! | `expire_time` | `0` | seconds `set` keeps a value; `0` = never expire (read by the [`Cache`](cement::cache::Cache) facade) |
//! | `prefix` | `"<app label>:"` | put in front of every key; `purge` (in `"prefix"` mode) invalidates only keys under it |
//! | `connect_timeout` | `1.0` | seconds for connecting to a server; also how long a call waits for a free connection when all `pool_size` are busy. More than 0, at most 86400 |
//! | `response_timeout` | `1.0` | seconds one exchange may take: a request and its reply, or a whole pipelined batch. More than 0, at most 86400 |
//! | `pool_size` | `16` | most connections open at once to each server (idle ones are kept for reuse); 1 to 1024 |
//! | `max_value_size` | `1048576` | the servers' item size limit (`memcached -I`, 1 MiB by default). An item that cannot fit (value + key + memcached's per-item overhead) fails with [`Error::ValueTooLarge`] before anything is sent. Raise it together with the servers' `-I`. From 1024 to 1073741824 (memcached's own bounds for `-I`) |
//! | `purge` | `"prefix"` | `"prefix"`: invalidate this app's keys (see [Purge](#purge)); `"server"`: `flush_all` on every server |
//!
//! Durations are seconds and may be fractional (`0.25`). The section also takes the keys the
//! cache facade reads for every handler: the failure policy ([`cement::cache::policy`]),
//! `lease_time` and `log_keys`. Any other key is an error, so a typo does not go unnoticed.
//!
//! # Servers
//!
//! Keys are spread over `hosts` by consistent hashing: a ketama-style ring with 160 points per
//! server, hashed with XXH3 (a fixed, specified hash, so every process and every build routes a
//! key the same way). The order of `hosts` does not matter, and adding or removing one of N
//! servers moves only about 1/N of the keys: removing one moves exactly the keys it held
//! (tested with three real servers). `get_many`, `set_many` and `delete_many` send one
//! pipelined batch per server (up to 128 commands each) instead of one round trip per key.
//!
//! # Keys
//!
//! The app's [`Cache`](cement::cache::Cache) facade puts `prefix` in front of every key and
//! maps any key memcached cannot take (over 250 bytes, or containing whitespace or control
//! characters) to a readable head plus `#~` and a 128-bit SHA-256 digest
//! ([`KeyRules::MEMCACHED`]). The mapping is injective, and a mapped key is always safe on the
//! wire, so it is sent as it is (never longer). Any UTF-8 key works, including non-ASCII ones
//! (sent unchanged when they have no whitespace).
//!
//! A key can never inject a command: the tests send keys such as
//! `"a 0 0 1\r\nx\r\nflush_all\r\nset b"` to a real server and check that `cmd_flush` did not
//! move, that an unrelated key survived and that no key `b` appeared. Even a raw key given
//! straight to the handler is sent base64-encoded (the meta protocol's `b` flag) when it
//! contains unsafe bytes, never as it is.
//!
//! # TTLs
//!
//! * `expire_time = 0`, or no TTL: never expires (memcached may still evict the value when it
//!   needs memory).
//! * Durations are sent in whole seconds, **rounded up**: `set_with_ttl(k, v, 10 ms)` keeps the
//!   value about a second, never "forever". A zero TTL is an error.
//! * Over 30 days, the TTL is sent as an absolute Unix time (memcached's rule), computed from
//!   this machine's clock: keep the clocks of clients and servers in sync. A TTL ending after
//!   2038-01-19 (memcached's 32-bit clock) is stored without expiry.
//! * memcached's clock ticks once a second, so a value may expire up to a second early.
//!
//! # Purge
//!
//! memcached cannot list keys or delete them by prefix, so `purge = "prefix"` (the default)
//! uses a **namespace generation**:
//!
//! * each server keeps a generation number for the prefix under the key `<prefix>#~gen` (a key
//!   that no cache key can map to, since raw keys never contain `#~` and mapped keys end in 32
//!   hex digits after it);
//! * every value is stored with the current generation's stamp in its memcached client flags;
//! * a read fetches the generation in the same pipelined round trip as the key(s) and treats a
//!   value with another stamp as a miss; a write reads the generation back in the round trip
//!   of the store, and stores once more if it had used a stale one;
//! * `purge()` is one increment of the generation on each server: O(1), however many keys
//!   there are. The old values are never returned again; memcached reclaims them as it needs
//!   memory or as they expire.
//!
//! What that means:
//!
//! * Other apps (other prefixes) on the same servers keep their values; `flush_all` is not
//!   used.
//! * A purge by one process is seen at once by every other process of the app (they read the
//!   generation on every call).
//! * If a server loses the generation (restart, `flush_all`, eviction), the next write creates
//!   a new, *random* one, so values stored before become misses, never stale hits.
//! * A write that races with a purge may or may not survive it (as if it came just before or
//!   just after); a purged value never comes back.
//! * `delete` returns `true` only for a current value (a purged one is already gone).
//! * `purge()` fails with [`Error::Unavailable`]/[`Error::Timeout`] when a server cannot be
//!   reached, after purging the others. If that server comes back with its memory intact (a
//!   network outage rather than a restart), its old values are visible again until the next
//!   successful purge.
//! * Cost: reads and writes send two commands per round trip instead of one.
//!
//! `purge = "server"` sends `flush_all` to every server instead, over a fresh connection with
//! the same timeouts (the meta-protocol client has no `flush_all`): **everything on the servers
//! is gone, whoever stored it**. (Cement's handler always flushed the servers.) No generation is
//! kept or read in this mode, so calls are one command each. Values stored in one mode are
//! misses in the other.
//!
//! # Atomic operations
//!
//! The handler declares [`Capabilities::ALL`]: `add`, `incr`/`decr`, `touch` and `exists` are
//! native on memcached, each one pipelined round trip to the key's server. In `purge =
//! "prefix"` mode each also reads the generation in that round trip, and **a value stamped
//! with an older generation is absent** to all of them, exactly as it is to `get`.
//!
//! | operation | on the wire (`purge = "prefix"`) | semantics on memcached |
//! |---|---|---|
//! | `add(k, v)` | `mg <gen> v`, `ms k ME F<stamp> T<ttl> c`, `mg k f c` | stores only if `k` holds no current value; `true` if it stored. A purged value counts as absent: memcached refuses the add, and a second round trip replaces the stale value with `ms … C<cas>`, guarded by the CAS just read |
//! | `incr(k, n)` / `decr(k, n)` | `mg <gen> v`, `mg k f c`, `ms k ME F<stamp> T<ttl>` `0`, `ma k D<n> [MD] c v`, `mg k f c` | memcached's own atomic arithmetic on an unsigned 64-bit counter; returns the new value. A missing counter is created from 0 with the section's `expire_time`; an existing one keeps its TTL. `decr` stops at 0, `incr` wraps at 2^64 (memcached's rules) |
//! | `touch(k, ttl)` | `mg <gen> v`, `mg k T<ttl>` | new TTL without rewriting the value; `None` sends `T0`, memcached's "never expire". `true` only for a current value (a purged one gets the TTL too, which changes nothing that can be read) |
//! | `exists(k)` | `mg <gen> v`, `mg k f` | presence of a current value, without fetching it |
//!
//! In `purge = "server"` mode there is no generation: `add` is one `ms … ME`, `touch` and
//! `exists` one `mg`, and `incr`/`decr` one `ma k D<n> N<ttl> J<initial>` (memcached creates
//! the missing counter itself; a counter that never expires is created by an `ms … ME`
//! pipelined before the `ma`, because `N` cannot say "never").
//!
//! **Counters** are ASCII digits without cement's envelope (the codec stores unsigned integers
//! that way), so memcached can do the arithmetic: `set(k, &41u64)` makes a counter, `incr` then
//! returns 42, and `get::<u64>(k)` reads a counter. A value that is not a counter (text, JSON,
//! a negative number) makes `incr`/`decr` fail with [`Error::InvalidArgument`] naming the key;
//! memcached refuses the arithmetic (`CLIENT_ERROR`) and nothing changes. memcached may rewrite
//! a counter that shrank in place, padded with spaces (`"10"` − 1 as `"9 "`); reads return
//! digits followed by spaces without the spaces, so such a counter still reads back as its
//! number.
//!
//! Counters and **purge**: a counter is stamped like every value, so a purge invalidates it:
//! `get` misses and the next `incr` starts again from 0. memcached's own autovivification
//! (`ma … N<ttl> J<initial>`) would create a counter with client flags 0, outside every
//! generation, so in prefix mode a missing counter is created by the pipelined `ms … ME` with
//! the stamp instead. When the probes around the `ma` show that it changed a counter of an
//! older generation (or any stale value, numeric or not), a second round trip restarts the
//! counter at `0 + n` (`0` for `decr`) under a CAS guard; an increment that loses that race
//! starts over.
//!
//! Atomicity, exactly:
//!
//! * `add`: of several clients adding one key (missing, present or stale) exactly one wins, in
//!   any mix of processes: a win is either memcached's own add or a CAS-guarded replace, and
//!   the losers of a CAS race start over and see the winner's value. The same repair restamps
//!   a value added with a generation that another process had just replaced. Tested with 8
//!   threads on two handlers (standing for two processes) adding over a just-purged value.
//! * `incr`/`decr` on a current counter: each is one `ma`, memcached's atomic increment, exact
//!   under any concurrency (the conformance suite: 8 threads × 100 increments make 800).
//! * `incr`/`decr` on a counter that was just purged: the first increment restarts it and the
//!   void increments of the racers are retried, so the count stays exact (tested: 8 threads on
//!   two handlers × 50 increments of a just-purged counter). For a second after meeting a
//!   stale counter, and on every retry, a step probes the key alone first and restarts a stale
//!   counter *before* incrementing (two round trips), so many clients hammering a purged
//!   counter cannot starve the restart. One theoretical gap remains: if another client's
//!   restart lands between two commands of this client's pipeline *and* another change lands
//!   between the next two (gaps of microseconds on the server), one increment may be counted
//!   twice.
//! * A purge that races with any of these acts as if it came just before or just after it.
//! * After 8 lost races in a row (only possible with purges, deletes or adds hammering the same
//!   key) the call fails with [`Error::Backend`] and nothing is left half done.
//!
//! Costs: `add`, `touch` and `exists` are one round trip (two in rare repair cases);
//! `incr`/`decr` are one round trip of five commands in prefix mode, one command in server mode
//! (with a TTL).
//!
//! # Failures
//!
//! * Nothing is connected (or resolved) at setup: an app starts while its servers are down.
//! * A server that refuses connections: calls fail at once with [`Error::Unavailable`] naming
//!   the server. One that does not answer (down host, black-holed network, hung server): calls
//!   fail with [`Error::Timeout`] after at most `connect_timeout` + `response_timeout` (tested
//!   against a listener that accepts and never answers).
//! * When the server is back (even restarted on the same port), calls succeed again by
//!   themselves: dead pooled connections are noticed and replaced.
//! * With several servers, only the keys of an unreachable server fail; batch calls that touch
//!   it fail as a whole.
//! * `add`, `incr`/`decr`, `touch` and `exists` fail the same way, in both purge modes.
//! * A value too large for the item size limit fails with [`Error::ValueTooLarge`] before
//!   anything is sent; if a server's own `-I` is smaller than `max_value_size`, its refusal is
//!   a `ValueTooLarge` too. Either way the connection stays usable.
//! * The handler is `Send + Sync`; threads share `&app` (tested: 8 threads × 1000 mixed
//!   operations over two servers, every read matching each thread's own writes).
//! * No TLS or SASL: the meta-protocol client has neither.
//!
//! # Testing and benchmarks
//!
//! The tests start real `memcached` processes on free loopback ports
//! (`cement_ext::testing::MemcachedServer`); install the server first (`apt-get install
//! memcached`, or run `./scripts/test.sh`). A missing binary fails the tests with that hint;
//! they never skip.
//!
//! `cargo bench --bench memcached` compares `app.cache()` and the handler with the raw
//! `memcache::exp::MetaClient` on one loopback server; `benches/README.md` in the repository
//! says what it compares and gives the latest figures.

mod config;
mod error;
mod host;
mod ring;
mod ttl;

use std::fmt;
use std::time::{Duration, SystemTime};

use cement::cache::key::shorten;
use cement::cache::{CacheHandler, Capabilities, HandlerSetup, KeyRules};
use cement::registry::HandlerContext;
use cement::{Error, Result};

pub use config::{
    defaults, HostSpec, MaxValueSize, MemcachedSettings, PoolSize, PurgeMode,
    DEFAULT_MAX_VALUE_SIZE, DEFAULT_PORT, SECTION,
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

/// memcached's key rules, as the facade maps keys for this handler: at most 250 bytes, no
/// whitespace or control characters. (`cement::cache::KeyRules::MEMCACHED` is the same preset,
/// kept in core for handlers of other memcached-protocol servers.)
pub const KEY_RULES: KeyRules = KeyRules {
    max_len: Some(MAX_KEY_LEN),
    graphic_only: true,
};

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
        let settings = MemcachedSettings {
            prefix: ctx.prefix()?,
            ..ctx.settings()?
        };
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
    if visible(key.as_bytes()) {
        key.len()
    } else {
        key.len().div_ceil(3) * 4
    }
}

/// Whether no byte is a space, a control character or `0x7f`: the bytes a meta command can
/// carry as they are. Every key of every call passes here, so it checks eight bytes at a time
/// without a branch per byte.
fn visible(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Non-zero iff some byte of `w` is below `0x21` or is `0x7f` (exact for "some byte": a
    /// borrow can only spread past a byte that is itself flagged).
    fn hidden(w: u64) -> u64 {
        let del = w ^ (ONES * 0x7f);
        ((w.wrapping_sub(ONES * 0x21) & !w) | (del.wrapping_sub(ONES) & !del)) & HIGH
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut seen = 0;
    for chunk in &mut chunks {
        seen |= chunk
            .try_into()
            .map_or(HIGH, |w| hidden(u64::from_ne_bytes(w)));
    }
    for &b in chunks.remainder() {
        seen |= u64::from(b <= b' ' || b == 0x7f);
    }
    seen == 0
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
        KEY_RULES
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().try_for_each(|key| check_key(key))?;
        if let [host] = self.hosts.as_slice() {
            // One server: its answers are already in key order.
            return host.get_many(&self.shared, keys);
        }
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

    #[test]
    fn visible_is_every_byte_above_space_but_del() {
        for len in 1..=24 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    let mut bytes = vec![b'k'; len];
                    bytes[at] = byte;
                    let expected = byte > b' ' && byte != 0x7f;
                    assert_eq!(visible(&bytes), expected, "{byte:#x} at {at} of {len}");
                }
            }
        }
        assert!(visible(b""));
    }

    fn handler(hosts: &[&str]) -> MemcachedCacheHandler {
        MemcachedCacheHandler::new(MemcachedSettings {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            prefix: "t:".into(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_core_preset_is_these_rules() {
        assert_eq!(KeyRules::MEMCACHED, KEY_RULES);
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
            let wire = KEY_RULES.wire_key("app:", key).unwrap();
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
