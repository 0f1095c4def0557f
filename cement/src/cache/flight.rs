//! In-process single-flight: concurrent callers that miss the same key wait for one of them to
//! compute the value, instead of all computing it (a cache stampede).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One lock per key that is being computed right now.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    keys: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Flights {
    /// Runs `f` while holding `key`'s flight lock: callers for the same key run one at a time,
    /// so the second one finds the first one's value in the cache.
    pub(crate) fn run<T>(&self, key: &str, f: impl FnOnce() -> T) -> T {
        let lock = {
            let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(keys.entry(key.to_string()).or_default())
        };
        let result = {
            // A poisoned lock only means another caller panicked in its computation; the unit
            // it guards holds no state, so carrying on is sound.
            let _turn = lock.lock().unwrap_or_else(PoisonError::into_inner);
            f()
        };
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        // The map holds one reference and we hold one: nobody else waits, so forget the key.
        if Arc::strong_count(&lock) == 2 {
            keys.remove(key);
        }
        result
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
