//! A small blocking connection pool for [`Conn`]: connections to one server, to the primary
//! the sentinels name, or to a whole cluster; the [`Opener`] decides which.
//!
//! Why not r2d2: r2d2 connects in background threads through `Client::get_connection()`, which
//! has no timeout (a server that accepts and never answers parks those threads for good), and
//! `Pool::get` waits its whole `connection_timeout` even when the server refuses at once. This
//! pool opens a connection when a caller needs one and reports the outcome to that caller, so a
//! refused connection fails immediately and a hung server fails at `connect_timeout`; nothing is tested
//! on checkout (no extra PING round trip); a connection that saw an I/O error, a timeout or a
//! parse error is dropped rather than reused (it might hold half a reply). New connections
//! are opened on demand, so the pool recovers by itself when the server comes back.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisError};

use super::topology::{Conn, Opener};

/// Why no connection could be had.
#[derive(Debug)]
pub(crate) enum CheckoutError {
    /// Opening a new connection failed (or did not finish within `connect_timeout`).
    Connect(RedisError),
    /// All connections stayed busy (or were still being opened) for the whole wait.
    Exhausted { size: usize, waited: Duration },
    /// The pool was closed.
    Closed,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    opener: Opener,
    connect_timeout: Duration,
    max_size: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Conn>,
    /// Conns that exist: idle, checked out, or being opened.
    open: usize,
    /// Callers waiting for a connection. Only then is `freed` notified: a notification is a
    /// system call, which would cost every call a few percent.
    waiting: usize,
    closed: bool,
}

/// The meeting point of a caller and the thread that opens a connection for it.
enum Handoff {
    Waiting,
    /// The caller stopped waiting; the opener disposes of what it gets.
    Abandoned,
    Done(Result<Conn, RedisError>),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single step, so a panic elsewhere cannot leave the
    // state half-changed: keep going with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    pub(crate) fn new(opener: Opener, max_size: usize, connect_timeout: Duration) -> Self {
        Pool {
            shared: Arc::new(Shared {
                opener,
                connect_timeout,
                max_size: max_size.max(1),
                state: Mutex::new(State {
                    idle: Vec::new(),
                    open: 0,
                    waiting: 0,
                    closed: false,
                }),
                freed: Condvar::new(),
            }),
        }
    }

    /// An idle connection, or a new one if fewer than `max_size` exist, or the next one
    /// returned within `connect_timeout`.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, CheckoutError> {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.connect_timeout;
        let mut state = lock(&shared.state);
        loop {
            if state.closed {
                return Err(CheckoutError::Closed);
            }
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                    fresh: false,
                    broken: false,
                });
            }
            if state.open < shared.max_size {
                state.open += 1;
                drop(state);
                return match self.connect(deadline) {
                    Ok(conn) => Ok(Pooled {
                        pool: self,
                        conn: Some(conn),
                        fresh: true,
                        broken: false,
                    }),
                    Err(err) => Err(CheckoutError::Connect(err)),
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(CheckoutError::Exhausted {
                    size: shared.max_size,
                    waited: shared.connect_timeout,
                });
            }
            state.waiting += 1;
            state = shared
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
    }

    /// Opens a connection, taking at most until `deadline`. The redis client bounds each
    /// handshake round trip (AUTH, SELECT, CLIENT SETINFO) by the timeout separately, so a hung
    /// server could hold it several times that long; the opening therefore runs on a helper
    /// thread, and the caller stops waiting at the deadline. The slot this connection holds in
    /// `open` is released here on failure, or by the helper if the caller gave up.
    fn connect(&self, deadline: Instant) -> Result<Conn, RedisError> {
        let handoff = Arc::new((Mutex::new(Handoff::Waiting), Condvar::new()));
        let spawned = {
            let shared = Arc::clone(&self.shared);
            let handoff = Arc::clone(&handoff);
            thread::Builder::new()
                .name("cement-redis-connect".into())
                .spawn(move || {
                    let result = shared.open_connection();
                    let mut slot = lock(&handoff.0);
                    if matches!(*slot, Handoff::Abandoned) {
                        drop(slot);
                        drop(result);
                        shared.forget_one();
                    } else {
                        *slot = Handoff::Done(result);
                        handoff.1.notify_one();
                    }
                })
        };
        let result = match spawned {
            Ok(_) => {
                let mut slot = lock(&handoff.0);
                loop {
                    match std::mem::replace(&mut *slot, Handoff::Waiting) {
                        Handoff::Done(result) => break result,
                        Handoff::Waiting | Handoff::Abandoned => {}
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        *slot = Handoff::Abandoned;
                        // The helper releases the slot when it finishes.
                        return Err(RedisError::from(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the connection was not ready within connect_timeout",
                        )));
                    }
                    slot = handoff
                        .1
                        .wait_timeout(slot, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            // No thread to be had: open it here (bounded per round trip, not overall).
            Err(_) => self.shared.open_connection(),
        };
        if result.is_err() {
            self.shared.forget_one();
        }
        result
    }

    /// Drops every idle connection (they are likely dead too when one was found dead).
    pub(crate) fn discard_idle(&self) {
        let mut state = lock(&self.shared.state);
        let idle = std::mem::take(&mut state.idle);
        state.open = state.open.saturating_sub(idle.len());
        let waiting = state.waiting > 0;
        drop(state);
        drop(idle);
        if waiting {
            self.shared.freed.notify_all();
        }
    }

    /// Drops the idle connections and refuses further checkouts; connections in use are
    /// dropped when returned.
    pub(crate) fn close(&self) {
        lock(&self.shared.state).closed = true;
        self.discard_idle();
    }

    /// (open, idle) connection counts, for tests and `Debug`.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let state = lock(&self.shared.state);
        (state.open, state.idle.len())
    }

    /// The most connections open at once.
    pub(crate) fn max_size(&self) -> usize {
        self.shared.max_size
    }
}

impl Shared {
    fn open_connection(&self) -> Result<Conn, RedisError> {
        (self.opener)()
    }

    /// One connection is gone: make room for a new one.
    fn forget_one(&self) {
        let mut state = lock(&self.state);
        state.open = state.open.saturating_sub(1);
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.freed.notify_one();
        }
    }
}

/// A checked-out connection; it goes back to the pool on drop unless marked broken.
pub(crate) struct Pooled<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
    /// Opened for this checkout (not reused from the idle list).
    pub(crate) fresh: bool,
    broken: bool,
}

impl Pooled<'_> {
    /// The connection. Always present until drop.
    pub(crate) fn conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    /// Drop the connection instead of returning it to the pool.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let shared = &self.pool.shared;
        if self.broken || !conn.is_open() {
            drop(conn);
            shared.forget_one();
            return;
        }
        let mut state = lock(&shared.state);
        let surplus = if state.closed {
            state.open = state.open.saturating_sub(1);
            Some(conn)
        } else {
            state.idle.push(conn);
            None
        };
        let waiting = state.waiting > 0;
        drop(state);
        // A closed pool's connection is closed outside the lock.
        drop(surplus);
        if waiting {
            shared.freed.notify_one();
        }
    }
}
