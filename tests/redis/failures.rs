//! Failures and recovery: a server down, killed, restarted, hung or paused; the pool; threads;
//! close.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cement::cache::CacheHandler;
use cement::testing::BlackHole;
use cement::Error;
use cement_ext::redis::{RedisCacheHandler, RedisSettings};
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, cache, cache_with, raw, settings};
use crate::{assert_within, raw_keys};

#[test]
fn app_starts_while_the_server_is_down_and_recovers_when_it_comes_up() {
    let mut server = RedisServer::start().unwrap();
    server.kill().unwrap();
    let app = app("rd_lazy", &server)
        .set("cache.redis", "connect_timeout", 5.0)
        .setup()
        .expect("setup must not connect");
    let started = Instant::now();
    let err = app.cache().get::<String>("k").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    // Fail fast: a refused connection is reported at once, not after connect_timeout.
    assert_within(started, Duration::from_secs(4), "a refused connection");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(msg.contains("redis-server running"), "{msg}");

    server.restart().unwrap();
    app.cache().set("k", "back").unwrap();
    assert_eq!(
        app.cache().get::<String>("k").unwrap().as_deref(),
        Some("back")
    );
    app.close().unwrap();
}

#[test]
fn kill_call_restart_call_recovers() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "rs:");
    // Open several pooled connections, so that several are stale after the restart.
    std::thread::scope(|s| {
        for t in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in 0..50 {
                    c.set(&format!("{t}:{i}"), &i).unwrap();
                }
            });
        }
    });
    assert_eq!(c.get::<i32>("0:1").unwrap(), Some(1));

    server.kill().unwrap();
    let started = Instant::now();
    let err = c.get::<i32>("0:1").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_within(started, Duration::from_secs(2), "a call to a killed server");
    let err = c.set("x", &1).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    server.restart().unwrap();
    // The first call after the restart already works: stale pooled connections are replaced.
    c.set("after", "restart").unwrap();
    assert_eq!(
        c.get::<String>("after").unwrap().as_deref(),
        Some("restart")
    );
    assert_eq!(c.get::<i32>("0:1").unwrap(), None); // no persistence: the data is gone
    for i in 0..20 {
        c.get::<i32>(&format!("3:{i}")).unwrap();
    }
}

#[test]
fn restart_without_a_failed_call_in_between_is_invisible() {
    let mut server = RedisServer::start().unwrap();
    let c = cache(server.port(), "rs2:");
    c.set("k", &1).unwrap();
    server.restart().unwrap();
    // The pooled connection died with the old server; the call reconnects transparently.
    c.set("k", &2).unwrap();
    assert_eq!(c.get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn black_hole_server_times_out_within_the_configured_timeout() {
    let hole = BlackHole::start().unwrap();
    let timeout = Duration::from_millis(300);
    let c = cache_with(RedisSettings {
        port: hole.port(),
        prefix: "bh:".into(),
        connect_timeout: timeout.as_secs_f64(),
        response_timeout: timeout.as_secs_f64(),
        ..Default::default()
    });
    for op in ["get", "set", "delete", "purge", "get_many"] {
        let started = Instant::now();
        let result = match op {
            "get" => c.get::<i32>("k").map(drop),
            "set" => c.set("k", &1),
            "delete" => c.delete("k").map(drop),
            "purge" => c.purge(),
            _ => c.get_many::<i32>(&["a", "b"]).map(drop),
        };
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{op}: {err}");
        assert!(err.to_string().contains("connect_timeout"), "{op}: {err}");
        // Connecting (TCP, then the handshake's round trips) is bounded as a whole: well under
        // the 0.6-1.3 s an unbounded handshake took; generous for a loaded CI machine.
        assert_within(started, timeout * 4, op);
    }
    assert!(hole.accepted() >= 1);
}

#[test]
fn a_hung_server_times_out_on_response_and_then_recovers() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        response_timeout: 0.2,
        ..settings(server.port(), "hung:")
    });
    c.set("k", &1).unwrap();
    // Stop the server from answering anyone for 1.5 s.
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .query::<()>(&mut raw(&server))
        .unwrap();
    let started = Instant::now();
    let err = c.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("response_timeout"), "{err}");
    assert_within(started, Duration::from_millis(1200), "a paused server");
    std::thread::sleep(Duration::from_millis(1600));
    // The timed-out connection (with a reply still on its way) was dropped, not reused.
    assert_eq!(c.get::<i32>("k").unwrap(), Some(1));
    c.set("k2", &2).unwrap();
    assert_eq!(c.get::<i32>("k2").unwrap(), Some(2));
}

#[test]
fn an_exhausted_pool_waits_then_times_out() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        pool_size: 1,
        connect_timeout: 0.3,
        response_timeout: 5.0,
        ..settings(server.port(), "pool:")
    });
    c.set("k", &1).unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1200)
        .query::<()>(&mut raw(&server))
        .unwrap();
    std::thread::scope(|s| {
        let busy = s.spawn(|| c.get::<i32>("k"));
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let err = c.get::<i32>("k").unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("pool_size"), "{err}");
        assert_within(
            started,
            Duration::from_secs(1),
            "waiting for a pooled connection",
        );
        assert_eq!(busy.join().unwrap().unwrap(), Some(1));
    });
}

#[test]
fn eight_threads_of_mixed_operations_lose_nothing() {
    let server = RedisServer::start().unwrap();
    let c = cache_with(RedisSettings {
        pool_size: 4, // fewer connections than threads: they must share
        response_timeout: 5.0,
        connect_timeout: 5.0,
        ..settings(server.port(), "mt:")
    });
    let errors = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8usize {
            let (c, errors) = (&c, &errors);
            s.spawn(move || {
                for i in 0..1000usize {
                    let key = format!("{t}:{i}");
                    let ok = match i % 5 {
                        0 | 1 => c.set(&key, &(t, i)).is_ok(),
                        2 => c
                            .get::<(usize, usize)>(&format!("{t}:{}", i - 1))
                            .map(|v| v == Some((t, i - 1)))
                            .unwrap_or(false),
                        3 => {
                            let prev = [format!("{t}:{}", i - 3), format!("{t}:{}", i - 2)];
                            let refs: Vec<&str> = prev.iter().map(String::as_str).collect();
                            c.get_many::<(usize, usize)>(&refs)
                                .map(|v| v == [Some((t, i - 3)), Some((t, i - 2))])
                                .unwrap_or(false)
                        }
                        _ => c.delete(&format!("{t}:{}", i - 4)).unwrap_or(false),
                    };
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    // Every thread set keys i%5 ∈ {0,1} and deleted the i%5 == 0 ones: 200 remain per thread.
    assert_eq!(raw_keys(&server, "mt:*").len(), 8 * 200);
    for t in 0..8usize {
        assert_eq!(
            c.get::<(usize, usize)>(&format!("{t}:996")).unwrap(),
            Some((t, 996))
        );
        assert_eq!(c.get::<(usize, usize)>(&format!("{t}:995")).unwrap(), None);
    }
}

#[test]
fn close_releases_connections_and_refuses_calls() {
    let server = RedisServer::start().unwrap();
    let handler = RedisCacheHandler::new(settings(server.port(), "close:")).unwrap();
    handler.set("close:k", b"v", None).unwrap();
    handler.close().unwrap();
    let err = handler.get("close:k").unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}
