//! One memcached server: its lazily built meta-protocol client, its namespace generation, and
//! the pipelined exchanges the handler runs on it.
//!
//! Every operation on a server is one round trip (one pipelined batch): a read sends
//! `mg <prefix>#~gen v` and `mg <key> v f` together and keeps the value only when the item's
//! client flags carry the current generation's stamp; a write sends `ms <key> F<stamp>` and
//! reads the generation back in the same batch, and stores again in the rare case that the
//! generation it stamped with was stale. See the [module docs](super#purge) for the semantics;
//! `add`, counters, `touch` and `exists` live in `atomic.rs`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use memcache::exp::{
    Arithmetic, Delete, Get, GetResult, GetStatus, MetaClient, MutationStatus, Op, OpResult,
    Router, Set,
};

use cement::Result;

use super::config::{HostSpec, PurgeMode};
use super::error::{classify, flush_failed, unexpected, unresolvable, ErrorContext};

mod atomic;

pub(crate) use atomic::Step;

/// Most commands in one pipelined batch. Keeps each exchange well inside the socket buffers
/// (so writing a batch can never stall on replies we have not read yet) and inside
/// `response_timeout`.
const MAX_BATCH: usize = 128;

/// Most value bytes in one pipelined batch of stores.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The router of a host's client, which only ever has this host's server: the handler picks
/// the server itself (`ring.rs`), so the client's default routing, which hashes every key and
/// every server's name per key (two SipHashes a key), would be work for nothing.
struct OneServer;

impl Router for OneServer {
    fn route(&self, _key: &[u8], _servers: &[String]) -> usize {
        0
    }
}

/// How often a store is repeated when the generation it stamped turns out to be stale.
const STAMP_ATTEMPTS: usize = 3;

/// memcached's per-item overhead in bytes, measured on memcached 1.6 (64-bit, CAS on): the item
/// header, the key's terminator and the data's `\r\n`, plus 4 bytes when the client flags are
/// not zero. An item fits when `value + key + overhead <= -I` (the item size limit).
const ITEM_OVERHEAD: usize = 59;
const FLAGS_OVERHEAD: usize = 4;

/// The client flags stamp of values stored in `purge = "server"` mode (no generation).
const SERVER_MODE_STAMP: u32 = 0;

/// Settings every server of a handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) purge: PurgeMode,
    /// `<prefix>#~gen`: the generation key. No facade key can be this: raw keys never contain
    /// cement's mapping marker `#~`, and mapped keys end in `#~` plus 32 hex digits.
    pub(crate) generation_key: Vec<u8>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) pool_size: usize,
    /// The server's item size limit (`max_value_size`).
    pub(crate) item_size_max: usize,
}

/// One server of the handler.
pub(crate) struct Host {
    spec: HostSpec,
    errors: ErrorContext,
    /// Built on first use, so that an app starts while its servers are down (or unresolvable).
    client: RwLock<Option<MetaClient>>,
    /// The last generation seen on this server; 0 = not known yet.
    generation: AtomicU64,
    /// Until when (milliseconds after `born`) counter steps probe before they increment,
    /// because one met a counter of an older generation (see `atomic.rs`).
    careful_until: AtomicU64,
    born: Instant,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("server", &self.errors.server)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The stamp that values of generation `generation` carry in their client flags: never 0
/// (that is the server-mode stamp), and different for consecutive generations.
pub(crate) fn stamp(generation: u64) -> u32 {
    // In 1..=u32::MAX.
    u32::try_from(generation % u64::from(u32::MAX)).unwrap_or(0) + 1
}

/// A fresh generation for a server that has none (first use, restart, flush, eviction):
/// random, so that values stamped before the generation was lost do not match it (a lost
/// generation is as good as a purge), and small enough that increments never wrap.
pub(crate) fn fresh_generation() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    (hasher.finish() >> 33) + 1
}

/// How large an item is on the server, for the item size limit.
pub(crate) fn item_size(key: &str, value: &[u8], flags: u32) -> usize {
    let flags_overhead = if flags == 0 { 0 } else { FLAGS_OVERHEAD };
    value.len() + key.len() + ITEM_OVERHEAD + flags_overhead
}

/// The largest value that fits under `key` (for error messages).
pub(crate) fn value_limit(key: &str, item_size_max: usize) -> usize {
    item_size_max.saturating_sub(key.len() + ITEM_OVERHEAD + FLAGS_OVERHEAD)
}

impl Host {
    pub(crate) fn new(spec: HostSpec, shared: &Shared) -> Host {
        Host {
            errors: ErrorContext {
                server: spec.to_string(),
                connect_timeout: shared.connect_timeout,
                response_timeout: shared.response_timeout,
            },
            spec,
            client: RwLock::new(None),
            generation: AtomicU64::new(0),
            careful_until: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// `host:port`.
    pub(crate) fn name(&self) -> &str {
        &self.errors.server
    }

    /// The client, built now if this is the first use (or the first since `close`).
    fn client(&self, shared: &Shared) -> Result<MetaClient> {
        if let Some(client) = self
            .client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok(client.clone());
        }
        let mut slot = self.client.write().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        // Resolves the address (no connection yet: the client dials on first use).
        let client = MetaClient::builder()
            .router(OneServer)
            .connect_timeout(Some(shared.connect_timeout))
            .io_timeout(Some(shared.response_timeout))
            .max_idle(shared.pool_size)
            .max_connections(Some(shared.pool_size))
            .connect(self.spec.socket_target())
            .map_err(|e| unresolvable(&self.errors, &e))?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drops the client and its idle connections; the next call builds a new one.
    pub(crate) fn close(&self) {
        self.client
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Runs one pipelined batch (one round trip); the first failed operation fails the batch.
    fn run(
        &self,
        shared: &Shared,
        ops: Vec<Op>,
        store: Option<(&str, usize)>,
    ) -> Result<Vec<OpResult>> {
        self.run_each(shared, ops, store)?
            .into_iter()
            .map(|r| r.map_err(|e| self.fail(shared, &e, store)))
            .collect()
    }

    /// Runs one pipelined batch (one round trip) and hands back each operation's own outcome,
    /// for exchanges where one command may be refused (an increment of a value that is not a
    /// number) while the replies before it still count.
    fn run_each(
        &self,
        shared: &Shared,
        ops: Vec<Op>,
        store: Option<(&str, usize)>,
    ) -> Result<Vec<std::result::Result<OpResult, memcache::exp::Error>>> {
        let client = self.client(shared)?;
        if ops.len() == 1 {
            // A lone command skips the batch machinery (opaque tokens and their checks).
            if let Some(op) = ops.into_iter().next() {
                return Ok(vec![client.run(op)]);
            }
            return Ok(Vec::new());
        }
        client
            .run_batch(ops)
            .map_err(|e| self.fail(shared, &e, store))
    }

    /// The cement error for a client error on this server; `store` is the key and size of
    /// the item being stored, if any (for a server-side "too large").
    fn fail(
        &self,
        shared: &Shared,
        err: &memcache::exp::Error,
        store: Option<(&str, usize)>,
    ) -> cement::Error {
        match store {
            Some((key, size)) => classify(
                err,
                &self.errors,
                Some(size),
                value_limit(key, shared.item_size_max),
            ),
            None => classify(err, &self.errors, None, shared.item_size_max),
        }
    }

    /// The generation this process last saw on the server, read (or created) now if none.
    fn known_generation(&self, shared: &Shared) -> Result<u64> {
        match self.generation.load(Ordering::Relaxed) {
            0 => self.ensure_generation(shared),
            known => Ok(known),
        }
    }

    fn get_result<'r>(&self, result: &'r OpResult) -> Result<&'r GetResult> {
        result
            .as_get()
            .ok_or_else(|| unexpected(&self.errors, "expected a get result"))
    }

    /// Reads the generation from a `mg <gen> v` result and remembers it; `None` on a miss.
    fn read_generation(&self, result: &OpResult) -> Result<Option<u64>> {
        self.generation_of(self.get_result(result)?)
    }

    /// [`read_generation`](Self::read_generation) of a typed get result.
    fn generation_of(&self, get: &GetResult) -> Result<Option<u64>> {
        if get.status != GetStatus::Hit {
            self.generation.store(0, Ordering::Relaxed);
            return Ok(None);
        }
        let generation = get
            .value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| unexpected(&self.errors, "the namespace generation is not a number"))?;
        self.generation.store(generation, Ordering::Relaxed);
        Ok(Some(generation))
    }

    /// The generation on the server, created (randomly) if it has none.
    fn ensure_generation(&self, shared: &Shared) -> Result<u64> {
        let ops = vec![
            Op::Set(
                Set::new(&shared.generation_key, fresh_generation().to_string())
                    .add()
                    .ttl_raw(0),
            ),
            Op::Get(Get::new(&shared.generation_key)),
        ];
        let results = self.run(shared, ops, None)?;
        match results.get(1).map(|r| self.read_generation(r)).transpose()?.flatten() {
            Some(generation) => Ok(generation),
            None => Err(unexpected(
                &self.errors,
                "the namespace generation vanished right after it was created (is the server out of memory?)",
            )),
        }
    }

    /// The values of `keys` (all routed to this server), in order.
    pub(crate) fn get_many(&self, shared: &Shared, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH) {
            values.extend(self.get_chunk(shared, chunk)?);
        }
        Ok(values)
    }

    fn get_chunk(&self, shared: &Shared, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let with_generation = shared.purge == PurgeMode::Prefix;
        let mut gets = Vec::with_capacity(keys.len() + 1);
        if with_generation {
            gets.push(Get::new(&shared.generation_key));
        }
        gets.extend(keys.iter().map(Get::new));
        let mut results = self.run_gets(shared, gets)?.into_iter();
        let expected = if with_generation {
            let first = results
                .next()
                .ok_or_else(|| unexpected(&self.errors, "missing replies"))?;
            match self.generation_of(&first)? {
                Some(generation) => stamp(generation),
                // No generation: whatever is stored predates it, so every key is a miss.
                None => return Ok(vec![None; keys.len()]),
            }
        } else {
            SERVER_MODE_STAMP
        };
        Ok(results
            .map(|get| {
                let current =
                    get.status == GetStatus::Hit && get.client_flags.unwrap_or(0) == expected;
                if current {
                    get.value.map(unpad_counter)
                } else {
                    None
                }
            })
            .collect())
    }

    /// Runs `gets` in one pipelined batch (one round trip), typed: the client's multiget
    /// without the [`Op`] wrapping of [`run`](Self::run). The first failed get fails the batch.
    fn run_gets(&self, shared: &Shared, gets: Vec<Get>) -> Result<Vec<GetResult>> {
        let client = self.client(shared)?;
        let fail = |e: memcache::exp::Error| self.fail(shared, &e, None);
        if gets.len() == 1 {
            // A lone command skips the batch machinery (opaque tokens and their checks).
            return gets
                .into_iter()
                .map(|get| client.run(get).map_err(fail))
                .collect();
        }
        client
            .run_many(gets)
            .map_err(fail)?
            .into_iter()
            .map(|r| r.map_err(fail))
            .collect()
    }

    /// Stores `entries` (all routed to this server) with the wire TTL `ttl`.
    pub(crate) fn set_many(
        &self,
        shared: &Shared,
        entries: &[(&str, &[u8])],
        ttl: u32,
    ) -> Result<()> {
        let mut start = 0;
        while start < entries.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < entries.len()
                && end - start < MAX_BATCH
                && (end == start || bytes < MAX_BATCH_BYTES)
            {
                bytes += entries[end].1.len();
                end += 1;
            }
            self.set_chunk(shared, &entries[start..end], ttl)?;
            start = end;
        }
        Ok(())
    }

    fn set_chunk(&self, shared: &Shared, entries: &[(&str, &[u8])], ttl: u32) -> Result<()> {
        if shared.purge == PurgeMode::Server {
            let ops = store_ops(entries, ttl, SERVER_MODE_STAMP);
            let results = self.run(shared, ops, largest(entries))?;
            return self.check_stored(&results);
        }
        let mut generation = self.known_generation(shared)?;
        for attempt in 1..=STAMP_ATTEMPTS {
            let mut ops = store_ops(entries, ttl, stamp(generation));
            ops.push(Op::Get(Get::new(&shared.generation_key)));
            let results = self.run(shared, ops, largest(entries))?;
            let (last, stores) = results
                .split_last()
                .ok_or_else(|| unexpected(&self.errors, "missing replies"))?;
            self.check_stored(stores)?;
            match self.read_generation(last)? {
                // Read after the stores, in the same batch: the stamp was current.
                Some(now) if stamp(now) == stamp(generation) => return Ok(()),
                // Our generation was stale (another process purged): store again, stamped right.
                Some(now) => generation = now,
                // The server lost its generation (restart, flush, eviction): make a new one.
                None => generation = self.ensure_generation(shared)?,
            }
            tracing::debug!(
                server = self.name(),
                attempt,
                "memcached generation changed during a store; storing again"
            );
        }
        // Purges kept racing with this store; losing a store to a concurrent purge is fine.
        Ok(())
    }

    fn check_stored(&self, results: &[OpResult]) -> Result<()> {
        for result in results {
            match result.as_mutation().map(|m| m.status) {
                Some(MutationStatus::Applied) => {}
                Some(status) => {
                    return Err(unexpected(
                        &self.errors,
                        &format!(
                            "a store was not applied ({status:?}); the server may be out of memory"
                        ),
                    ))
                }
                None => return Err(unexpected(&self.errors, "expected a store result")),
            }
        }
        Ok(())
    }

    /// Deletes `keys` (all routed to this server); for each, whether a current value was there.
    pub(crate) fn delete_many(&self, shared: &Shared, keys: &[&str]) -> Result<Vec<bool>> {
        let mut removed = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH / 2) {
            removed.extend(self.delete_chunk(shared, chunk)?);
        }
        Ok(removed)
    }

    fn delete_chunk(&self, shared: &Shared, keys: &[&str]) -> Result<Vec<bool>> {
        let with_generation = shared.purge == PurgeMode::Prefix;
        let mut ops = Vec::with_capacity(2 * keys.len() + 1);
        if with_generation {
            ops.push(Op::Get(Get::new(&shared.generation_key)));
        }
        for key in keys {
            // The flags tell whether the item is current (a stale one is already "gone").
            ops.push(Op::Get(Get::new(key).without_value()));
            ops.push(Op::Delete(Delete::new(key)));
        }
        let results = self.run(shared, ops, None)?;
        let (expected, items) = if with_generation {
            let (first, rest) = results
                .split_first()
                .ok_or_else(|| unexpected(&self.errors, "missing replies"))?;
            (self.read_generation(first)?.map(stamp), rest)
        } else {
            (Some(SERVER_MODE_STAMP), results.as_slice())
        };
        items
            .chunks(2)
            .map(|pair| {
                let [probe, delete] = pair else {
                    return Err(unexpected(&self.errors, "missing replies"));
                };
                let probe = self.get_result(probe)?;
                let deleted =
                    delete.as_mutation().map(|m| m.status) == Some(MutationStatus::Applied);
                let current = probe.status == GetStatus::Hit
                    && Some(probe.client_flags.unwrap_or(0)) == expected;
                Ok(deleted && current)
            })
            .collect()
    }

    /// `purge = "prefix"`: moves this server's namespace to a new generation, so that every
    /// value stored before reads as a miss. One round trip: create the generation if it is
    /// missing, then increment it.
    pub(crate) fn advance_generation(&self, shared: &Shared) -> Result<()> {
        let ops = vec![
            Op::Set(
                Set::new(&shared.generation_key, fresh_generation().to_string())
                    .add()
                    .ttl_raw(0),
            ),
            Op::Arithmetic(Arithmetic::new(&shared.generation_key)),
        ];
        let results = self.run(shared, ops, None)?;
        let incremented = results.get(1).and_then(OpResult::as_arithmetic);
        match incremented {
            Some(result) if result.status == MutationStatus::Applied => {
                self.generation
                    .store(result.value.unwrap_or(0), Ordering::Relaxed);
                Ok(())
            }
            _ => Err(unexpected(
                &self.errors,
                "incrementing the namespace generation failed (is the server out of memory?)",
            )),
        }
    }

    /// `purge = "server"`: `flush_all` over a fresh connection (the meta-protocol client has
    /// no such command). Bounded by the connect and response timeouts like everything else.
    pub(crate) fn flush_all(&self, shared: &Shared) -> Result<()> {
        let io = |e: &std::io::Error| flush_failed(&self.errors, e);
        let addrs: Vec<_> = self
            .spec
            .socket_target()
            .to_socket_addrs()
            .map_err(|e| io(&e))?
            .collect();
        let deadline = Instant::now() + shared.connect_timeout;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                last = std::io::Error::from(std::io::ErrorKind::TimedOut);
                break;
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let mut stream = stream.ok_or_else(|| io(&last))?;
        stream
            .set_read_timeout(Some(shared.response_timeout))
            .map_err(|e| io(&e))?;
        stream
            .set_write_timeout(Some(shared.response_timeout))
            .map_err(|e| io(&e))?;
        stream.write_all(b"flush_all\r\n").map_err(|e| io(&e))?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .map_err(|e| io(&e))?;
        if line.trim_end() == "OK" {
            self.generation.store(0, Ordering::Relaxed);
            Ok(())
        } else {
            Err(unexpected(
                &self.errors,
                &format!("flush_all answered {:?}", line.trim_end()),
            ))
        }
    }
}

/// A counter as it was stored: memcached may rewrite a counter that an increment or decrement
/// made shorter in place, padded with trailing spaces (`"10"` decremented as `"9 "`).
/// Digits followed by spaces only are returned without the spaces, so that the value reads
/// back as the number it is.
fn unpad_counter(mut value: Vec<u8>) -> Vec<u8> {
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && digits < value.len() && value[digits..].iter().all(|&b| b == b' ') {
        value.truncate(digits);
    }
    value
}

fn store_ops(entries: &[(&str, &[u8])], ttl: u32, stamp: u32) -> Vec<Op> {
    let mut ops = Vec::with_capacity(entries.len() + 1);
    ops.extend(
        entries
            .iter()
            .map(|(key, value)| Op::Set(Set::new(key, value).ttl_raw(ttl).client_flags(stamp))),
    );
    ops
}

/// The largest entry, for a server-side "too large" error.
fn largest<'e>(entries: &[(&'e str, &[u8])]) -> Option<(&'e str, usize)> {
    entries
        .iter()
        .max_by_key(|(_, value)| value.len())
        .map(|(key, value)| (*key, value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_never_zero_and_differ_for_consecutive_generations() {
        for generation in [
            0,
            1,
            2,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            1 << 40,
        ] {
            assert_ne!(stamp(generation), 0);
            assert_ne!(stamp(generation), stamp(generation.wrapping_add(1)));
        }
    }

    #[test]
    fn fresh_generations_are_random_and_leave_room() {
        let a = fresh_generation();
        let b = fresh_generation();
        assert_ne!(a, b);
        for g in [a, b] {
            assert!((1..=1u64 << 31).contains(&g), "{g}");
        }
    }

    #[test]
    fn padded_counters_lose_their_padding_only() {
        assert_eq!(unpad_counter(b"9 ".to_vec()), b"9");
        assert_eq!(unpad_counter(b"0                   ".to_vec()), b"0");
        for kept in [&b"42"[..], b"", b" 1", b"1 2", b"x ", b"\xce\x01\x01 "] {
            assert_eq!(unpad_counter(kept.to_vec()), kept);
        }
    }

    #[test]
    fn item_sizes_match_memcached() {
        // Measured on memcached 1.6.18 -I 1m: a 1-byte key takes values up to 1048512 bytes
        // with non-zero flags, 1048516 with flags 0; a 250-byte key up to 1048263 / 1048267.
        let limit = 1024 * 1024;
        assert_eq!(item_size("k", &vec![0; 1_048_512], 7), limit);
        assert_eq!(item_size("k", &vec![0; 1_048_516], 0), limit);
        let key = "k".repeat(250);
        assert_eq!(item_size(&key, &vec![0; 1_048_263], 7), limit);
        assert_eq!(value_limit(&key, limit), 1_048_263);
    }
}
