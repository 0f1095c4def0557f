//! Failures: a server that is down, unresolvable or hung, and one server down of two.

use std::time::Duration;

use cement::cache::CacheHandler;
use cement::testing::BlackHole;
use cement::Error;
use cement_ext::memcached::{MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{app, cache, cache_with, handler_with, hosts, settings};
use crate::{assert_fails_fast, Call};

#[test]
fn starts_while_the_server_is_down_and_recovers_by_itself() {
    let mut server = MemcachedServer::start().unwrap();
    server.kill().unwrap();
    let app = app("mc_down")
        .set("cache.memcached", "hosts", vec![server.host_spec()])
        .set("cache.memcached", "connect_timeout", 0.5)
        .set("cache.memcached", "response_timeout", 0.5)
        .setup()
        .expect("setup must not need the server");
    let bound = Duration::from_secs(3);
    let err = assert_fails_fast("get while down", bound, || app.cache().get::<i32>("k"));
    assert!(
        matches!(
            err,
            Error::Unavailable {
                backend: "memcached",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&server.host_spec()), "{err}");
    let err = assert_fails_fast("set while down", bound, || app.cache().set("k", &1));
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let err = assert_fails_fast("purge while down", bound, || app.cache().purge());
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");

    server.restart().unwrap();
    app.cache().set("k", &1).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(1));

    // kill, call, restart on the same port, call: the pooled connections recover by themselves
    server.kill().unwrap();
    let err = assert_fails_fast("get after kill", bound, || app.cache().get::<i32>("k"));
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    server.restart().unwrap();
    assert_eq!(
        app.cache().get::<i32>("k").unwrap(),
        None,
        "a restarted memcached is empty"
    );
    app.cache().set("k", &2).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn host_names_are_resolved_when_first_used() {
    let server = MemcachedServer::start().unwrap();
    // A name that does not resolve: setup works, calls say what is wrong.
    let unresolvable = cache(&["no-such-host.invalid".to_string()], "dns:");
    let err = unresolvable.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains("no-such-host.invalid:11211"),
        "{err}"
    );
    // A name that does: `localhost`.
    let cache = cache(&[format!("localhost:{}", server.port())], "dns:");
    cache.set("k", &1).unwrap();
    assert_eq!(cache.get::<i32>("k").unwrap(), Some(1));
}

#[test]
fn a_black_hole_server_times_out_every_call() {
    let hole = BlackHole::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let cache = cache_with(MemcachedSettings {
            connect_timeout: 0.3,
            response_timeout: 0.3,
            purge,
            ..settings(&[hole.host_spec()], "bh:")
        });
        // connect (0.3 s) + exchange (0.3 s) at most; allow a few times that
        let bound = Duration::from_secs(3);
        let checks: Vec<(&str, Call<'_>)> = vec![
            ("get", Box::new(|| cache.get::<i32>("k").map(drop))),
            ("set", Box::new(|| cache.set("k", &1))),
            ("delete", Box::new(|| cache.delete("k").map(drop))),
            (
                "get_many",
                Box::new(|| cache.get_many::<i32>(&["a", "b"]).map(drop)),
            ),
            (
                "set_many",
                Box::new(|| cache.set_many(&[("a", 1), ("b", 2)])),
            ),
            ("purge", Box::new(|| cache.purge())),
        ];
        for (what, call) in checks {
            let err = assert_fails_fast(what, bound, call);
            assert!(
                matches!(
                    err,
                    Error::Timeout {
                        backend: "memcached",
                        ..
                    }
                ),
                "{purge:?} {what}: {err}"
            );
        }
    }
    assert!(hole.accepted() > 0);
}

#[test]
fn one_server_down_fails_only_its_keys() {
    let (s1, mut s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let all = hosts(&[&s1, &s2]);
    let handler = handler_with(settings(&all, "part:"));
    let keys: Vec<String> = (0..40).map(|i| format!("part:{i}")).collect();
    for key in &keys {
        handler.set(key, key.as_bytes(), None).unwrap();
    }
    s2.kill().unwrap();
    let mut ok = 0;
    for key in &keys {
        match handler.get(key) {
            Ok(value) => {
                assert_eq!(handler.server_for(key), s1.host_spec());
                assert_eq!(value.as_deref(), Some(key.as_bytes()));
                ok += 1;
            }
            Err(err) => {
                assert_eq!(handler.server_for(key), s2.host_spec());
                assert!(matches!(err, Error::Unavailable { .. }), "{err}");
            }
        }
    }
    assert!(ok > 0 && ok < keys.len(), "{ok}");
    // purge reports the dead server but purges the live one
    assert!(handler.purge().is_err());
    let live = keys
        .iter()
        .find(|k| handler.server_for(k) == s1.host_spec())
        .unwrap();
    assert_eq!(handler.get(live).unwrap(), None);
}
