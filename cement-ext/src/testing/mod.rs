//! Real `memcached` and `redis-server` processes for tests (feature `testing`), built on
//! [`cement::testing::ServerProcess`].
//!
//! [`MemcachedServer`] and [`RedisServer`] each pick a free port on `127.0.0.1`, run the server
//! with its output captured to a log file, and wait until it answers a ping. They dereference to
//! their [`ServerProcess`], so `server.port()`, `server.host_spec()`, `server.kill()`,
//! `server.restart()` (on the same port) and `server.log()` work on both. Dropping a fixture
//! kills its process; a test that panics while one is alive shows the server's log.
//!
//! A missing binary is an error naming the packages to install
//! ([`INSTALL_HINT`](cement::testing::INSTALL_HINT)): the tests fail, they never skip. The
//! binaries are looked up on `PATH` and in the usual system directories; `CEMENT_MEMCACHED_BIN`
//! / `CEMENT_REDIS_BIN` name another one.
//!
//! The fixtures need only the standard library, not the client crates, so this feature works
//! without `memcached` or `redis`: a third-party handler for either server can test against them.
//! [`cement::testing::BlackHole`], a listener that never answers, completes them for timeout tests.
//!
//! TLS: [`TlsFiles`] makes a throwaway CA and certificate with the `openssl` CLI;
//! [`ServerBuilder::tls`] starts a redis-server that speaks only TLS on its port, and
//! [`RedisCluster::start_tls`] and [`RedisSentinels::start_tls`] a cluster or a sentinel group
//! of them (ready checks through `redis-cli --tls`).
//!
//! ```
//! use cement_ext::testing::MemcachedServer;
//!
//! let mut server = MemcachedServer::start()?;
//! println!("memcached listening on {}", server.host_spec()); // "127.0.0.1:PORT"
//! server.kill()?; // the port now refuses connections
//! server.restart()?; // same port, empty cache
//! # Ok::<(), cement::testing::ServerError>(())
//! ```
//!
//! [`ServerProcess`]: cement::testing::ServerProcess

use std::fmt;
use std::marker::PhantomData;

/// A fixture is its `process` field: `Deref`/`DerefMut` to the [`ServerProcess`] give it
/// `port()`, `kill()`, `restart()`, ... without forwarding each.
///
/// [`ServerProcess`]: cement::testing::ServerProcess
macro_rules! derefs_to_process {
    ($fixture:ty) => {
        impl std::ops::Deref for $fixture {
            type Target = cement::testing::ServerProcess;

            fn deref(&self) -> &cement::testing::ServerProcess {
                &self.process
            }
        }

        impl std::ops::DerefMut for $fixture {
            fn deref_mut(&mut self) -> &mut cement::testing::ServerProcess {
                &mut self.process
            }
        }
    };
}

mod memcached;
mod redis;
mod redis_cluster;
mod tls;

pub use memcached::MemcachedServer;
pub use redis::RedisServer;
pub use redis_cluster::{RedisCluster, RedisSentinels, CLUSTER_NODE_TIMEOUT_MS};
pub use tls::TlsFiles;

/// Extra command line arguments for a [`MemcachedServer`] or [`RedisServer`], then `start()`.
///
/// ```
/// use cement_ext::testing::RedisServer;
///
/// let server = RedisServer::builder()
///     .arg("--requirepass")
///     .arg("s3cret")
///     .args(["--maxmemory", "10mb"])
///     .start()?;
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
pub struct ServerBuilder<S> {
    args: Vec<String>,
    /// TLS only, with these files (redis: [`ServerBuilder::tls`]).
    tls: Option<TlsFiles>,
    kind: PhantomData<fn() -> S>,
}

impl<S> Default for ServerBuilder<S> {
    fn default() -> Self {
        ServerBuilder {
            args: Vec::new(),
            tls: None,
            kind: PhantomData,
        }
    }
}

impl<S> Clone for ServerBuilder<S> {
    fn clone(&self) -> Self {
        ServerBuilder {
            args: self.args.clone(),
            tls: self.tls.clone(),
            kind: PhantomData,
        }
    }
}

impl<S> fmt::Debug for ServerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("args", &self.args)
            .field("tls", &self.tls)
            .finish()
    }
}

impl<S> ServerBuilder<S> {
    /// Appends one command line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several command line arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
}
