//! Config: `hosts` from a comma string and the environment, and malformed entries.

use cement::Error;
use cement_ext::testing::MemcachedServer;

use crate::held_by;
use crate::support::memcached::app;

#[test]
fn hosts_from_a_comma_string_and_the_environment() {
    let (a, b) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let app = app("mc_env")
        .env_vars([(
            "MC_ENV_CACHE_MEMCACHED_HOSTS",
            format!("{} , {}", a.host_spec(), b.host_spec()),
        )])
        .setup()
        .unwrap();
    let hosts: Vec<String> = app.config().get("cache.memcached", "hosts").unwrap();
    assert_eq!(hosts, [a.host_spec(), b.host_spec()]);
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    for key in &keys {
        app.cache().set(key, key).unwrap();
    }
    // both servers got some of the keys
    let wire: Vec<String> = keys.iter().map(|k| format!("mc_env:{k}")).collect();
    assert!(held_by(&a, &wire).iter().any(|&h| h));
    assert!(held_by(&b, &wire).iter().any(|&h| h));
    for key in &keys {
        assert_eq!(
            app.cache().get::<String>(key).unwrap().as_deref(),
            Some(key.as_str())
        );
    }
}

#[test]
fn malformed_hosts_are_config_errors_naming_entry_and_origin() {
    let err = app("mc_bad")
        .env_vars([("MC_BAD_CACHE_MEMCACHED_HOSTS", "127.0.0.1:11211,,cache2")])
        .setup()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(
        msg.contains("hosts entry 2") && msg.contains("empty"),
        "{msg}"
    );
    assert!(msg.contains("MC_BAD_CACHE_MEMCACHED_HOSTS"), "{msg}");

    let err = app("mc_bad2")
        .set("cache.memcached", "hosts", vec!["cache1:port"])
        .setup()
        .unwrap_err()
        .to_string();
    assert!(err.contains("port \"port\" is not a number"), "{err}");

    let err = app("mc_bad3")
        .set("cache.memcached", "purge", "all")
        .setup()
        .unwrap_err()
        .to_string();
    assert!(err.contains("purge") && err.contains("all"), "{err}");
}
