//! The typed cache facade, `app.cache()`: keys, codec, failure policy, single-flight, stats and
//! tracing around a byte-level [`CacheHandler`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;
use super::flight::Flights;
use super::policy::{is_backend_fault, OnDecode, OnDelete, OnRead, OnWrite, Policy};
use super::redact::{loggable, KeyLog};
use super::settings::CacheSettings;
use super::stats::{CacheStats, Counters, Op};
use super::{CacheHandler, Capabilities, KeyRules};
use crate::{Config, Error, Result};

/// The typed cache of a running app: `app.cache()`.
///
/// Values are any `serde` type, encoded by one codec (JSON in a small envelope); keys are any
/// UTF-8 string, prefixed with the handler section's `prefix` and mapped to the handler's
/// [`KeyRules`]. Backend failures follow the section's `on_*_error` policies and circuit
/// breaker ([`policy`](super::policy)); every call is counted in [`stats`](Self::stats) and
/// traced (`tracing` spans named `cache`, keys shown as a digest unless `log_keys = true`).
/// Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    handler: Box<dyn CacheHandler>,
    label: &'static str,
    prefix: String,
    default_ttl: Option<Duration>,
    rules: KeyRules,
    capabilities: Capabilities,
    policy: Policy,
    stats: Counters,
    flights: Flights,
    log_keys: bool,
    /// Cross-process stampede lease for `get_or_set_with` (`lease_time`); `None`: off.
    lease_time: Option<Duration>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("handler", &self.inner.label)
            .field("prefix", &self.inner.prefix)
            .field("default_ttl", &self.inner.default_ttl)
            .field("capabilities", &self.inner.capabilities)
            .finish()
    }
}

impl Cache {
    /// Wraps a handler with the default policy. `prefix` is put in front of every key;
    /// `default_ttl` is what [`set`](Self::set) uses (`None`: never expire).
    ///
    /// Apps get their `Cache` from `app.cache()`; this is for embedding a handler directly.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "demo:", None);
    /// cache.set("k", "v")?;
    /// assert_eq!(cache.get::<String>("k")?.as_deref(), Some("v"));
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn new(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        prefix: impl Into<String>,
        default_ttl: Option<Duration>,
    ) -> Self {
        Cache::with_settings(
            label,
            handler,
            CacheSettings::new(prefix.into(), default_ttl),
        )
    }

    /// The cache of an app: prefix, TTL, policy, `log_keys` and `lease_time` from the
    /// handler's section (see [`settings`](super::settings)).
    pub(crate) fn from_config(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        config: &Config,
        section: &str,
    ) -> Result<Self> {
        Ok(Cache::with_settings(
            label,
            handler,
            CacheSettings::from_config(config, section)?,
        ))
    }

    fn with_settings(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        settings: CacheSettings,
    ) -> Self {
        let rules = handler.key_rules();
        let capabilities = handler.capabilities();
        let CacheSettings {
            prefix,
            default_ttl,
            policy,
            log_keys,
            lease_time,
        } = settings;
        Cache {
            inner: Arc::new(Inner {
                handler,
                label,
                prefix,
                default_ttl,
                rules,
                capabilities,
                policy,
                stats: Counters::default(),
                flights: Flights::default(),
                log_keys,
                lease_time,
            }),
        }
    }

    /// The label of the handler behind this cache, e.g. `"memory"`.
    pub fn handler_label(&self) -> &'static str {
        self.inner.label
    }

    /// The handler itself, for operations the facade does not offer.
    pub fn handler(&self) -> &dyn CacheHandler {
        self.inner.handler.as_ref()
    }

    /// What the handler does natively.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    /// The prefix put in front of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The TTL that [`set`](Self::set) uses (from `expire_time`; `None` = never expire).
    pub fn default_ttl(&self) -> Option<Duration> {
        self.inner.default_ttl
    }

    /// The counters since setup.
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    /// The key the handler receives for `key`: prefixed, and mapped to the handler's rules.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "app:", None);
    /// assert_eq!(cache.wire_key("user 1")?, "app:user 1");
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        self.inner.rules.wire_key(&self.inner.prefix, key)
    }

    /// Runs `f` with `key`'s wire key, built in a per-thread buffer to spare an allocation per
    /// call (a fresh `String` if the buffer is in use, e.g. by a handler calling back in).
    fn with_wire<R>(&self, key: &str, f: impl FnOnce(&str) -> Result<R>) -> Result<R> {
        thread_local! {
            static WIRE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        WIRE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                self.inner
                    .rules
                    .write_wire_key(&self.inner.prefix, key, &mut buffer)?;
                let outcome = f(&buffer);
                if buffer.capacity() > 4096 {
                    *buffer = String::new();
                }
                outcome
            }
            Err(_) => f(&self.wire_key(key)?),
        })
    }

    fn span(&self, op: Op, key: &str) -> tracing::span::EnteredSpan {
        tracing::debug_span!(
            "cache",
            op = op.name(),
            handler = self.inner.label,
            key = %KeyLog { key, full: self.inner.log_keys }
        )
        .entered()
    }

    /// Calls the handler through the circuit breaker, counting the call and its failure.
    fn call<R>(&self, op: Op, f: impl FnOnce(&dyn CacheHandler) -> Result<R>) -> Result<R> {
        let stats = &self.inner.stats;
        stats.call(op);
        let outcome = match &self.inner.policy.breaker {
            Some(breaker) => match breaker.check() {
                Ok(()) => {
                    let outcome = f(self.inner.handler.as_ref());
                    breaker.record(&outcome);
                    outcome
                }
                Err(left) => {
                    stats.breaker_rejection();
                    Err(Error::Unavailable {
                        backend: self.inner.label,
                        source: format!(
                            "circuit breaker open after {} consecutive failures; calls go through again in {:.1} s",
                            breaker.threshold(),
                            left.as_secs_f64()
                        )
                        .into(),
                    })
                }
            },
            None => f(self.inner.handler.as_ref()),
        };
        if outcome.is_err() {
            stats.error(op);
        }
        outcome
    }

    /// Applies a policy: a backend fault becomes `fallback` when `absorb` is set.
    fn absorb<R>(
        &self,
        op: Op,
        outcome: Result<R>,
        absorb: bool,
        fallback: impl FnOnce() -> R,
    ) -> Result<R> {
        match outcome {
            Err(error) if absorb && is_backend_fault(&error) => {
                self.inner.stats.absorbed();
                tracing::warn!(op = op.name(), handler = self.inner.label, error = %loggable(&error, self.inner.log_keys), "cache error absorbed by policy");
                Ok(fallback())
            }
            Err(error) => {
                tracing::debug!(op = op.name(), handler = self.inner.label, error = %loggable(&error, self.inner.log_keys), "cache call failed");
                Err(error)
            }
            ok => ok,
        }
    }

    fn read_policy(&self) -> bool {
        self.inner.policy.on_read == OnRead::Miss
    }

    fn write_policy(&self) -> bool {
        self.inner.policy.on_write == OnWrite::Drop
    }

    fn delete_policy(&self) -> bool {
        self.inner.policy.on_delete == OnDelete::Ignore
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, bytes: Option<Vec<u8>>) -> Result<Option<T>> {
        self.decoded(key, bytes.map(|b| (b.len(), codec::decode(&b))))
    }

    /// Counts and applies the decode policy to a value decoded from `len` bytes.
    fn decoded<T>(
        &self,
        key: &str,
        decoded: Option<(usize, std::result::Result<T, codec::DecodeError>)>,
    ) -> Result<Option<T>> {
        let stats = &self.inner.stats;
        let Some((len, decoded)) = decoded else {
            stats.miss();
            return Ok(None);
        };
        match decoded {
            Ok(value) => {
                stats.hit(len);
                Ok(Some(value))
            }
            Err(error) => {
                stats.decode_error();
                stats.miss();
                if self.inner.policy.on_decode == OnDecode::Raise {
                    return Err(error.into_error::<T>(key, len));
                }
                // Neither the key nor the serde message (which can quote the value) is logged.
                tracing::warn!(
                    handler = self.inner.label,
                    key = %KeyLog { key, full: self.inner.log_keys },
                    kind = error.kind(),
                    expected = std::any::type_name::<T>(),
                    bytes = len,
                    "undecodable cache value read as a miss"
                );
                Ok(None)
            }
        }
    }

    fn require(&self, supported: bool, operation: &'static str) -> Result<()> {
        if supported {
            Ok(())
        } else {
            Err(Error::Unsupported {
                backend: self.inner.label,
                operation,
            })
        }
    }

    /// The value under `key` as a `T`, or `None` on a miss. A stored value that cannot be read
    /// as a `T` (written as another type or by another program) is a miss, counted in
    /// [`CacheStats::decode_errors`]; with `on_decode_error = "raise"` it is an
    /// [`Error::Codec`].
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let _span = self.span(Op::Get, key);
        let mut decoded = None;
        // Decode straight from the handler's bytes: no copy where the handler lends them.
        let outcome = self.with_wire(key, |wire| {
            self.call(Op::Get, |h| {
                h.get_with(wire, &mut |bytes| {
                    decoded = Some((bytes.len(), codec::decode(bytes)))
                })
            })
        });
        if !self.absorb(Op::Get, outcome, self.read_policy(), || false)? {
            decoded = None;
        }
        self.decoded(key, decoded)
    }

    /// The value under `key`, or `fallback` on a miss (Cement's `get(key, fallback)`). Falsy
    /// values such as `0`, `false` or `""` are hits.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, fallback: T) -> Result<T> {
        Ok(self.get(key)?.unwrap_or(fallback))
    }

    /// Whether `key` holds a value.
    pub fn exists(&self, key: &str) -> Result<bool> {
        let _span = self.span(Op::Exists, key);
        let outcome = self.with_wire(key, |wire| self.call(Op::Exists, |h| h.exists(wire)));
        self.absorb(Op::Exists, outcome, self.read_policy(), || false)
    }

    /// Stores `value` under `key` for the handler section's `expire_time` (`0`: never expire).
    pub fn set<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<()> {
        self.store(Op::Set, key, value, self.inner.default_ttl)
    }

    /// Stores `value` under `key` for `ttl` (Cement's `set(key, value, time=…)`). A zero `ttl`
    /// is an [`Error::InvalidArgument`]: use [`set`](Self::set) to store without expiry.
    pub fn set_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<()> {
        let ttl = nonzero(ttl)?;
        self.store(Op::Set, key, value, Some(ttl))
    }

    fn store<V: Serialize + ?Sized>(
        &self,
        op: Op,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let _span = self.span(op, key);
        let bytes = codec::encode(key, value)?;
        self.inner.stats.written(bytes.len());
        let outcome = self.with_wire(key, |wire| self.call(op, |h| h.set(wire, &bytes, ttl)));
        self.absorb(op, outcome, self.write_policy(), || ())
    }

    /// Stores `value` only if `key` holds nothing, atomically; `true` if it stored. Uses the
    /// section's `expire_time`. [`Error::Unsupported`] on handlers without native `add`.
    pub fn add<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<bool> {
        self.add_inner(key, value, self.inner.default_ttl)
    }

    /// [`add`](Self::add) with its own TTL (a zero `ttl` is an error).
    pub fn add_with_ttl<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Duration,
    ) -> Result<bool> {
        self.add_inner(key, value, Some(nonzero(ttl)?))
    }

    fn add_inner<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let _span = self.span(Op::Add, key);
        self.require(self.inner.capabilities.add, "add")?;
        self.with_wire(key, |wire| {
            let bytes = codec::encode(key, value)?;
            self.inner.stats.written(bytes.len());
            self.call(Op::Add, |h| h.add(wire, &bytes, ttl))
        })
    }

    /// Adds `delta` to the counter under `key` and returns the new value, atomically. A missing
    /// key starts from 0 (and gets the section's `expire_time`). Read a counter with
    /// `get::<u64>`; `set(key, &42u64)` makes one. [`Error::Unsupported`] on handlers without
    /// native counters.
    pub fn incr(&self, key: &str, delta: u64) -> Result<u64> {
        let _span = self.span(Op::Incr, key);
        self.require(self.inner.capabilities.counters, "incr")?;
        self.with_wire(key, |wire| {
            self.call(Op::Incr, |h| h.incr(wire, delta, self.inner.default_ttl))
        })
    }

    /// Subtracts `delta` from the counter under `key`, stopping at 0, and returns the new value.
    pub fn decr(&self, key: &str, delta: u64) -> Result<u64> {
        let _span = self.span(Op::Decr, key);
        self.require(self.inner.capabilities.counters, "decr")?;
        self.with_wire(key, |wire| {
            self.call(Op::Decr, |h| h.decr(wire, delta, self.inner.default_ttl))
        })
    }

    /// Gives `key` a new TTL (`None`: never expire) without rewriting it; `true` if the key
    /// exists. A zero TTL is an error. [`Error::Unsupported`] on handlers without native touch.
    pub fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let _span = self.span(Op::Touch, key);
        self.require(self.inner.capabilities.touch, "touch")?;
        let ttl = ttl.map(nonzero).transpose()?;
        let outcome = self.with_wire(key, |wire| self.call(Op::Touch, |h| h.touch(wire, ttl)));
        self.absorb(Op::Touch, outcome, self.write_policy(), || false)
    }

    /// Removes `key`; `true` if it was there.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let _span = self.span(Op::Delete, key);
        let outcome = self.with_wire(key, |wire| self.call(Op::Delete, |h| h.delete(wire)));
        self.absorb(Op::Delete, outcome, self.delete_policy(), || false)
    }

    /// Removes every entry of this cache; see each handler's docs for what "every" means on a
    /// shared server.
    pub fn purge(&self) -> Result<()> {
        let _span = self.span(Op::Purge, "");
        let outcome = self.call(Op::Purge, |h| h.purge());
        self.absorb(Op::Purge, outcome, self.delete_policy(), || ())
    }

    /// The values of several keys, in the order of `keys`, in one round trip where the handler
    /// can.
    pub fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let _span = self.span(Op::GetMany, keys.first().copied().unwrap_or_default());
        let wires = self.wire_keys(keys.iter())?;
        let refs = wires.refs();
        let outcome = self.call(Op::GetMany, |h| h.get_many(&refs));
        let values = self.absorb(Op::GetMany, outcome, self.read_policy(), || {
            vec![None; keys.len()]
        })?;
        if values.len() != keys.len() {
            self.inner.stats.error(Op::GetMany);
            return Err(Error::Backend {
                backend: self.inner.label,
                source: format!(
                    "get_many returned {} values for {} keys",
                    values.len(),
                    keys.len()
                )
                .into(),
            });
        }
        keys.iter()
            .zip(values)
            .map(|(key, bytes)| self.decode(key, bytes))
            .collect()
    }

    /// Stores several entries for the section's `expire_time`, in one round trip where the
    /// handler can.
    pub fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        let _span = self.span(
            Op::SetMany,
            entries.first().map(|e| e.0).unwrap_or_default(),
        );
        let wires = self.wire_keys(entries.iter().map(|(key, _)| key))?;
        let mut values = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let bytes = codec::encode(key, value)?;
            self.inner.stats.written(bytes.len());
            values.push(bytes);
        }
        let pairs: Vec<(&str, &[u8])> = wires
            .refs()
            .into_iter()
            .zip(&values)
            .map(|(w, v)| (w, v.as_slice()))
            .collect();
        let outcome = self.call(Op::SetMany, |h| h.set_many(&pairs, self.inner.default_ttl));
        self.absorb(Op::SetMany, outcome, self.write_policy(), || ())
    }

    /// Removes several keys; returns how many were there.
    pub fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        let _span = self.span(Op::DeleteMany, keys.first().copied().unwrap_or_default());
        let wires = self.wire_keys(keys.iter())?;
        let refs = wires.refs();
        let outcome = self.call(Op::DeleteMany, |h| h.delete_many(&refs));
        self.absorb(Op::DeleteMany, outcome, self.delete_policy(), || 0)
    }

    /// The wire keys of a batch, all in one buffer (one allocation instead of one per key).
    fn wire_keys<K: AsRef<str>>(&self, keys: impl Iterator<Item = K>) -> Result<WireKeys> {
        let mut batch = WireKeys::default();
        let mut one = String::new();
        for key in keys {
            self.inner
                .rules
                .write_wire_key(&self.inner.prefix, key.as_ref(), &mut one)?;
            let start = batch.text.len();
            batch.text.push_str(&one);
            batch.ends.push((start, batch.text.len()));
        }
        Ok(batch)
    }

    /// The value under `key`; on a miss, `compute` makes it, it is stored for `ttl` (`None`:
    /// the section's `expire_time`) and returned. Concurrent callers in this process that miss
    /// the same key wait for one computation instead of all running it (single-flight). An
    /// error from `compute` is returned and nothing is stored.
    ///
    /// With `lease_time` (seconds) set in the handler section and a handler with native `add`,
    /// separate processes coordinate as well: the caller that `add`s the lease key
    /// `"#~lease:" + prefix + key` computes; the others poll for the value until the lease
    /// would expire, then compute themselves.
    ///
    /// ```
    /// use cement::cache::{Cache, MemoryCacheHandler};
    ///
    /// let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
    /// let report: Vec<u32> = cache.get_or_set_with("report", None, || Ok(vec![1, 2, 3]))?;
    /// let again: Vec<u32> = cache.get_or_set_with("report", None, || unreachable!("cached"))?;
    /// assert_eq!(report, again);
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn get_or_set_with<T, F>(&self, key: &str, ttl: Option<Duration>, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        self.inner.stats.call(Op::GetOrSetWith);
        let ttl = match ttl {
            Some(ttl) => Some(nonzero(ttl)?),
            None => self.inner.default_ttl,
        };
        if let Some(value) = self.get(key)? {
            return Ok(value);
        }
        self.inner.flights.run(key, || {
            // Whoever held the flight before us may have stored the value.
            if let Some(value) = self.get(key)? {
                return Ok(value);
            }
            match self.inner.lease_time {
                Some(lease_time) if self.inner.capabilities.add => {
                    self.compute_under_lease(key, ttl, lease_time, compute)
                }
                _ => self.compute_and_store(key, ttl, compute),
            }
        })
    }

    fn compute_and_store<T, F>(&self, key: &str, ttl: Option<Duration>, compute: F) -> Result<T>
    where
        T: Serialize,
        F: FnOnce() -> Result<T>,
    {
        self.inner.stats.call(Op::Compute);
        let value = compute().inspect_err(|_| self.inner.stats.error(Op::Compute))?;
        self.store(Op::Set, key, &value, ttl)?;
        Ok(value)
    }

    /// Cross-process single-flight: the caller that `add`s the lease key computes; the others
    /// poll for the value until the lease would have expired, then compute themselves (the
    /// holder may have died). A lease the backend cannot take does not stop the computation.
    fn compute_under_lease<T, F>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        lease_time: Duration,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Result<T>,
    {
        // The lease lives outside the prefix, where no user key can land (with a non-empty
        // prefix): "#~lease:" + prefix + key.
        let lease_key = format!("#~lease:{}{key}", self.inner.prefix);
        let lease = self.inner.rules.wire_key("", &lease_key)?;
        let taken = self.call(Op::Add, |h| h.add(&lease, b"1", Some(lease_time)));
        match taken {
            Ok(true) => {
                let outcome = self.compute_and_store(key, ttl, compute);
                if let Err(error) = self.call(Op::Delete, |h| h.delete(&lease)) {
                    tracing::debug!(handler = self.inner.label, %error, "releasing a stampede lease failed; it expires by itself");
                }
                outcome
            }
            Ok(false) => {
                let deadline = std::time::Instant::now() + lease_time;
                let mut pause = Duration::from_millis(10);
                while std::time::Instant::now() < deadline {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(std::time::Instant::now())),
                    );
                    if let Some(value) = self.get(key)? {
                        return Ok(value);
                    }
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                self.compute_and_store(key, ttl, compute)
            }
            Err(error) if is_backend_fault(&error) => {
                tracing::debug!(handler = self.inner.label, %error, "no stampede lease; computing without one");
                self.compute_and_store(key, ttl, compute)
            }
            Err(error) => Err(error),
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.inner.handler.close()
    }
}

/// Wire keys of a batch, stored end to end.
#[derive(Default)]
struct WireKeys {
    text: String,
    ends: Vec<(usize, usize)>,
}

impl WireKeys {
    fn refs(&self) -> Vec<&str> {
        self.ends
            .iter()
            .map(|&(start, end)| &self.text[start..end])
            .collect()
    }
}

fn nonzero(ttl: Duration) -> Result<Duration> {
    if ttl.is_zero() {
        Err(Error::InvalidArgument(
            "a zero ttl would expire the value at once; use `set` (with `expire_time = 0`) to store without expiry".into(),
        ))
    } else {
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCacheHandler;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A handler that fails every call with `Unavailable`, and counts the calls it saw.
    #[derive(Default)]
    struct Down(AtomicUsize);

    impl Down {
        fn fail<T>(&self) -> Result<T> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(Error::Unavailable {
                backend: "down",
                source: "connection refused".into(),
            })
        }
    }

    impl CacheHandler for Down {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>> {
            self.fail()
        }
        fn set(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<()> {
            self.fail()
        }
        fn delete(&self, _: &str) -> Result<bool> {
            self.fail()
        }
        fn purge(&self) -> Result<()> {
            self.fail()
        }
    }

    fn down_cache(configure: impl FnOnce(&mut Config)) -> Cache {
        let mut config = Config::with_sections(&["cache.down"]);
        config.set("cache.down", "prefix", "p:");
        config.set("cache.down", "expire_time", 0);
        configure(&mut config);
        Cache::from_config("down", Box::new(Down::default()), &config, "cache.down").unwrap()
    }

    fn calls(cache: &Cache) -> usize {
        cache.stats().ops.values().map(|o| o.calls as usize).sum()
    }

    #[test]
    fn default_policy_raises() {
        let cache = down_cache(|_| {});
        assert!(matches!(
            cache.get::<u8>("k"),
            Err(Error::Unavailable { .. })
        ));
        assert!(matches!(cache.set("k", &1), Err(Error::Unavailable { .. })));
        assert!(matches!(cache.delete("k"), Err(Error::Unavailable { .. })));
        let stats = cache.stats();
        assert_eq!(stats.total_errors(), 3);
        assert_eq!(stats.errors_absorbed, 0);
        assert_eq!(calls(&cache), 3);
    }

    #[test]
    fn policies_absorb_backend_faults_only() {
        let cache = down_cache(|c| {
            c.set("cache.down", "on_read_error", "miss");
            c.set("cache.down", "on_write_error", "drop");
            c.set("cache.down", "on_delete_error", "ignore");
        });
        assert_eq!(cache.get::<u8>("k").unwrap(), None);
        assert_eq!(cache.get_many::<u8>(&["a", "b"]).unwrap(), vec![None, None]);
        assert!(!cache.exists("k").unwrap());
        cache.set("k", &1).unwrap();
        assert!(!cache.delete("k").unwrap());
        cache.purge().unwrap();
        assert_eq!(cache.stats().errors_absorbed, 6);
        // A caller's mistake is never absorbed.
        assert!(matches!(
            cache.set_with_ttl("k", &1, Duration::ZERO),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            cache.add("k", &1),
            Err(Error::Unsupported {
                backend: "down",
                operation: "add"
            })
        ));
    }

    #[test]
    fn breaker_turns_an_outage_into_one_failure_per_cooldown() {
        let cache = down_cache(|c| {
            c.set("cache.down", "breaker_failures", 2);
            c.set("cache.down", "breaker_cooldown", 1.0);
            c.set("cache.down", "on_read_error", "miss");
        });
        for _ in 0..10 {
            assert_eq!(cache.get::<u8>("k").unwrap(), None);
        }
        let stats = cache.stats();
        assert_eq!(stats.breaker_rejections, 8, "{stats:?}");
        std::thread::sleep(Duration::from_millis(1100));
        let err = cache.set("k", &1).unwrap_err();
        assert!(
            err.to_string().contains("connection refused"),
            "the call after the cooldown reached the backend: {err}"
        );
        let err = cache.set("k", &1).unwrap_err();
        assert!(
            err.to_string()
                .contains("circuit breaker open after 2 consecutive failures"),
            "{err}"
        );
    }

    #[test]
    fn foreign_values_read_as_counted_misses() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "p:", None);
        cache
            .handler()
            .set("p:foreign", b"written by someone else", None)
            .unwrap();
        cache.set("text", "not a number").unwrap();
        assert_eq!(cache.get::<String>("foreign").unwrap(), None);
        assert_eq!(cache.get::<u64>("text").unwrap(), None);
        let stats = cache.stats();
        assert_eq!((stats.decode_errors, stats.misses, stats.hits), (2, 2, 0));
        let mut config = Config::with_sections(&["cache.memory"]);
        config.set("cache.memory", "prefix", "p:");
        config.set("cache.memory", "expire_time", 0);
        config.set("cache.memory", "on_decode_error", "raise");
        let strict = Cache::from_config(
            "memory",
            Box::new(MemoryCacheHandler::new(10)),
            &config,
            "cache.memory",
        )
        .unwrap();
        strict.set("text", "x").unwrap();
        assert!(matches!(
            strict.get::<u64>("text"),
            Err(Error::Codec { .. })
        ));
    }

    #[test]
    fn single_flight_computes_once() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
        let computed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let value: u64 = cache
                        .get_or_set_with("slow", None, || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            Ok(42)
                        })
                        .unwrap();
                    assert_eq!(value, 42);
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(cache.inner.flights.in_flight(), 0);
        let stats = cache.stats();
        assert_eq!(stats.ops["compute"].calls, 1);
        assert_eq!(stats.ops["get_or_set_with"].calls, 8);
    }

    #[test]
    fn a_failed_computation_stores_nothing() {
        let cache = Cache::new("memory", Box::new(MemoryCacheHandler::new(100)), "", None);
        let err = cache
            .get_or_set_with::<u8, _>("k", None, || Err(Error::InvalidArgument("no".into())))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert_eq!(cache.get::<u8>("k").unwrap(), None);
        assert_eq!(cache.get_or_set_with("k", None, || Ok(7u8)).unwrap(), 7);
    }

    /// Two caches over one store, as two processes over one server.
    struct Shared(Arc<MemoryCacheHandler>);

    impl CacheHandler for Shared {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
            self.0.set(key, value, ttl)
        }
        fn delete(&self, key: &str) -> Result<bool> {
            self.0.delete(key)
        }
        fn purge(&self) -> Result<()> {
            self.0.purge()
        }
        fn capabilities(&self) -> Capabilities {
            self.0.capabilities()
        }
        fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
            self.0.add(key, value, ttl)
        }
    }

    #[test]
    fn a_lease_keeps_separate_processes_from_stampeding() {
        let store = Arc::new(MemoryCacheHandler::new(100));
        let process = || {
            let mut config = Config::with_sections(&["cache.memory"]);
            config.set("cache.memory", "prefix", "app:");
            config.set("cache.memory", "expire_time", 0);
            config.set("cache.memory", "lease_time", 5);
            Cache::from_config(
                "memory",
                Box::new(Shared(Arc::clone(&store))),
                &config,
                "cache.memory",
            )
            .unwrap()
        };
        let caches: Vec<Cache> = (0..4).map(|_| process()).collect();
        let computed = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for cache in &caches {
                let computed = &computed;
                s.spawn(move || {
                    let value: String = cache
                        .get_or_set_with("report", None, || {
                            computed.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(150));
                            Ok("done".to_string())
                        })
                        .unwrap();
                    assert_eq!(value, "done");
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        // The lease was released, outside the prefix.
        assert_eq!(store.get("#~lease:app:report").unwrap(), None);
    }
}
