//! A small pool of connections to the one file: a connection serves one thread at a time, and
//! up to `pool_size` threads work at once (readers in parallel under WAL, writers one at a
//! time, by SQLite's own lock).

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::config::Synchronous;

struct State {
    idle: Vec<Connection>,
    /// Connections that exist, idle or lent out.
    open: usize,
    /// Threads waiting in `checkout` for a connection to be freed: a returned connection
    /// wakes one only when there is one (waking costs a system call even with no waiter).
    waiting: usize,
}

/// Why no connection could be had.
pub(crate) enum CheckoutError {
    /// Opening a new one failed.
    Open(rusqlite::Error),
    /// All `size` were busy for `waited`.
    Exhausted { size: usize, waited: Duration },
}

pub(crate) struct Pool {
    path: PathBuf,
    busy_timeout: Duration,
    synchronous: Synchronous,
    size: usize,
    state: Mutex<State>,
    freed: Condvar,
}

impl Pool {
    /// A pool that starts with `first` (the connection setup opened).
    pub(crate) fn new(
        path: PathBuf,
        busy_timeout: Duration,
        synchronous: Synchronous,
        size: usize,
        first: Connection,
    ) -> Self {
        Pool {
            path,
            busy_timeout,
            synchronous,
            size: size.max(1),
            state: Mutex::new(State {
                idle: vec![first],
                open: 1,
                waiting: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every unlock, so a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `op` on a connection of the pool: an idle one, a new one while fewer than `size`
    /// are open, or the first one freed within `busy_timeout`. The connection goes back to the
    /// pool afterwards, unless `op` failed with an error for which `drop_after` is true.
    pub(crate) fn run<T>(
        &self,
        op: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
        drop_after: impl Fn(&rusqlite::Error) -> bool,
    ) -> Result<rusqlite::Result<T>, CheckoutError> {
        let mut conn = self.checkout()?;
        let result = op(&mut conn);
        let keep = !matches!(&result, Err(err) if drop_after(err));
        let mut state = self.lock();
        let wake = state.waiting > 0;
        if keep && state.idle.len() < self.size {
            state.idle.push(conn);
            drop(state);
        } else {
            state.open -= 1;
            drop(state);
            drop(conn);
        }
        if wake {
            self.freed.notify_one();
        }
        Ok(result)
    }

    fn checkout(&self) -> Result<Connection, CheckoutError> {
        // Set when this call first has to wait: a clock read saved on every call that finds
        // an idle connection.
        let mut deadline: Option<Instant> = None;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return super::open::connect(&self.path, self.busy_timeout, self.synchronous)
                    .map_err(|err| {
                        let wake = {
                            let mut state = self.lock();
                            state.open -= 1;
                            state.waiting > 0
                        };
                        if wake {
                            self.freed.notify_one();
                        }
                        CheckoutError::Open(err)
                    });
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + self.busy_timeout);
            if now >= deadline {
                return Err(CheckoutError::Exhausted {
                    size: self.size,
                    waited: self.busy_timeout,
                });
            }
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiting -= 1;
        }
    }

    /// Closes the idle connections; the lent ones close when they come back. Later calls open
    /// new ones.
    pub(crate) fn close_idle(&self) {
        let idle = {
            let mut state = self.lock();
            let idle = std::mem::take(&mut state.idle);
            state.open -= idle.len();
            idle
        };
        drop(idle);
        self.freed.notify_all();
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }
}
