//! A password on every node of a cluster: the handler without it fails with a typed error
//! that says which setting to fix, and with it works on the sync and async faces alike.

use cement::Error;
use cement_ext::testing::{RedisCluster, RedisServer};

use crate::{raw, support, CONFORMANCE_TIMEOUT};

const PASSWORD: &str = "cl-s3cret";

fn require_password(node: &RedisServer, password: &str, auth: Option<&str>) {
    let mut conn = raw_with(node, auth);
    for setting in ["requirepass", "masterauth"] {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(setting)
            .arg(password)
            .query::<()>(&mut conn)
            .unwrap();
    }
}

fn raw_with(node: &RedisServer, password: Option<&str>) -> redis::Connection {
    match password {
        None => raw(node),
        Some(pw) => {
            let url = node
                .url()
                .replacen("redis://", &format!("redis://:{pw}@"), 1);
            redis::Client::open(url)
                .and_then(|c| c.get_connection())
                .expect("raw connection with the password")
        }
    }
}

/// Sets a password on every node, runs the checks, and removes it again.
pub(crate) fn with_a_password(cluster: &RedisCluster) {
    for node in cluster.nodes() {
        require_password(node, PASSWORD, None);
    }
    let app = |label: &str, password: Option<&str>| {
        let builder = support::app(label, "redis")
            .set("cache.redis", "cluster", cluster.seeds())
            .set("cache.redis", "connect_timeout", CONFORMANCE_TIMEOUT)
            .set("cache.redis", "response_timeout", CONFORMANCE_TIMEOUT);
        match password {
            Some(pw) => builder.set("cache.redis", "password", pw),
            None => builder,
        }
        .setup()
    };

    // Without the password, or with a wrong one: a backend error (a settings fault, not an
    // outage) that names the setting and never shows a password.
    for (label, password) in [("rdc_noauth", None), ("rdc_badauth", Some("not-it"))] {
        let err = match app(label, password) {
            Err(e) => e,
            Ok(app) => app.cache().set("k", &1u8).unwrap_err(),
        };
        let text = format!("{err} {err:?}");
        assert!(matches!(err, Error::Backend { .. }), "{label}: {err:?}");
        assert!(text.contains("[cache.redis] password"), "{label}: {text}");
        assert!(
            !text.contains(PASSWORD) && !text.contains("not-it"),
            "{text}"
        );
    }

    // With it: the conformance suite on both faces.
    let authed = app("rdc_auth", Some(PASSWORD)).unwrap();
    cement::testing::conformance::run_all(authed.cache());
    crate::async_face::runtime("rdc-auth").block_on(async {
        cement::testing::conformance_async::run_all_async(authed.async_cache()).await;
    });
    assert!(!format!("{:?}", authed.cache()).contains(PASSWORD));
    authed.close().unwrap();

    for node in cluster.nodes() {
        require_password(node, "", Some(PASSWORD));
    }
}
