//! The async face (`app.async_cache()`, feature `tokio`) against the memory handler and real
//! `memcached` / `redis-server` processes: the async conformance kit, single-flight across
//! tasks, a runtime that never stalls while the backend hangs, cancellation, and a server
//! killed and restarted under load. Every runtime here is `current_thread`: one blocked call
//! would stall everything, which is what these tests would see.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../support/mod.rs"]
mod support;

mod async_only;
mod conformance;
mod failures;
mod flight;

/// Runs `work` beside a task that ticks every millisecond, and returns its output with the
/// longest gap the ticker saw between two ticks: how long the runtime's thread was held.
async fn with_ticker<F: Future>(work: F) -> (F::Output, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let now = Instant::now();
                worst = worst.max(now - last);
                last = now;
            }
            worst
        })
    };
    // Let the ticker take its first tick.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let output = work.await;
    stop.store(true, Ordering::Relaxed);
    (output, ticker.await.expect("the ticker ran"))
}

/// The longest a 1 ms ticker may wait for the runtime's thread. A cache call that held the
/// thread would show as a gap of its whole length: 300 ms for the black-hole calls (their
/// timeouts), 160 ms and more for the lease's later polling pauses, and the sum over every
/// waiting task. 150 ms still catches each of those, with room for a loaded CI host's
/// scheduler (the 50 ms leaves no room for that on a 2-core machine running other
/// test threads, although it held in every run here).
const MAX_GAP: Duration = Duration::from_millis(150);
