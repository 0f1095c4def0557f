//! The engine under the [`Cache`](super::Cache) facade: one call pipeline for every operation.
//! Keys become wire keys (prefix, key rules), values go through the codec, each handler call
//! passes the circuit breaker and is counted, and failures meet the section's policy.
//!
//! It never waits on a lock and never sleeps; the handler's own I/O aside, nothing in it
//! blocks. The waits a caller may need (single-flight, the stampede lease) belong to the face
//! that offers them (`get_or_set_with`), so the async face (`async_engine.rs`,
//! feature `tokio`) sits on this same engine and waits its own way: it shares the breaker
//! ([`admit`](Engine::admit) / [`settle`](Engine::settle)), the policy, the codec and the
//! counters, and moves only the handler call itself onto tokio's blocking pool.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;
use super::key;
use super::policy::{is_backend_fault, OnDecode, OnDelete, OnRead, OnWrite, Policy};
use super::redact::{loggable, KeyLog};
use super::settings::CacheSettings;
use super::stats::{Counters, Op};
use super::{CacheHandler, Capabilities, KeyRules};
use crate::{Error, Result};

/// A handler with its section's settings and the cache's counters.
pub(super) struct Engine {
    pub(super) handler: Box<dyn CacheHandler>,
    pub(super) label: &'static str,
    pub(super) prefix: String,
    /// Whether `prefix` is [`key::plain_prefix`]: checked once here, not with every key.
    pub(super) prefix_is_plain: bool,
    pub(super) default_ttl: Option<Duration>,
    pub(super) rules: KeyRules,
    pub(super) capabilities: Capabilities,
    policy: Policy,
    pub(super) stats: Counters,
    pub(super) log_keys: bool,
    /// Cross-process stampede lease for `get_or_set_with` (`lease_time`); `None`: off.
    pub(super) lease_time: Option<Duration>,
    /// The codec and compression values are written with (`codec`, `compress_above`).
    format: codec::Format,
    /// Whether the handler's calls can block ([`CacheHandler::blocks`]).
    #[cfg(feature = "tokio")]
    pub(super) blocks: bool,
    /// How many calls of the async face may be on the blocking pool at once.
    #[cfg(feature = "tokio")]
    pub(super) async_blocking_limit: usize,
}

impl Engine {
    pub(super) fn new(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        settings: CacheSettings,
    ) -> Self {
        let CacheSettings {
            prefix,
            default_ttl,
            policy,
            log_keys,
            lease_time,
            async_blocking_limit,
            format,
        } = settings;
        // Read (and range-checked) with the other keys either way; only the async face uses it.
        #[cfg(not(feature = "tokio"))]
        let _ = async_blocking_limit;
        Engine {
            rules: handler.key_rules(),
            prefix_is_plain: key::plain_prefix(&prefix),
            capabilities: handler.capabilities(),
            #[cfg(feature = "tokio")]
            blocks: handler.blocks(),
            #[cfg(feature = "tokio")]
            async_blocking_limit: async_blocking_limit.to_usize(),
            handler,
            label,
            prefix,
            default_ttl,
            policy,
            stats: Counters::default(),
            log_keys,
            lease_time,
            format,
        }
    }

    /// `value` encoded as this cache writes values (its codec and compression).
    pub(super) fn encode<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<Vec<u8>> {
        codec::encode_with(self.format, key, value)
    }

    /// Runs `f` with `value` encoded as this cache writes values, counted as written. The
    /// bytes are written in a per-thread buffer kept from call to call, so that a `set` does
    /// not allocate (and free) a buffer of its own; a fresh one while that buffer is in use (a
    /// handler calling back in). `f` is synchronous: the buffer is never held across an
    /// `.await`.
    fn with_encoded<V: Serialize + ?Sized, R>(
        &self,
        key: &str,
        value: &V,
        f: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<R> {
        thread_local! {
            static ENCODED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
        }
        // Taken out of the thread's slot for the call (which leaves an empty `Vec` there for a
        // nested call, or on a thread that is ending) and put back after.
        let mut buffer = ENCODED.try_with(Cell::take).unwrap_or_default();
        if buffer.capacity() == 0 {
            buffer.reserve(codec::INITIAL_CAPACITY);
        }
        let outcome = codec::encode_into(self.format, key, value, &mut buffer).and_then(|start| {
            let bytes = &buffer[start..];
            self.stats.written(bytes.len());
            f(bytes)
        });
        // A value far larger than usual is not kept for the thread's lifetime.
        if buffer.capacity() <= KEPT_BUFFER {
            let _ = ENCODED.try_with(|cell| cell.set(buffer));
        }
        outcome
    }

    /// The codec this cache writes values with.
    pub(super) fn codec(&self) -> codec::Codec {
        self.format.codec
    }

    pub(super) fn wire_key<'k>(&self, key: &'k str) -> Result<Cow<'k, str>> {
        self.rules.wire_key(&self.prefix, key)
    }

    /// Runs `f` with `key`'s wire key, built in a per-thread buffer to spare an allocation per
    /// call (a fresh `String` if the buffer is in use, e.g. by a handler calling back in). `f`
    /// is synchronous, so the buffer is never held across an `.await`.
    fn with_wire<R>(&self, key: &str, f: impl FnOnce(&str) -> Result<R>) -> Result<R> {
        thread_local! {
            static WIRE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        WIRE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                self.rules
                    .write_wire_key(&self.prefix, self.prefix_is_plain, key, &mut buffer)?;
                let outcome = f(&buffer);
                if buffer.capacity() > 4096 {
                    *buffer = String::new();
                }
                outcome
            }
            Err(_) => f(&self.wire_key(key)?),
        })
    }

    /// The wire keys of a batch, all in one buffer (one allocation instead of one per key).
    pub(super) fn wire_keys<K: AsRef<str>>(
        &self,
        keys: impl Iterator<Item = K> + Clone,
    ) -> Result<WireKeys> {
        let keys = keys.into_iter();
        let (count, text) = keys
            .clone()
            .fold((0, 0), |(n, len), key| (n + 1, len + key.as_ref().len()));
        let mut batch = WireKeys {
            // At their size, unless some key is mapped (one that is grows it).
            text: String::with_capacity(text + count * self.prefix.len()),
            ends: Vec::with_capacity(count),
        };
        for key in keys {
            let start = batch.text.len();
            self.rules.append_wire_key(
                &self.prefix,
                self.prefix_is_plain,
                key.as_ref(),
                &mut batch.text,
            )?;
            batch.ends.push((start, batch.text.len()));
        }
        Ok(batch)
    }

    /// The entered `cache` span of a call; `None` (nothing built, entered or exited) when no
    /// subscriber takes `DEBUG`, which is what `debug_span!` checks first too.
    fn span(&self, op: Op, key: &str) -> Option<tracing::span::EnteredSpan> {
        self.traces().then(|| self.span_of(op, key).entered())
    }

    /// Whether a subscriber may want the `cache` spans (a debug level is enabled somewhere):
    /// when none does, a call skips building its span and, on the async face, instrumenting
    /// its future with it.
    #[inline]
    pub(super) fn traces(&self) -> bool {
        tracing::Level::DEBUG <= tracing::level_filters::LevelFilter::current()
    }

    /// The `cache` span of a call, not entered (the async face instruments a future with it).
    pub(super) fn span_of(&self, op: Op, key: &str) -> tracing::Span {
        tracing::debug_span!(
            "cache",
            op = op.name(),
            handler = self.label,
            key = %KeyLog { key, full: self.log_keys }
        )
    }

    /// Calls the handler through the circuit breaker, counting the call and its failure.
    pub(super) fn call<R>(
        &self,
        op: Op,
        f: impl FnOnce(&dyn CacheHandler) -> Result<R>,
    ) -> Result<R> {
        self.admit(op)?;
        self.settle(op, f(self.handler.as_ref()))
    }

    /// Counts a call of `op` and asks the circuit breaker: `Err` (counted as a failure of
    /// `op`) while it is open. Each call it lets through must be [`settle`](Self::settle)d.
    #[inline]
    pub(super) fn admit(&self, op: Op) -> Result<()> {
        self.stats.call(op);
        let Some(breaker) = &self.policy.breaker else {
            return Ok(());
        };
        breaker.check().map_err(|left| {
            self.stats.breaker_rejection();
            self.stats.error(op);
            Error::Unavailable {
                backend: self.label,
                source: format!(
                    "circuit breaker open after {} consecutive failures; calls go through again in {:.1} s",
                    breaker.threshold(),
                    left.as_secs_f64()
                )
                .into(),
            }
        })
    }

    /// Records the outcome of a call that [`admit`](Self::admit) let through with the breaker
    /// and the counters.
    #[inline]
    pub(super) fn settle<R>(&self, op: Op, outcome: Result<R>) -> Result<R> {
        if let Some(breaker) = &self.policy.breaker {
            breaker.record(&outcome);
        }
        if outcome.is_err() {
            self.stats.error(op);
        }
        outcome
    }

    /// Applies a policy: a backend fault becomes `fallback` when `absorb` is set.
    pub(super) fn absorb<R>(
        &self,
        op: Op,
        outcome: Result<R>,
        absorb: bool,
        fallback: impl FnOnce() -> R,
    ) -> Result<R> {
        match outcome {
            Err(error) if absorb && is_backend_fault(&error) => {
                self.stats.absorbed();
                tracing::warn!(op = op.name(), handler = self.label, error = %loggable(&error, self.log_keys), "cache error absorbed by policy");
                Ok(fallback())
            }
            Err(error) => {
                tracing::debug!(op = op.name(), handler = self.label, error = %loggable(&error, self.log_keys), "cache call failed");
                Err(error)
            }
            ok => ok,
        }
    }

    /// `on_read_error = "miss"`: reads that fail read as misses.
    #[inline]
    pub(super) fn absorbs_read_errors(&self) -> bool {
        self.policy.on_read == OnRead::Miss
    }

    /// `on_write_error = "drop"`: writes that fail are dropped.
    #[inline]
    pub(super) fn absorbs_write_errors(&self) -> bool {
        self.policy.on_write == OnWrite::Drop
    }

    /// `on_delete_error = "ignore"`: deletes that fail are ignored.
    #[inline]
    pub(super) fn absorbs_delete_errors(&self) -> bool {
        self.policy.on_delete == OnDelete::Ignore
    }

    /// Decodes a value the handler returned (the async face's `get`).
    #[cfg(feature = "tokio")]
    pub(super) fn decode<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: Option<Vec<u8>>,
    ) -> Result<Option<T>> {
        self.decoded(key, bytes.map(|b| (b.len(), codec::decode_owned(b))))
    }

    /// Counts and applies the decode policy to a value decoded from `len` bytes.
    pub(super) fn decoded<T>(
        &self,
        key: &str,
        decoded: Option<(usize, std::result::Result<T, codec::DecodeError>)>,
    ) -> Result<Option<T>> {
        let stats = &self.stats;
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
                stats.miss();
                self.undecodable(key, len, error)
            }
        }
    }

    /// Counts a value that did not decode and applies the decode policy to it: the error, or
    /// a miss (logged).
    fn undecodable<T>(
        &self,
        key: &str,
        len: usize,
        error: codec::DecodeError,
    ) -> Result<Option<T>> {
        self.stats.decode_error();
        if self.policy.on_decode == OnDecode::Raise {
            return Err(error.into_error::<T>(key, len));
        }
        // Neither the key nor the serde message (which can quote the value) is logged.
        tracing::warn!(
            handler = self.label,
            key = %KeyLog { key, full: self.log_keys },
            kind = error.kind(),
            expected = std::any::type_name::<T>(),
            bytes = len,
            "undecodable cache value read as a miss"
        );
        Ok(None)
    }

    pub(super) fn require(&self, supported: bool, operation: &'static str) -> Result<()> {
        if supported {
            Ok(())
        } else {
            Err(Error::Unsupported {
                backend: self.label,
                operation,
            })
        }
    }

    // The operations: what each one means is documented on the `Cache` method of that name.

    pub(super) fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
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
        if !self.absorb(Op::Get, outcome, self.absorbs_read_errors(), || false)? {
            decoded = None;
        }
        self.decoded(key, decoded)
    }

    pub(super) fn exists(&self, key: &str) -> Result<bool> {
        let _span = self.span(Op::Exists, key);
        let outcome = self.with_wire(key, |wire| self.call(Op::Exists, |h| h.exists(wire)));
        self.absorb(Op::Exists, outcome, self.absorbs_read_errors(), || false)
    }

    pub(super) fn set<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let _span = self.span(Op::Set, key);
        // An unencodable value is the caller's mistake, never absorbed: it fails before the
        // call (and before the wire key).
        let mut called = false;
        let outcome = self.with_encoded(key, value, |bytes| {
            called = true;
            self.with_wire(key, |wire| self.call(Op::Set, |h| h.set(wire, bytes, ttl)))
        });
        if !called {
            return outcome;
        }
        self.absorb(Op::Set, outcome, self.absorbs_write_errors(), || ())
    }

    pub(super) fn add<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let _span = self.span(Op::Add, key);
        self.require(self.capabilities.add, "add")?;
        self.with_wire(key, |wire| {
            self.with_encoded(key, value, |bytes| {
                self.call(Op::Add, |h| h.add(wire, bytes, ttl))
            })
        })
    }

    /// `incr` or `decr` (`op`), which `step` calls on the handler with the wire key and the
    /// section's TTL.
    pub(super) fn count(
        &self,
        op: Op,
        key: &str,
        step: impl FnOnce(&dyn CacheHandler, &str, Option<Duration>) -> Result<u64>,
    ) -> Result<u64> {
        let _span = self.span(op, key);
        self.require(self.capabilities.counters, op.name())?;
        self.with_wire(key, |wire| {
            self.call(op, |h| step(h, wire, self.default_ttl))
        })
    }

    pub(super) fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let _span = self.span(Op::Touch, key);
        self.require(self.capabilities.touch, "touch")?;
        let ttl = ttl.map(nonzero).transpose()?;
        let outcome = self.with_wire(key, |wire| self.call(Op::Touch, |h| h.touch(wire, ttl)));
        self.absorb(Op::Touch, outcome, self.absorbs_write_errors(), || false)
    }

    pub(super) fn delete(&self, key: &str) -> Result<bool> {
        let _span = self.span(Op::Delete, key);
        let outcome = self.with_wire(key, |wire| self.call(Op::Delete, |h| h.delete(wire)));
        self.absorb(Op::Delete, outcome, self.absorbs_delete_errors(), || false)
    }

    pub(super) fn purge(&self) -> Result<()> {
        let _span = self.span(Op::Purge, "");
        let outcome = self.call(Op::Purge, |h| h.purge());
        self.absorb(Op::Purge, outcome, self.absorbs_delete_errors(), || ())
    }

    pub(super) fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let _span = self.span(Op::GetMany, keys.first().copied().unwrap_or_default());
        let wires = self.wire_keys(keys.iter())?;
        let refs = wires.refs();
        let outcome = self.call(Op::GetMany, |h| h.get_many(&refs));
        let values = self.absorb(Op::GetMany, outcome, self.absorbs_read_errors(), || {
            vec![None; keys.len()]
        })?;
        self.decode_batch(keys, values)
    }

    /// Decodes the values a handler's `get_many` returned for `keys`; a handler that returned
    /// another number of values is a backend error.
    pub(super) fn decode_batch<T: DeserializeOwned>(
        &self,
        keys: &[&str],
        values: Vec<Option<Vec<u8>>>,
    ) -> Result<Vec<Option<T>>> {
        if values.len() != keys.len() {
            self.stats.error(Op::GetMany);
            return Err(Error::Backend {
                backend: self.label,
                source: format!(
                    "get_many returned {} values for {} keys",
                    values.len(),
                    keys.len()
                )
                .into(),
            });
        }
        // Counted once for the batch (and before an error returns), not key by key.
        let mut read = Read::default();
        let mut decode = |(bytes, key): (Option<Vec<u8>>, &&str)| {
            let value = bytes.map(|b| (b.len(), codec::decode_owned(b)));
            read.decoded(self, key, value)
        };
        let same_layout =
            std::alloc::Layout::new::<Option<T>>() == std::alloc::Layout::new::<Option<Vec<u8>>>();
        let decoded = if same_layout {
            // The results take the place of the bytes, in the same allocation (std collects
            // a `vec::IntoIter` in place where the layouts match, as a `String`'s does).
            values.into_iter().zip(keys).map(decode).collect()
        } else {
            // Allocated at its size (collecting into a `Result` would start from empty).
            let mut decoded = Vec::with_capacity(keys.len());
            values
                .into_iter()
                .zip(keys)
                .try_for_each(|pair| decode(pair).map(|value| decoded.push(value)))
                .map(|()| decoded)
        };
        read.count(&self.stats);
        decoded
    }

    pub(super) fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        let _span = self.span(
            Op::SetMany,
            entries.first().map(|e| e.0).unwrap_or_default(),
        );
        let (wires, values) = self.encode_batch(entries)?;
        let pairs: Vec<(&str, &[u8])> = wires
            .refs()
            .into_iter()
            .zip(&values)
            .map(|(w, v)| (w, v.as_slice()))
            .collect();
        let outcome = self.call(Op::SetMany, |h| h.set_many(&pairs, self.default_ttl));
        self.absorb(Op::SetMany, outcome, self.absorbs_write_errors(), || ())
    }

    /// The wire keys and encoded values of a `set_many` batch, counted as written.
    pub(super) fn encode_batch<V: Serialize>(
        &self,
        entries: &[(&str, V)],
    ) -> Result<(WireKeys, Vec<Vec<u8>>)> {
        let wires = self.wire_keys(entries.iter().map(|(key, _)| key))?;
        let mut values = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let bytes = self.encode(key, value)?;
            self.stats.written(bytes.len());
            values.push(bytes);
        }
        Ok((wires, values))
    }

    /// The TTL of `get_or_set_with`: `ttl` (never zero), or the section's `expire_time`.
    pub(super) fn compute_ttl(&self, ttl: Option<Duration>) -> Result<Option<Duration>> {
        match ttl {
            Some(ttl) => Some(nonzero(ttl)).transpose(),
            None => Ok(self.default_ttl),
        }
    }

    pub(super) fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        let _span = self.span(Op::DeleteMany, keys.first().copied().unwrap_or_default());
        let wires = self.wire_keys(keys.iter())?;
        let refs = wires.refs();
        let outcome = self.call(Op::DeleteMany, |h| h.delete_many(&refs));
        self.absorb(Op::DeleteMany, outcome, self.absorbs_delete_errors(), || 0)
    }

    /// Runs `compute` (counted as `compute`) and stores its value for `ttl`; an error from
    /// `compute` stores nothing.
    pub(super) fn compute_and_store<T, F>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize,
        F: FnOnce() -> Result<T>,
    {
        self.stats.call(Op::Compute);
        let value = compute().inspect_err(|_| self.stats.error(Op::Compute))?;
        self.set(key, &value, ttl)?;
        Ok(value)
    }
}

/// What a batch read counted, added to the cache's counters once for the batch.
#[derive(Default)]
struct Read {
    hits: u64,
    misses: u64,
    bytes: u64,
}

impl Read {
    /// [`Engine::decoded`], tallied here instead of in the counters.
    fn decoded<T>(
        &mut self,
        engine: &Engine,
        key: &str,
        decoded: Option<(usize, std::result::Result<T, codec::DecodeError>)>,
    ) -> Result<Option<T>> {
        match decoded {
            None => {
                self.misses += 1;
                Ok(None)
            }
            Some((len, Ok(value))) => {
                self.hits += 1;
                self.bytes += len as u64;
                Ok(Some(value))
            }
            Some((len, Err(error))) => {
                self.misses += 1;
                engine.undecodable(key, len, error)
            }
        }
    }

    fn count(&self, stats: &Counters) {
        stats.read(self.hits, self.misses, self.bytes);
    }
}

/// The largest encode buffer a thread keeps between calls (bytes of capacity).
const KEPT_BUFFER: usize = 64 * 1024;

/// Wire keys of a batch, stored end to end.
#[derive(Default)]
pub(super) struct WireKeys {
    text: String,
    ends: Vec<(usize, usize)>,
}

impl WireKeys {
    pub(super) fn refs(&self) -> Vec<&str> {
        self.ends
            .iter()
            .map(|&(start, end)| &self.text[start..end])
            .collect()
    }
}

/// `ttl` itself, or an [`Error::InvalidArgument`] if it is zero (which would not mean "never").
pub(super) fn nonzero(ttl: Duration) -> Result<Duration> {
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
    use crate::Config;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

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

    /// An engine over `handler`, with the section `cache.<label>` that `configure` fills.
    fn engine(
        label: &'static str,
        handler: Box<dyn CacheHandler>,
        configure: impl FnOnce(&mut Config, &str),
    ) -> Engine {
        let section = format!("cache.{label}");
        let mut config = Config::with_sections(&[&section]);
        config.set(&section, "prefix", "p:");
        config.set(&section, "expire_time", 0);
        configure(&mut config, &section);
        let settings = CacheSettings::from_config(&config, &section).unwrap();
        Engine::new(label, handler, settings)
    }

    fn down(configure: impl FnOnce(&mut Config, &str)) -> Engine {
        engine("down", Box::new(Down::default()), configure)
    }

    fn calls(engine: &Engine) -> usize {
        engine
            .stats
            .snapshot()
            .ops
            .values()
            .map(|o| o.calls as usize)
            .sum()
    }

    #[test]
    fn a_batch_counts_what_it_read_and_stops_at_a_raised_decode_error() {
        for raise in [false, true] {
            let engine = engine("memory", Box::new(MemoryCacheHandler::new(100)), |c, s| {
                c.set(s, "on_decode_error", if raise { "raise" } else { "miss" });
            });
            let text = "a value that is a plain JSON string, longer than sixteen bytes";
            engine.set("a", text, None).unwrap();
            engine.set("b", "x", None).unwrap();
            engine.set("n", &7u8, None).unwrap();
            let stored = |key| engine.encode(key, text).unwrap().len() as u64;
            let strings = || vec![Some(text.to_string()), None, Some("x".to_string())];
            let got = engine.get_many::<String>(&["a", "none", "b"]).unwrap();
            assert_eq!(got, strings());
            // A type of another layout than the bytes' (decoded into a vector of its own).
            let numbers = engine.get_many::<u8>(&["n", "none"]).unwrap();
            assert_eq!(numbers, vec![Some(7), None]);
            let stats = engine.stats.snapshot();
            assert_eq!((stats.hits, stats.misses), (3, 2));
            assert_eq!(stats.bytes_read, stored("a") + 6 + 1);
            // "n" holds a number, not a String; "a" is not a u8.
            let strings_outcome = engine.get_many::<String>(&["a", "n", "b"]);
            let numbers_outcome = engine.get_many::<u8>(&["n", "a", "n"]);
            let stats = engine.stats.snapshot();
            assert_eq!(stats.decode_errors, 2);
            if raise {
                assert!(matches!(strings_outcome, Err(Error::Codec { .. })));
                assert!(matches!(numbers_outcome, Err(Error::Codec { .. })));
                // What was read before each error is counted; what follows is never decoded.
                assert_eq!((stats.hits, stats.misses), (5, 4));
            } else {
                assert_eq!(strings_outcome.unwrap(), strings());
                assert_eq!(numbers_outcome.unwrap(), vec![Some(7), None, Some(7)]);
                assert_eq!((stats.hits, stats.misses), (7, 4));
            }
        }
    }

    #[test]
    fn default_policy_raises() {
        let engine = down(|_, _| {});
        assert!(matches!(
            engine.get::<u8>("k"),
            Err(Error::Unavailable { .. })
        ));
        assert!(matches!(
            engine.set("k", &1, None),
            Err(Error::Unavailable { .. })
        ));
        assert!(matches!(engine.delete("k"), Err(Error::Unavailable { .. })));
        let stats = engine.stats.snapshot();
        assert_eq!(stats.total_errors(), 3);
        assert_eq!(stats.errors_absorbed, 0);
        assert_eq!(calls(&engine), 3);
    }

    #[test]
    fn policies_absorb_backend_faults_only() {
        let engine = down(|c, section| {
            c.set(section, "on_read_error", "miss");
            c.set(section, "on_write_error", "drop");
            c.set(section, "on_delete_error", "ignore");
        });
        assert_eq!(engine.get::<u8>("k").unwrap(), None);
        assert_eq!(
            engine.get_many::<u8>(&["a", "b"]).unwrap(),
            vec![None, None]
        );
        assert!(!engine.exists("k").unwrap());
        engine.set("k", &1, None).unwrap();
        assert!(!engine.delete("k").unwrap());
        engine.purge().unwrap();
        assert_eq!(engine.stats.snapshot().errors_absorbed, 6);
        // A caller's mistake is never absorbed.
        let mistake = Err(Error::InvalidArgument("a zero ttl".into()));
        assert!(matches!(
            engine.absorb(Op::Set, mistake, engine.absorbs_write_errors(), || ()),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            engine.add("k", &1, None),
            Err(Error::Unsupported {
                backend: "down",
                operation: "add"
            })
        ));
    }

    #[test]
    fn breaker_turns_an_outage_into_one_failure_per_cooldown() {
        let engine = down(|c, section| {
            c.set(section, "breaker_failures", 2);
            c.set(section, "breaker_cooldown", 1.0);
            c.set(section, "on_read_error", "miss");
        });
        for _ in 0..10 {
            assert_eq!(engine.get::<u8>("k").unwrap(), None);
        }
        let stats = engine.stats.snapshot();
        assert_eq!(stats.breaker_rejections, 8, "{stats:?}");
        std::thread::sleep(Duration::from_millis(1100));
        let err = engine.set("k", &1, None).unwrap_err();
        assert!(
            err.to_string().contains("connection refused"),
            "the call after the cooldown reached the backend: {err}"
        );
        let err = engine.set("k", &1, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("circuit breaker open after 2 consecutive failures"),
            "{err}"
        );
    }

    #[test]
    fn foreign_values_read_as_counted_misses() {
        let lenient = engine("memory", Box::new(MemoryCacheHandler::new(100)), |_, _| {});
        lenient
            .handler
            .set("p:foreign", b"written by someone else", None)
            .unwrap();
        lenient.set("text", "not a number", None).unwrap();
        assert_eq!(lenient.get::<String>("foreign").unwrap(), None);
        assert_eq!(lenient.get::<u64>("text").unwrap(), None);
        let stats = lenient.stats.snapshot();
        assert_eq!((stats.decode_errors, stats.misses, stats.hits), (2, 2, 0));
        let strict = engine(
            "memory",
            Box::new(MemoryCacheHandler::new(10)),
            |c, section| {
                c.set(section, "on_decode_error", "raise");
            },
        );
        strict.set("text", "x", None).unwrap();
        assert!(matches!(
            strict.get::<u64>("text"),
            Err(Error::Codec { .. })
        ));
    }

    #[test]
    fn a_handler_that_calls_back_in_gets_its_own_buffers() {
        // `set` hands the handler bytes from the per-thread encode buffer (and the wire key
        // from the per-thread key buffer); a handler that sets through another cache on the
        // same thread while holding them must get fresh buffers, not clobber these.
        struct Mirror {
            own: MemoryCacheHandler,
            other: crate::cache::Cache,
        }
        impl CacheHandler for Mirror {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
                self.own.get(key)
            }
            fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<()> {
                let long = "a longer value than the outer one, to overwrite its bytes".repeat(3);
                self.other.set(&format!("mirror-of-{key}"), &long)?;
                self.own.set(key, value, ttl)
            }
            fn delete(&self, key: &str) -> Result<bool> {
                self.own.delete(key)
            }
            fn purge(&self) -> Result<()> {
                self.own.purge()
            }
        }
        let other =
            crate::cache::Cache::new("memory", Box::new(MemoryCacheHandler::new(10)), "o:", None);
        let mirror = Mirror {
            own: MemoryCacheHandler::new(10),
            other: other.clone(),
        };
        let engine = engine("mirror", Box::new(mirror), |_, _| {});
        engine.set("k", "short", None).unwrap();
        assert_eq!(engine.get::<String>("k").unwrap().as_deref(), Some("short"));
        assert!(other
            .get::<String>("mirror-of-p:k")
            .unwrap()
            .is_some_and(|v| v.starts_with("a longer value")));
    }

    #[test]
    fn single_key_ops_share_one_key_path() {
        // Every single-key op sends the same wire key for the same key, mapped by the rules.
        struct Seen(Arc<Mutex<Vec<String>>>);
        impl CacheHandler for Seen {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
                self.0.lock().unwrap().push(key.into());
                Ok(None)
            }
            fn set(&self, key: &str, _: &[u8], _: Option<Duration>) -> Result<()> {
                self.0.lock().unwrap().push(key.into());
                Ok(())
            }
            fn delete(&self, key: &str) -> Result<bool> {
                self.0.lock().unwrap().push(key.into());
                Ok(false)
            }
            fn purge(&self) -> Result<()> {
                Ok(())
            }
            fn key_rules(&self) -> KeyRules {
                KeyRules::MEMCACHED
            }
            fn capabilities(&self) -> Capabilities {
                Capabilities::ALL
            }
            fn add(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool> {
                self.set(key, value, ttl).map(|()| true)
            }
            fn incr(&self, key: &str, _: u64, _: Option<Duration>) -> Result<u64> {
                self.get(key).map(|_| 1)
            }
            fn decr(&self, key: &str, _: u64, _: Option<Duration>) -> Result<u64> {
                self.get(key).map(|_| 0)
            }
            fn touch(&self, key: &str, _: Option<Duration>) -> Result<bool> {
                self.get(key).map(|_| true)
            }
        }
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = engine("seen", Box::new(Seen(Arc::clone(&sent))), |_, _| {});
        let key = "a key with spaces";
        let wire = seen.wire_key(key).unwrap().into_owned();
        assert_ne!(wire, format!("p:{key}"), "mapped by the memcached rules");
        seen.get::<u8>(key).unwrap();
        seen.exists(key).unwrap();
        seen.set(key, &1, None).unwrap();
        seen.add(key, &1, None).unwrap();
        seen.count(Op::Incr, key, |h, w, t| h.incr(w, 1, t))
            .unwrap();
        seen.count(Op::Decr, key, |h, w, t| h.decr(w, 1, t))
            .unwrap();
        seen.touch(key, None).unwrap();
        seen.delete(key).unwrap();
        assert_eq!(*sent.lock().unwrap(), vec![wire; 8]);
    }
}
