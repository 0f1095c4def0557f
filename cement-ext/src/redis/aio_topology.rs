//! What the async side's connection leads to, per topology ([Topologies](super#topologies)):
//! one server (the [`ConnectionManager`] of [`Native`]), a Redis Cluster (redis-rs's
//! [`ClusterConnection`], which routes by key, follows `MOVED`/`ASK` and reconnects to its
//! nodes by itself) or the primary the sentinels name (a [`MultiplexedConnection`], replaced
//! by one to the newly named primary after a failover). Every one is multiplexed: a request's
//! reply goes to that request's waiter alone, and a dropped waiter's reply is read and
//! discarded by the connection's driver task, so a cancelled call never leaves a reply for the
//! next caller.
//!
//! The handler's async operations (the `aio` module) run on an [`AsyncConn`] whatever it
//! leads to; the few commands that differ on a cluster (a batch with a TTL, `SCAN` per
//! primary) are here.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::lock::Mutex as AsyncMutex;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use super::cluster::parse_primaries;
use super::sentinel::Sentinels;
use super::set_cmd;
use super::topology::Plan;

/// One multiplexed connection (a cheap handle on it): to one server, to the sentinels'
/// primary, or to a whole cluster.
#[derive(Clone)]
pub(super) enum AsyncConn {
    Server(ConnectionManager),
    Primary(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for AsyncConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            AsyncConn::Server(c) => c.req_packed_command(cmd),
            AsyncConn::Primary(c) => c.req_packed_command(cmd),
            AsyncConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            AsyncConn::Server(c) => c.req_packed_commands(pipeline, offset, count),
            AsyncConn::Primary(c) => c.req_packed_commands(pipeline, offset, count),
            AsyncConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            AsyncConn::Server(c) => c.get_db(),
            AsyncConn::Primary(c) => c.get_db(),
            AsyncConn::Cluster(c) => c.get_db(),
        }
    }
}

/// `name key`.
fn one(name: &str, key: &str) -> Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// Every command of `cmds` on the cluster at once (each routed by its key, `MOVED`/`ASK`
/// followed), their replies in order; an error fails the whole batch. A command answered with
/// a redirection all the same is sent again on its own, once the others are done: during a
/// slot migration, redis-rs 1.8's async cluster client can return a `MOVED` when several
/// commands follow an `ASK` at once (tests/redis_cluster's resharding step). A redirected
/// command did not run, so sending it again is safe for every batch command.
async fn each(conn: &ClusterConnection, cmds: impl Iterator<Item = Cmd>) -> RedisResult<Value> {
    use redis::{ErrorKind, ServerErrorKind};
    let cmds: Vec<Cmd> = cmds.collect();
    let calls = cmds.iter().map(|cmd| {
        let mut conn = conn.clone();
        async move { cmd.query_async::<Value>(&mut conn).await }
    });
    let mut replies = futures_util::future::join_all(calls).await;
    for (reply, cmd) in replies.iter_mut().zip(&cmds) {
        let redirected = matches!(reply, Err(e) if matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::TryAgain)
        ));
        if redirected {
            *reply = cmd.query_async(&mut conn.clone()).await;
        }
    }
    replies
        .into_iter()
        .collect::<RedisResult<Vec<_>>>()
        .map(Value::Array)
}

/// A primary of a cluster, by address; `None` is "the server" of the other topologies.
pub(super) type Node = Option<(String, u16)>;

/// The batch forms, and the commands that differ on a cluster. On one server a batch is one
/// multi-key command (`MGET`, `MSET`, `UNLINK`) or, with a TTL, one pipeline. On a cluster it
/// is one single-key command per key, all handed to the cluster connection before any reply is
/// awaited: each node's commands go out pipelined on that node's connection, so a batch waits
/// about one round trip per node, in parallel, and the replies come back in key order. Single
/// keys, because only they have `MOVED`/`ASK` followed by redis-rs 1.8's async cluster client:
/// the parts of a multi-slot `MGET` it splits are not (a stale slot map surfaced `MOVED` as an
/// error in `tests/redis_cluster`), and a pipeline must stay in one slot.
impl AsyncConn {
    /// The values of `keys`, in order (an array of bulk strings and nils).
    pub(super) async fn get_many(&mut self, keys: &[&str]) -> RedisResult<Value> {
        if let AsyncConn::Cluster(conn) = self {
            return each(conn, keys.iter().map(|key| one("GET", key))).await;
        }
        redis::cmd("MGET").arg(keys).query_async(self).await
    }

    /// `SET` (with `PX ms` for a TTL) of every entry.
    pub(super) async fn set_many(
        &mut self,
        entries: &[(&str, &[u8])],
        ttl: Option<Duration>,
    ) -> RedisResult<Value> {
        if let AsyncConn::Cluster(conn) = self {
            let sets = entries.iter().map(|(key, value)| set_cmd(key, value, ttl));
            return each(conn, sets).await.map(|_| Value::Okay);
        }
        if ttl.is_none() {
            let mut cmd = redis::cmd("MSET");
            for (key, value) in entries {
                cmd.arg(*key).arg(*value);
            }
            return cmd.query_async(self).await;
        }
        let mut pipe = redis::pipe();
        for (key, value) in entries {
            pipe.add_command(set_cmd(key, value, ttl)).ignore();
        }
        pipe.query_async::<()>(self).await.map(|()| Value::Okay)
    }

    /// `UNLINK` of `keys`: how many there were.
    pub(super) async fn delete_many(&mut self, keys: &[&str]) -> RedisResult<Value> {
        if let AsyncConn::Cluster(conn) = self {
            let removed = each(conn, keys.iter().map(|key| one("UNLINK", key))).await?;
            let removed: Vec<i64> = redis::from_redis_value(removed)?;
            return Ok(Value::Int(removed.iter().sum()));
        }
        redis::cmd("UNLINK").arg(keys).query_async(self).await
    }

    /// Where `purge` scans: every primary of a cluster that is not marked failed (from
    /// `CLUSTER NODES` of a primary), or the one server.
    pub(super) async fn scan_targets(&mut self) -> RedisResult<Vec<Node>> {
        let AsyncConn::Cluster(conn) = self else {
            return Ok(vec![None]);
        };
        let reply = conn
            .route_command(
                redis::cmd("CLUSTER").arg("NODES").to_owned(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
            )
            .await?;
        let text: String = redis::from_redis_value(reply)?;
        Ok(parse_primaries(&text).into_iter().map(Some).collect())
    }

    /// `cmd` (a `SCAN`) on `node`: a cluster cannot route it by key.
    pub(super) async fn on_node<T: redis::FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        node: &Node,
    ) -> RedisResult<T> {
        match (self, node) {
            (AsyncConn::Cluster(conn), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let reply = conn.route_command(cmd.clone(), routing).await?;
                Ok(redis::from_redis_value(reply)?)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

/// The async side of a handler: its connection, opened on the first async call.
pub(super) enum AsyncSide {
    Single(Native),
    Cluster {
        client: Box<ClusterClient>,
        conn: Lazy<ClusterConnection>,
    },
    Sentinel {
        sentinels: Sentinels,
        config: AsyncConnectionConfig,
        conn: Lazy<MultiplexedConnection>,
    },
}

impl AsyncSide {
    /// The async side for `plan`, with the section's timeouts (`connect_timeout` for each
    /// connection attempt, `response_timeout` for each command; a cluster's client has them
    /// from its builder). Nothing is connected yet.
    pub(super) fn of(plan: &Plan, connect_timeout: Duration, response_timeout: Duration) -> Self {
        match plan {
            Plan::Single(client) => AsyncSide::Single(Native::new(
                client.clone(),
                connect_timeout,
                response_timeout,
            )),
            Plan::Cluster(client) => AsyncSide::Cluster {
                client: client.clone(),
                conn: Lazy::default(),
            },
            Plan::Sentinel(sentinels) => AsyncSide::Sentinel {
                sentinels: sentinels.clone(),
                config: AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(response_timeout)),
                conn: Lazy::default(),
            },
        }
    }

    /// The connection and its generation (for [`discard`](Self::discard)), opened if
    /// need be; `None` once closed.
    pub(super) async fn connection(&self) -> Option<RedisResult<(AsyncConn, u64)>> {
        match self {
            AsyncSide::Single(native) => native
                .connection()
                .map(|c| c.map(|c| (AsyncConn::Server(c), 0))),
            // Opening a connection is a large future (a cluster's slot map, the sentinels'
            // questions): boxed, and only when there is none, so that it does not make every
            // call's future (and its box) that large.
            AsyncSide::Cluster { client, conn } => {
                let opened = match conn.current() {
                    Some(found) => found,
                    None => Box::pin(conn.get(|| client.get_async_connection())).await,
                };
                opened.map(|c| c.map(|(c, g)| (AsyncConn::Cluster(c), g)))
            }
            AsyncSide::Sentinel {
                sentinels,
                config,
                conn,
            } => {
                let opened = match conn.current() {
                    Some(found) => found,
                    None => Box::pin(conn.get(|| discover(sentinels, config))).await,
                };
                opened.map(|c| c.map(|(c, g)| (AsyncConn::Primary(c), g)))
            }
        }
    }

    /// After connection `generation` saw an error that may leave it unusable (I/O, a timeout,
    /// `READONLY`), as the sync pool drops such a connection: the next call asks the sentinels
    /// for the primary again, or opens a fresh cluster connection (seeds, then the slot map).
    /// One server's manager reconnects by itself.
    ///
    /// A cluster connection is not left to repair itself: redis-rs 1.8's async cluster client,
    /// after a primary is killed, can stall in its "reconnect to the initial nodes" recovery,
    /// every later call timing out (seen in `tests/redis_cluster`: no call succeeded within
    /// 120 s while a fresh connection worked after about 5 s).
    pub(super) fn discard(&self, generation: u64) {
        match self {
            AsyncSide::Single(_) => {}
            AsyncSide::Cluster { conn, .. } => conn.reset(generation),
            AsyncSide::Sentinel { conn, .. } => conn.reset(generation),
        }
    }

    /// Drops the connection (its driver tasks end with it); later calls are refused.
    pub(super) fn close(&self) {
        match self {
            AsyncSide::Single(native) => native.close(),
            AsyncSide::Cluster { conn, .. } => conn.close(),
            AsyncSide::Sentinel { conn, .. } => conn.close(),
        }
    }
}

/// The current primary through the first sentinel that names one (a sentinel that is down or
/// does not know the master is skipped), checked with `ROLE`: the sync side's steps
/// ([`Sentinels::connect_primary`]) on multiplexed connections.
async fn discover(
    sentinels: &Sentinels,
    config: &AsyncConnectionConfig,
) -> RedisResult<MultiplexedConnection> {
    let mut last = None;
    for sentinel in sentinels.nodes() {
        let answer = async {
            let client = sentinels.client_of(sentinel)?;
            let mut conn = client
                .get_multiplexed_async_connection_with_config(config)
                .await?;
            sentinels.ask().query_async(&mut conn).await
        };
        match sentinels.named(sentinel, answer.await) {
            Ok(addr) => {
                let (client, shown) = sentinels.primary_client(addr)?;
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(config)
                    .await?;
                let role = redis::cmd("ROLE").query_async(&mut conn).await;
                return sentinels.check_role(role, &shown).map(|()| conn);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(sentinels.none_named(last))
}

/// A connection opened on first use, by one task at a time, and replaced when a caller reports
/// it stale.
pub(super) struct Lazy<C> {
    state: Mutex<State<C>>,
    /// Held while a connection is being opened: the other callers wait for that attempt and
    /// share its outcome instead of each opening one (or each waiting out a timeout).
    opening: AsyncMutex<()>,
}

struct State<C> {
    conn: Slot<C>,
    /// Counts the connections opened, so that a stale report about an older one does not
    /// drop its replacement.
    generation: u64,
    /// Counts the failed attempts, with the last one's error.
    failures: u64,
    last_error: Option<redis::RedisError>,
}

enum Slot<C> {
    Unopened,
    Open(C),
    Closed,
}

impl<C> Default for Lazy<C> {
    fn default() -> Self {
        Lazy {
            state: Mutex::new(State {
                conn: Slot::Unopened,
                generation: 0,
                failures: 0,
                last_error: None,
            }),
            opening: AsyncMutex::new(()),
        }
    }
}

/// What a caller finds: the connection, none yet (with the failures counted so far), or none
/// ever again.
enum Found<C> {
    Open(C, u64),
    Unopened(u64),
    Closed,
}

impl<C: Clone> Lazy<C> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self) -> Found<C> {
        let state = self.lock();
        match &state.conn {
            Slot::Open(conn) => Found::Open(conn.clone(), state.generation),
            Slot::Unopened => Found::Unopened(state.failures),
            Slot::Closed => Found::Closed,
        }
    }

    /// The open connection, or `None` inside once closed, without waiting; `None` when
    /// there is none yet ([`get`](Self::get) opens it).
    fn current(&self) -> Option<Option<RedisResult<(C, u64)>>> {
        match self.find() {
            Found::Open(conn, generation) => Some(Some(Ok((conn, generation)))),
            Found::Closed => Some(None),
            Found::Unopened(_) => None,
        }
    }

    /// The connection, opened with `open` unless it is open; a caller that waited for another
    /// task's failed attempt gets that attempt's error.
    async fn get<F, Fut>(&self, open: F) -> Option<RedisResult<(C, u64)>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RedisResult<C>>,
    {
        let failures = match self.find() {
            Found::Open(conn, generation) => return Some(Ok((conn, generation))),
            Found::Closed => return None,
            Found::Unopened(failures) => failures,
        };
        let _turn = self.opening.lock().await;
        match self.find() {
            Found::Open(conn, generation) => return Some(Ok((conn, generation))),
            Found::Closed => return None,
            Found::Unopened(now) if now != failures => {
                let state = self.lock();
                return state.last_error.clone().map(Err);
            }
            Found::Unopened(_) => {}
        }
        let opened = open().await;
        let mut state = self.lock();
        if matches!(state.conn, Slot::Closed) {
            return None;
        }
        Some(match opened {
            Ok(conn) => {
                state.generation += 1;
                state.conn = Slot::Open(conn.clone());
                Ok((conn, state.generation))
            }
            Err(err) => {
                state.failures += 1;
                state.last_error = Some(err.clone());
                Err(err)
            }
        })
    }

    /// Drops connection `generation` if it is still the current one.
    fn reset(&self, generation: u64) {
        let mut state = self.lock();
        if matches!(state.conn, Slot::Open(_)) && state.generation == generation {
            state.conn = Slot::Unopened;
        }
    }

    fn close(&self) {
        self.lock().conn = Slot::Closed;
    }
}

/// The handler's multiplexed connection, opened on the first async call.
pub(super) struct Native {
    client: redis::Client,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// The open connection: `None` before the first call and after `close`. Every call reads
    /// it without taking a lock (the calls of all tasks meet here).
    open: ArcSwapOption<ConnectionManager>,
    /// Taken only to open the connection or to close it; `true` once closed.
    closed: Mutex<bool>,
}

impl Native {
    pub(super) fn new(
        client: redis::Client,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        Native {
            client,
            connect_timeout,
            response_timeout,
            open: ArcSwapOption::empty(),
            closed: Mutex::new(false),
        }
    }

    /// The shared connection (a cheap handle on it), created on first use; `None` once closed.
    pub(super) fn connection(&self) -> Option<std::result::Result<ConnectionManager, RedisError>> {
        if let Some(manager) = &*self.open.load() {
            return Some(Ok(ConnectionManager::clone(manager)));
        }
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return None;
        }
        // Another task may have opened it while this one waited for the lock.
        if let Some(manager) = &*self.open.load() {
            return Some(Ok(ConnectionManager::clone(manager)));
        }
        // One attempt per reconnect: a call never waits through a backoff series longer than
        // connect_timeout; the next call tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(0);
        Some(
            ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                .inspect(|manager| self.open.store(Some(Arc::new(manager.clone())))),
        )
    }

    /// Drops the connection (its driver task ends with it once the calls in flight are done);
    /// later calls are refused.
    pub(super) fn close(&self) {
        let mut closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        *closed = true;
        self.open.store(None);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use redis::{ErrorKind, RedisError};

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn a_stale_report_drops_only_the_connection_it_is_about() {
        runtime().block_on(async {
            let lazy: Lazy<u32> = Lazy::default();
            let opened = AtomicU32::new(0);
            let open = || async { Ok(10 + opened.fetch_add(1, Ordering::SeqCst)) };
            let (first, generation) = lazy.get(open).await.unwrap().unwrap();
            assert_eq!(first, 10);
            assert_eq!(lazy.get(open).await.unwrap().unwrap().0, 10, "opened once");
            lazy.reset(generation);
            let (second, newer) = lazy.get(open).await.unwrap().unwrap();
            assert_eq!(second, 11);
            // A late report about the first connection keeps the second.
            lazy.reset(generation);
            assert_eq!(lazy.get(open).await.unwrap().unwrap(), (11, newer));
            lazy.close();
            assert!(lazy.get(open).await.is_none());
            assert_eq!(opened.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn callers_waiting_for_a_failed_attempt_share_its_error() {
        runtime().block_on(async {
            let lazy: Lazy<u32> = Lazy::default();
            let attempts = AtomicU32::new(0);
            let open = || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Err::<u32, _>(RedisError::from((ErrorKind::Io, "refused")))
            };
            let (a, b) = futures_util::future::join(lazy.get(open), lazy.get(open)).await;
            assert!(a.unwrap().is_err());
            assert!(b.unwrap().is_err());
            assert_eq!(attempts.load(Ordering::SeqCst), 1, "one attempt for both");
            // A later caller tries again.
            assert!(lazy.get(open).await.unwrap().is_err());
            assert_eq!(attempts.load(Ordering::SeqCst), 2);
        });
    }
}
