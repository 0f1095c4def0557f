//! The read cache: an in-process copy of recently read entries (values, and misses), valid for
//! one state of the database, checked on every read against SQLite's WAL-index header
//! ([`super::wal_index`]). A hit costs one `pread` of 96 bytes and a hash lookup instead of an
//! SQLite read transaction (whose two `fcntl` lock calls alone cost more).
//!
//! Why it is right: every commit to the file, by any connection of any process that shares the
//! `-shm` file, rewrites the header with a new change counter, so equal headers (the token)
//! mean an unchanged database. Entries are tagged with the token they are valid for; a read
//! that finds another token clears them all.
//!
//! While the copy is in use it keeps a connection of its own open (the pin). SQLite removes the
//! `-shm` file when the last connection to the database closes (and a new one starts with a
//! new file); the pin's lock keeps this process among the users of the file, so the `-shm`
//! file read here stays the one SQLite writes. The pin is idle: it holds no read transaction
//! and delays no checkpoint.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use super::wal_index::{Token, WalIndex};

/// What an entry costs beyond its key and value bytes (the map's and the queue's slots, the
/// allocations' headers): counted against the budget so that many tiny entries stay bounded
/// too.
const ENTRY_OVERHEAD: usize = 64;

/// The answer of [`ReadCache::lookup`].
pub(crate) enum Lookup {
    /// Served from the copy: the value, or `None` for a key known to be absent.
    Hit(Option<Arc<[u8]>>),
    /// Not in the copy: read the file; with a ticket, hand the result to
    /// [`ReadCache::offer`].
    Miss(Option<Ticket>),
}

/// The token a miss was looked up under, read *before* its SQL read (see [`ReadCache::offer`]).
pub(crate) struct Ticket {
    token: Token,
    pin: u64,
}

/// One key's copy: its value (`None`: absent) and the row's expiry (Unix ms; `None`: never).
struct Entry {
    value: Option<Arc<[u8]>>,
    expire: Option<i64>,
    cost: usize,
}

enum Link {
    /// Not pinned yet, or unpinned by `close`. The first lookup only moves to
    /// [`Link::Wanted`]: a process that reads once (a CLI run) never pays for the pin, a
    /// connection more to open, and a first read is a miss anyway.
    Unpinned,
    /// Read once: the next lookup pins.
    Wanted,
    /// Pinned: `pin` counts the pins, so that a lookup that read the header under an older
    /// one is not trusted.
    Pinned {
        _conn: Connection,
        wal: WalIndex,
        pin: u64,
    },
    /// Pinning failed (no `-shm` file to read, or it could not be opened): the copy stays off
    /// until `close`.
    Off,
}

struct State {
    link: Link,
    pins: u64,
    /// The token the entries are valid for.
    token: Option<Token>,
    entries: HashMap<Arc<str>, Entry>,
    /// Insertion order, for eviction (each key once, as in `entries`).
    order: VecDeque<Arc<str>>,
    bytes: usize,
}

pub(crate) struct ReadCache {
    budget: usize,
    path: PathBuf,
    busy_timeout: Duration,
    state: Mutex<State>,
    hits: AtomicU64,
}

impl ReadCache {
    /// A read cache of at most `budget` bytes for the database at `path` (not pinned until its
    /// first lookup).
    pub(crate) fn new(path: &Path, busy_timeout: Duration, budget: usize) -> ReadCache {
        ReadCache {
            budget,
            path: path.to_path_buf(),
            busy_timeout,
            state: Mutex::new(State {
                link: Link::Unpinned,
                pins: 0,
                token: None,
                entries: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every unlock leaves the state consistent; a panic in between cannot happen in the
        // code that holds the lock (no user code runs under it).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hits served so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// `key` from the copy if the database is unchanged since it was copied and the entry is
    /// live at `now_ms`.
    pub(crate) fn lookup(&self, key: &str, now_ms: i64) -> Lookup {
        // The header is read outside the lock (a system call; other threads' hits go on), from
        // the file of the current pin.
        let (wal, pin) = {
            let mut state = self.lock();
            match state.link {
                Link::Unpinned => {
                    state.link = Link::Wanted;
                    return Lookup::Miss(None);
                }
                Link::Wanted => self.pin(&mut state),
                Link::Pinned { .. } | Link::Off => {}
            }
            match &state.link {
                Link::Pinned { wal, pin, .. } => (*wal, *pin),
                _ => return Lookup::Miss(None),
            }
        };
        let Some(token) = wal.read() else {
            return Lookup::Miss(None);
        };
        let mut state = self.lock();
        if !matches!(&state.link, Link::Pinned { pin: now, .. } if *now == pin) {
            // `close` unpinned while the header was read: the file read may no longer be the
            // one SQLite uses.
            return Lookup::Miss(None);
        }
        if state.token != Some(token) {
            // A commit since the entries were copied. (Or an older header, read by a thread
            // that was slower to get here than one with a newer header: adopting it costs the
            // entries copied under the newer one, never correctness, since an entry is served
            // only to a read of the very header it is filed under, and every read's header
            // was current during its own call.)
            state.entries.clear();
            state.order.clear();
            state.bytes = 0;
            state.token = Some(token);
        }
        match state.entries.get(key) {
            Some(entry) if entry.expire.is_none_or(|at| at > now_ms) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(entry.value.clone())
            }
            _ => Lookup::Miss(Some(Ticket { token, pin })),
        }
    }

    /// Keeps what the SQL read of a miss found (`value` with its row's `expire`, or `None`
    /// for no live row), if the copy is still at the ticket's token.
    ///
    /// The ticket's token was read *before* the SQL read, and that order is what makes this
    /// right. The SQL read's snapshot is the database at or after that token: any commit
    /// before the header read is in it, and later commits may be. Tagged with the earlier
    /// token, the result is served only while the header still reads that token, i.e. while
    /// no commit has happened since: then the snapshot *is* that state (had a commit come
    /// between the header read and the SQL read, the header has moved on and, never
    /// returning to old bytes, no later read matches the tag). Reading the header *after* the
    /// SQL instead would tag a result with a state newer than its snapshot: a commit landing
    /// between the two would leave the old value served as current until the next commit.
    /// And the copy's token must still be the ticket's: another thread may have adopted a
    /// newer one meanwhile, and this (possibly older) result must not be filed under it.
    pub(crate) fn offer(&self, ticket: Ticket, key: &str, value: Option<(&[u8], Option<i64>)>) {
        let cost = key.len() + value.map_or(0, |(v, _)| v.len()) + ENTRY_OVERHEAD;
        if cost > self.budget {
            return;
        }
        let mut state = self.lock();
        if state.token != Some(ticket.token)
            || !matches!(&state.link, Link::Pinned { pin, .. } if *pin == ticket.pin)
        {
            return;
        }
        let entry = Entry {
            value: value.map(|(v, _)| Arc::from(v)),
            expire: value.and_then(|(_, expire)| expire),
            cost,
        };
        if let Some(old) = state.entries.get_mut(key) {
            // An expired entry read again: replaced in place, keeping its place in the order.
            let old_cost = std::mem::replace(old, entry).cost;
            state.bytes = state.bytes - old_cost + cost;
        } else {
            let key: Arc<str> = Arc::from(key);
            state.order.push_back(Arc::clone(&key));
            state.entries.insert(key, entry);
            state.bytes += cost;
        }
        // The oldest copies go first (the one just kept fits alone, so this stops).
        while state.bytes > self.budget {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            if let Some(gone) = state.entries.remove(&oldest) {
                state.bytes -= gone.cost;
            }
        }
    }

    /// Drops the copy and the pin (the app is closing its connections); the next lookup pins
    /// again.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.link = Link::Unpinned;
        state.token = None;
        state.entries.clear();
        state.order.clear();
        state.bytes = 0;
    }

    /// Opens the pin and the `-shm` handle; on failure the copy stays off (until `close`).
    fn pin(&self, state: &mut State) {
        let link = super::open::pin(&self.path, self.busy_timeout)
            .ok()
            .and_then(|conn| {
                // SQLite's own name for the database (symbolic links resolved), whose `-shm`
                // file is `<name>-shm`.
                let db = conn.path().map(PathBuf::from)?;
                let wal = WalIndex::open(&db)?;
                Some((conn, wal))
            });
        state.link = match link {
            Some((conn, wal)) => {
                state.pins += 1;
                Link::Pinned {
                    _conn: conn,
                    wal,
                    pin: state.pins,
                }
            }
            None => {
                tracing::debug!(
                    target: "cement_ext::sqlite",
                    "read cache off for {}: its -shm file could not be read",
                    self.path.display()
                );
                Link::Off
            }
        };
    }
}
