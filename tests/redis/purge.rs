//! Purge: this app's keys only (SCAN + UNLINK), glob characters in the prefix, `purge = "db"`.

use cement_ext::redis::{PurgeMode, RedisSettings};
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, cache, cache_with, raw, settings};
use crate::{calls, raw_keys, reset_stats};

#[test]
fn purge_removes_only_this_apps_keys() {
    let server = RedisServer::start().unwrap();
    let app_a = app("rd_app_a", &server).setup().unwrap();
    let app_b = app("rd_app_b", &server).setup().unwrap();
    redis::cmd("SET")
        .arg("unrelated")
        .arg("x")
        .query::<()>(&mut raw(&server))
        .unwrap();
    for i in 0..2500 {
        app_a.cache().set(&format!("k{i}"), &i).unwrap();
    }
    app_b.cache().set("k1", "b's").unwrap();
    reset_stats(&server);
    app_a.cache().purge().unwrap();
    // In batches, with SCAN and UNLINK; never KEYS or FLUSHDB (checked before this test's own
    // KEYS below).
    assert!(
        calls(&server, "scan") > 1,
        "purge should scan in several steps"
    );
    assert!(
        calls(&server, "unlink") >= 3,
        "2500 keys should be unlinked in batches"
    );
    assert_eq!(
        calls(&server, "keys") + calls(&server, "flushdb") + calls(&server, "flushall"),
        0
    );
    assert_eq!(raw_keys(&server, "rd_app_a:*"), Vec::<String>::new());
    assert_eq!(
        app_b.cache().get::<String>("k1").unwrap().as_deref(),
        Some("b's")
    );
    assert_eq!(raw_keys(&server, "*"), ["rd_app_b:k1", "unrelated"]);
    app_a.close().unwrap();
    app_b.close().unwrap();
}

#[test]
fn purge_escapes_glob_characters_in_the_prefix() {
    let server = RedisServer::start().unwrap();
    // Unescaped, `x[yz]*:*` would also match `xy:…` and `xz\…` keys.
    let weird = cache(server.port(), "x[yz]*:");
    let plain = cache(server.port(), "xy:");
    let backslash = cache(server.port(), "xz\\?:");
    weird.set("k", &1).unwrap();
    plain.set("k", &2).unwrap();
    backslash.set("k", &3).unwrap();
    weird.purge().unwrap();
    assert_eq!(weird.get::<i32>("k").unwrap(), None);
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(2));
    assert_eq!(backslash.get::<i32>("k").unwrap(), Some(3));
    backslash.purge().unwrap();
    assert_eq!(plain.get::<i32>("k").unwrap(), Some(2));
}

#[test]
fn purge_db_flushes_the_selected_database_only() {
    let server = RedisServer::start().unwrap();
    let mut raw = raw(&server);
    redis::cmd("SET")
        .arg("db0key")
        .arg("x")
        .query::<()>(&mut raw)
        .unwrap();
    let c = cache_with(RedisSettings {
        db: 2,
        purge: PurgeMode::Db,
        ..settings(server.port(), "p:")
    });
    c.set("k", &1).unwrap();
    redis::cmd("SELECT").arg(2).query::<()>(&mut raw).unwrap();
    redis::cmd("SET")
        .arg("foreign")
        .arg("x")
        .query::<()>(&mut raw)
        .unwrap();
    c.purge().unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut raw).unwrap(), 0);
    redis::cmd("SELECT").arg(0).query::<()>(&mut raw).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<u64>(&mut raw).unwrap(), 1);
}
