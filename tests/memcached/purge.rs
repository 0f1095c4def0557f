//! Purge: by prefix (namespace generation) and by server (`flush_all`).

use cement_ext::memcached::{MemcachedSettings, PurgeMode};
use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{cache, cache_with, hosts, settings};

#[test]
fn purge_removes_only_this_prefix() {
    let server = MemcachedServer::start().unwrap();
    let flushes = server.stat("cmd_flush").unwrap();
    let (a, b) = (
        cache(&[server.host_spec()], "a:"),
        cache(&[server.host_spec()], "b:"),
    );
    a.set("k", "a").unwrap();
    b.set("k", "b").unwrap();
    a.purge().unwrap();
    assert_eq!(a.get::<String>("k").unwrap(), None);
    assert!(!a.delete("k").unwrap(), "delete found a purged value");
    assert_eq!(b.get::<String>("k").unwrap().as_deref(), Some("b"));
    assert_eq!(
        server.stat("cmd_flush").unwrap(),
        flushes,
        "prefix purge flushed the server"
    );
    // the namespace works on after a purge, and purging twice is fine
    a.set("k", "a2").unwrap();
    assert_eq!(a.get::<String>("k").unwrap().as_deref(), Some("a2"));
    a.purge().unwrap();
    a.purge().unwrap();
    assert_eq!(a.get::<String>("k").unwrap(), None);
    let many = a.get_many::<String>(&["k", "x"]).unwrap();
    assert_eq!(many, [None, None]);
}

#[test]
fn purge_by_another_process_is_seen_at_once() {
    let server = MemcachedServer::start().unwrap();
    // Two handlers with the same prefix stand for two processes of one app.
    let (one, two) = (
        cache(&[server.host_spec()], "app:"),
        cache(&[server.host_spec()], "app:"),
    );
    one.set("k1", &1).unwrap();
    assert_eq!(two.get::<i32>("k1").unwrap(), Some(1));
    two.purge().unwrap();
    assert_eq!(one.get::<i32>("k1").unwrap(), None);
    // `one` still has the old generation cached for writes: its store must notice and re-stamp
    let other = cache(&[server.host_spec()], "app:");
    other.set("warm", &0).unwrap();
    two.purge().unwrap();
    other.set("k2", &2).unwrap();
    assert_eq!(other.get::<i32>("k2").unwrap(), Some(2));
    assert_eq!(two.get::<i32>("k2").unwrap(), Some(2));
    assert_eq!(two.get::<i32>("warm").unwrap(), None);
}

#[test]
fn losing_the_generation_turns_values_into_misses_never_stale_hits() {
    let server = MemcachedServer::start().unwrap();
    let cache = cache(&[server.host_spec()], "gen:");
    cache.set("k", &1).unwrap();
    // The generation key is evicted (here: deleted by hand).
    assert_eq!(server.command("delete gen:#~gen").unwrap(), "DELETED\r\n");
    assert_eq!(cache.get::<i32>("k").unwrap(), None);
    // writes create a new generation and work again
    cache.set("k", &2).unwrap();
    assert_eq!(cache.get::<i32>("k").unwrap(), Some(2));
    // a purge followed by the loss of the generation cannot bring purged values back
    cache.set("old", &3).unwrap();
    cache.purge().unwrap();
    assert_eq!(server.command("delete gen:#~gen").unwrap(), "DELETED\r\n");
    cache.set("new", &4).unwrap();
    assert_eq!(cache.get::<i32>("old").unwrap(), None);
    assert_eq!(cache.get::<i32>("new").unwrap(), Some(4));
    // flush_all by someone else: all misses, then fine again
    assert_eq!(server.command("flush_all").unwrap(), "OK\r\n");
    assert_eq!(cache.get::<i32>("new").unwrap(), None);
    cache.set("new", &5).unwrap();
    assert_eq!(cache.get::<i32>("new").unwrap(), Some(5));
}

#[test]
fn purge_server_mode_flushes_every_server() {
    let (s1, s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let all = hosts(&[&s1, &s2]);
    let flushing = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&all, "f:")
    });
    let bystander = cache(&all, "other:");
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for key in &keys {
        flushing.set(key, key).unwrap();
        bystander.set(key, key).unwrap();
    }
    let before = (s1.stat("cmd_flush").unwrap(), s2.stat("cmd_flush").unwrap());
    flushing.purge().unwrap();
    assert_eq!(
        (s1.stat("cmd_flush").unwrap(), s2.stat("cmd_flush").unwrap()),
        (before.0 + 1, before.1 + 1)
    );
    for key in &keys {
        assert_eq!(flushing.get::<String>(key).unwrap(), None);
        assert_eq!(
            bystander.get::<String>(key).unwrap(),
            None,
            "flush_all spares nothing"
        );
    }
    // no generation key in server mode
    assert_eq!(s1.command("mg f:#~gen").unwrap(), "EN\r\n");
    flushing.set("k", "v").unwrap();
    assert_eq!(s1.command("mg f:#~gen").unwrap(), "EN\r\n");
    assert_eq!(flushing.get::<String>("k").unwrap().as_deref(), Some("v"));
}

#[test]
fn server_and_prefix_mode_values_do_not_mix() {
    let server = MemcachedServer::start().unwrap();
    let prefix_mode = cache(&[server.host_spec()], "mix:");
    let server_mode = cache_with(MemcachedSettings {
        purge: PurgeMode::Server,
        ..settings(&[server.host_spec()], "mix:")
    });
    prefix_mode.set("p", &1).unwrap();
    server_mode.set("s", &2).unwrap();
    assert_eq!(server_mode.get::<i32>("p").unwrap(), None);
    assert_eq!(prefix_mode.get::<i32>("s").unwrap(), None);
}
