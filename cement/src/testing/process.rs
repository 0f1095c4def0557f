//! The process harness for tests against real servers: [`ServerSpec`] says what a server is
//! and how to ping it, [`ServerProcess`] runs it on a free loopback port with its output captured
//! to a log file. The memcached and redis fixtures in `cement_ext::testing` are built on it.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::ServerError;
use crate::Result;

/// How the packages that provide the server binaries are installed.
pub const INSTALL_HINT: &str = "apt-get install memcached redis-server";

/// How long a server may take to answer its first ping.
const READY_DEADLINE: Duration = Duration::from_secs(20);

/// Pause between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// How often a fresh port is tried when the server cannot bind the one picked (another process
/// may grab a free port between our probe and the server's `bind`).
const START_ATTEMPTS: usize = 4;

/// The last bytes of a server log that failure messages include.
const LOG_TAIL_BYTES: usize = 8 * 1024;

/// Numbers the scratch directories of the fixtures of this process.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Builds a server's command line from its port and scratch directory.
type ArgsFn = dyn Fn(u16, &Path) -> Vec<String> + Send + Sync;

/// Tells whether the server at an address is ready, in place of the ping.
type ProbeFn = dyn Fn(SocketAddr) -> bool + Send + Sync;

/// What a server process is and how to tell that it is ready; the input of
/// [`ServerProcess::start`]. `cement_ext::testing`'s `MemcachedServer` and `RedisServer` are
/// built on it; use it directly for another line-protocol server.
///
/// ```
/// use cement::testing::{ServerProcess, ServerSpec};
///
/// let spec = ServerSpec::new("memcached", "memcached", b"version\r\n", |reply| {
///     reply.starts_with(b"VERSION ")
/// })
/// .args(|port, _dir| {
///     ["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-u", "root"].map(String::from).to_vec()
/// });
/// let mut server = ServerProcess::start(spec)?;
/// assert!(server.is_running());
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
pub struct ServerSpec {
    name: &'static str,
    binary: String,
    env_override: Option<&'static str>,
    args: Box<ArgsFn>,
    ping: Vec<u8>,
    ready: fn(&[u8]) -> bool,
    probe: Option<Box<ProbeFn>>,
}

impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSpec")
            .field("name", &self.name)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

impl ServerSpec {
    /// A server called `name` (for messages), run from `binary` (a path, or a name looked up on
    /// `PATH`), that is ready once `ready` accepts the first reply to `ping` sent over TCP.
    pub fn new(
        name: &'static str,
        binary: impl Into<String>,
        ping: &[u8],
        ready: fn(&[u8]) -> bool,
    ) -> Self {
        ServerSpec {
            name,
            binary: binary.into(),
            env_override: None,
            args: Box::new(|_, _| Vec::new()),
            ping: ping.to_vec(),
            ready,
            probe: None,
        }
    }

    /// Replaces the ping: the server is ready once `probe(addr)` returns `true`. For a server
    /// that a plain-text ping cannot reach, e.g. one that speaks only TLS on its port; the probe
    /// may run a client program. It is called every few milliseconds until it succeeds, so each
    /// call must return within about a second.
    ///
    /// ```
    /// use cement::testing::{ServerProcess, ServerSpec};
    ///
    /// let spec = ServerSpec::new("redis", "redis-server", b"", |_| false)
    ///     .args(|port, _dir| {
    ///         ["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""].map(String::from).to_vec()
    ///     })
    ///     .probe(|addr| std::net::TcpStream::connect(addr).is_ok());
    /// let server = ServerProcess::start(spec)?;
    /// assert!(std::net::TcpStream::connect(server.addr()).is_ok());
    /// # Ok::<(), cement::testing::ServerError>(())
    /// ```
    pub fn probe(mut self, probe: impl Fn(SocketAddr) -> bool + Send + Sync + 'static) -> Self {
        self.probe = Some(Box::new(probe));
        self
    }

    /// The command line arguments for a given port and scratch directory (the directory is
    /// private to this fixture and removed on drop).
    pub fn args(
        mut self,
        args: impl Fn(u16, &Path) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.args = Box::new(args);
        self
    }

    /// An environment variable that, when set, names the binary instead.
    pub fn binary_env(mut self, var: &'static str) -> Self {
        self.env_override = Some(var);
        self
    }
}

/// A server process on a free loopback port, killed on drop.
///
/// [`start`](Self::start) picks a free port on `127.0.0.1`, spawns the binary and waits until
/// the server answers its ping (bounded retries). [`kill`](Self::kill) and
/// [`restart`](Self::restart) stop it and bring it back *on the same port*, for outage and
/// recovery tests. When a test panics while a fixture is alive, the fixture prints the server's
/// log to stderr, where the test harness shows it beside the failure.
///
/// A missing binary is an error that says how to install it ([`INSTALL_HINT`]): tests fail,
/// they never skip. The binaries are looked up on `PATH` and in the usual system directories;
/// a spec's [`binary_env`](ServerSpec::binary_env) variable names another one.
///
/// The memcached and redis fixtures built on it sit beside their handlers, in `cement-ext`
/// (feature `testing`): `cement_ext::testing::{MemcachedServer, RedisServer}` dereference to
/// their `ServerProcess`.
///
/// ```
/// use cement::testing::{ServerProcess, ServerSpec};
///
/// let spec = ServerSpec::new("redis", "redis-server", b"PING\r\n", |reply| reply.starts_with(b"+PONG"))
///     .args(|port, _dir| {
///         ["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""].map(String::from).to_vec()
///     });
/// let mut server = ServerProcess::start(spec)?;
/// println!("redis listening on {}", server.host_spec()); // "127.0.0.1:PORT"
/// server.kill()?; // the port now refuses connections
/// assert!(std::net::TcpStream::connect(server.addr()).is_err());
/// server.restart()?; // same port, empty state
/// assert!(server.is_running());
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
pub struct ServerProcess {
    spec: ServerSpec,
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("name", &self.spec.name)
            .field("binary", &self.binary)
            .field("port", &self.port)
            .field("pid", &self.pid())
            .finish()
    }
}

impl ServerProcess {
    /// Starts the server described by `spec` on a free loopback port and waits until it
    /// answers its ping.
    pub fn start(spec: ServerSpec) -> Result<Self, ServerError> {
        let binary = find_binary(&spec)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "cement-test-{}-{}-{id}",
            spec.name,
            std::process::id()
        ));
        fs::create_dir_all(&dir).map_err(|e| {
            ServerError::io(spec.name, format!("cannot create {}", dir.display()), e)
        })?;
        let log_path = dir.join(format!("{}.log", spec.name));
        let mut server = ServerProcess {
            spec,
            binary,
            port: 0,
            dir,
            log_path,
            child: None,
        };
        for attempt in 1.. {
            server.port = free_port()
                .map_err(|e| ServerError::io(server.spec.name, "no free loopback port", e))?;
            match server.spawn_and_wait() {
                Ok(()) => break,
                // The process died (most likely the port was taken meanwhile): try another one.
                Err(SpawnError::Exited(_)) if attempt < START_ATTEMPTS => {}
                Err(SpawnError::Exited(err) | SpawnError::Fatal(err)) => return Err(err),
            }
        }
        Ok(server)
    }

    /// The port the server listens on (stays the same across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// The address as a `"127.0.0.1:PORT"` string, the form config `hosts` entries take.
    pub fn host_spec(&self) -> String {
        self.addr().to_string()
    }

    /// The process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is (still) running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the server (SIGKILL, like a crash) and waits for it to exit; the port then refuses
    /// connections until [`restart`](Self::restart). Killing a stopped server does nothing.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        if let Some(mut child) = self.child.take() {
            // An error here means it has exited already, which is what we want.
            let _ = child.kill();
            child.wait().map_err(|e| {
                ServerError::io(self.spec.name, "waiting for the killed server failed", e)
            })?;
        }
        Ok(())
    }

    /// Kills the server if it runs, starts it again on the same port (with empty state) and
    /// waits until it answers.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.kill()?;
        // The port stays in use for a moment after a kill on some systems; retry briefly.
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(SpawnError::Exited(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(SpawnError::Exited(err) | SpawnError::Fatal(err)) => return Err(err),
            }
        }
    }

    /// Everything the server wrote to stdout and stderr so far (all runs of this fixture).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last few KiB of [`log`](Self::log), for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        if log.len() <= LOG_TAIL_BYTES {
            return log;
        }
        let mut start = log.len() - LOG_TAIL_BYTES;
        while !log.is_char_boundary(start) {
            start += 1;
        }
        format!("[...]\n{}", &log[start..])
    }

    /// The scratch directory of this fixture (log, data files); removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spawn_and_wait(&mut self) -> Result<(), SpawnError> {
        let name = self.spec.name;
        let cannot_open = |e| {
            let what = format!("cannot open {}", self.log_path.display());
            SpawnError::Fatal(ServerError::io(name, what, e))
        };
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(cannot_open)?;
        let log_err = log.try_clone().map_err(cannot_open)?;
        let args = (self.spec.args)(self.port, &self.dir);
        let child = Command::new(&self.binary)
            .args(&args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| {
                SpawnError::Fatal(ServerError::Spawn {
                    server: name,
                    binary: self.binary.clone(),
                    args: args.join(" "),
                    source,
                })
            })?;
        self.child = Some(child);

        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(SpawnError::Exited(self.failure(format!(
                        "exited with {status} before answering on port {}",
                        self.port
                    ))));
                }
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let err = self.failure(format!(
                    "did not answer a ping on port {} within {READY_DEADLINE:?}",
                    self.port
                ));
                let _ = self.kill();
                return Err(SpawnError::Fatal(err));
            }
            thread::sleep(PROBE_INTERVAL);
        }
    }

    fn ping(&self) -> bool {
        if let Some(probe) = &self.spec.probe {
            return probe(self.addr());
        }
        let attempt = || -> io::Result<bool> {
            let mut stream = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500))?;
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            stream.set_write_timeout(Some(Duration::from_millis(500)))?;
            stream.write_all(&self.spec.ping)?;
            let mut buf = [0u8; 256];
            let n = stream.read(&mut buf)?;
            Ok((self.spec.ready)(&buf[..n]))
        };
        attempt().unwrap_or(false)
    }

    fn failure(&self, what: String) -> ServerError {
        ServerError::NotReady {
            server: self.spec.name,
            binary: self.binary.clone(),
            what,
            log: self.log_path.clone(),
            log_tail: self.log_tail(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if thread::panicking() {
            // The test failed: show what the server said; the harness prints it with the failure.
            eprintln!(
                "---- {} on port {} log ----\n{}---- end of {} log ----",
                self.spec.name,
                self.port,
                self.log_tail(),
                self.spec.name
            );
        }
        let _ = self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

enum SpawnError {
    /// The process exited before it was ready (e.g. its port was taken); worth another try.
    Exited(ServerError),
    /// Anything else; retrying will not help.
    Fatal(ServerError),
}

/// A port that is free on 127.0.0.1 right now (the OS picks it).
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn find_binary(spec: &ServerSpec) -> Result<PathBuf, ServerError> {
    if let Some(var) = spec.env_override {
        if let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(ServerError::BadBinaryEnv {
                    server: spec.name,
                    var,
                    path,
                })
            };
        }
    }
    let wanted = Path::new(&spec.binary);
    if wanted.components().count() > 1 {
        return if wanted.is_file() {
            Ok(wanted.to_path_buf())
        } else {
            Err(not_found(spec))
        };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let system_dirs = [
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/bin",
        "/sbin",
    ];
    path_dirs
        .into_iter()
        .chain(system_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(wanted))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| not_found(spec))
}

fn not_found(spec: &ServerSpec) -> ServerError {
    ServerError::NotInstalled {
        server: spec.name,
        binary: spec.binary.clone(),
        env: spec.env_override,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_says_how_to_install() {
        let spec = ServerSpec::new("nothing", "cement-no-such-server-binary", b"x", |_| true);
        let err = ServerProcess::start(spec).unwrap_err().to_string();
        assert!(
            err.contains("apt-get install memcached redis-server"),
            "{err}"
        );
        assert!(err.contains("cement-no-such-server-binary"), "{err}");
    }
}
