//! The `cache.redis` config section: [`RedisSettings`], its defaults, and how it becomes a
//! `redis::Client`. The keys are listed, with their defaults, in the
//! [handler's docs](super#config).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo};
use serde::{Deserialize, Deserializer, Serialize};

pub use cement::config::PoolSize;
pub use cement::config::Secret;
use cement::config::{redact_url, Bounded, Seconds};
use cement::{Error, Result};

/// The config section the redis handler reads.
pub const SECTION: &str = "cache.redis";

/// Redis' own largest value (`proto-max-bulk-len`, 512 MiB).
pub const DEFAULT_MAX_VALUE_SIZE: u64 = 512 * 1024 * 1024;

/// The range of `max_value_size`: 1 byte to 4 GiB.
pub type MaxValueSize = Bounded<1, { 4 * 1024 * 1024 * 1024 }>;

/// The range of `port`.
pub type Port = Bounded<1, 65535>;

/// The range of `db`: what `SELECT` takes.
pub type Db = Bounded<0, 2_147_483_647>;

/// The handler's config defaults, registered with the handler: they fill only the keys the
/// app's own defaults, config files and environment leave unset. `prefix` is filled by cement
/// (`"<app label>:"`).
///
/// ```
/// let defaults = cement_ext::redis::defaults();
/// assert_eq!(defaults.get::<u16>("cache.redis", "port").unwrap(), 6379);
/// assert_eq!(defaults.get::<String>("cache.redis", "purge").unwrap(), "prefix");
/// ```
pub fn defaults() -> cement::Config {
    // Written out from `RedisSettings::default()`, so the defaults are stated once; the types
    // serialize infallibly, and a unit test reads them back.
    cement::Config::from_serialize(SECTION, &RedisSettings::default())
        .unwrap_or_else(|_| cement::init_defaults!("cache.redis"))
}

/// The `cache.redis` section, typed. Every field has a default, so
/// `RedisSettings { port: 6380, ..Default::default() }` works for building a handler by hand
/// with [`RedisCacheHandler::new`](super::RedisCacheHandler::new).
///
/// `Debug` never shows the password, neither the `password` field nor one inside `url`:
///
/// ```
/// use cement_ext::redis::{RedisSettings, Secret};
///
/// let settings = RedisSettings {
///     url: Some("redis://app:hunter22@db.example:6380/2".into()),
///     password: Some(Secret::new("hunter22")),
///     ..Default::default()
/// };
/// let shown = format!("{settings:?}");
/// assert!(!shown.contains("hunter22"), "{shown}");
/// assert!(shown.contains("db.example:6380"), "{shown}");
/// ```
///
/// An unknown key in the section is an error that lists the known ones, so that a misspelt
/// `pasword` does not silently connect without a password.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// Server host; ignored when `url` is set.
    #[serde(deserialize_with = "text")]
    pub host: String,
    /// Server port, 1 to 65535; ignored when `url` is set.
    #[serde(deserialize_with = "Port::deserialize_into")]
    pub port: u16,
    /// Database number, 0 to 2147483647 (the server's `databases` setting is the real
    /// limit); a `/db` path in `url` wins.
    #[serde(deserialize_with = "Db::deserialize_into")]
    pub db: u32,
    /// The prefix the facade puts in front of every key; `purge` removes only keys under it.
    /// Not read from this section's own keys: setup fills it from the section's `prefix` (a
    /// key the facade owns, default `"<app label>:"`). Build a handler by hand with the same
    /// prefix as its [`Cache`](cement::cache::Cache).
    #[serde(skip)]
    pub prefix: String,
    /// `redis://[user[:password]@]host[:port][/db]` or `rediss://…` (TLS). When set, it wins
    /// over `host`, `port` and `tls`; `db`, `username` and `password` apply where it names none.
    #[serde(
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// ACL user name (Redis 6+), used when `url` names none.
    #[serde(
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    /// Password (`requirepass` or the ACL user's), used when `url` has none. Never printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Connect to `host`/`port` over TLS (like a `rediss://` url).
    pub tls: bool,
    /// A PEM file with the CA certificate(s) that signed the server's certificate; without it,
    /// the system's root certificates are trusted.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_ca_file: Option<PathBuf>,
    /// Seconds allowed for opening a connection: TCP connect, TLS and the AUTH/SELECT
    /// handshake (each handshake round trip gets what is left of it). Also how long a call waits
    /// for a free connection when all `pool_size` are busy. More than 0, at most 86400
    /// ([`Seconds`]).
    #[serde(deserialize_with = "Seconds::deserialize_f64")]
    pub connect_timeout: f64,
    /// Seconds a command may wait for its reply (socket read and write timeout). More than 0,
    /// at most 86400.
    #[serde(deserialize_with = "Seconds::deserialize_f64")]
    pub response_timeout: f64,
    /// Most connections open at once; threads beyond that wait for a free one. From 1 to 1024
    /// ([`PoolSize`]).
    #[serde(deserialize_with = "PoolSize::deserialize_into")]
    pub pool_size: u32,
    /// What `purge` removes.
    pub purge: PurgeMode,
    /// Largest value sent, in bytes; larger ones fail with `Error::ValueTooLarge` before
    /// anything is sent. From 1 to 4 GiB ([`MaxValueSize`]; redis' own default limit,
    /// `proto-max-bulk-len`, is 512 MiB).
    #[serde(deserialize_with = "MaxValueSize::deserialize_into")]
    pub max_value_size: u64,
    /// Redis Cluster: seed nodes, `host:port` or `redis://`/`rediss://` urls (see
    /// [Topologies](super#topologies)). Not with `url`, `sentinels` or a `db` other than 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Vec<String>>,
    /// Sentinel: the sentinels, `host:port` or `redis://`/`rediss://` urls; with
    /// `sentinel_master` (see [Topologies](super#topologies)). Not with `url` or `cluster`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentinels: Option<Vec<String>>,
    /// Sentinel: the name the sentinels monitor the primary under (`sentinel monitor <name> …`).
    #[serde(
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sentinel_master: Option<String>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            host: "127.0.0.1".into(),
            port: 6379,
            db: 0,
            prefix: String::new(),
            url: None,
            username: None,
            password: None,
            tls: false,
            tls_ca_file: None,
            connect_timeout: 1.0,
            response_timeout: 1.0,
            pool_size: 16,
            purge: PurgeMode::Prefix,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            cluster: None,
            sentinels: None,
            sentinel_master: None,
        }
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("prefix", &self.prefix)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("pool_size", &self.pool_size)
            .field("purge", &self.purge)
            .field("max_value_size", &self.max_value_size)
            .field("cluster", &self.cluster.as_deref().map(redact_all))
            .field("sentinels", &self.sentinels.as_deref().map(redact_all))
            .field("sentinel_master", &self.sentinel_master)
            .finish()
    }
}

fn redact_all(nodes: &[String]) -> Vec<String> {
    nodes.iter().map(|n| redact_url(n).into_owned()).collect()
}

/// What `purge` removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeMode {
    /// Only this app's keys: `SCAN MATCH <prefix>*` and `UNLINK` in batches. Other apps on the
    /// same server and database keep theirs. Not atomic: keys written while it runs may stay.
    #[default]
    Prefix,
    /// `FLUSHDB`: everything in the selected database, whoever wrote it.
    Db,
}

impl PurgeMode {
    /// The config spelling: `"prefix"` or `"db"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeMode::Prefix => "prefix",
            PurgeMode::Db => "db",
        }
    }
}

/// Text, accepting numbers and booleans too (an environment variable `..._HOST=10` or a
/// password of digits reaches us as a number from some config sources).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_string(V)
    }
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<String, D::Error> {
    Text::deserialize(deserializer).map(|t| t.0)
}

/// Unset, or text; empty text counts as unset.
fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    let value: Option<Text> = Option::deserialize(deserializer)?;
    Ok(value.map(|t| t.0).filter(|s| !s.trim().is_empty()))
}

fn optional_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<PathBuf>, D::Error> {
    optional_text(deserializer).map(|s| s.map(PathBuf::from))
}

/// What the settings resolve to: a client plus what error messages may say about it.
pub(crate) struct Resolved {
    pub(crate) client: redis::Client,
    /// `redis://host:port/db` or `rediss://…`, plus ` as user "name"`; never a password.
    pub(crate) target: String,
    pub(crate) tls: bool,
    /// The password in effect, only to scrub it from client error messages.
    pub(crate) password: Option<Secret>,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

impl RedisSettings {
    /// Checks the settings and builds the (not yet connected) client.
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let connect_timeout =
            Seconds::checked(SECTION, "connect_timeout", self.connect_timeout)?.duration();
        let response_timeout =
            Seconds::checked(SECTION, "response_timeout", self.response_timeout)?.duration();
        PoolSize::checked(SECTION, "pool_size", u64::from(self.pool_size))?;
        MaxValueSize::checked(SECTION, "max_value_size", self.max_value_size)?;
        Port::checked(SECTION, "port", u64::from(self.port))?;
        Db::checked(SECTION, "db", u64::from(self.db))?;

        let (addr, redis_info, url_has_db, url_user, url_password) = match self.url.as_deref() {
            Some(url) => {
                let parsed = redis::parse_redis_url(url).ok_or_else(|| {
                    config_error(
                        "url is not a valid redis URL; expected redis://[user[:password]@]host[:port][/db] \
                         or rediss://... for TLS",
                    )
                })?;
                if self.tls && parsed.scheme() != "rediss" && parsed.scheme() != "valkeys" {
                    return Err(config_error(
                        "tls = true contradicts a plain redis:// url; use a rediss:// url (or drop `url` and use host/port)",
                    ));
                }
                let url_has_db = !parsed.path().trim_matches('/').is_empty();
                let url_user = !parsed.username().is_empty();
                let url_password = parsed.password().is_some();
                let info = parsed.into_connection_info().map_err(|e| {
                    config_error(format!(
                        "url cannot be used: {}",
                        scrub(&e.to_string(), self.password.as_ref())
                    ))
                })?;
                (
                    info.addr().clone(),
                    info.redis_settings().clone(),
                    url_has_db,
                    url_user,
                    url_password,
                )
            }
            None => {
                let addr = if self.tls {
                    ConnectionAddr::TcpTls {
                        host: self.host.clone(),
                        port: self.port,
                        insecure: false,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(self.host.clone(), self.port)
                };
                (
                    addr,
                    redis::RedisConnectionInfo::default(),
                    false,
                    false,
                    false,
                )
            }
        };

        let mut redis_info = redis_info;
        if !url_has_db {
            redis_info = redis_info.set_db(i64::from(self.db));
        }
        if !url_user {
            if let Some(user) = &self.username {
                redis_info = redis_info.set_username(user);
            }
        }
        if !url_password {
            if let Some(password) = &self.password {
                redis_info = redis_info.set_password(password.expose());
            }
        }
        if redis_info.username().is_some() && redis_info.password().is_none() {
            return Err(config_error(
                "username is set but password is not; an ACL user needs its password",
            ));
        }
        let password = redis_info.password().map(Secret::new);

        let tls = matches!(addr, ConnectionAddr::TcpTls { .. });
        let scheme = if tls { "rediss" } else { "redis" };
        let mut target = format!("{scheme}://{addr}/{}", redis_info.db());
        if let Some(user) = redis_info.username() {
            target.push_str(&format!(" as user \"{user}\""));
        }

        let info = addr
            .into_connection_info()
            .map_err(|e| config_error(format!("cannot use {target}: {e}")))?
            .set_redis_settings(redis_info);

        let client = if tls {
            install_crypto_provider();
            match &self.tls_ca_file {
                Some(path) => {
                    let root_cert = std::fs::read(path).map_err(|e| {
                        config_error(format!("cannot read tls_ca_file {}: {e}", path.display()))
                    })?;
                    redis::Client::build_with_tls(
                        info,
                        redis::TlsCertificates {
                            client_tls: None,
                            root_cert: Some(root_cert),
                        },
                    )
                    .map_err(|e| {
                        config_error(format!(
                            "tls_ca_file {} is not a usable PEM CA certificate: {e}",
                            path.display()
                        ))
                    })?
                }
                None => redis::Client::open(info)
                    .map_err(|e| config_error(format!("cannot use {target}: {e}")))?,
            }
        } else {
            // With a cluster or sentinels, TLS is also chosen by their `rediss://` urls
            // (checked in `topology`).
            let topology = self.cluster.is_some() || self.sentinels.is_some();
            if let (Some(path), false) = (&self.tls_ca_file, topology) {
                return Err(config_error(format!(
                    "tls_ca_file ({}) is set but the connection is not TLS; set tls = true or use a rediss:// url",
                    path.display()
                )));
            }
            redis::Client::open(info)
                .map_err(|e| config_error(format!("cannot use {target}: {e}")))?
        };

        Ok(Resolved {
            client,
            target,
            tls,
            password,
            connect_timeout,
            response_timeout,
        })
    }
}

/// rustls needs one process-wide crypto provider; with several crypto features enabled in the
/// build (by other crates) it cannot pick one and panics at the first TLS connection. Installing
/// ring explicitly avoids that; if a provider is installed already, that one stays.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) fn config_error(message: impl fmt::Display) -> Error {
    Error::Config(format!("[{SECTION}] {message}"))
}

/// `message` with every occurrence of `password` replaced by `***`: client errors should never
/// carry a password, and this makes sure of it.
pub(crate) fn scrub(message: &str, password: Option<&Secret>) -> String {
    match password.map(Secret::expose) {
        Some(p) if !p.is_empty() && message.contains(p) => message.replace(p, "***"),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_cement() {
        let s = RedisSettings::default();
        assert_eq!((s.host.as_str(), s.port, s.db), ("127.0.0.1", 6379, 0));
        assert_eq!(s.purge, PurgeMode::Prefix);
        let r = s.resolve().unwrap();
        assert_eq!(r.target, "redis://127.0.0.1:6379/0");
        assert!(!r.tls);
    }

    #[test]
    fn url_wins_over_host_and_port_and_fills_the_rest() {
        let s = RedisSettings {
            host: "ignored".into(),
            port: 1,
            db: 3,
            url: Some("redis://cache.example:6390".into()),
            username: Some("app".into()),
            password: Some(Secret::new("pw-from-key")),
            ..Default::default()
        };
        let r = s.resolve().unwrap();
        assert_eq!(r.target, "redis://cache.example:6390/3 as user \"app\"");
        let info = r.client.get_connection_info();
        assert_eq!(info.redis_settings().password(), Some("pw-from-key"));

        let s = RedisSettings {
            db: 3,
            url: Some("rediss://u:p%40ss@cache.example/5".into()),
            password: Some(Secret::new("other")),
            ..Default::default()
        };
        let r = s.resolve().unwrap();
        assert_eq!(r.target, "rediss://cache.example:6379/5 as user \"u\"");
        assert!(r.tls);
        assert_eq!(
            r.client.get_connection_info().redis_settings().password(),
            Some("p@ss")
        );
    }

    #[test]
    fn tls_flag_uses_host_and_port() {
        let s = RedisSettings {
            tls: true,
            port: 6380,
            ..Default::default()
        };
        let r = s.resolve().unwrap();
        assert_eq!(r.target, "rediss://127.0.0.1:6380/0");
    }

    #[test]
    fn bad_settings_are_config_errors_without_the_password() {
        let cases = [
            RedisSettings {
                url: Some("http://x:hunter22@host".into()),
                password: Some(Secret::new("hunter22")),
                ..Default::default()
            },
            RedisSettings {
                url: Some("not a url hunter22".into()),
                ..Default::default()
            },
            RedisSettings {
                connect_timeout: 0.0,
                ..Default::default()
            },
            RedisSettings {
                pool_size: 0,
                ..Default::default()
            },
            RedisSettings {
                username: Some("u".into()),
                ..Default::default()
            },
            RedisSettings {
                tls_ca_file: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            },
            RedisSettings {
                tls: true,
                tls_ca_file: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            },
            RedisSettings {
                tls: true,
                url: Some("redis://localhost".into()),
                ..Default::default()
            },
        ];
        for s in cases {
            let err = s
                .resolve()
                .err()
                .unwrap_or_else(|| panic!("accepted {s:?}"));
            let msg = err.to_string();
            assert!(matches!(err, Error::Config(_)), "{msg}");
            assert!(msg.contains("[cache.redis]"), "{msg}");
            assert!(!msg.contains("hunter22"), "{msg}");
        }
    }

    #[test]
    fn defaults_round_trip() {
        let settings: RedisSettings = defaults().section(SECTION).unwrap();
        assert_eq!(
            format!("{settings:?}"),
            format!("{:?}", RedisSettings::default())
        );
        assert_eq!(
            defaults().get::<String>(SECTION, "purge").unwrap(),
            "prefix"
        );
        assert!(!defaults().has_key(SECTION, "password"));
    }

    #[test]
    fn section_is_the_label_s() {
        assert_eq!(SECTION, format!("cache.{}", super::super::error::BACKEND));
    }

    #[test]
    fn scrub_replaces_the_password() {
        let p = Secret::new("hunter22");
        assert_eq!(scrub("auth hunter22 failed", Some(&p)), "auth *** failed");
        assert_eq!(scrub("fine", None), "fine");
    }
}
