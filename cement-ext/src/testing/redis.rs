//! [`RedisServer`]: a real `redis-server` on a free loopback port, without persistence.

use cement::testing::{ServerError, ServerProcess, ServerSpec};

use super::ServerBuilder;

/// A `redis-server` process on a free loopback port, without persistence (`--save ''
/// --appendonly no`), killed on drop.
///
/// It dereferences to its [`ServerProcess`] (`port()`, `kill()`, `restart()` on the same port,
/// `log()`), and adds [`url`](Self::url).
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

    /// `redis://127.0.0.1:PORT` (no credentials).
    pub fn url(&self) -> String {
        format!("redis://{}", self.process.host_spec())
    }
}

derefs_to_process!(RedisServer);

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

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
}
