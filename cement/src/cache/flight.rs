//! In-process single-flight: concurrent callers that miss the same key wait for one of them to
//! compute the value, instead of all computing it (a cache stampede).
//!
//! One map of per-key locks serves both faces: the blocking [`Cache`](super::Cache) holds a
//! `std::sync::Mutex` per key, the async face (feature `tokio`) a `tokio::sync::Mutex`, which a
//! task awaits without blocking its thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One lock of type `L` per key that is being computed right now.
#[derive(Debug)]
pub(crate) struct Flights<L = Mutex<()>> {
    keys: Mutex<HashMap<String, Arc<L>>>,
}

impl<L> Default for Flights<L> {
    fn default() -> Self {
        Flights {
            keys: Mutex::default(),
        }
    }
}

/// A caller's place in `key`'s flight: its lock, and on drop (also when an async caller is
/// cancelled) the key is forgotten if nobody else waits for it.
pub(crate) struct Ticket<'f, L> {
    flights: &'f Flights<L>,
    key: &'f str,
    pub(crate) lock: Arc<L>,
}

impl<L: Default> Flights<L> {
    /// Joins `key`'s flight: callers holding the ticket's lock in turn run one at a time, so
    /// the second one finds the first one's value in the cache.
    pub(crate) fn join<'f>(&'f self, key: &'f str) -> Ticket<'f, L> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(keys.entry(key.to_string()).or_default());
        Ticket {
            flights: self,
            key,
            lock,
        }
    }
}

impl<L> Drop for Ticket<'_, L> {
    fn drop(&mut self) {
        let mut keys = self
            .flights
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map holds one reference and we hold one: nobody else waits, so forget the key.
        if Arc::strong_count(&self.lock) == 2 {
            keys.remove(self.key);
        }
    }
}

impl Flights {
    /// Runs `f` while holding `key`'s flight lock.
    pub(crate) fn run<T>(&self, key: &str, f: impl FnOnce() -> T) -> T {
        let ticket = self.join(key);
        // A poisoned lock only means another caller panicked in its computation; the unit it
        // guards holds no state, so carrying on is sound.
        let _turn = ticket.lock.lock().unwrap_or_else(PoisonError::into_inner);
        f()
    }
}

impl<L> Flights<L> {
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
