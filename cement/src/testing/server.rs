//! Real cache servers for tests: `memcached` and `redis-server` processes on free loopback ports,
//! plus a [`BlackHole`] listener that accepts connections and never answers.
//!
//! Each fixture picks a free port on `127.0.0.1`, spawns the server binary with its output
//! captured to a log file, and waits until the server answers a protocol ping (bounded
//! retries). Dropping the fixture kills the process; [`kill`](ServerProcess::kill) and
//! [`restart`](ServerProcess::restart) stop it and bring it back *on the same port*, for
//! outage and recovery tests. When a test panics while a fixture is alive, the fixture prints
//! the server's log to stderr, where the test harness shows it beside the failure.
//!
//! A missing binary is an error that says how to install it (tests fail, they never skip).
//! The binaries are looked up on `PATH` and in the usual system directories;
//! `CEMENT_MEMCACHED_BIN` / `CEMENT_REDIS_BIN` name another one.
//!
//! ```
//! use cement::testing::server::MemcachedServer;
//!
//! let mut server = MemcachedServer::start()?;
//! println!("memcached listening on {}", server.host_spec()); // "127.0.0.1:PORT"
//! server.kill()?; // the port now refuses connections
//! server.restart()?; // same port, empty cache
//! # Ok::<(), cement::testing::ServerError>(())
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
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

/// What a server process is and how to tell that it is ready; the input of
/// [`ServerProcess::start`]. [`MemcachedServer`] and [`RedisServer`] are built on it; use it
/// directly for another line-protocol server.
///
/// ```
/// use cement::testing::server::{ServerProcess, ServerSpec};
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
        }
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

/// A server process on a loopback port, killed on drop. See the [module docs](self).
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

/// A `memcached` process on a free loopback port (TCP only, no UDP), killed on drop.
///
/// ```
/// use cement::testing::server::MemcachedServer;
///
/// let server = MemcachedServer::start()?;
/// assert!(server.host_spec().starts_with("127.0.0.1:"));
/// // Extra server options, e.g. a 2 MiB item size limit:
/// let big = MemcachedServer::builder().arg("-I").arg("2m").start()?;
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct MemcachedServer {
    process: ServerProcess,
}

/// Extra command line arguments for a [`MemcachedServer`] or [`RedisServer`], then `start()`.
pub struct ServerBuilder<S> {
    args: Vec<String>,
    kind: std::marker::PhantomData<fn() -> S>,
}

impl<S> Default for ServerBuilder<S> {
    fn default() -> Self {
        ServerBuilder {
            args: Vec::new(),
            kind: std::marker::PhantomData,
        }
    }
}

impl<S> Clone for ServerBuilder<S> {
    fn clone(&self) -> Self {
        ServerBuilder {
            args: self.args.clone(),
            kind: std::marker::PhantomData,
        }
    }
}

impl<S> fmt::Debug for ServerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("args", &self.args)
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

impl ServerBuilder<MemcachedServer> {
    /// Starts memcached with the extra arguments.
    pub fn start(self) -> Result<MemcachedServer, ServerError> {
        let extra = self.args;
        let spec = ServerSpec::new("memcached", "memcached", b"version\r\n", |reply| {
            reply.starts_with(b"VERSION ")
        })
        .binary_env("CEMENT_MEMCACHED_BIN")
        .args(move |port, _dir| {
            let mut args: Vec<String> =
                ["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-v"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            // memcached refuses to run as root without `-u`; it ignores `-u` otherwise.
            args.extend(["-u".to_string(), "root".to_string()]);
            args.extend(extra.iter().cloned());
            args
        });
        Ok(MemcachedServer {
            process: ServerProcess::start(spec)?,
        })
    }
}

impl MemcachedServer {
    /// Starts memcached on a free loopback port and waits until it answers `version`.
    pub fn start() -> Result<Self, ServerError> {
        Self::builder().start()
    }

    /// A builder for extra memcached options (`.arg("-I").arg("2m").start()`).
    pub fn builder() -> ServerBuilder<MemcachedServer> {
        ServerBuilder::default()
    }

    /// See [`ServerProcess::port`].
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// See [`ServerProcess::addr`].
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// `"127.0.0.1:PORT"`, an entry for `cache.memcached` `hosts`.
    pub fn host_spec(&self) -> String {
        self.process.host_spec()
    }

    /// See [`ServerProcess::kill`].
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.process.kill()
    }

    /// See [`ServerProcess::restart`].
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.process.restart()
    }

    /// The server's captured output; see [`ServerProcess::log`].
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The underlying process fixture.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }

    /// Sends one raw text command (e.g. `"stats"`) over a fresh connection and returns the
    /// reply up to and including its terminating line (`END`, `OK`, `ERROR`, …), for tests
    /// that inspect the server directly.
    pub fn command(&self, command: &str) -> Result<String, ServerError> {
        raw_command(self.addr(), command)
            .map_err(|e| ServerError::io("memcached", format!("raw command {command:?} failed"), e))
    }

    /// One counter from `stats` (e.g. `"cmd_flush"`, `"curr_items"`).
    pub fn stat(&self, name: &str) -> Result<u64, ServerError> {
        let stats = self.command("stats")?;
        stats
            .lines()
            .filter_map(|line| line.strip_prefix("STAT "))
            .filter_map(|rest| rest.split_once(' '))
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.trim().parse().ok())
            .ok_or_else(|| ServerError::Protocol {
                server: "memcached",
                what: format!("`stats` has no numeric `{name}`: {stats}"),
            })
    }
}

/// Writes `command\r\n` and reads until a line that ends a memcached reply.
fn raw_command(addr: SocketAddr, command: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(command.as_bytes())?;
    stream.write_all(b"\r\n")?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let terminal = |reply: &[u8]| {
        let text = String::from_utf8_lossy(reply);
        let Some(body) = text.strip_suffix("\r\n") else {
            return false;
        };
        let last = body.rsplit("\r\n").next().unwrap_or("");
        [
            "END",
            "OK",
            "ERROR",
            "STORED",
            "NOT_STORED",
            "EXISTS",
            "NOT_FOUND",
            "DELETED",
            "TOUCHED",
            "RESET",
        ]
        .contains(&last)
            || last.starts_with("VERSION ")
            || last.starts_with("CLIENT_ERROR")
            || last.starts_with("SERVER_ERROR")
            || last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty()
            || last.starts_with("HD")
            || last.starts_with("EN")
            || last.starts_with("NF")
            || last.starts_with("NS")
            || last.starts_with("MN")
    };
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if terminal(&reply) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// A `redis-server` process on a free loopback port, without persistence (`--save ''
/// --appendonly no`), killed on drop.
///
/// ```
/// use cement::testing::server::RedisServer;
///
/// let server = RedisServer::start()?;
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// let secured = RedisServer::builder().arg("--requirepass").arg("s3cret").start()?;
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    process: ServerProcess,
}

impl ServerBuilder<RedisServer> {
    /// Starts redis-server with the extra arguments.
    pub fn start(self) -> Result<RedisServer, ServerError> {
        let extra = self.args;
        // Any reply to PING means the server is up: `+PONG`, or `-NOAUTH` with `--requirepass`
        // (but not `-LOADING`, which means it is still starting).
        let spec = ServerSpec::new("redis", "redis-server", b"PING\r\n", |reply| {
            reply.starts_with(b"+PONG")
                || reply.starts_with(b"-NOAUTH")
                || reply.starts_with(b"-ERR AUTH")
        })
        .binary_env("CEMENT_REDIS_BIN")
        .args(move |port, dir| {
            let mut args: Vec<String> = vec![
                "--bind".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
                "--daemonize".into(),
                "no".into(),
                "--dir".into(),
                dir.display().to_string(),
                "--logfile".into(),
                String::new(),
            ];
            args.extend(extra.iter().cloned());
            args
        });
        Ok(RedisServer {
            process: ServerProcess::start(spec)?,
        })
    }
}

impl RedisServer {
    /// Starts redis-server on a free loopback port and waits until it answers `PING`.
    pub fn start() -> Result<Self, ServerError> {
        Self::builder().start()
    }

    /// A builder for extra redis-server options (`.arg("--requirepass").arg("x").start()`).
    pub fn builder() -> ServerBuilder<RedisServer> {
        ServerBuilder::default()
    }

    /// See [`ServerProcess::port`].
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// See [`ServerProcess::addr`].
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host_spec(&self) -> String {
        self.process.host_spec()
    }

    /// `redis://127.0.0.1:PORT` (no credentials).
    pub fn url(&self) -> String {
        format!("redis://{}", self.process.host_spec())
    }

    /// See [`ServerProcess::kill`].
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.process.kill()
    }

    /// See [`ServerProcess::restart`].
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.process.restart()
    }

    /// The server's captured output; see [`ServerProcess::log`].
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The underlying process fixture.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

/// A TCP listener on a free loopback port that accepts every connection and never answers or
/// closes it: the worst kind of hung server, for timeout tests. Connections are held until the
/// `BlackHole` is dropped.
///
/// ```
/// use std::io::Read;
/// use std::time::Duration;
/// use cement::testing::server::BlackHole;
///
/// let hole = BlackHole::start()?;
/// let mut stream = std::net::TcpStream::connect(hole.addr()).unwrap();
/// stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
/// assert!(stream.read(&mut [0u8; 1]).is_err()); // nothing ever comes back
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct BlackHole {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl BlackHole {
    /// Binds a free loopback port and starts accepting in a background thread.
    pub fn start() -> Result<Self, ServerError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| ServerError::io("black hole", "cannot bind a loopback port", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::io("black hole", "no local address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            thread::Builder::new()
                .name("cement-black-hole".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        if let (Ok(stream), Ok(mut held)) = (stream, accepted.lock()) {
                            held.push(stream);
                        }
                    }
                })
                .map_err(|e| ServerError::io("black hole", "cannot spawn its thread", e))?
        };
        Ok(BlackHole {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        })
    }

    /// The listener's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host_spec(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.lock().map(|held| held.len()).unwrap_or(0)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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

    #[test]
    fn memcached_starts_kills_and_restarts_on_the_same_port() {
        let mut server = MemcachedServer::start().unwrap();
        let port = server.port();
        assert!(server.command("version").unwrap().starts_with("VERSION "));
        assert_eq!(server.command("set k 0 0 1\r\nv").unwrap(), "STORED\r\n");
        server.kill().unwrap();
        assert!(TcpStream::connect(server.addr()).is_err());
        server.restart().unwrap();
        assert_eq!(server.port(), port);
        assert_eq!(server.command("get k").unwrap(), "END\r\n");
        assert!(server.stat("cmd_flush").is_ok());
    }

    #[test]
    fn redis_starts_with_extra_args() {
        let server = RedisServer::builder()
            .arg("--requirepass")
            .arg("s3cret")
            .start()
            .unwrap();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"GET x\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"-NOAUTH"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }

    #[test]
    fn black_hole_accepts_and_never_answers() {
        let hole = BlackHole::start().unwrap();
        let mut stream = TcpStream::connect(hole.addr()).unwrap();
        stream.write_all(b"version\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = stream.read(&mut [0u8; 8]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while hole.accepted() == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(hole.accepted(), 1);
    }
}
