//! The `cache.memcached` config section: [`MemcachedSettings`], its defaults, and the `hosts`
//! entries ([`HostSpec`]). The keys are listed, with their defaults, in the
//! [handler's docs](super#config).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cement::config::PoolSize;
use cement::config::{Bounded, Seconds};
use cement::{Error, Result};

/// The config section the memcached handler reads.
pub const SECTION: &str = "cache.memcached";

/// memcached's default port.
pub const DEFAULT_PORT: u16 = 11211;

/// memcached's default item size limit (`-I 1m`).
pub const DEFAULT_MAX_VALUE_SIZE: u64 = 1024 * 1024;

/// The range of `max_value_size`: what memcached accepts for `-I` (1 KiB to 1 GiB).
pub type MaxValueSize = Bounded<1024, { 1024 * 1024 * 1024 }>;

/// The handler's config defaults, registered with the handler: they fill only the keys the
/// app's own defaults, config files and environment leave unset. `prefix` is filled by cement
/// (`"<app label>:"`).
///
/// ```
/// let defaults = cement_ext::memcached::defaults();
/// assert_eq!(defaults.get::<Vec<String>>("cache.memcached", "hosts").unwrap(), ["127.0.0.1"]);
/// assert_eq!(defaults.get::<String>("cache.memcached", "purge").unwrap(), "prefix");
/// ```
pub fn defaults() -> cement::Config {
    // Written out from `MemcachedSettings::default()`, so the defaults are stated once; the
    // types serialize infallibly, and a unit test reads them back.
    cement::Config::from_serialize(SECTION, &MemcachedSettings::default())
        .unwrap_or_else(|_| cement::init_defaults!("cache.memcached"))
}

/// The `cache.memcached` section, typed. Every field has a default, so
/// `MemcachedSettings { hosts: vec!["10.0.0.5".into()], ..Default::default() }` works for
/// building a handler by hand with
/// [`MemcachedCacheHandler::new`](super::MemcachedCacheHandler::new).
///
/// ```
/// use cement_ext::memcached::{MemcachedSettings, PurgeMode};
///
/// let settings = MemcachedSettings::default();
/// assert_eq!(settings.hosts, ["127.0.0.1"]);
/// assert_eq!(settings.purge, PurgeMode::Prefix);
/// assert_eq!(settings.host_specs()?[0].to_string(), "127.0.0.1:11211");
/// # Ok::<(), cement::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemcachedSettings {
    /// The servers: `host` or `host:port` each (port 11211 by default; IPv6 as `[::1]:11211`).
    /// In a config file or the environment also a comma-separated string
    /// (`MYAPP_CACHE_MEMCACHED_HOSTS=10.0.0.1,10.0.0.2:11212`). Keys are spread over them by
    /// consistent hashing; the order does not matter.
    pub hosts: Vec<String>,
    /// The prefix the facade puts in front of every key; `purge` (in `"prefix"` mode)
    /// invalidates only keys under it. Not read from this section's own keys: setup fills it
    /// from the section's `prefix` (a key the facade owns, default `"<app label>:"`). Build a
    /// handler by hand with the same prefix as its [`Cache`](cement::cache::Cache).
    #[serde(skip)]
    pub prefix: String,
    /// Seconds allowed for connecting to a server; also how long a call waits for a free
    /// connection when all `pool_size` connections to that server are busy. More than 0, at
    /// most 86400 ([`Seconds`]).
    #[serde(deserialize_with = "Seconds::deserialize_f64")]
    pub connect_timeout: f64,
    /// Seconds one exchange with a server may take: writing the request (or the whole batch of
    /// a `get_many`/`set_many`) and reading every reply. More than 0, at most 86400.
    #[serde(deserialize_with = "Seconds::deserialize_f64")]
    pub response_timeout: f64,
    /// Most connections open at once to each server; idle ones are kept for reuse. From 1 to
    /// 1024 ([`PoolSize`]).
    #[serde(deserialize_with = "PoolSize::deserialize_into")]
    pub pool_size: u32,
    /// The server's item size limit in bytes (`memcached -I`, 1 MiB by default). An item that
    /// would not fit (value plus key plus memcached's per-item overhead) fails with
    /// [`Error::ValueTooLarge`] before anything is sent. From 1024 to 1 GiB, memcached's own
    /// bounds for `-I` ([`MaxValueSize`]).
    #[serde(deserialize_with = "MaxValueSize::deserialize_into")]
    pub max_value_size: u64,
    /// What `purge` removes.
    pub purge: PurgeMode,
}

impl Default for MemcachedSettings {
    fn default() -> Self {
        MemcachedSettings {
            hosts: vec!["127.0.0.1".into()],
            prefix: String::new(),
            connect_timeout: 1.0,
            response_timeout: 1.0,
            pool_size: 16,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            purge: PurgeMode::Prefix,
        }
    }
}

impl MemcachedSettings {
    /// The parsed `hosts`, duplicates removed (first one kept). An empty list, an empty entry
    /// or a malformed one is an [`Error::Config`] naming the entry and the expected form.
    pub fn host_specs(&self) -> Result<Vec<HostSpec>> {
        if self.hosts.is_empty() {
            return Err(Error::Config(format!(
                "[{SECTION}] hosts is empty; name at least one memcached server, e.g. hosts = [\"127.0.0.1:11211\"]"
            )));
        }
        let mut specs: Vec<HostSpec> = Vec::with_capacity(self.hosts.len());
        for (index, entry) in self.hosts.iter().enumerate() {
            let spec = entry.parse::<HostSpec>().map_err(|reason| {
                Error::Config(format!(
                    "[{SECTION}] hosts entry {} ({entry:?}) is malformed: {reason}; write each entry as \
                     \"host\" or \"host:port\" (e.g. \"127.0.0.1\", \"cache1.example:11211\", \"[::1]:11211\"), \
                     in a list or comma-separated",
                    index + 1
                ))
            })?;
            if specs.contains(&spec) {
                tracing::warn!("[{SECTION}] hosts lists {spec} more than once; using it once");
            } else {
                specs.push(spec);
            }
        }
        Ok(specs)
    }

    /// `connect_timeout` as a [`Duration`], checked.
    pub fn connect_timeout(&self) -> Result<Duration> {
        Seconds::checked(SECTION, "connect_timeout", self.connect_timeout).map(Seconds::duration)
    }

    /// `response_timeout` as a [`Duration`], checked.
    pub fn response_timeout(&self) -> Result<Duration> {
        Seconds::checked(SECTION, "response_timeout", self.response_timeout).map(Seconds::duration)
    }

    /// `pool_size`, checked.
    pub fn pool_size(&self) -> Result<PoolSize> {
        PoolSize::checked(SECTION, "pool_size", u64::from(self.pool_size))
    }

    /// `max_value_size`, checked.
    pub fn max_value_size(&self) -> Result<MaxValueSize> {
        MaxValueSize::checked(SECTION, "max_value_size", self.max_value_size)
    }
}

/// What `purge` removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeMode {
    /// Only this app's keys (those under `prefix`): each server keeps a namespace generation
    /// number and `purge` increments it, which turns every value stored before into a miss.
    /// Other apps on the same servers keep theirs. See the [module docs](super#purge).
    #[default]
    Prefix,
    /// `flush_all` on every server: everything on them, whoever wrote it.
    Server,
}

impl PurgeMode {
    /// The config spelling: `"prefix"` or `"server"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeMode::Prefix => "prefix",
            PurgeMode::Server => "server",
        }
    }
}

/// One `hosts` entry: a host name or IP address and a port.
///
/// ```
/// use cement_ext::memcached::HostSpec;
///
/// let spec: HostSpec = "cache1.example".parse().unwrap();
/// assert_eq!(spec.to_string(), "cache1.example:11211");
/// let spec: HostSpec = "[::1]:11212".parse().unwrap();
/// assert_eq!((spec.host(), spec.port()), ("::1", 11212));
/// assert!("cache1.example:".parse::<HostSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostSpec {
    host: String,
    port: u16,
}

impl HostSpec {
    /// A host and port.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        HostSpec {
            host: host.into(),
            port,
        }
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `(host, port)`, for connecting.
    pub(crate) fn socket_target(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl fmt::Display for HostSpec {
    /// `host:port`, or `[v6]:port`: the server's identity on the hash ring.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostSpec {
    type Err = String;

    fn from_str(entry: &str) -> std::result::Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("the entry is empty".into());
        }
        if let Some(scheme) = entry.find("://") {
            return Err(format!("drop the \"{}://\" scheme", &entry[..scheme]));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            // [v6] or [v6]:port
            let (host, after) = rest.split_once(']').ok_or_else(|| {
                "an IPv6 address in brackets is missing its closing \"]\"".to_string()
            })?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("unexpected {after:?} after \"]\""))?,
                ),
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{host:?} is not an IPv6 address"));
            }
            (host, port)
        } else if entry.matches(':').count() > 1 {
            // A bare IPv6 address: no port possible without brackets.
            if entry.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!(
                    "{entry:?} is neither host:port nor an IPv6 address (write IPv6 with a port as \"[::1]:11211\")"
                ));
            }
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        if let Some(bad) = host.chars().find(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '/' | '@' | ',' | '[' | ']')
        }) {
            return Err(format!("the host contains {bad:?}"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(format!("port {text:?} is not a number from 1 to 65535")),
            },
        };
        Ok(HostSpec {
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entry: &str) -> std::result::Result<(String, u16), String> {
        entry.parse::<HostSpec>().map(|s| (s.host, s.port))
    }

    #[test]
    fn host_forms() {
        assert_eq!(parse("127.0.0.1"), Ok(("127.0.0.1".into(), 11211)));
        assert_eq!(
            parse(" cache.example:11212 "),
            Ok(("cache.example".into(), 11212))
        );
        assert_eq!(parse("localhost"), Ok(("localhost".into(), 11211)));
        assert_eq!(parse("[::1]:11213"), Ok(("::1".into(), 11213)));
        assert_eq!(parse("[::1]"), Ok(("::1".into(), 11211)));
        assert_eq!(parse("::1"), Ok(("::1".into(), 11211)));
        assert_eq!(parse("fe80::1"), Ok(("fe80::1".into(), 11211)));
    }

    #[test]
    fn malformed_hosts_say_why() {
        for (entry, why) in [
            ("", "empty"),
            ("   ", "empty"),
            (":11211", "host is empty"),
            ("host:", "port \"\""),
            ("host:abc", "port \"abc\""),
            ("host:0", "port \"0\""),
            ("host:70000", "port \"70000\""),
            ("a b", "contains ' '"),
            ("memcache://host", "scheme"),
            ("[::1", "closing"),
            ("[::1]x", "unexpected"),
            ("[nope]:1", "not an IPv6"),
            ("a:b:c", "neither host:port nor"),
        ] {
            let err = parse(entry).unwrap_err();
            assert!(err.contains(why), "{entry:?}: {err}");
        }
    }

    #[test]
    fn display_is_the_ring_identity() {
        assert_eq!("h".parse::<HostSpec>().unwrap().to_string(), "h:11211");
        assert_eq!(
            "::1".parse::<HostSpec>().unwrap().to_string(),
            "[::1]:11211"
        );
    }

    #[test]
    fn host_list_errors_name_the_entry() {
        let settings = MemcachedSettings {
            hosts: vec!["a".into(), "".into()],
            ..Default::default()
        };
        let err = settings.host_specs().unwrap_err().to_string();
        assert!(
            err.contains("hosts entry 2 (\"\") is malformed: the entry is empty"),
            "{err}"
        );
        assert!(err.contains("\"host:port\""), "{err}");

        let empty = MemcachedSettings {
            hosts: vec![],
            ..Default::default()
        };
        assert!(empty
            .host_specs()
            .unwrap_err()
            .to_string()
            .contains("hosts is empty"));
    }

    #[test]
    fn duplicate_hosts_are_used_once() {
        let settings = MemcachedSettings {
            hosts: vec!["a".into(), "a:11211".into(), "b".into()],
            ..Default::default()
        };
        let specs = settings.host_specs().unwrap();
        assert_eq!(
            specs,
            [HostSpec::new("a", 11211), HostSpec::new("b", 11211)]
        );
    }

    #[test]
    fn timeouts_are_checked() {
        let mut settings = MemcachedSettings::default();
        assert_eq!(settings.connect_timeout().unwrap(), Duration::from_secs(1));
        settings.response_timeout = 0.25;
        assert_eq!(
            settings.response_timeout().unwrap(),
            Duration::from_millis(250)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            settings.connect_timeout = bad;
            let err = settings.connect_timeout().unwrap_err().to_string();
            assert!(err.contains("connect_timeout"), "{err}");
        }
    }

    #[test]
    fn section_from_config_accepts_comma_strings_and_env_text() {
        let mut config = defaults();
        config.set(SECTION, "hosts", "a:1, b");
        config.set(SECTION, "pool_size", "4");
        config.set(SECTION, "response_timeout", "0.5");
        config.set(SECTION, "purge", "server");
        let settings: MemcachedSettings = config.section(SECTION).unwrap();
        assert_eq!(settings.hosts, ["a:1", "b"]);
        assert_eq!(settings.pool_size, 4);
        assert_eq!(settings.response_timeout, 0.5);
        assert_eq!(settings.purge, PurgeMode::Server);
        let specs = settings.host_specs().unwrap();
        assert_eq!(specs, [HostSpec::new("a", 1), HostSpec::new("b", 11211)]);
    }

    #[test]
    fn section_rejects_unknown_keys_and_bad_purge() {
        let mut config = defaults();
        config.set(SECTION, "hots", "a");
        let err = config
            .section::<MemcachedSettings>(SECTION)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hots"), "{err}");

        let mut config = defaults();
        config.set(SECTION, "purge", "everything");
        let err = config
            .section::<MemcachedSettings>(SECTION)
            .unwrap_err()
            .to_string();
        assert!(err.contains("everything"), "{err}");
    }

    #[test]
    fn section_is_the_label_s() {
        assert_eq!(SECTION, format!("cache.{}", super::super::error::BACKEND));
    }

    #[test]
    fn defaults_round_trip() {
        let settings: MemcachedSettings = defaults().section(SECTION).unwrap();
        assert_eq!(settings, MemcachedSettings::default());
    }
}
