//! [`ServerError`]: why a test fixture could not start, stop or query its server.

use std::io;
use std::path::PathBuf;

use super::INSTALL_HINT;

/// Why a server fixture ([`ServerProcess`](super::ServerProcess), [`BlackHole`](super::BlackHole),
/// or a fixture built on them such as `cement_ext::testing::MemcachedServer`) failed.
///
/// It is not a cache [`Error`](crate::Error): a fixture that cannot run its server is a broken
/// test setup, not an unavailable cache, and the message says which step failed. A missing
/// binary is [`ServerError::NotInstalled`], whose message names the packages to install
/// ([`INSTALL_HINT`]): server tests fail without the server, they never skip. When the server
/// ran but did not come up, [`ServerError::NotReady`] carries the tail of its log.
///
/// ```
/// use cement::testing::{ServerError, ServerProcess, ServerSpec};
///
/// let spec = ServerSpec::new("nothing", "cement-no-such-server", b"ping\r\n", |_| true);
/// let err = ServerProcess::start(spec).unwrap_err();
/// assert!(matches!(err, ServerError::NotInstalled { server: "nothing", .. }));
/// assert!(err.to_string().contains("apt-get install memcached redis-server"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server's binary is neither on `PATH` nor in the usual system directories.
    #[error(
        "the `{binary}` binary was not found on PATH or in /usr/bin, /usr/sbin, /usr/local/bin; \
         these tests need a real server: install it ({INSTALL_HINT}){}",
        env_hint(*.env)
    )]
    NotInstalled {
        /// The fixture, e.g. `"memcached"`.
        server: &'static str,
        /// The binary that was looked for, e.g. `"redis-server"`.
        binary: String,
        /// The environment variable that could name the binary instead, if the fixture has one.
        env: Option<&'static str>,
    },

    /// The environment variable that overrides the binary names no file.
    #[error(
        "{var}={} does not name a file; unset it or point it at the {server} binary",
        .path.display()
    )]
    BadBinaryEnv {
        /// The fixture.
        server: &'static str,
        /// The variable, e.g. `"CEMENT_MEMCACHED_BIN"`.
        var: &'static str,
        /// What it is set to.
        path: PathBuf,
    },

    /// The binary was found but could not be run.
    #[error("cannot run {} {args}: {source}; install it: {INSTALL_HINT}", .binary.display())]
    Spawn {
        /// The fixture.
        server: &'static str,
        /// The binary.
        binary: PathBuf,
        /// Its command line arguments, joined by spaces.
        args: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The server ran but did not come up: it exited, or did not answer its ping in time.
    #[error(
        "{server} ({}) {what}; its log ({}):\n{log_tail}",
        .binary.display(),
        .log.display()
    )]
    NotReady {
        /// The fixture.
        server: &'static str,
        /// The binary.
        binary: PathBuf,
        /// What happened, e.g. `"exited with exit status: 1 before answering on port 40123"`.
        what: String,
        /// The server's log file.
        log: PathBuf,
        /// The last few KiB of that log.
        log_tail: String,
    },

    /// Another step of the fixture failed: creating its directory, finding a free port,
    /// opening its log, waiting for a killed process, talking to the server.
    #[error("{server}: {what}: {source}")]
    Io {
        /// The fixture.
        server: &'static str,
        /// The step that failed, e.g. `"cannot create /tmp/cement-test-redis-1-0"`.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The server answered, but not what the fixture expected.
    #[error("{server}: {what}")]
    Protocol {
        /// The fixture.
        server: &'static str,
        /// What was asked and what came back.
        what: String,
    },
}

impl ServerError {
    /// An [`Io`](ServerError::Io) error: `server`'s step `what` failed with `source`.
    pub fn io(server: &'static str, what: impl Into<String>, source: io::Error) -> Self {
        ServerError::Io {
            server,
            what: what.into(),
            source,
        }
    }
}

fn env_hint(env: Option<&'static str>) -> String {
    env.map(|var| format!(", or set {var} to its path"))
        .unwrap_or_default()
}
