//! [`MemcachedServer`]: a real `memcached` on a free loopback port, with a raw protocol client
//! for tests that inspect the server directly.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use cement::testing::{ServerError, ServerProcess, ServerSpec};

use super::ServerBuilder;

/// A `memcached` process on a free loopback port (TCP only, no UDP), killed on drop.
///
/// It dereferences to its [`ServerProcess`]: `server.host_spec()` is an entry for
/// `cache.memcached` `hosts`, and `kill()` / `restart()` stop it and bring it back (empty) on
/// the same port. [`command`](Self::command) and [`stat`](Self::stat) talk to it directly.
///
/// ```
/// use cement_ext::testing::MemcachedServer;
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

derefs_to_process!(MemcachedServer);

impl MemcachedServer {
    /// Starts memcached on a free loopback port and waits until it answers `version`.
    pub fn start() -> Result<Self, ServerError> {
        Self::builder().start()
    }

    /// A builder for extra memcached options (`.arg("-I").arg("2m").start()`).
    pub fn builder() -> ServerBuilder<MemcachedServer> {
        ServerBuilder::default()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
