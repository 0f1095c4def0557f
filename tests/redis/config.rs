//! Config: `expire_time`, the environment with Cement's names, bad values and misspelt keys.

use cement::{Builder, Error, Meta};
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, raw};
use crate::PASSWORD;

#[test]
fn expire_time_from_config_is_the_default_ttl() {
    let server = RedisServer::start().unwrap();
    let app = app("rd_expire", &server)
        .set("cache.redis", "expire_time", 300)
        .setup()
        .unwrap();
    app.cache().set("k", "v").unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("rd_expire:k")
        .query(&mut raw(&server))
        .unwrap();
    assert!(pttl > 290_000 && pttl <= 300_000, "PTTL {pttl}");
    app.close().unwrap();
}

#[test]
fn config_comes_from_env_with_cement_names() {
    let server = RedisServer::start().unwrap();
    let app = Builder::new(
        Meta::new("rd_env")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([
        ("RD_ENV_CACHE_REDIS_PORT", server.port().to_string()),
        ("RD_ENV_CACHE_REDIS_DB", "3".to_string()),
        ("RD_ENV_CACHE_REDIS_PREFIX", "custom:".to_string()),
        ("RD_ENV_CACHE_REDIS_RESPONSE_TIMEOUT", "0.25".to_string()),
    ])
    .setup()
    .unwrap();
    app.cache().set("k", &7).unwrap();
    let mut raw = raw(&server);
    redis::cmd("SELECT").arg(3).query::<()>(&mut raw).unwrap();
    let stored: Option<String> = redis::cmd("GET").arg("custom:k").query(&mut raw).unwrap();
    assert_eq!(stored.as_deref(), Some("7"));
    app.close().unwrap();
}

#[test]
fn bad_config_is_reported_with_its_key() {
    let err = Builder::new(
        Meta::new("rd_badcfg")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([("RD_BADCFG_CACHE_REDIS_PURGE", "everything")])
    .setup()
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("purge"), "{msg}");
}

#[test]
fn a_misspelt_key_is_an_error_not_a_silent_default() {
    let server = RedisServer::start().unwrap();
    let err = app("rd_typo", &server)
        .set("cache.redis", "pasword", PASSWORD)
        .setup()
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{msg}");
    assert!(msg.contains("pasword") && msg.contains("password"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
}
