//! The test kit for cache handlers (feature `testing`): the shared conformance suite and the
//! generic pieces of real-server fixtures.
//!
//! * [`conformance`]: the cache contract, one function per clause, and
//!   [`conformance::run_all`] to check a handler against all of them;
//! * [`ServerSpec`] and [`ServerProcess`]: any line-protocol server binary run on a free
//!   loopback port, killed on drop, restartable on the same port, its log captured;
//! * [`BlackHole`]: a listener that accepts and never answers, for timeout tests;
//! * [`ServerError`]: what went wrong in a fixture.
//!
//! The `memcached` and `redis-server` fixtures themselves sit beside their handlers, in
//! `cement-ext` with its `testing` feature: `cement_ext::testing::{MemcachedServer, RedisServer}`.
//!
//! Enable it in a handler crate's dev-dependencies:
//! `cement = { version = "...", features = ["testing"] }`.

/// `return Err(message)` from a clause when `cond` does not hold.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

mod black_hole;
pub mod conformance;
#[cfg(feature = "tokio")]
pub mod conformance_async;
mod error;
mod face;
mod process;
pub mod values;

pub use black_hole::BlackHole;
pub use error::ServerError;
pub use process::{ServerProcess, ServerSpec, INSTALL_HINT};

/// `?` for cement results inside a clause: the error becomes what broke.
fn ok<T>(what: &str, result: crate::Result<T>) -> std::result::Result<T, String> {
    result.map_err(|e| format!("{what} failed: {e}"))
}
