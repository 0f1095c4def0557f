//! Atomic operations: add, counters, touch, exists, in both purge modes.

use std::time::Duration;

use cement::cache::{CacheHandler, Capabilities};
use cement::testing::BlackHole;
use cement::Error;
use cement_ext::memcached::{MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{cache, cache_with, handler_with, server_mode, settings};
use crate::Call;

/// What memcached says is left of `wire_key`'s TTL (`mg <key> t`): seconds, `-1` for never;
/// `None` when the key is missing.
fn remaining_ttl(server: &MemcachedServer, wire_key: &str) -> Option<i64> {
    let reply = server.command(&format!("mg {wire_key} t")).unwrap();
    if reply.starts_with("EN") {
        return None;
    }
    let ttl = reply
        .split_whitespace()
        .find_map(|flag| flag.strip_prefix('t'))
        .and_then(|t| t.parse().ok());
    assert!(ttl.is_some(), "unexpected reply {reply:?}");
    ttl
}

#[test]
fn counters_are_native_stamped_and_restart_after_a_purge() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "ctr:");
    assert_eq!(cache.capabilities(), Capabilities::ALL);
    assert_eq!(cache.incr("hits", 5).unwrap(), 5);
    // memcached's own counter: raw digits, stamped with the generation like every value
    let wire = cache.wire_key("hits").unwrap();
    let raw = server.command(&format!("mg {wire} v f")).unwrap();
    assert!(
        raw.starts_with("VA 1 f") && !raw.starts_with("VA 1 f0 ") && raw.ends_with("\r\n5\r\n"),
        "{raw:?}"
    );
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(5));
    cache.set("set", &41u64).unwrap();
    assert_eq!(cache.incr("set", 1).unwrap(), 42);

    cache.purge().unwrap();
    assert_eq!(cache.get::<u64>("hits").unwrap(), None);
    assert!(!cache.exists("hits").unwrap());
    assert_eq!(
        cache.incr("hits", 2).unwrap(),
        2,
        "a purged counter starts over"
    );
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(2));
    cache.purge().unwrap();
    assert_eq!(cache.decr("hits", 1).unwrap(), 0);
    assert_eq!(cache.get::<u64>("hits").unwrap(), Some(0));
    // a purged value that is not a number is absent too, not an error
    cache.set("text", "words").unwrap();
    cache.purge().unwrap();
    assert_eq!(cache.incr("text", 3).unwrap(), 3);

    // Another process purges, so this one's cached generation is stale: its next increment
    // still restarts the counter, and a counter it creates is stamped with the new generation.
    let other = cache_with(settings(&[server.host_spec()], "ctr:"));
    assert_eq!(cache.incr("shared", 10).unwrap(), 10);
    other.purge().unwrap();
    assert_eq!(cache.incr("shared", 1).unwrap(), 1);
    assert_eq!(other.get::<u64>("shared").unwrap(), Some(1));
    other.purge().unwrap();
    assert_eq!(cache.incr("new", 4).unwrap(), 4);
    assert_eq!(other.get::<u64>("new").unwrap(), Some(4));

    // The server loses the generation (eviction, restart): counters restart, never resume.
    assert_eq!(server.command("delete ctr:#~gen").unwrap(), "DELETED\r\n");
    assert_eq!(cache.incr("new", 1).unwrap(), 1);
    assert_eq!(other.get::<u64>("new").unwrap(), Some(1));
}

#[test]
fn counters_keep_their_ttl_and_are_created_with_the_given_one() {
    let server = MemcachedServer::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let prefix = format!("ttl{purge:?}:");
        let handler = handler_with(MemcachedSettings {
            purge,
            ..settings(&[server.host_spec()], &prefix)
        });
        let key = format!("{prefix}n");
        assert_eq!(
            handler
                .incr(&key, 1, Some(Duration::from_secs(100)))
                .unwrap(),
            1
        );
        let created = remaining_ttl(&server, &key).unwrap();
        assert!((90..=100).contains(&created), "{purge:?}: {created}");
        // existing counters keep their TTL, whatever the call passes
        assert_eq!(
            handler
                .incr(&key, 1, Some(Duration::from_secs(5000)))
                .unwrap(),
            2
        );
        assert_eq!(handler.decr(&key, 1, None).unwrap(), 1);
        let kept = remaining_ttl(&server, &key).unwrap();
        assert!((0..=100).contains(&kept), "{purge:?}: {kept}");
        // created without a TTL: never expires
        let forever = format!("{prefix}forever");
        assert_eq!(handler.decr(&forever, 3, None).unwrap(), 0);
        assert_eq!(remaining_ttl(&server, &forever), Some(-1), "{purge:?}");
    }
    // through the facade: a counter made by `set_with_ttl` keeps that TTL
    let cache = cache(&[server.host_spec()], "ttlf:");
    cache
        .set_with_ttl("c", &41u64, Duration::from_secs(100))
        .unwrap();
    assert_eq!(cache.incr("c", 1).unwrap(), 42);
    let kept = remaining_ttl(&server, &cache.wire_key("c").unwrap()).unwrap();
    assert!((0..=100).contains(&kept), "{kept}");
}

#[test]
fn decr_stops_at_zero_and_shrunk_counters_read_back() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "dec:"), server_mode(&hosts, "decs:")] {
        assert_eq!(cache.incr("d", 10).unwrap(), 10);
        assert_eq!(cache.decr("d", 1).unwrap(), 9);
        assert_eq!(cache.get::<u64>("d").unwrap(), Some(9));
        assert_eq!(cache.decr("d", 100).unwrap(), 0);
        assert_eq!(cache.get::<u64>("d").unwrap(), Some(0));
        // increments wrap at 2^64, as memcached's do
        cache.set("w", &u64::MAX).unwrap();
        assert_eq!(cache.incr("w", 1).unwrap(), 0);
        assert_eq!(
            cache.get_many::<u64>(&["d", "w"]).unwrap(),
            [Some(0), Some(0)]
        );
        assert_eq!(cache.incr("w", 7).unwrap(), 7);
        // memcached may rewrite a counter that shrank in place, padded with spaces ("10" - 1
        // as "9 "); such a value reads back as its number (written here by hand, with the
        // stamp of the value beside it)
        let wire = cache.wire_key("w").unwrap();
        let raw = server.command(&format!("mg {wire} f")).unwrap();
        let flags = raw
            .split_whitespace()
            .find_map(|flag| flag.strip_prefix('f'))
            .unwrap();
        let padded = cache.wire_key("padded").unwrap();
        let stored = server
            .command(&format!("ms {padded} 4 F{flags}\r\n12  "))
            .unwrap();
        assert_eq!(stored, "HD\r\n");
        assert_eq!(cache.get::<u64>("padded").unwrap(), Some(12));
        assert_eq!(cache.incr("padded", 1).unwrap(), 13);
    }
}

#[test]
fn incr_of_a_value_that_is_not_a_counter_is_an_invalid_argument() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "nan:"), server_mode(&hosts, "nans:")] {
        cache.set("json", "text").unwrap();
        cache.set("negative", &-1i32).unwrap();
        for key in ["json", "negative"] {
            let wire = cache.wire_key(key).unwrap().into_owned();
            for result in [cache.incr(key, 1), cache.decr(key, 1)] {
                let err = result.unwrap_err();
                assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
                assert!(err.to_string().contains(&wire), "{err}");
            }
        }
        // nothing changed, and the handler goes on working
        assert_eq!(
            cache.get::<String>("json").unwrap().as_deref(),
            Some("text")
        );
        assert_eq!(cache.get::<i32>("negative").unwrap(), Some(-1));
        assert_eq!(cache.incr("fine", 1).unwrap(), 1);
    }
}

#[test]
fn add_treats_a_purged_value_as_absent() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let cache = cache(&hosts, "add:");
    cache.set("k", "old").unwrap();
    cache.purge().unwrap();
    assert!(cache.add("k", "new").unwrap(), "add over a purged value");
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("new"));
    assert!(!cache.add("k", "newer").unwrap());
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("new"));

    // A process whose cached generation is stale (another one purged) adds over a purged
    // value, and adds a new key: both land stamped with the current generation.
    let other = cache_with(settings(&hosts, "add:"));
    other.set("j", "x").unwrap();
    cache.purge().unwrap();
    assert!(other.add("j", "y").unwrap());
    assert_eq!(cache.get::<String>("j").unwrap().as_deref(), Some("y"));
    cache.purge().unwrap();
    assert!(other.add("fresh", "z").unwrap());
    assert_eq!(cache.get::<String>("fresh").unwrap().as_deref(), Some("z"));
    assert!(!cache.add("fresh", "w").unwrap());

    // with a TTL
    assert!(cache
        .add_with_ttl("ttl", &1, Duration::from_secs(100))
        .unwrap());
    let ttl = remaining_ttl(&server, &cache.wire_key("ttl").unwrap()).unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");

    // server mode: memcached's add as it is
    let plain = server_mode(&hosts, "adds:");
    assert!(plain.add("k", &1).unwrap());
    assert!(!plain.add("k", &2).unwrap());
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(1));
}

/// Eight threads (half of them in a process with a stale generation) add the same key over a
/// purged value: exactly one wins, every time.
#[test]
fn concurrent_adds_over_a_purged_value_have_one_winner() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let (one, two) = (cache(&hosts, "race:"), cache(&hosts, "race:"));
    for round in 0..20 {
        let key = format!("k{round}");
        one.set(&key, &-1).unwrap();
        two.purge().unwrap();
        let winners: Vec<i32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (cache, key) = (if t % 2 == 0 { &one } else { &two }, &key);
                    s.spawn(move || cache.add(key, &t).unwrap().then_some(t))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(one.get::<i32>(&key).unwrap(), Some(winners[0]));
        assert_eq!(two.get::<i32>(&key).unwrap(), Some(winners[0]));
    }
}

/// Eight threads (half of them in a process with a stale generation) increment a counter that
/// was just purged: the stale count is dropped once, and no increment is lost or doubled.
#[test]
fn concurrent_increments_of_a_purged_counter_count_exactly() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let (one, two) = (cache(&hosts, "crace:"), cache(&hosts, "crace:"));
    for round in 0..10 {
        let key = format!("n{round}");
        assert_eq!(one.incr(&key, 1000).unwrap(), 1000);
        two.purge().unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let (cache, key) = (if t % 2 == 0 { &one } else { &two }, &key);
                s.spawn(move || {
                    for _ in 0..50 {
                        cache.incr(key, 1).unwrap();
                    }
                });
            }
        });
        assert_eq!(one.get::<u64>(&key).unwrap(), Some(400), "round {round}");
    }
}

#[test]
fn touch_sets_or_clears_the_expiry_of_current_values_only() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    for cache in [cache(&hosts, "touch:"), server_mode(&hosts, "touchs:")] {
        let wire = cache.wire_key("t").unwrap().into_owned();
        cache
            .set_with_ttl("t", &1, Duration::from_secs(100))
            .unwrap();
        assert!((90..=100).contains(&remaining_ttl(&server, &wire).unwrap()));
        assert!(cache.touch("t", None).unwrap());
        assert_eq!(
            remaining_ttl(&server, &wire),
            Some(-1),
            "None clears the expiry"
        );
        assert!(cache.touch("t", Some(Duration::from_secs(50))).unwrap());
        assert!((40..=50).contains(&remaining_ttl(&server, &wire).unwrap()));
        assert_eq!(
            cache.get::<i32>("t").unwrap(),
            Some(1),
            "touch kept the value"
        );
        assert!(!cache.touch("missing", None).unwrap());
        assert!(matches!(
            cache.touch("t", Some(Duration::ZERO)),
            Err(Error::InvalidArgument(_))
        ));
    }
    let cache = cache(&hosts, "touch:");
    cache.purge().unwrap();
    assert!(!cache.touch("t", None).unwrap(), "a purged value is absent");
}

#[test]
fn exists_honours_the_generation_and_the_mode() {
    let server = MemcachedServer::start().unwrap();
    let hosts = [server.host_spec()];
    let cache = cache(&hosts, "ex:");
    assert!(!cache.exists("k").unwrap());
    cache.set("k", &0).unwrap();
    assert!(cache.exists("k").unwrap());
    cache.purge().unwrap();
    assert!(!cache.exists("k").unwrap());
    cache.set("k", &0).unwrap();
    assert!(cache.exists("k").unwrap());
    // values of the other mode are misses, for exists as for get
    let plain = server_mode(&hosts, "ex:");
    assert!(!plain.exists("k").unwrap());
    plain.set("s", &1).unwrap();
    assert!(plain.exists("s").unwrap());
    assert!(!cache.exists("s").unwrap());
}

#[test]
fn atomic_operations_fail_cleanly_while_the_server_is_down() {
    let mut server = MemcachedServer::start().unwrap();
    let hole = BlackHole::start().unwrap();
    for purge in [PurgeMode::Prefix, PurgeMode::Server] {
        let down = cache_with(MemcachedSettings {
            purge,
            ..settings(&[server.host_spec()], "down:")
        });
        // the generation is known before the outage
        down.set("warm", &1).unwrap();
        let hung = cache_with(MemcachedSettings {
            connect_timeout: 0.3,
            response_timeout: 0.3,
            purge,
            ..settings(&[hole.host_spec()], "down:")
        });
        server.kill().unwrap();
        for (cache, expect_timeout) in [(&down, false), (&hung, true)] {
            let calls: Vec<(&str, Call<'_>)> = vec![
                ("add", Box::new(|| cache.add("k", &1).map(drop))),
                ("incr", Box::new(|| cache.incr("n", 1).map(drop))),
                ("decr", Box::new(|| cache.decr("n", 1).map(drop))),
                ("touch", Box::new(|| cache.touch("k", None).map(drop))),
                ("exists", Box::new(|| cache.exists("k").map(drop))),
            ];
            for (what, call) in calls {
                let err = call().expect_err(what);
                let expected = if expect_timeout {
                    matches!(
                        err,
                        Error::Timeout {
                            backend: "memcached",
                            ..
                        }
                    )
                } else {
                    matches!(
                        err,
                        Error::Unavailable {
                            backend: "memcached",
                            ..
                        }
                    )
                };
                assert!(expected, "{purge:?} {what}: {err}");
            }
        }
        server.restart().unwrap();
        // back by itself
        assert_eq!(down.incr("n", 2).unwrap(), 2);
        assert!(down.add("k", &1).unwrap());
    }
}
