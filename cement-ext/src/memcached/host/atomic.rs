//! The atomic operations on one server — `add`, `incr`/`decr`, `touch`, `exists` — each one
//! pipelined round trip that honours the namespace generation (`purge = "prefix"`), plus a
//! CAS-guarded second one in the rare cases where a value of an older generation is in the
//! way. See the handler's [module docs](crate::memcached#atomic-operations) for the semantics.
//!
//! The rule everything here follows: a value whose stamp is not the current generation's is
//! *absent*. An operation never reports success on the strength of such a value, and it only
//! ever replaces one with `ms … C<cas>`, so that of several clients racing to replace the same
//! stale value exactly one succeeds and the others start over and see its result.

use std::sync::atomic::Ordering;

use memcache::exp::{
    Arithmetic, Error as ClientError, Get, GetResult, GetStatus, Meta, MutationResult,
    MutationStatus, Op, OpResult, Set,
};

use cement::Result;

use super::super::config::PurgeMode;
use super::super::error::{contended, is_non_numeric, not_a_counter, unexpected};
use super::{stamp, Host, Shared, SERVER_MODE_STAMP};
use cement::cache::key::shorten;

/// How often an operation starts over after losing a race for a stale value (or to a delete
/// between its commands) before it gives up with an error.
const ATTEMPTS: usize = 8;

/// How long after meeting a counter of an older generation the counter steps of this process
/// (on that server) look before they leap: see [`Host::step_counter`].
const CAREFUL_MS: u64 = 1000;

/// One command's reply inside a batch.
type Reply = std::result::Result<OpResult, ClientError>;

/// Which way a counter moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Add the delta (wrapping at 2^64, as memcached does).
    Incr,
    /// Subtract the delta, stopping at 0 (memcached's rule).
    Decr,
}

impl Step {
    /// The value of a counter created (or restarted) by this step.
    fn initial(self, delta: u64) -> u64 {
        match self {
            Step::Incr => delta,
            Step::Decr => 0,
        }
    }

    fn command(self, key: &str, delta: u64) -> Arithmetic {
        let command = Arithmetic::new(key).delta(delta);
        match self {
            Step::Incr => command,
            Step::Decr => command.decrement(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Step::Incr => "incr",
            Step::Decr => "decr",
        }
    }
}

/// `mg <key> f c`: is the item there, with which stamp and CAS (no value sent back).
fn probe(key: &str) -> Get {
    Get::new(key).without_value().meta(Meta::NONE.cas())
}

/// The stamp of a hit (`None` for a miss).
fn stamp_of(get: &GetResult) -> Option<u32> {
    (get.status == GetStatus::Hit).then(|| get.client_flags.unwrap_or(0))
}

impl Host {
    /// The reply of one command, or the cement error for its failure.
    fn reply<'r>(&self, shared: &Shared, reply: &'r Reply) -> Result<&'r OpResult> {
        reply.as_ref().map_err(|e| self.fail(shared, e, None))
    }

    fn mutation<'r>(&self, result: &'r OpResult) -> Result<&'r MutationResult> {
        result
            .as_mutation()
            .ok_or_else(|| unexpected(&self.errors, "expected a store result"))
    }

    /// `ms <key> F<stamp> T<ttl> C<cas>`: replaces the item only if it is still the one `cas`
    /// was read from; `false` if it changed or went away meanwhile.
    fn replace_if_unchanged(
        &self,
        shared: &Shared,
        key: &str,
        value: &[u8],
        ttl: u32,
        stamp: u32,
        cas: u64,
    ) -> Result<bool> {
        let command = Set::new(key, value)
            .ttl_raw(ttl)
            .client_flags(stamp)
            .compare_cas(cas);
        let results = self.run(shared, vec![Op::Set(command)], Some((key, value.len())))?;
        let stored = results
            .first()
            .ok_or_else(|| unexpected(&self.errors, "missing reply"))?;
        match self.mutation(stored)?.status {
            MutationStatus::Applied => Ok(true),
            MutationStatus::CasMismatch | MutationStatus::NotFound => Ok(false),
            status => Err(unexpected(
                &self.errors,
                &format!("a CAS-guarded store answered {status:?}"),
            )),
        }
    }

    /// Stores `value` under `key` only if the key holds no current value; `true` if it stored.
    ///
    /// `purge = "prefix"`, one round trip: `mg <gen> v`, `ms <key> ME F<stamp> T<ttl> c`,
    /// `mg <key> f c`. If the add was refused because the key holds a value of an older
    /// generation, or if it stored with a stamp that turned out stale, a second round trip
    /// replaces that value under a CAS guard; whoever loses that race starts over.
    pub(crate) fn add(&self, shared: &Shared, key: &str, value: &[u8], ttl: u32) -> Result<bool> {
        let store = Some((key, value.len()));
        if shared.purge == PurgeMode::Server {
            let command = Set::new(key, value).add().ttl_raw(ttl);
            let results = self.run(shared, vec![Op::Set(command)], store)?;
            let added = results
                .first()
                .ok_or_else(|| unexpected(&self.errors, "missing reply"))?;
            return match self.mutation(added)?.status {
                MutationStatus::Applied => Ok(true),
                MutationStatus::AlreadyExists => Ok(false),
                status => Err(unexpected(
                    &self.errors,
                    &format!("an add answered {status:?}"),
                )),
            };
        }
        for attempt in 1..=ATTEMPTS {
            let cached = self.known_generation(shared)?;
            let ops = vec![
                Op::Get(Get::new(&shared.generation_key)),
                Op::Set(
                    Set::new(key, value)
                        .add()
                        .ttl_raw(ttl)
                        .client_flags(stamp(cached))
                        .return_cas(),
                ),
                Op::Get(probe(key)),
            ];
            let results = self.run(shared, ops, store)?;
            let [generation, added, current] = results.as_slice() else {
                return Err(unexpected(&self.errors, "missing replies"));
            };
            let Some(generation) = self.read_generation(generation)? else {
                // The server lost the generation: make a new one. What we may have stored
                // carries the old stamp, so the next attempt sees it as stale and replaces it.
                self.ensure_generation(shared)?;
                continue;
            };
            let fresh = stamp(generation);
            let added = self.mutation(added)?;
            let stale_cas = match added.status {
                MutationStatus::Applied if stamp(cached) == fresh => return Ok(true),
                // Stored, but stamped with a generation that a purge (by another process) had
                // replaced: restamp it, unless another adder replaces it first.
                MutationStatus::Applied => added.cas,
                MutationStatus::AlreadyExists => {
                    let current = self.get_result(current)?;
                    match stamp_of(current) {
                        Some(found) if found == fresh => return Ok(false),
                        // A value of an older generation is in the way: logically absent.
                        Some(_) => current.item.cas,
                        // Deleted between the add and the probe: try again.
                        None => continue,
                    }
                }
                status => {
                    return Err(unexpected(
                        &self.errors,
                        &format!("an add answered {status:?}"),
                    ))
                }
            };
            let cas = stale_cas
                .ok_or_else(|| unexpected(&self.errors, "the server sent no CAS value"))?;
            if self.replace_if_unchanged(shared, key, value, ttl, fresh, cas)? {
                return Ok(true);
            }
            tracing::debug!(
                server = self.name(),
                attempt,
                "memcached add lost a race for a stale value; starting over"
            );
        }
        Err(contended(&self.errors, "add", &shorten(key), ATTEMPTS))
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether counter steps should probe first (a stale counter was met lately).
    fn careful(&self) -> bool {
        self.millis() < self.careful_until.load(Ordering::Relaxed)
    }

    fn met_stale_counter(&self) {
        self.careful_until
            .fetch_max(self.millis().saturating_add(CAREFUL_MS), Ordering::Relaxed);
    }

    /// The careful first half of a counter step: `mg <gen> v` + `mg <key> f c`, and if the key
    /// holds a value of an older generation, its restart under a CAS guard. `Some(true)` if
    /// this restarted the counter, `Some(false)` if another client changed it first (start
    /// over), `None` if the key is current or missing (go on with the step).
    fn restart_if_stale(
        &self,
        shared: &Shared,
        key: &str,
        restart: &str,
        ttl: u32,
    ) -> Result<Option<bool>> {
        let ops = vec![
            Op::Get(Get::new(&shared.generation_key)),
            Op::Get(probe(key)),
        ];
        let results = self.run(shared, ops, None)?;
        let [generation, found] = results.as_slice() else {
            return Err(unexpected(&self.errors, "missing replies"));
        };
        let Some(generation) = self.read_generation(generation)? else {
            self.ensure_generation(shared)?;
            return Ok(Some(false));
        };
        let fresh = stamp(generation);
        let found = self.get_result(found)?;
        match (stamp_of(found), found.item.cas) {
            (Some(current), _) if current == fresh => Ok(None),
            (None, _) => Ok(None),
            (Some(_), Some(cas)) => {
                self.met_stale_counter();
                self.replace_if_unchanged(shared, key, restart.as_bytes(), ttl, fresh, cas)
                    .map(Some)
            }
            (Some(_), None) => Err(unexpected(&self.errors, "the server sent no CAS value")),
        }
    }

    /// Moves the counter under `key` by `delta` and returns its new value. A missing (or
    /// stale) counter starts from 0 with the wire TTL `ttl`; an existing one keeps its TTL.
    ///
    /// `purge = "prefix"`, one round trip: `mg <gen> v`, `mg <key> f c`, `ms <key> ME F<stamp>
    /// T<ttl>` with `0` (creates the counter, stamped, if it is missing), `ma <key> D<delta>
    /// c v` (last but one, since a refusal ends the exchange), `mg <key> f c`. The probes
    /// around the increment tell which item it changed; if that item was stale, a second round
    /// trip restarts the counter under a CAS guard (a lost race starts over).
    ///
    /// Several clients hammering a stale counter would keep changing its CAS with their
    /// (void) increments, so that no restart could land. Hence, for a second after meeting a
    /// stale counter, and on every retry, a step first probes the key alone and restarts a
    /// stale counter *before* incrementing anything (two round trips).
    pub(crate) fn step_counter(
        &self,
        shared: &Shared,
        key: &str,
        step: Step,
        delta: u64,
        ttl: u32,
    ) -> Result<u64> {
        if shared.purge == PurgeMode::Server {
            return self.step_unstamped(shared, key, step, delta, ttl);
        }
        let initial = step.initial(delta);
        let restart = initial.to_string();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 || self.careful() {
                match self.restart_if_stale(shared, key, &restart, ttl)? {
                    Some(true) => return Ok(initial),
                    Some(false) => continue,
                    None => {}
                }
            }
            let cached = self.known_generation(shared)?;
            let ops = vec![
                Op::Get(Get::new(&shared.generation_key)),
                Op::Get(probe(key)),
                Op::Set(
                    Set::new(key, b"0")
                        .add()
                        .ttl_raw(ttl)
                        .client_flags(stamp(cached)),
                ),
                Op::Arithmetic(step.command(key, delta).return_cas()),
                Op::Get(probe(key)),
            ];
            let replies = self.run_each(shared, ops, None)?;
            let [generation, before, created, moved, after] = replies.as_slice() else {
                return Err(unexpected(&self.errors, "missing replies"));
            };
            let Some(generation) = self.read_generation(self.reply(shared, generation)?)? else {
                // The server lost the generation: every counter on it is stale now.
                self.ensure_generation(shared)?;
                continue;
            };
            let fresh = stamp(generation);
            let before = self.get_result(self.reply(shared, before)?)?;
            let created =
                self.mutation(self.reply(shared, created)?)?.status == MutationStatus::Applied;
            let moved = match moved {
                Ok(result) => result
                    .as_arithmetic()
                    .ok_or_else(|| unexpected(&self.errors, "expected an arithmetic result"))?,
                Err(e) if is_non_numeric(e) => {
                    // Refused, so nothing changed: the probe before tells what is there.
                    match (stamp_of(before), before.item.cas) {
                        (Some(found), _) if found == fresh => return Err(not_a_counter(key)),
                        // A value of an older generation: absent, so the counter starts over.
                        (Some(_), Some(cas)) => {
                            self.met_stale_counter();
                            if self.replace_if_unchanged(
                                shared,
                                key,
                                restart.as_bytes(),
                                ttl,
                                fresh,
                                cas,
                            )? {
                                return Ok(initial);
                            }
                        }
                        (Some(_), None) => {
                            return Err(unexpected(&self.errors, "the server sent no CAS value"))
                        }
                        // Stored by someone else between the probe and the increment.
                        (None, _) => {}
                    }
                    continue;
                }
                Err(e) => return Err(self.fail(shared, e, None)),
            };
            match moved.status {
                MutationStatus::Applied => {}
                // Deleted between the add and the increment: nothing was counted.
                MutationStatus::NotFound => continue,
                status => {
                    return Err(unexpected(
                        &self.errors,
                        &format!("an increment answered {status:?}"),
                    ))
                }
            }
            let (Some(value), Some(cas)) = (moved.value, moved.item.cas) else {
                return Err(unexpected(
                    &self.errors,
                    "an increment came back without its value or CAS",
                ));
            };
            // The stamp of the item the increment changed: exact when nothing touched the key
            // between the increment and the probe after it (same CAS); otherwise what was
            // there just before (the commands run back to back on the server).
            let after = after
                .as_ref()
                .ok()
                .and_then(OpResult::as_get)
                .filter(|get| get.status == GetStatus::Hit);
            let changed = match (after, stamp_of(before)) {
                (Some(after), _) if after.item.cas == Some(cas) => after.client_flags.unwrap_or(0),
                (_, Some(found)) => found,
                _ if created => stamp(cached),
                (Some(after), None) => after.client_flags.unwrap_or(0),
                (None, None) => fresh,
            };
            if changed == fresh {
                return Ok(value);
            }
            self.met_stale_counter();
            // The increment landed on a counter of an older generation (or on one created with
            // a stamp that a purge had just replaced): restart it from 0 + this step.
            if self.replace_if_unchanged(shared, key, restart.as_bytes(), ttl, fresh, cas)? {
                return Ok(initial);
            }
            tracing::debug!(
                server = self.name(),
                attempt,
                "memcached {} met a stale counter that changed meanwhile; starting over",
                step.name()
            );
        }
        Err(contended(
            &self.errors,
            step.name(),
            &shorten(key),
            ATTEMPTS,
        ))
    }

    /// `purge = "server"`: `ma <key> D<delta> N<ttl> J<initial> v` (memcached creates the
    /// missing counter itself), or, to create one that never expires (`N` takes no 0),
    /// `ms <key> ME` with `0` then the `ma`.
    fn step_unstamped(
        &self,
        shared: &Shared,
        key: &str,
        step: Step,
        delta: u64,
        ttl: u32,
    ) -> Result<u64> {
        for _ in 0..ATTEMPTS {
            let mut ops = Vec::with_capacity(2);
            let command = step.command(key, delta);
            if ttl == 0 {
                ops.push(Op::Set(
                    Set::new(key, b"0")
                        .add()
                        .ttl_raw(0)
                        .client_flags(SERVER_MODE_STAMP),
                ));
                ops.push(Op::Arithmetic(command));
            } else {
                ops.push(Op::Arithmetic(command.initial(step.initial(delta), ttl)));
            }
            let replies = self.run_each(shared, ops, None)?;
            let moved = match replies.last() {
                Some(Ok(result)) => result
                    .as_arithmetic()
                    .ok_or_else(|| unexpected(&self.errors, "expected an arithmetic result"))?,
                Some(Err(e)) if is_non_numeric(e) => return Err(not_a_counter(key)),
                Some(Err(e)) => return Err(self.fail(shared, e, None)),
                None => return Err(unexpected(&self.errors, "missing replies")),
            };
            match (moved.status, moved.value) {
                (MutationStatus::Applied, Some(value)) => return Ok(value),
                // Deleted between the add and the increment: nothing was counted.
                (MutationStatus::NotFound, _) => continue,
                (status, _) => {
                    return Err(unexpected(
                        &self.errors,
                        &format!("an increment answered {status:?} without a value"),
                    ))
                }
            }
        }
        Err(contended(
            &self.errors,
            step.name(),
            &shorten(key),
            ATTEMPTS,
        ))
    }

    /// Whether `key` holds a current value, read without the value (`mg <key> f`); with
    /// `touch`, the item also gets that wire TTL (`T<ttl>`, 0 = never expire). In
    /// `purge = "prefix"` mode the generation comes in the same round trip.
    pub(crate) fn probe_current(
        &self,
        shared: &Shared,
        key: &str,
        touch: Option<u32>,
    ) -> Result<bool> {
        let mut get = Get::new(key).without_value();
        if let Some(ttl) = touch {
            get = get.touch_raw(ttl);
        }
        if shared.purge == PurgeMode::Server {
            let results = self.run(shared, vec![Op::Get(get)], None)?;
            let found = results
                .first()
                .ok_or_else(|| unexpected(&self.errors, "missing reply"))?;
            return Ok(stamp_of(self.get_result(found)?) == Some(SERVER_MODE_STAMP));
        }
        let ops = vec![Op::Get(Get::new(&shared.generation_key)), Op::Get(get)];
        let results = self.run(shared, ops, None)?;
        let [generation, found] = results.as_slice() else {
            return Err(unexpected(&self.errors, "missing replies"));
        };
        // No generation: whatever is stored predates it (a touch of it changes nothing that
        // can be read).
        let Some(generation) = self.read_generation(generation)? else {
            return Ok(false);
        };
        Ok(stamp_of(self.get_result(found)?) == Some(stamp(generation)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memcache::exp::ArithmeticMode;

    #[test]
    fn a_restarted_counter_holds_the_first_step_only() {
        assert_eq!(Step::Incr.initial(5), 5);
        assert_eq!(Step::Decr.initial(5), 0);
        let incr = Step::Incr.command("k", 5);
        assert_eq!((incr.delta, incr.mode), (5, ArithmeticMode::Increment));
        assert_eq!(Step::Decr.command("k", 2).mode, ArithmeticMode::Decrement);
        // no autovivification: it would create the counter outside every generation
        assert_eq!(incr.initial, None);
    }

    #[test]
    fn probes_ask_for_stamp_and_cas_without_the_value() {
        // (what the server answers to them is covered by the tests against real servers)
        let get = probe("k");
        assert!(!get.value && get.meta.cas && get.touch.is_none());
    }
}
