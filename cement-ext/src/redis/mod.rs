//! The `redis` extension: [`RedisCacheHandler`], label `"redis"`, config section `cache.redis`.
//!
//! ```no_run
//! use cement::App;
//!
//! #[derive(App)]
//! #[app(label = "myapp", extensions = ["redis"], cache_handler = "redis")]
//! struct MyApp;
//!
//! fn main() -> cement::Result<()> {
//!     let app = MyApp::setup()?; // does not connect yet: starts even if redis is down
//!     app.cache().set("my_key", "my value")?;
//!     let value: Option<String> = app.cache().get("my_key")?;
//!     assert_eq!(value.as_deref(), Some("my value"));
//!     app.cache().purge()?; // only keys under this app's prefix ("myapp:")
//!     app.close()
//! }
//! ```
//!
//! What it does, beyond Cement's `ext_redis`:
//!
//! * values are bytes (the facade encodes them), so every value round-trips with its type;
//! * TTLs are sent in milliseconds (`SET key value PX ms`); `delete` says whether the key existed;
//! * `purge` removes only this app's keys (`SCAN MATCH <escaped prefix>*` + `UNLINK` in batches);
//!   `purge = "db"` makes it `FLUSHDB`. It never uses `KEYS`;
//! * `get_many` is one `MGET`, `set_many` one `MSET` (or a pipeline of `SET … PX` with a TTL),
//!   `delete_many` one `UNLINK`;
//! * every optional operation is native, atomic and one round trip
//!   ([`Capabilities::ALL`](cement::cache::Capabilities::ALL)): `add` is `SET … NX [PX ms]`,
//!   `incr`/`decr` one Lua script (unsigned 64-bit counters, `decr` stops at 0, TTL only on
//!   creation), `touch` is `PEXPIRE` (or `PERSIST` + `EXISTS` in one pipeline), `exists` is
//!   `EXISTS`;
//! * connections are opened lazily from a pool (`pool_size`): an app starts while redis is down,
//!   calls then fail fast with [`Error::Unavailable`] (refused) or [`Error::Timeout`] (no
//!   answer within `connect_timeout`/`response_timeout`), and work again as soon as the server
//!   is back;
//! * ACL users (`username`/`password`, or a url) and TLS (`rediss://` or `tls = true`, with
//!   `tls_ca_file`); the password is never printed.
//!
//! Config keys and defaults: see [`config`].

pub mod config;
mod counter;
mod error;
mod pool;

use std::fmt;
use std::time::Duration;

use cement::cache::key::shorten;
use cement::cache::{CacheHandler, Capabilities, HandlerSetup};
use cement::registry::HandlerContext;
use cement::{Error, Result};
use redis::{Connection, RedisError};

pub use config::{defaults, Db, MaxValueSize, PoolSize, Port, PurgeMode, RedisSettings, Secret};

use counter::{Direction, Reply};
use error::{classify, is_stale_connection, keeps_connection, ErrorContext, Phase, BACKEND};
use pool::{CheckoutError, Pool};

cement::register_extension!(
    "redis",
    "redis cache handler (cement-ext feature \"redis\")"
);

/// How many keys one `SCAN` step asks for (and one `UNLINK` removes) during `purge`.
const PURGE_BATCH: usize = 1000;

/// Largest TTL sent, in milliseconds (about 292 million years); redis rejects expiry times that
/// overflow its clock arithmetic.
const MAX_TTL_MS: u64 = i64::MAX as u64 / 1000;

/// Cache handler backed by a redis server; see the [module docs](self).
///
/// Built by the framework from the `cache.redis` section, or by hand:
///
/// ```no_run
/// use cement::cache::{Cache, CacheHandler};
/// use cement_ext::redis::{RedisCacheHandler, RedisSettings};
///
/// let handler = RedisCacheHandler::new(RedisSettings {
///     port: 6380,
///     prefix: "demo:".into(),
///     ..Default::default()
/// })?;
/// let cache = Cache::new("redis", Box::new(handler), "demo:", None);
/// cache.set("k", &vec![1, 2, 3])?;
/// assert_eq!(cache.get::<Vec<i32>>("k")?, Some(vec![1, 2, 3]));
/// # Ok::<(), cement::Error>(())
/// ```
#[cement::cache_handler(label = "redis", extension = "redis", config_defaults = defaults)]
pub struct RedisCacheHandler {
    pool: Pool,
    errors: ErrorContext,
    prefix: String,
    purge: PurgeMode,
    max_value_size: usize,
    /// The `incr`/`decr` script ([`counter`]).
    counter: redis::Script,
}

impl fmt::Debug for RedisCacheHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, idle) = self.pool.counts();
        f.debug_struct("RedisCacheHandler")
            .field("target", &self.errors.target)
            .field("prefix", &self.prefix)
            .field("purge", &self.purge)
            .field("pool_size", &self.pool.max_size())
            .field("open_connections", &open)
            .field("idle_connections", &idle)
            .finish_non_exhaustive()
    }
}

impl HandlerSetup for RedisCacheHandler {
    fn setup(ctx: &HandlerContext<'_>) -> Result<Self> {
        RedisCacheHandler::new(ctx.settings::<RedisSettings>()?)
    }
}

impl RedisCacheHandler {
    /// A handler for these settings. Nothing is connected yet, so this succeeds while the
    /// server is down; it fails only on bad settings ([`Error::Config`]).
    pub fn new(settings: RedisSettings) -> Result<Self> {
        let resolved = settings.resolve()?;
        let pool_size = usize::try_from(settings.pool_size).unwrap_or(usize::MAX);
        let pool = Pool::new(
            resolved.client,
            pool_size,
            resolved.connect_timeout,
            resolved.response_timeout,
        );
        Ok(RedisCacheHandler {
            pool,
            errors: ErrorContext {
                target: resolved.target,
                tls: resolved.tls,
                password: resolved.password,
                connect_timeout: resolved.connect_timeout,
                response_timeout: resolved.response_timeout,
            },
            prefix: settings.prefix,
            purge: settings.purge,
            max_value_size: usize::try_from(settings.max_value_size).unwrap_or(usize::MAX),
            counter: counter::script(),
        })
    }

    /// The server this handler talks to, as errors name it: `redis://host:port/db` (or
    /// `rediss://`), plus the ACL user; never the password.
    pub fn target(&self) -> &str {
        &self.errors.target
    }

    /// The prefix `purge` removes keys under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `op` on a pooled connection. If a connection taken from the idle list turns out to
    /// have died meanwhile (the server restarted), the other idle ones are dropped too and
    /// `op` runs once more on a fresh connection. After a restart nothing had run, so the
    /// repeat is exact. The imprecision is confined to a server that ran the command and then
    /// dropped the connection before its reply left (killed in that instant, `CLIENT KILL`):
    /// the repeat of an `UNLINK` then reports the key as absent, of an `add` reports it as not
    /// stored, and of an `incr`/`decr` applies the step twice.
    fn run<T>(&self, op: impl Fn(&mut Connection) -> redis::RedisResult<T>) -> Result<T> {
        let mut pooled = self.checkout()?;
        let Some(conn) = pooled.conn() else {
            return Err(self.closed());
        };
        let err = match op(conn) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !keeps_connection(&err) {
            pooled.mark_broken();
        }
        if pooled.fresh || !is_stale_connection(&err) {
            return Err(self.command_error(&err));
        }
        tracing::debug!(target: "cement_ext::redis", "reconnecting to {}: a pooled connection had died", self.errors.target);
        drop(pooled);
        self.pool.discard_idle();
        let mut pooled = self.checkout()?;
        let Some(conn) = pooled.conn() else {
            return Err(self.closed());
        };
        op(conn).map_err(|err| {
            if !keeps_connection(&err) {
                pooled.mark_broken();
            }
            self.command_error(&err)
        })
    }

    fn checkout(&self) -> Result<pool::Pooled<'_>> {
        self.pool.get().map_err(|err| match err {
            CheckoutError::Connect(err) => {
                let err = classify(&err, &self.errors, Phase::Connect);
                tracing::debug!(target: "cement_ext::redis", "{err}");
                err
            }
            CheckoutError::Exhausted { size, waited } => Error::Timeout {
                backend: BACKEND,
                source: format!(
                    "all {size} connections to {} stayed busy (or were still being opened) for {waited:?}; \
                     raise [cache.redis] pool_size (or connect_timeout, which is also how long a call waits \
                     for a free connection)",
                    self.errors.target
                )
                .into(),
            },
            CheckoutError::Closed => self.closed(),
        })
    }

    fn command_error(&self, err: &RedisError) -> Error {
        let err = classify(err, &self.errors, Phase::Command);
        tracing::debug!(target: "cement_ext::redis", "{err}");
        err
    }

    fn closed(&self) -> Error {
        Error::Unavailable {
            backend: BACKEND,
            source: "the redis cache handler was closed (the app was closed); set up the app again"
                .into(),
        }
    }

    /// One counter step through the script: atomic, one round trip.
    fn step(
        &self,
        key: &str,
        direction: Direction,
        delta: u64,
        ttl: Option<Duration>,
    ) -> Result<u64> {
        let ttl = ttl
            .map(|ttl| ttl_millis(ttl).to_string())
            .unwrap_or_default();
        let mut invocation = self.counter.key(key);
        invocation
            .arg(direction.sign())
            .arg(delta.to_string())
            .arg(ttl);
        let reply = self.run(|conn| invocation.invoke::<(i64, String)>(conn))?;
        let operation = direction.operation();
        match Reply::parse(&reply) {
            Some(Reply::Value(value)) => Ok(value),
            Some(Reply::NotCounter) => Err(Error::InvalidArgument(format!(
                "cannot {operation} key {:?}: the value under it is not a counter (an unsigned \
                 integer stored as ASCII digits, up to {}); create counters with incr or set them \
                 to an unsigned integer",
                shorten(key),
                u64::MAX
            ))),
            Some(Reply::Overflow { current }) => Err(Error::InvalidArgument(format!(
                "cannot incr key {:?} by {delta}: the counter holds {current} and would pass \
                 {} (u64::MAX); it was left unchanged",
                shorten(key),
                u64::MAX
            ))),
            None => Err(Error::Backend {
                backend: BACKEND,
                source: format!(
                    "{} answered the {operation} script with {reply:?}, not {{status, value}}",
                    self.errors.target
                )
                .into(),
            }),
        }
    }

    fn check_size(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_size {
            return Err(Error::ValueTooLarge {
                backend: BACKEND,
                size: value.len(),
                limit: self.max_value_size,
                by_server: false,
            });
        }
        Ok(())
    }
}

/// A TTL in whole milliseconds, rounded up so that a tiny TTL never becomes 0 (which redis
/// refuses) or "never".
fn ttl_millis(ttl: Duration) -> u64 {
    let ms = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MS)
}

/// `prefix` as a literal in a redis glob pattern (`SCAN MATCH`): `* ? [ ] \` escaped.
pub(crate) fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn set_cmd(key: &str, value: &[u8], ttl: Option<Duration>) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(ttl) = ttl {
        cmd.arg("PX").arg(ttl_millis(ttl));
    }
    cmd
}

impl CacheHandler for RedisCacheHandler {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.run(|conn| redis::cmd("GET").arg(key).query(conn))
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.check_size(value)?;
        let cmd = set_cmd(key, value, ttl);
        self.run(|conn| cmd.query::<()>(conn))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.run(|conn| redis::cmd("UNLINK").arg(key).query::<u64>(conn))
            .map(|n| n > 0)
    }

    /// With `purge = "prefix"` (the default): every key under this handler's prefix, found with
    /// `SCAN MATCH` and removed with `UNLINK`, batch by batch; other apps' keys stay. With
    /// `purge = "db"`: `FLUSHDB`.
    fn purge(&self) -> Result<()> {
        match self.purge {
            PurgeMode::Db => self.run(|conn| redis::cmd("FLUSHDB").query::<()>(conn)),
            PurgeMode::Prefix => {
                let pattern = format!("{}*", glob_escape(&self.prefix));
                self.run(|conn| {
                    let mut cursor: u64 = 0;
                    loop {
                        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(PURGE_BATCH)
                            .query(conn)?;
                        if !keys.is_empty() {
                            redis::cmd("UNLINK").arg(&keys).query::<u64>(conn)?;
                        }
                        if next == 0 {
                            return Ok(());
                        }
                        cursor = next;
                    }
                })
            }
        }
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> =
            self.run(|conn| redis::cmd("MGET").arg(keys).query(conn))?;
        if values.len() != keys.len() {
            return Err(Error::Backend {
                backend: BACKEND,
                source: format!(
                    "{} answered MGET of {} keys with {} values",
                    self.errors.target,
                    keys.len(),
                    values.len()
                )
                .into(),
            });
        }
        Ok(values)
    }

    fn set_many(&self, entries: &[(&str, &[u8])], ttl: Option<Duration>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        for (_, value) in entries {
            self.check_size(value)?;
        }
        match ttl {
            None => {
                let mut cmd = redis::cmd("MSET");
                for (key, value) in entries {
                    cmd.arg(*key).arg(*value);
                }
                self.run(|conn| cmd.query::<()>(conn))
            }
            Some(ttl) => {
                let mut pipe = redis::pipe();
                for (key, value) in entries {
                    pipe.add_command(set_cmd(key, value, Some(ttl))).ignore();
                }
                self.run(|conn| pipe.query::<()>(conn))
            }
        }
    }

    fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        if keys.is_empty() {
            return Ok(0);
        }
        let removed = self.run(|conn| redis::cmd("UNLINK").arg(keys).query::<u64>(conn))?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    fn close(&self) -> Result<()> {
        self.pool.close();
        Ok(())
    }

    /// All of them: `add`, counters and `touch` are native and atomic.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// `SET key value NX [PX ms]`: `true` if it stored.
    fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
        self.check_size(value)?;
        let mut cmd = set_cmd(key, value, ttl);
        cmd.arg("NX");
        // `+OK` when stored, a nil reply when the key was there.
        self.run(|conn| cmd.query::<bool>(conn))
    }

    /// The counter script with `+`: a missing key starts from 0 and gets `ttl`; an existing
    /// one keeps its TTL. An increment past `u64::MAX` is an [`Error::InvalidArgument`] and
    /// leaves the counter unchanged.
    fn incr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Direction::Up, delta, ttl)
    }

    /// The counter script with `-`: stops at 0; otherwise as [`incr`](Self::incr).
    fn decr(&self, key: &str, delta: u64, ttl: Option<Duration>) -> Result<u64> {
        self.step(key, Direction::Down, delta, ttl)
    }

    /// `PEXPIRE key ms`, or for `None` one pipeline of `PERSIST key` + `EXISTS key` (`PERSIST`
    /// answers 0 for a key that exists without a TTL, so it cannot tell on its own).
    fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        match ttl {
            Some(ttl) => {
                let mut cmd = redis::cmd("PEXPIRE");
                cmd.arg(key).arg(ttl_millis(ttl));
                self.run(|conn| cmd.query::<bool>(conn))
            }
            None => {
                let mut pipe = redis::pipe();
                pipe.cmd("PERSIST").arg(key).ignore();
                pipe.cmd("EXISTS").arg(key);
                self.run(|conn| pipe.query::<(bool,)>(conn))
                    .map(|(exists,)| exists)
            }
        }
    }

    /// `EXISTS key`.
    fn exists(&self, key: &str) -> Result<bool> {
        self.run(|conn| redis::cmd("EXISTS").arg(key).query::<bool>(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_secs(2)), 2000);
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn long_keys_are_shortened_in_messages() {
        assert_eq!(shorten("app:k"), "app:k");
        let long = format!("{}é", "k".repeat(79));
        assert_eq!(shorten(&long), format!("{}… (81 bytes)", "k".repeat(79)));
    }

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(glob_escape("myapp:"), "myapp:");
        assert_eq!(glob_escape(r"we[ird]*?\:"), r"we\[ird\]\*\?\\:");
    }

    /// Collects the text of every tracing event emitted on this thread.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<String>);

    struct Text<'a>(&'a mut String);

    impl tracing::field::Visit for Text<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            self.0.push_str(&format!("{}={value:?}\n", field.name()));
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if let Ok(mut text) = self.0.lock() {
                event.record(&mut Text(&mut text));
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn logs_never_show_the_password() {
        use std::io::{Read, Write};
        const PASSWORD: &str = "correct-horse-battery";
        // A fake server that refuses every AUTH the way redis does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                // AUTH fails; the pipelined CLIENT SETINFO calls succeed.
                let _ = stream
                    .write_all(b"-WRONGPASS invalid username-password pair\r\n+OK\r\n+OK\r\n");
                held.push(stream);
            }
        });
        let capture = std::sync::Arc::new(Capture::default());
        tracing::subscriber::with_default(std::sync::Arc::clone(&capture), || {
            let wrong = RedisCacheHandler::new(RedisSettings {
                url: Some(format!("redis://app:{PASSWORD}@127.0.0.1:{port}/0")),
                ..Default::default()
            })
            .unwrap();
            let err = wrong.get("k").unwrap_err();
            assert!(err.to_string().contains("authentication"), "{err}");
            assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
            let refused = RedisCacheHandler::new(RedisSettings {
                port: 1,
                password: Some(Secret::new(PASSWORD)),
                ..Default::default()
            })
            .unwrap();
            let err = refused.get("k").unwrap_err();
            assert!(
                !format!("{err} {err:?} {refused:?}").contains(PASSWORD),
                "{err:?}"
            );
        });
        // Which events reach a thread-scoped subscriber depends on which thread opened the
        // connection and on tracing's global callsite cache (other tests run concurrently), so
        // the capture may be partial; whatever was captured must not hold the password.
        let logged = capture.0.lock().unwrap().clone();
        assert!(!logged.contains(PASSWORD), "{logged}");
    }

    #[test]
    fn building_does_not_connect() {
        // Nothing listens on port 1; building must still work.
        let handler = RedisCacheHandler::new(RedisSettings {
            port: 1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(handler.target(), "redis://127.0.0.1:1/0");
        let err = handler.get("x").unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    }
}
