//! [`RedisServer`]: a real `redis-server` on a free loopback port, without persistence, in
//! plain text or TLS only; and `redis-cli`, which talks to it either way.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cement::testing::{ServerError, ServerProcess, ServerSpec};

use super::{ServerBuilder, TlsFiles};

/// A `redis-server` process on a free loopback port, without persistence (`--save ''
/// --appendonly no`), killed on drop.
///
/// It dereferences to its [`ServerProcess`] (`port()`, `kill()`, `restart()` on the same port,
/// `log()`), and adds [`url`](Self::url). With [`tls`](ServerBuilder::tls) it speaks only TLS
/// on its port.
///
/// ```
/// use cement_ext::testing::RedisServer;
///
/// let server = RedisServer::start()?;
/// assert!(server.url().starts_with("redis://127.0.0.1:"));
/// let secured = RedisServer::builder().arg("--requirepass").arg("s3cret").start()?;
/// # Ok::<(), cement::testing::ServerError>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    process: ServerProcess,
    tls: Option<TlsFiles>,
}

impl ServerBuilder<RedisServer> {
    /// TLS only: the server listens with TLS on its port and not in plain text (`--port 0
    /// --tls-port PORT`), presents `files`' certificate, and uses TLS for replication and the
    /// cluster bus too (`--tls-replication yes --tls-cluster yes`). Clients need not present a
    /// certificate (`--tls-auth-clients no`). Readiness is checked with `redis-cli --tls`.
    ///
    /// ```
    /// use cement_ext::testing::{RedisServer, TlsFiles};
    ///
    /// let files = TlsFiles::generate()?;
    /// let server = RedisServer::builder().tls(&files).start()?;
    /// assert!(server.url().starts_with("rediss://127.0.0.1:"));
    /// assert!(std::net::TcpStream::connect(server.addr()).is_ok());
    /// # Ok::<(), cement::testing::ServerError>(())
    /// ```
    pub fn tls(mut self, files: &TlsFiles) -> Self {
        self.tls = Some(files.clone());
        self
    }

    /// Starts redis-server with the extra arguments.
    pub fn start(self) -> Result<RedisServer, ServerError> {
        let extra = self.args;
        let tls = self.tls;
        // Any reply to PING means the server is up: `+PONG`, or `-NOAUTH` with `--requirepass`
        // (but not `-LOADING`, which means it is still starting).
        let mut spec = ServerSpec::new("redis", "redis-server", b"PING\r\n", |reply| {
            reply.starts_with(b"+PONG")
                || reply.starts_with(b"-NOAUTH")
                || reply.starts_with(b"-ERR AUTH")
        })
        .binary_env("CEMENT_REDIS_BIN");
        if let Some(files) = tls.clone() {
            redis_cli_installed()?;
            spec = spec.probe(move |addr| {
                redis_cli_at(addr, Some(&files), &["PING"]).is_ok_and(|reply| {
                    reply.starts_with("PONG")
                        || reply.starts_with("NOAUTH")
                        || reply.starts_with("ERR AUTH")
                })
            });
        }
        let tls_args = tls.as_ref().map(tls_args);
        let spec = spec.args(move |port, dir| {
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
            if let Some(tls_args) = &tls_args {
                // The later `--port` wins: no plain-text listener.
                args.extend(["--port".into(), "0".into(), "--tls-port".into()]);
                args.push(port.to_string());
                args.extend(tls_args.iter().cloned());
            }
            args.extend(extra.iter().cloned());
            args
        });
        Ok(RedisServer {
            process: ServerProcess::start(spec)?,
            tls,
        })
    }
}

/// The certificate options of a TLS-only server (all but the ports).
pub(crate) fn tls_args(files: &TlsFiles) -> Vec<String> {
    let mut args: Vec<String> = vec!["--tls-cert-file".into(), files.cert().display().to_string()];
    args.extend(["--tls-key-file".into(), files.key().display().to_string()]);
    args.extend([
        "--tls-ca-cert-file".into(),
        files.ca().display().to_string(),
    ]);
    for (option, value) in [
        ("--tls-auth-clients", "no"),
        ("--tls-replication", "yes"),
        ("--tls-cluster", "yes"),
    ] {
        args.extend([option.into(), value.into()]);
    }
    args
}

/// How long one `redis-cli` call may take before it is killed.
const CLI_LIMIT: Duration = Duration::from_secs(5);

/// `redis-cli`, with `--tls --cacert CA` for a TLS server.
pub(crate) fn redis_cli(tls: Option<&TlsFiles>) -> Command {
    let mut cli = Command::new("redis-cli");
    if let Some(files) = tls {
        cli.arg("--tls").arg("--cacert").arg(files.ca());
    }
    cli
}

/// A missing `redis-cli` as the error that says to install it.
pub(crate) fn cli_error(err: std::io::Error, what: &str) -> ServerError {
    match err.kind() {
        std::io::ErrorKind::NotFound => ServerError::NotInstalled {
            server: "redis-cli",
            binary: "redis-cli".into(),
            env: None,
        },
        _ => ServerError::io("redis-cli", format!("cannot run redis-cli {what}"), err),
    }
}

/// Fails with [`ServerError::NotInstalled`] when `redis-cli` is missing, before a readiness
/// probe that needs it would wait in vain.
fn redis_cli_installed() -> Result<(), ServerError> {
    redis_cli(None)
        .arg("--version")
        .output()
        .map(drop)
        .map_err(|e| cli_error(e, "--version"))
}

/// One command through `redis-cli -h 127.0.0.1 -p PORT` (TLS with `tls`), killed after
/// [`CLI_LIMIT`]: its output (a status, an error or a bulk string as text), or why it failed.
pub(crate) fn redis_cli_at(
    addr: SocketAddr,
    tls: Option<&TlsFiles>,
    command: &[&str],
) -> Result<String, String> {
    let mut cli = redis_cli(tls);
    cli.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()]);
    cli.args(command);
    let out = run_bounded(&mut cli, CLI_LIMIT).map_err(|e| format!("redis-cli: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "redis-cli {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `cmd` with its output captured, killing it after `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {limit:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(5));
    };
    // The replies are small: they fit in the pipes' buffers while the process runs.
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr)?;
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
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

    /// `redis://127.0.0.1:PORT` (no credentials); `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://{}", self.process.host_spec())
    }

    /// The certificate files of a TLS server ([`ServerBuilder::tls`]); `None` in plain text.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }
}

derefs_to_process!(RedisServer);

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    /// The first bytes `server` answers to `request` sent in plain text.
    fn plain_text(server: &RedisServer, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(server.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(request)?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf)?;
        Ok(buf[..n].to_vec())
    }

    #[test]
    fn redis_starts_with_extra_args() {
        let server = RedisServer::builder()
            .arg("--requirepass")
            .arg("s3cret")
            .start()
            .unwrap();
        let reply = plain_text(&server, b"GET x\r\n").unwrap();
        assert!(
            reply.starts_with(b"-NOAUTH"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }

    #[test]
    fn a_tls_server_speaks_only_tls_on_its_port() {
        let files = TlsFiles::generate().unwrap();
        let mut server = RedisServer::builder().tls(&files).start().unwrap();
        let reply = redis_cli_at(server.addr(), Some(&files), &["PING"]).unwrap();
        assert!(reply.starts_with("PONG"), "{reply}");
        // Plain text gets no reply: the TLS handshake fails and the server drops the connection.
        let plain = plain_text(&server, b"PING\r\n");
        assert!(
            !matches!(&plain, Ok(reply) if reply.starts_with(b"+PONG")),
            "{plain:?}"
        );
        // The certificate files outlive the builder: a restart finds them.
        server.restart().unwrap();
        let reply = redis_cli_at(server.addr(), Some(&files), &["PING"]).unwrap();
        assert!(reply.starts_with("PONG"), "{reply}");
    }
}
