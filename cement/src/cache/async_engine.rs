//! The async face's call pipeline (feature `tokio`): the same [`Engine`] as the blocking
//! [`Cache`](super::Cache) — key mapping, codec, breaker, policy, counters, tracing — with only
//! the handler call moved off the task.
//!
//! * A handler with an [async side](super::CacheHandler::as_async) (an
//!   [`AsyncCacheHandler`]: the redis handler with `redis-async`, an `async_only` custom one)
//!   is awaited natively, on the calling task, between the same breaker check, key mapping,
//!   encoding before and decoding and policy after as any other call.
//! * A handler that [never blocks](super::CacheHandler::blocks) (memory) is called through the
//!   blocking engine's own operations, inline, on the calling task.
//! * Any other handler's calls run on tokio's blocking pool (`spawn_blocking`), at most
//!   `async_blocking_limit` of them per cache at once (a `tokio::sync::Semaphore`; the others
//!   wait without blocking). The breaker is asked and the key mapped and the value encoded
//!   before, on the task; the value is decoded and the policy applied after, on the task.
//!
//! **Cancellation.** A future dropped while its handler call is on the blocking pool does not
//! stop that call: it runs to completion on its blocking thread, the breaker and the counters
//! record its outcome there, and its result is dropped. So a connection is never abandoned
//! half-way through a request, and never answers the next caller with the previous caller's
//! reply. Dropping a future before its call started leaves nothing behind. A native call is
//! dropped with its future at its `.await`: its outcome reaches neither the breaker nor the
//! error counters (the call was counted), and the handler must keep its connection fit for the
//! next caller ([`AsyncCacheHandler`]'s contract; redis-rs's multiplexed connection matches
//! replies to requests in its driver task).

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::{Instrument, Span};

use super::engine::{nonzero, Engine};
use super::stats::Op;
use super::{AsyncCacheHandler, BoxFuture, CacheHandler, KeyRules};
use crate::{Error, Result};

/// Awaits `$call` inside `$span`; without a span, as it is: a future instrumented with a
/// disabled span still enters and exits it on every poll and is moved once more (~200
/// instructions per `get`). A macro, not an `async fn`: that would hold the call's future
/// twice over (as its argument and as what it awaits), doubling the caller's future.
macro_rules! within {
    ($span:expr, $call:expr) => {{
        let span: Span = $span;
        let call = $call;
        match span.is_none() {
            true => call.await,
            false => call.instrument(span).await,
        }
    }};
}

/// The engine, and the permits of its calls on the blocking pool.
#[derive(Clone)]
pub(super) struct AsyncEngine {
    pub(super) engine: Arc<Engine>,
    permits: Arc<Semaphore>,
}

impl AsyncEngine {
    pub(super) fn new(engine: Arc<Engine>) -> Self {
        let permits = Arc::new(Semaphore::new(engine.async_blocking_limit));
        AsyncEngine { engine, permits }
    }

    /// Calls the handler through the breaker, counting the call and its failure, off the task
    /// if the handler blocks.
    pub(super) async fn call<R: Send + 'static>(
        &self,
        op: Op,
        f: impl FnOnce(&dyn CacheHandler) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let engine = &self.engine;
        engine.admit(op)?;
        if !engine.blocks {
            return engine.settle(op, f(engine.handler.as_ref()));
        }
        // Not the backend's failure: counted, but kept from the breaker.
        let refused = |error| {
            engine.stats.error(op);
            Err(error)
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return refused(outside_runtime());
        };
        // Never closed, so acquiring only fails if it were.
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return refused(outside_runtime());
        };
        let shared = Arc::clone(engine);
        // The blocking call settles its own outcome, so a caller that stops waiting (a dropped
        // future) still leaves the breaker and the counters right.
        let call = runtime.spawn_blocking(move || {
            let _permit = permit;
            shared.settle(op, f(shared.handler.as_ref()))
        });
        match call.await {
            Ok(outcome) => outcome,
            Err(failure) => {
                engine.stats.error(op);
                Err(Error::Backend {
                    backend: engine.label,
                    source: format!("the handler's {} call panicked: {failure}", op.name()).into(),
                })
            }
        }
    }

    /// The handler's async side, if it has one.
    #[inline]
    fn native(&self) -> Option<&dyn AsyncCacheHandler> {
        self.engine.handler.as_async()
    }

    /// Awaits a native call through the breaker, counting the call and its failure.
    async fn native_call<R>(&self, op: Op, call: BoxFuture<'_, Result<R>>) -> Result<R> {
        let engine = &self.engine;
        engine.admit(op)?;
        // An async client's I/O needs the runtime's reactor: refuse rather than let the
        // client panic when the future is polled elsewhere.
        if !in_runtime() {
            engine.stats.error(op);
            return Err(outside_runtime());
        }
        engine.settle(op, call.await)
    }

    // The operations, in the order and with the meaning of the blocking engine's.

    pub(super) async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.get(key);
        }
        within!(self.span(Op::Get, key), async {
            let wire = self.wire(key)?;
            let outcome = match native {
                Some(h) => self.native_call(Op::Get, h.get(&wire)).await,
                None => self.call(Op::Get, move |h| h.get(&wire)).await,
            };
            let bytes = engine.absorb(Op::Get, outcome, engine.absorbs_read_errors(), || None)?;
            engine.decode(key, bytes)
        })
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.exists(key);
        }
        within!(self.span(Op::Exists, key), async {
            let wire = self.wire(key)?;
            let outcome = match native {
                Some(h) => self.native_call(Op::Exists, h.exists(&wire)).await,
                None => self.call(Op::Exists, move |h| h.exists(&wire)).await,
            };
            engine.absorb(Op::Exists, outcome, engine.absorbs_read_errors(), || false)
        })
    }

    pub(super) async fn set<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.set(key, value, ttl);
        }
        let span = self.span(Op::Set, key);
        let (wire, bytes) = span.in_scope(|| self.encode(key, value))?;
        within!(span, async {
            let outcome = match native {
                Some(h) => self.native_call(Op::Set, h.set(&wire, &bytes, ttl)).await,
                None => self.call(Op::Set, move |h| h.set(&wire, &bytes, ttl)).await,
            };
            engine.absorb(Op::Set, outcome, engine.absorbs_write_errors(), || ())
        })
    }

    pub(super) async fn add<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.add(key, value, ttl);
        }
        let span = self.span(Op::Add, key);
        let (wire, bytes) = span.in_scope(|| {
            engine.require(engine.capabilities.add, "add")?;
            self.encode(key, value)
        })?;
        match native {
            Some(h) => within!(span, self.native_call(Op::Add, h.add(&wire, &bytes, ttl))),
            None => {
                let call = self.call(Op::Add, move |h| h.add(&wire, &bytes, ttl));
                within!(span, call)
            }
        }
    }

    /// The `cache` span of a call, or none (nothing built) when no subscriber takes `DEBUG`
    /// (`within!` then awaits the call as it is).
    #[inline]
    fn span(&self, op: Op, key: &str) -> Span {
        match self.engine.traces() {
            true => self.engine.span_of(op, key),
            false => Span::none(),
        }
    }

    /// `key`'s wire key, owned (a call's future holds it across its `.await`): in the future
    /// itself when it is sent as it is and short, else on the heap.
    #[inline]
    fn wire(&self, key: &str) -> Result<Wire> {
        Wire::new(
            &self.engine.rules,
            &self.engine.prefix,
            self.engine.prefix_is_plain,
            key,
        )
    }

    /// The wire key of `key` and `value` encoded (counted as written), owned, for a call that
    /// leaves the task.
    fn encode<V: Serialize + ?Sized>(&self, key: &str, value: &V) -> Result<(Wire, Vec<u8>)> {
        let wire = self.wire(key)?;
        let bytes = self.engine.encode(key, value)?;
        self.engine.stats.written(bytes.len());
        Ok((wire, bytes))
    }

    /// `incr` (`up`) or `decr` by `delta`, with the section's TTL for a new counter.
    pub(super) async fn count(&self, up: bool, key: &str, delta: u64) -> Result<u64> {
        let engine = &self.engine;
        let op = if up { Op::Incr } else { Op::Decr };
        let step = move |h: &dyn CacheHandler, wire: &str, ttl| match up {
            true => h.incr(wire, delta, ttl),
            false => h.decr(wire, delta, ttl),
        };
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.count(op, key, step);
        }
        let span = self.span(op, key);
        let wire = span.in_scope(|| {
            engine.require(engine.capabilities.counters, op.name())?;
            self.wire(key)
        })?;
        let ttl = engine.default_ttl;
        match native {
            Some(h) => {
                let call = match up {
                    true => h.incr(&wire, delta, ttl),
                    false => h.decr(&wire, delta, ttl),
                };
                within!(span, self.native_call(op, call))
            }
            None => within!(span, self.call(op, move |h| step(h, &wire, ttl))),
        }
    }

    pub(super) async fn touch(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.touch(key, ttl);
        }
        within!(self.span(Op::Touch, key), async {
            engine.require(engine.capabilities.touch, "touch")?;
            let ttl = ttl.map(nonzero).transpose()?;
            let wire = self.wire(key)?;
            let outcome = match native {
                Some(h) => self.native_call(Op::Touch, h.touch(&wire, ttl)).await,
                None => self.call(Op::Touch, move |h| h.touch(&wire, ttl)).await,
            };
            engine.absorb(Op::Touch, outcome, engine.absorbs_write_errors(), || false)
        })
    }

    pub(super) async fn delete(&self, key: &str) -> Result<bool> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.delete(key);
        }
        within!(self.span(Op::Delete, key), async {
            let wire = self.wire(key)?;
            let outcome = match native {
                Some(h) => self.native_call(Op::Delete, h.delete(&wire)).await,
                None => self.call(Op::Delete, move |h| h.delete(&wire)).await,
            };
            engine.absorb(Op::Delete, outcome, engine.absorbs_delete_errors(), || {
                false
            })
        })
    }

    pub(super) async fn purge(&self) -> Result<()> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.purge();
        }
        within!(self.span(Op::Purge, ""), async {
            let outcome = match native {
                Some(h) => self.native_call(Op::Purge, h.purge()).await,
                None => self.call(Op::Purge, |h| h.purge()).await,
            };
            engine.absorb(Op::Purge, outcome, engine.absorbs_delete_errors(), || ())
        })
    }

    pub(super) async fn get_many<T: DeserializeOwned>(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<T>>> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.get_many(keys);
        }
        within!(self.span(Op::GetMany, first(keys)), async {
            let wires = engine.wire_keys(keys.iter())?;
            let outcome = match native {
                Some(h) => {
                    let refs = wires.refs();
                    self.native_call(Op::GetMany, h.get_many(&refs)).await
                }
                None => {
                    self.call(Op::GetMany, move |h| h.get_many(&wires.refs()))
                        .await
                }
            };
            let values =
                engine.absorb(Op::GetMany, outcome, engine.absorbs_read_errors(), || {
                    vec![None; keys.len()]
                })?;
            engine.decode_batch(keys, values)
        })
    }

    pub(super) async fn set_many<V: Serialize>(&self, entries: &[(&str, V)]) -> Result<()> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.set_many(entries);
        }
        let span = self.span(
            Op::SetMany,
            entries.first().map(|e| e.0).unwrap_or_default(),
        );
        let (wires, values) = span.in_scope(|| engine.encode_batch(entries))?;
        let ttl = engine.default_ttl;
        within!(span, async {
            let outcome = match native {
                Some(h) => {
                    let refs = wires.refs();
                    let pairs = pairs_of(&refs, &values);
                    self.native_call(Op::SetMany, h.set_many(&pairs, ttl)).await
                }
                None => {
                    self.call(Op::SetMany, move |h| {
                        h.set_many(&pairs_of(&wires.refs(), &values), ttl)
                    })
                    .await
                }
            };
            engine.absorb(Op::SetMany, outcome, engine.absorbs_write_errors(), || ())
        })
    }

    pub(super) async fn delete_many(&self, keys: &[&str]) -> Result<usize> {
        let engine = &self.engine;
        let native = self.native();
        if native.is_none() && !engine.blocks {
            return engine.delete_many(keys);
        }
        within!(self.span(Op::DeleteMany, first(keys)), async {
            let wires = engine.wire_keys(keys.iter())?;
            let outcome = match native {
                Some(h) => {
                    let refs = wires.refs();
                    self.native_call(Op::DeleteMany, h.delete_many(&refs)).await
                }
                None => {
                    self.call(Op::DeleteMany, move |h| h.delete_many(&wires.refs()))
                        .await
                }
            };
            engine.absorb(
                Op::DeleteMany,
                outcome,
                engine.absorbs_delete_errors(),
                || 0,
            )
        })
    }

    /// Awaits `compute` (counted as `compute`) and stores its value for `ttl`; an error from
    /// `compute` stores nothing.
    pub(super) async fn compute_and_store<T, F, Fut>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        compute: F,
    ) -> Result<T>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let stats = &self.engine.stats;
        stats.call(Op::Compute);
        let value = compute().await.inspect_err(|_| stats.error(Op::Compute))?;
        self.set(key, &value, ttl).await?;
        Ok(value)
    }
}

/// How long a wire key [`Wire`] holds inline.
const INLINE: usize = 64;

/// An owned wire key: inline (a prefix and a key copied side by side, [`INLINE`] bytes at
/// most) or on the heap. Spares the allocation of a `String` in most calls.
enum Wire {
    Inline(Aligned, u8),
    Heap(String),
}

/// The inline bytes, word-aligned: `str::from_utf8` checks an aligned ASCII run a word at a
/// time, an unaligned one (the array right after the enum's tag) byte by byte, which cost
/// ~175 instructions per call on a 20-byte key against ~65.
#[repr(align(8))]
struct Aligned([u8; INLINE]);

impl Wire {
    /// `rules.wire_key(prefix, key)`, owned; `prefix_is_plain`: whether `prefix` is
    /// [`plain_prefix`](super::key::plain_prefix).
    #[inline]
    fn new(rules: &KeyRules, prefix: &str, prefix_is_plain: bool, key: &str) -> Result<Wire> {
        let len = prefix.len() + key.len();
        if len <= INLINE && rules.passes_after(prefix, prefix_is_plain, key) {
            let mut bytes = Aligned([0; INLINE]);
            bytes.0[..prefix.len()].copy_from_slice(prefix.as_bytes());
            bytes.0[prefix.len()..len].copy_from_slice(key.as_bytes());
            // `len <= INLINE`, which fits a u8.
            return Ok(Wire::Inline(bytes, len as u8));
        }
        Ok(Wire::Heap(rules.wire_key(prefix, key)?.into_owned()))
    }
}

impl std::ops::Deref for Wire {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        match self {
            // Two `str`s side by side are UTF-8, so this never falls back to "".
            Wire::Inline(bytes, len) => {
                std::str::from_utf8(&bytes.0[..usize::from(*len)]).unwrap_or_default()
            }
            Wire::Heap(wire) => wire,
        }
    }
}

/// The entries of a batch write, as the handlers take them.
fn pairs_of<'a>(wires: &[&'a str], values: &'a [Vec<u8>]) -> Vec<(&'a str, &'a [u8])> {
    wires
        .iter()
        .copied()
        .zip(values.iter().map(Vec::as_slice))
        .collect()
}

fn first<'k>(keys: &[&'k str]) -> &'k str {
    keys.first().copied().unwrap_or_default()
}

/// Whether the caller runs inside a tokio runtime. A task's id is set only while its runtime
/// polls it (and that runtime is entered): a thread-local read, where asking for the handle
/// clones the runtime's `Arc` (two atomic operations on a line all workers share, per call).
#[inline]
fn in_runtime() -> bool {
    tokio::task::try_id().is_some() || tokio::runtime::Handle::try_current().is_ok()
}

fn outside_runtime() -> Error {
    Error::InvalidArgument(
        "the async cache was called outside a tokio runtime; call it from a task (`#[tokio::main]`, `Runtime::block_on`) or use the blocking `app.cache()`".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owned_wire_key_is_the_wire_key_inline_or_not() {
        let long = "k".repeat(INLINE);
        for rules in [KeyRules::ANY, KeyRules::MEMCACHED] {
            for (prefix, key) in [
                ("p:", "user:1"),
                ("", ""),
                ("p:", "ünï cödé"),
                ("p:", "with space"),
                ("p:", "#~marker"),
                ("p:", long.as_str()),
                ("", &long[..INLINE]),
            ] {
                let plain = crate::cache::key::plain_prefix(prefix);
                let wire = Wire::new(&rules, prefix, plain, key).unwrap();
                let expected = rules.wire_key(prefix, key).unwrap();
                assert_eq!(&*wire, &*expected, "{rules:?} {prefix:?} {key:?}");
            }
        }
        assert!(matches!(
            Wire::new(&KeyRules::ANY, "p:", true, "user:1").unwrap(),
            Wire::Inline(..)
        ));
        assert!(matches!(
            Wire::new(&KeyRules::ANY, "p:", true, &long).unwrap(),
            Wire::Heap(_)
        ));
    }
}
