//! Topology settings: exactly one topology, well-formed nodes, sentinels with a master name;
//! errors by message, never showing a password.

use cement::Error;
use cement_ext::redis::{RedisCacheHandler, RedisSettings};

use crate::support;

const PASSWORD: &str = "hunter2-Pa55w0rd";

#[track_caller]
fn config_error(settings: RedisSettings) -> String {
    let err = RedisCacheHandler::new(settings).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("[cache.redis]"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    msg
}

#[test]
fn two_topologies_are_an_error_naming_both_keys() {
    let msg = config_error(RedisSettings {
        cluster: Some(vec!["127.0.0.1:7000".into()]),
        sentinels: Some(vec!["127.0.0.1:26379".into()]),
        sentinel_master: Some("m".into()),
        ..Default::default()
    });
    assert!(msg.contains("cluster and sentinels"), "{msg}");
    let msg = config_error(RedisSettings {
        url: Some(format!("redis://:{PASSWORD}@127.0.0.1:6379")),
        cluster: Some(vec!["127.0.0.1:7000".into()]),
        ..Default::default()
    });
    assert!(msg.contains("url and cluster"), "{msg}");
}

#[test]
fn an_empty_node_list_is_an_error() {
    let msg = config_error(RedisSettings {
        cluster: Some(vec![]),
        ..Default::default()
    });
    assert!(msg.contains("cluster is an empty list"), "{msg}");
    let msg = config_error(RedisSettings {
        sentinels: Some(vec![]),
        sentinel_master: Some("m".into()),
        ..Default::default()
    });
    assert!(msg.contains("sentinels is an empty list"), "{msg}");
}

#[test]
fn malformed_nodes_are_errors_naming_the_node() {
    for (node, why) in [
        ("127.0.0.1", "the port is missing"),
        ("127.0.0.1:0", "the port is not a number"),
        ("127.0.0.1:99999", "the port is not a number"),
        (":7000", "the host is empty"),
        ("http://127.0.0.1:7000", "redis:// or rediss://"),
    ] {
        let msg = config_error(RedisSettings {
            cluster: Some(vec!["127.0.0.1:7000".into(), node.into()]),
            ..Default::default()
        });
        assert!(msg.contains("cluster has a malformed node"), "{msg}");
        assert!(msg.contains(node), "{msg}");
        assert!(msg.contains(why), "{node}: {msg}");
    }
    // A url's password is not shown.
    let msg = config_error(RedisSettings {
        sentinels: Some(vec![format!("redis://:{PASSWORD}@host:notaport")]),
        sentinel_master: Some("m".into()),
        ..Default::default()
    });
    assert!(msg.contains("sentinels has a malformed node"), "{msg}");
}

#[test]
fn sentinels_need_a_master_name_and_the_other_way_round() {
    let msg = config_error(RedisSettings {
        sentinels: Some(vec!["127.0.0.1:26379".into()]),
        ..Default::default()
    });
    assert!(msg.contains("sentinel_master is not"), "{msg}");
    let msg = config_error(RedisSettings {
        sentinel_master: Some("m".into()),
        ..Default::default()
    });
    assert!(msg.contains("sentinels is not"), "{msg}");
}

#[test]
fn a_cluster_has_only_db_0() {
    let msg = config_error(RedisSettings {
        cluster: Some(vec!["127.0.0.1:7000".into()]),
        db: 2,
        ..Default::default()
    });
    assert!(msg.contains("db = 2"), "{msg}");
}

#[test]
fn debug_shows_the_nodes_without_passwords() {
    let settings = RedisSettings {
        cluster: Some(vec![format!("redis://app:{PASSWORD}@node1.example:7000")]),
        ..Default::default()
    };
    let shown = format!("{settings:?}");
    assert!(shown.contains("node1.example:7000"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let handler = RedisCacheHandler::new(settings).unwrap();
    let shown = format!("{handler:?}");
    assert!(
        shown.contains("cluster (seeds node1.example:7000)"),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
}

#[test]
fn topologies_come_from_the_environment() {
    let err = support::app("rdc_env", "redis")
        .env_vars([
            ("RDC_ENV_CACHE_REDIS_CLUSTER", "[\"127.0.0.1:7000\"]"),
            ("RDC_ENV_CACHE_REDIS_SENTINELS", "[\"127.0.0.1:26379\"]"),
            ("RDC_ENV_CACHE_REDIS_SENTINEL_MASTER", "m"),
        ])
        .setup()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("cluster and sentinels"), "{msg}");
}
