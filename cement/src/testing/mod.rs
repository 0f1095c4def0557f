//! The test kit for cache handlers (feature `testing`): the shared conformance suite and
//! real-server fixtures.
//!
//! * [`conformance`]: the cache contract, one function per clause, and
//!   [`conformance::run_all`] to check a handler against all of them;
//! * [`server`]: real `memcached` and `redis-server` processes on free loopback ports, and a
//!   black-hole listener for timeout tests.
//!
//! Enable it in a handler crate's dev-dependencies:
//! `cement = { version = "...", features = ["testing"] }`.

pub mod conformance;
mod error;
pub mod server;

pub use error::ServerError;
pub use server::{BlackHole, ServerProcess, ServerSpec, INSTALL_HINT};
