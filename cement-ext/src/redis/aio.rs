//! The redis handler's async side (feature `redis-async`): [`AsyncCacheHandler`] for
//! [`RedisCacheHandler`] on one multiplexed connection, opened lazily on the first async call
//! (to one server a self-reconnecting `ConnectionManager`, to a cluster or the sentinels'
//! primary the connections of [`aio_topology`](super::aio_topology)); see the module docs'
//! "Async" section. A dropped future drops only its wait: the connection's driver task reads
//! the reply and discards it, so the next caller never gets it.

use std::time::Duration;

use cement::cache::{AsyncCacheHandler, BoxFuture, Capabilities, KeyRules};
use cement::Result;
use redis::{FromRedisValue, RedisError};

use super::aio_topology::{AsyncConn, Node};
use super::counter::Direction;
use super::error::{is_stale_connection, keeps_connection};
use super::{glob_escape, set_cmd, ttl_millis, PurgeMode, RedisCacheHandler, PURGE_BATCH};

/// One request on the multiplexed connection.
enum Request<'a> {
    Cmd(&'a redis::Cmd),
    Pipe(&'a redis::Pipeline),
    Script(&'a redis::ScriptInvocation<'a>),
    /// A command for one node of a cluster (`SCAN`).
    OnNode(&'a redis::Cmd, &'a Node),
    /// The batch forms ([`AsyncConn`]'s `get_many`, `set_many`, `delete_many`).
    GetMany(&'a [&'a str]),
    SetMany(&'a [(&'a str, &'a [u8])], Option<Duration>),
    DeleteMany(&'a [&'a str]),
}

impl Request<'_> {
    async fn send<T: FromRedisValue>(&self, conn: &mut AsyncConn) -> redis::RedisResult<T> {
        match self {
            // What `Cmd::query_async` does, without the boxed future of its `ConnectionLike`
            // call: one allocation less per call.
            Request::Cmd(cmd) => match conn {
                AsyncConn::Server(manager) => {
                    let reply = manager.send_packed_command(cmd).await?.extract_error()?;
                    Ok(redis::from_redis_value(reply)?)
                }
                conn => cmd.query_async(conn).await,
            },
            Request::Pipe(pipe) => pipe.query_async(conn).await,
            Request::Script(script) => script.invoke_async(conn).await,
            Request::OnNode(cmd, node) => conn.on_node(cmd, node).await,
            Request::GetMany(keys) => decode(conn.get_many(keys).await?),
            Request::SetMany(entries, ttl) => decode(conn.set_many(entries, *ttl).await?),
            Request::DeleteMany(keys) => decode(conn.delete_many(keys).await?),
        }
    }
}

/// A batch's reply as the caller's type.
fn decode<T: FromRedisValue>(value: redis::Value) -> redis::RedisResult<T> {
    T::from_redis_value(value).map_err(RedisError::from)
}

impl RedisCacheHandler {
    /// Sends `request` on the shared connection. When the connection turns out to have died
    /// since its last use (the server restarted), the manager reconnects and the request is
    /// sent once more, as the sync handler repeats a call on a fresh connection. On a cluster
    /// or a sentinel primary, a connection that saw an error which may leave it unusable is
    /// discarded first ([`AsyncSide::discard`](super::aio_topology::AsyncSide::discard)).
    async fn query_async<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T> {
        let (mut conn, generation) = self.connection_async().await?;
        let err = match request.send(&mut conn).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !keeps_connection(&err) {
            self.native.discard(generation);
        }
        if !is_stale_connection(&err) {
            return Err(self.command_error(&err));
        }
        tracing::debug!(target: "cement_ext::redis", "reconnecting to {}: the connection had died", self.errors.target);
        let (mut conn, _) = self.connection_async().await?;
        request
            .send(&mut conn)
            .await
            .map_err(|err| self.command_error(&err))
    }

    async fn connection_async(&self) -> Result<(AsyncConn, u64)> {
        match self.native.connection().await {
            Some(Ok(conn)) => Ok(conn),
            Some(Err(err)) => Err(self.command_error(&err)),
            None => Err(self.closed()),
        }
    }

    async fn step_async(
        &self,
        key: &str,
        direction: Direction,
        delta: u64,
        ttl: Option<Duration>,
    ) -> Result<u64> {
        let invocation = self.counter_step(key, direction, delta, ttl);
        let reply: (i64, String) = self.query_async(Request::Script(&invocation)).await?;
        self.counter_outcome(key, direction, delta, &reply)
    }

    /// `SCAN MATCH` + `UNLINK` on the server, or on every primary of a cluster.
    async fn purge_prefix_async(&self) -> Result<()> {
        let (mut conn, _) = self.connection_async().await?;
        let nodes = conn
            .scan_targets()
            .await
            .map_err(|err| self.command_error(&err))?;
        for node in &nodes {
            self.purge_node_async(node).await?;
        }
        Ok(())
    }

    async fn purge_node_async(&self, node: &Node) -> Result<()> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(PURGE_BATCH);
            let (next, keys): (u64, Vec<Vec<u8>>) =
                self.query_async(Request::OnNode(&scan, node)).await?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                self.query_async::<u64>(Request::Cmd(&unlink)).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// `name key`, allocated once at its size (`redis::cmd` grows its buffers as arguments come).
fn key_cmd(name: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(2, name.len() + key.len());
    cmd.arg(name).arg(key);
    cmd
}

/// The same commands as the sync side (see the [module docs](super)), on the multiplexed
/// connection.
impl AsyncCacheHandler for RedisCacheHandler {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let cmd = key_cmd("GET", key);
            self.query_async(Request::Cmd(&cmd)).await
        })
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.check_size(value)?;
            let cmd = set_cmd(key, value, ttl);
            self.query_async(Request::Cmd(&cmd)).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let cmd = key_cmd("UNLINK", key);
            let removed: u64 = self.query_async(Request::Cmd(&cmd)).await?;
            Ok(removed > 0)
        })
    }

    fn purge(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match self.purge {
                PurgeMode::Db => {
                    let cmd = redis::cmd("FLUSHDB");
                    self.query_async(Request::Cmd(&cmd)).await
                }
                PurgeMode::Prefix => self.purge_prefix_async().await,
            }
        })
    }

    fn key_rules(&self) -> KeyRules {
        KeyRules::ANY
    }

    fn get_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let values: Vec<Option<Vec<u8>>> = self.query_async(Request::GetMany(keys)).await?;
            self.check_mget(keys.len(), values)
        })
    }

    fn set_many<'a>(
        &'a self,
        entries: &'a [(&'a str, &'a [u8])],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            for (_, value) in entries {
                self.check_size(value)?;
            }
            self.query_async(Request::SetMany(entries, ttl)).await
        })
    }

    fn delete_many<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(0);
            }
            let removed: u64 = self.query_async(Request::DeleteMany(keys)).await?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
    }

    fn close(&self) -> Result<()> {
        self.native.close();
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn add<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            self.check_size(value)?;
            let mut cmd = set_cmd(key, value, ttl);
            cmd.arg("NX");
            self.query_async(Request::Cmd(&cmd)).await
        })
    }

    fn incr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.step_async(key, Direction::Up, delta, ttl))
    }

    fn decr<'a>(
        &'a self,
        key: &'a str,
        delta: u64,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.step_async(key, Direction::Down, delta, ttl))
    }

    fn touch<'a>(&'a self, key: &'a str, ttl: Option<Duration>) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            match ttl {
                Some(ttl) => {
                    let mut cmd = redis::cmd("PEXPIRE");
                    cmd.arg(key).arg(ttl_millis(ttl));
                    self.query_async(Request::Cmd(&cmd)).await
                }
                None => {
                    let mut pipe = redis::pipe();
                    pipe.cmd("PERSIST").arg(key).ignore();
                    pipe.cmd("EXISTS").arg(key);
                    let (exists,): (bool,) = self.query_async(Request::Pipe(&pipe)).await?;
                    Ok(exists)
                }
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let cmd = key_cmd("EXISTS", key);
            self.query_async(Request::Cmd(&cmd)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call boxes its future, at its full size: it once held the future that opens a
    /// cluster or sentinel connection (3 KB, a `malloc` and a copy of that size per `GET`).
    #[test]
    fn a_calls_future_is_not_inflated_by_opening_a_connection() {
        let handler = RedisCacheHandler::new(super::super::RedisSettings::default())
            .expect("default settings");
        let get = AsyncCacheHandler::get(&handler, "k");
        let size = std::mem::size_of_val(&*get);
        assert!(
            size < 2048,
            "a GET's future is {size} bytes: box the rare, large futures (connecting) inside it"
        );
    }
}
