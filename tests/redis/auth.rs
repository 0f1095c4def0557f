//! Auth and secrecy: `requirepass`, an ACL user, and a password that is never printed.

use cement::cache::CacheHandler;
use cement::testing::BlackHole;
use cement::{Builder, Error, Meta};
use cement_ext::redis::{RedisCacheHandler, RedisSettings, Secret};
use cement_ext::testing::RedisServer;

use crate::support::redis::{app, cache, cache_with, raw, settings};
use crate::PASSWORD;

#[test]
fn requirepass_auth() {
    let server = RedisServer::builder()
        .arg("--requirepass")
        .arg(PASSWORD)
        .start()
        .unwrap();

    let none = cache(server.port(), "auth:");
    let err = none.get::<i32>("k").unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");

    let wrong = cache_with(RedisSettings {
        password: Some(Secret::new("not-the-password")),
        ..settings(server.port(), "auth:")
    });
    let err = wrong.get::<i32>("k").unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("check [cache.redis] username and password"),
        "{err}"
    );
    assert!(
        !format!("{err} {err:?}").contains("not-the-password"),
        "{err:?}"
    );

    let right = cache_with(RedisSettings {
        password: Some(Secret::new(PASSWORD)),
        ..settings(server.port(), "auth:")
    });
    right.set("k", &1).unwrap();
    assert_eq!(right.get::<i32>("k").unwrap(), Some(1));

    // The same through a url, and through the app's config.
    let by_url = cache_with(RedisSettings {
        url: Some(format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port())),
        ..settings(1, "auth:")
    });
    assert_eq!(by_url.get::<i32>("k").unwrap(), Some(1));
    let app = Builder::new(
        Meta::new("rd_auth")
            .extensions(["redis"])
            .cache_handler("redis")
            .default_config_files(false),
    )
    .env_vars([
        ("RD_AUTH_CACHE_REDIS_PORT", server.port().to_string()),
        ("RD_AUTH_CACHE_REDIS_PASSWORD", PASSWORD.to_string()),
    ])
    .setup()
    .unwrap();
    app.cache().set("k", &2).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(2));
    app.close().unwrap();
}

#[test]
fn acl_user_limited_to_its_key_pattern() {
    let server = RedisServer::start().unwrap();
    redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "cacheuser",
            "on",
            &format!(">{PASSWORD}"),
            "~rd_acl:*",
            "+@all",
        ])
        .query::<()>(&mut raw(&server))
        .unwrap();
    let app = app("rd_acl", &server)
        .set("cache.redis", "username", "cacheuser")
        .set("cache.redis", "password", PASSWORD)
        .setup()
        .unwrap();
    app.cache().set("k", &1).unwrap();
    app.cache().set_many(&[("a", 1), ("b", 2)]).unwrap();
    assert_eq!(
        app.cache().get_many::<i32>(&["a", "b"]).unwrap(),
        [Some(1), Some(2)]
    );
    // The counters' script, add, touch and exists work within the user's key pattern.
    assert_eq!(app.cache().incr("n", 2).unwrap(), 2);
    assert!(app.cache().add("once", &1).unwrap());
    assert!(app.cache().touch("once", None).unwrap());
    assert!(app.cache().exists("n").unwrap());
    app.cache().purge().unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), None);
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query(
            &mut redis::Client::open(format!(
                "redis://cacheuser:{PASSWORD}@{}",
                server.host_spec()
            ))
            .unwrap()
            .get_connection()
            .unwrap(),
        )
        .unwrap();
    assert_eq!(whoami, "cacheuser");

    // A prefix outside the user's key pattern is refused, with a message that says why.
    let other = cache_with(RedisSettings {
        username: Some("cacheuser".into()),
        password: Some(Secret::new(PASSWORD)),
        ..settings(server.port(), "other:")
    });
    let err = other.set("k", &1).unwrap_err();
    assert!(matches!(err, Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("ACL user needs access"), "{err}");

    // Wrong password for the ACL user.
    let wrong = cache_with(RedisSettings {
        url: Some(format!(
            "redis://cacheuser:wrong-{PASSWORD}@{}",
            server.host_spec()
        )),
        ..settings(1, "rd_acl:")
    });
    let err = wrong.get::<i32>("k").unwrap_err();
    assert!(err.to_string().contains("authentication"), "{err}");
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");
    app.close().unwrap();
}

#[test]
fn the_password_is_never_printed() {
    let server = RedisServer::builder()
        .arg("--requirepass")
        .arg(PASSWORD)
        .start()
        .unwrap();
    let app = app("rd_secret", &server)
        .set("cache.redis", "password", PASSWORD)
        .setup()
        .unwrap();
    let mut shown = vec![
        format!("{:?}", app.cache()),
        format!("{:?}", app.cache().handler_label()),
    ];

    let url = format!("redis://user:{PASSWORD}@127.0.0.1:{}/0", server.port());
    let settings = RedisSettings {
        url: Some(url.clone()),
        password: Some(Secret::new(PASSWORD)),
        ..Default::default()
    };
    shown.push(format!("{settings:?}"));
    shown.push(format!("{}", Secret::new(PASSWORD)));
    let handler = RedisCacheHandler::new(settings).unwrap();
    shown.push(format!("{handler:?}"));
    shown.push(handler.target().to_string());
    // Errors: auth failure (user does not exist), refused connection, timeout, bad url.
    let err = handler.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let mut down = RedisServer::start().unwrap();
    down.kill().unwrap();
    let refused = RedisCacheHandler::new(RedisSettings {
        url: Some(format!("redis://:{PASSWORD}@127.0.0.1:{}/0", down.port())),
        ..Default::default()
    })
    .unwrap();
    let err = refused.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let hole = BlackHole::start().unwrap();
    let hung = RedisCacheHandler::new(RedisSettings {
        port: hole.port(),
        password: Some(Secret::new(PASSWORD)),
        connect_timeout: 0.2,
        ..Default::default()
    })
    .unwrap();
    let err = hung.get("k").unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let err = RedisCacheHandler::new(RedisSettings {
        url: Some(format!("redis//{PASSWORD}@nowhere")),
        ..Default::default()
    })
    .unwrap_err();
    shown.push(format!("{err} {err:?}"));

    for text in &shown {
        assert!(!text.contains(PASSWORD), "password printed: {text}");
    }
    app.close().unwrap();
}
