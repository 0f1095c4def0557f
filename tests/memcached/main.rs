//! The memcached cache handler against real `memcached` processes on free loopback ports, one
//! test binary split by area over `tests/support`.
//!
//! Needs `memcached` (`apt-get install memcached`); the tests fail, never skip, when it is
//! missing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cement::Error;
use cement_ext::testing::MemcachedServer;

#[path = "../support/mod.rs"]
mod support;

mod atomic;
mod config;
mod conformance;
mod distribution;
mod failures;
mod keys;
mod purge;
mod threads;
mod values;

/// For each key, whether `server` holds it (`mg <key>` pipelined over one connection).
fn held_by(server: &MemcachedServer, keys: &[String]) -> Vec<bool> {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = String::new();
    for key in keys {
        request.push_str(&format!("mg {key}\r\n"));
    }
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    keys.iter()
        .map(|key| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            match line.trim_end() {
                "HD" => true,
                "EN" => false,
                other => panic!("unexpected reply {other:?} for {key}"),
            }
        })
        .collect()
}

/// A cache call, boxed so that several can be listed.
type Call<'a> = Box<dyn Fn() -> cement::Result<()> + 'a>;

/// Asserts that `call` failed with a timeout (or unavailability) within a few times the
/// configured timeouts.
fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    bound: Duration,
    call: impl FnOnce() -> cement::Result<T>,
) -> Error {
    let started = Instant::now();
    let result = call();
    let elapsed = started.elapsed();
    let err = result.expect_err(&format!("{what} should fail"));
    println!("{what}: failed after {elapsed:?}: {err}");
    assert!(
        elapsed < bound,
        "{what} took {elapsed:?} to fail (bound {bound:?}): {err}"
    );
    err
}
