//! [`BlackHole`]: a listener that accepts connections and never answers, for timeout tests.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::ServerError;
use crate::Result;

/// A TCP listener on a free loopback port that accepts every connection and never answers or
/// closes it: the worst kind of hung server, for timeout tests. Connections are held until the
/// `BlackHole` is dropped.
///
/// ```
/// use std::io::Read;
/// use std::time::Duration;
/// use cement::testing::BlackHole;
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
    use std::io::{self, Read, Write};
    use std::time::Instant;

    use super::*;

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
