//! Layered configuration on `figment`, named as Cement names it.
//!
//! An app's config is built from these layers, later ones winning key by key:
//!
//! 1. the app's `config_defaults` (a `fn() -> Config`);
//! 2. config files: `/etc/<label>/<label>.toml`, `~/.config/<label>/<label>.toml`,
//!    `~/.<label>.toml` (each read if it exists), then the files the Meta or the builder name
//!    (which must exist);
//! 3. environment variables `<LABEL>_<SECTION>_<KEY>`, upper-cased with every
//!    non-alphanumeric character turned into `_` (`MYAPP_CACHE_REDIS_PORT=6380`); for the
//!    app's own section `[<label>]` it is `<LABEL>_<KEY>` (`MYAPP_CACHE_HANDLER=redis`);
//! 4. values set on the [`Builder`](crate::Builder);
//!
//! and under all of them the cache handler's own defaults, then cement's (`prefix` =
//! `"<label>:"`, `expire_time` = `0`), which fill only keys that no layer set.
//!
//! Values from the environment are text; they are parsed to the type the reader asks for
//! (`u16`, `bool`, a list from `a,b,c`, …). A missing key or a bad value is an
//! [`Error::Config`] that names the section, the key and where the value came from (file and
//! line, variable, or the line of code that set it).
//!
//! ```
//! use cement::Config;
//!
//! let mut config = cement::init_defaults!("myapp", "cache.memcached");
//! config.set("cache.memcached", "expire_time", 300);
//! config.set("cache.memcached", "hosts", vec!["127.0.0.1"]);
//! assert_eq!(config.get::<u64>("cache.memcached", "expire_time")?, 300);
//! assert_eq!(config.get::<Vec<String>>("cache.memcached", "hosts")?, ["127.0.0.1"]);
//! let err = config.get::<u64>("cache.memcached", "expire").unwrap_err();
//! assert!(err.to_string().contains("missing key \"expire\" in section [cache.memcached]"));
//! # Ok::<(), cement::Error>(())
//! ```

mod de;
mod env;
mod origin;
mod redact;
mod values;

use std::fmt;
use std::panic::Location;
use std::path::Path;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;

use crate::{Error, Result};
use de::ValueDe;
use redact::{value_message, Redacted};

pub use env::default_config_files;
pub use redact::{redact_url, Secret, SECRET_WORDS};
pub use values::{Bounded, PoolSize, Seconds};

/// A configuration value: a string, number, boolean, list or table (`figment`'s value type).
pub use figment::value::Value;

/// The layered configuration of an app: sections of keys (`[cache.redis] port = 6379`).
///
/// See the [module docs](self) for the layers and the environment variable names.
///
/// Its `Debug` output lists every section and value but never a secret: values of keys whose
/// name contains `password`, `secret`, `token` or `credential`, and the password in a URL's
/// `user:password@`, print as `<redacted>`.
#[derive(Clone)]
pub struct Config {
    figment: Figment,
    /// The app's label once environment variables were merged: error hints name the variable
    /// to set with it.
    app_label: Option<std::sync::Arc<str>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for section in self.sections() {
            if let Some(Value::Dict(_, dict)) = self.find_section(&section) {
                for (key, value) in dict.iter().filter(|(_, v)| !matches!(v, Value::Dict(..))) {
                    map.entry(&format_args!("{section}.{key}"), &Redacted { key, value });
                }
            }
        }
        map.finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Metadata names of the layers, used to describe where a value came from.
const DEFAULTS: &str = "config_defaults";
const CONFIG_FILE: &str = "config file";
/// Name of the layer of values set on the [`Builder`](crate::Builder).
pub(crate) const BUILDER_LAYER: &str = "Builder::set";
pub(super) const ENV_PREFIX: &str = "environment variable ";

impl Config {
    /// An empty config.
    pub fn new() -> Self {
        Config {
            figment: Figment::new(),
            app_label: None,
        }
    }

    /// A config with these (empty) sections; what [`init_defaults!`](crate::init_defaults)
    /// expands to.
    #[track_caller]
    pub fn with_sections(sections: &[&str]) -> Self {
        let mut config = Config::new();
        let location = Location::caller();
        for section in sections {
            config.merge_layer(Layer::code(DEFAULTS, location, nest(section, Dict::new())));
        }
        config
    }

    /// A config whose `section` holds the fields of `value`: a settings type's `Default`
    /// written out as config defaults, so the defaults are stated once, in the type. Fields
    /// that serialize to nothing (`None` with `skip_serializing_if`, `#[serde(skip)]`) are
    /// left out.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Settings { port: u16, hosts: Vec<String> }
    ///
    /// let config = cement::Config::from_serialize(
    ///     "cache.mine",
    ///     &Settings { port: 11211, hosts: vec!["a".into()] },
    /// )?;
    /// assert_eq!(config.get::<u16>("cache.mine", "port")?, 11211);
    /// # Ok::<(), cement::Error>(())
    /// ```
    #[track_caller]
    pub fn from_serialize<T: serde::Serialize>(section: &str, value: &T) -> Result<Config> {
        let location = Location::caller();
        let data = match Value::serialize(value) {
            Ok(Value::Dict(_, dict)) => dict,
            Ok(_) => {
                return Err(Error::config(format!(
                    "the defaults of section [{section}] must be a struct or a map"
                )))
            }
            Err(e) => {
                return Err(Error::config(format!(
                    "the defaults of section [{section}] cannot be written as config: {e}"
                )))
            }
        };
        let mut config = Config::new();
        config.merge_layer(Layer::code(DEFAULTS, location, nest(section, data)));
        Ok(config)
    }

    /// Sets `key` in `section` (creating the section), e.g.
    /// `config.set("cache.memcached", "expire_time", 300)`. The line of code that set it is
    /// remembered for error messages.
    #[track_caller]
    pub fn set(&mut self, section: &str, key: &str, value: impl Into<Value>) -> &mut Self {
        let location = Location::caller();
        self.set_from(DEFAULTS, location, section, key, value.into());
        self
    }

    pub(crate) fn set_from(
        &mut self,
        name: &'static str,
        location: &'static Location<'static>,
        section: &str,
        key: &str,
        value: Value,
    ) {
        let mut entry = Dict::new();
        entry.insert(key.to_string(), value);
        self.merge_layer(Layer::code(name, location, nest(section, entry)));
    }

    fn merge_layer(&mut self, layer: Layer) {
        let figment = std::mem::replace(&mut self.figment, Figment::new());
        self.figment = figment.merge(layer);
    }

    /// Adds `other` under this config: it fills only the keys this one does not have.
    pub(crate) fn join(&mut self, other: &Config) {
        let figment = std::mem::replace(&mut self.figment, Figment::new());
        self.figment = figment.join(&other.figment);
    }

    /// Adds `other` over this config: its keys win.
    pub(crate) fn merge(&mut self, other: &Config) {
        let figment = std::mem::replace(&mut self.figment, Figment::new());
        self.figment = figment.merge(&other.figment);
    }

    /// Reads a TOML config file over this config; a missing file is an error.
    pub(crate) fn merge_file(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let data = Toml::string(&text).data().map_err(|e| {
            Error::config(format!(
                "config file {} is not valid TOML: {e}",
                path.display()
            ))
        })?;
        let dict = data.into_values().flatten().collect();
        self.merge_layer(Layer {
            metadata: Metadata::from(CONFIG_FILE, Source::File(path.to_path_buf())),
            data: dict,
        });
        Ok(())
    }

    /// Fails if any layer could not be read.
    pub(crate) fn check(&self) -> Result<()> {
        self.figment
            .data()
            .map(|_| ())
            .map_err(|e| Error::config(e.to_string()))
    }

    fn root(&self) -> Dict {
        self.figment
            .data()
            .ok()
            .and_then(|mut profiles| profiles.remove(&Profile::Default))
            .unwrap_or_default()
    }

    fn find_section(&self, section: &str) -> Option<Value> {
        let root = Value::from(self.root());
        section
            .split('.')
            .try_fold(root, |value, part| match value {
                Value::Dict(_, mut dict) => dict.remove(part),
                _ => None,
            })
    }

    /// Whether `section` exists.
    pub fn has_section(&self, section: &str) -> bool {
        matches!(self.find_section(section), Some(Value::Dict(..)))
    }

    /// Whether `key` exists in `section`.
    pub fn has_key(&self, section: &str, key: &str) -> bool {
        matches!(self.find_section(section), Some(Value::Dict(_, dict)) if dict.contains_key(key))
    }

    /// Every section, as dotted names (`"cache.redis"`), sorted. A section is a table that holds
    /// at least one plain value, or no value at all.
    pub fn sections(&self) -> Vec<String> {
        fn walk(prefix: &str, dict: &Dict, out: &mut Vec<String>) {
            let has_plain = dict.values().any(|v| !matches!(v, Value::Dict(..)));
            if !prefix.is_empty() && (has_plain || dict.is_empty()) {
                out.push(prefix.to_string());
            }
            for (name, value) in dict {
                if let Value::Dict(_, inner) = value {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(&path, inner, out);
                }
            }
        }
        let mut out = Vec::new();
        walk("", &self.root(), &mut out);
        out.sort();
        out
    }

    /// The keys of `section` that hold plain values (not sub-sections), sorted.
    pub fn keys(&self, section: &str) -> Result<Vec<String>> {
        match self.find_section(section) {
            Some(Value::Dict(_, dict)) => Ok(dict
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Dict(..)))
                .map(|(k, _)| k.clone())
                .collect()),
            _ => Err(self.no_section(section)),
        }
    }

    fn no_section(&self, section: &str) -> Error {
        Error::config(format!(
            "section [{section}] does not exist; known sections: {}",
            self.sections().join(", ")
        ))
    }

    /// The value of `key` in `section` as a `T`. Text from the environment is parsed to `T`.
    ///
    /// ```
    /// let mut config = cement::init_defaults!("cache.redis");
    /// config.set("cache.redis", "port", "6380"); // text, as from a file or the environment
    /// assert_eq!(config.get::<u16>("cache.redis", "port")?, 6380);
    /// let err = config.get::<bool>("cache.redis", "port").unwrap_err();
    /// assert!(err.to_string().contains("key \"port\" in section [cache.redis]"));
    /// # Ok::<(), cement::Error>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, section: &str, key: &str) -> Result<T> {
        let dict = match self.find_section(section) {
            Some(Value::Dict(_, dict)) => dict,
            _ => return Err(self.no_section(section)),
        };
        let Some(value) = dict.get(key) else {
            return Err(Error::config(format!(
                "missing key \"{key}\" in section [{section}]; set it in the app's config_defaults, \
                 in a config file ([{section}] {key} = ...) or in the environment ({})",
                self.env_hint(section, key)
            )));
        };
        T::deserialize(ValueDe {
            value,
            config: self,
        })
        .map_err(|e| {
            Error::config(format!(
                "invalid value for key \"{key}\" in section [{section}] (from {}): {}",
                self.origin_of(value, section, key),
                value_message(key, e.message)
            ))
        })
    }

    /// The whole `section` as a `T` (a struct with one field per key). Handlers read their
    /// `cache.<label>` section this way.
    pub fn section<T: DeserializeOwned>(&self, section: &str) -> Result<T> {
        self.section_without(section, &[])
    }

    /// [`section`](Self::section) without some keys (those the framework itself reads).
    pub(crate) fn section_without<T: DeserializeOwned>(
        &self,
        section: &str,
        skip: &[&str],
    ) -> Result<T> {
        let value = match self.find_section(section) {
            Some(Value::Dict(tag, mut dict)) => {
                dict.retain(|key, _| !skip.contains(&key.as_str()));
                Value::Dict(tag, dict)
            }
            _ => Value::from(Dict::new()),
        };
        T::deserialize(ValueDe {
            value: &value,
            config: self,
        })
        .map_err(|e| {
            let mut msg = format!("in section [{section}]");
            let mut detail = e.message;
            if let Some((key, origin_value)) = &e.at {
                msg = format!(
                    "invalid value for key \"{key}\" in section [{section}] (from {})",
                    self.origin_of(origin_value, section, key)
                );
                detail = value_message(key, detail);
            }
            Error::config(format!("{msg}: {detail}"))
        })
    }
}

/// `{"cache": {"redis": entry}}` for section `cache.redis`.
pub(super) fn nest(section: &str, entry: Dict) -> Dict {
    section.rsplit('.').fold(entry, |inner, part| {
        let mut outer = Dict::new();
        outer.insert(part.to_string(), Value::from(inner));
        outer
    })
}

/// One layer of config data with its metadata.
pub(super) struct Layer {
    metadata: Metadata,
    data: Dict,
}

impl Layer {
    fn code(name: &'static str, location: &'static Location<'static>, data: Dict) -> Self {
        Layer {
            metadata: Metadata::from(name, Source::Code(location)),
            data,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let mut map = Map::new();
        map.insert(Profile::Default, self.data.clone());
        Ok(map)
    }
}
#[cfg(test)]
mod tests {
    use super::env::env_name;
    use super::*;
    use serde::Deserialize;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_get_and_sections() {
        let mut config = Config::with_sections(&["myapp", "cache.memcached"]);
        config.set("cache.memcached", "hosts", vec!["a", "b"]);
        assert_eq!(config.sections(), ["cache.memcached", "myapp"]);
        assert_eq!(config.keys("cache.memcached").unwrap(), ["hosts"]);
        assert_eq!(
            config
                .get::<Vec<String>>("cache.memcached", "hosts")
                .unwrap(),
            ["a", "b"]
        );
        assert!(config.has_key("cache.memcached", "hosts"));
        assert!(!config.has_key("cache.memcached", "nope"));
    }

    #[test]
    fn missing_section_and_key_are_named() {
        let config = Config::with_sections(&["myapp"]);
        let err = config.get::<u8>("nope", "x").unwrap_err().to_string();
        assert!(err.contains("section [nope] does not exist"), "{err}");
        let err = config.get::<u8>("myapp", "x").unwrap_err().to_string();
        assert!(
            err.contains("missing key \"x\" in section [myapp]"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_the_line_of_code() {
        let mut config = Config::new();
        config.set("s", "k", "not a number");
        let err = config.get::<u32>("s", "k").unwrap_err().to_string();
        assert!(err.contains("key \"k\" in section [s]"), "{err}");
        assert!(
            err.contains("config_defaults at cement/src/config/mod.rs:"),
            "{err}"
        );
        assert!(err.contains("\"not a number\" is not a valid u32"), "{err}");
    }

    #[test]
    fn env_vars_map_to_sections_and_parse_by_type() {
        let mut config = Config::with_sections(&["myapp", "cache.redis"]);
        config.set("cache.redis", "port", 6379);
        config.merge_env(
            "myapp",
            env(&[
                ("MYAPP_CACHE_REDIS_PORT", "6380"),
                ("MYAPP_CACHE_HANDLER", "redis"),
                ("MYAPP_CACHE_MEMCACHED_HOSTS", "a:11211, b:11211"),
                ("OTHER_X", "1"),
            ]),
            &["cache.memcached".to_string()],
        );
        assert_eq!(config.get::<u16>("cache.redis", "port").unwrap(), 6380);
        assert_eq!(
            config.get::<String>("myapp", "cache_handler").unwrap(),
            "redis"
        );
        assert_eq!(
            config
                .get::<Vec<String>>("cache.memcached", "hosts")
                .unwrap(),
            ["a:11211", "b:11211"]
        );
        assert_eq!(
            config.origin("cache.redis", "port").unwrap(),
            "environment variable MYAPP_CACHE_REDIS_PORT"
        );
    }

    #[test]
    fn env_string_stays_a_string() {
        let mut config = Config::with_sections(&["cache.redis"]);
        config.merge_env("myapp", env(&[("MYAPP_CACHE_REDIS_HOST", "12345")]), &[]);
        assert_eq!(
            config.get::<String>("cache.redis", "host").unwrap(),
            "12345"
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let mut config = Config::with_sections(&["cache.redis"]);
        config.merge_env("myapp", env(&[("MYAPP_CACHE_REDIS_PORT", "70000")]), &[]);
        let err = config
            .get::<u16>("cache.redis", "port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable MYAPP_CACHE_REDIS_PORT"),
            "{err}"
        );
        assert!(err.contains("\"70000\" is not a valid u16"), "{err}");
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Redis {
        host: String,
        port: u16,
        #[serde(default)]
        tls: bool,
        hosts: Option<Vec<String>>,
    }

    #[test]
    fn typed_section_with_mixed_origins() {
        let mut config = Config::with_sections(&["cache.redis"]);
        config.set("cache.redis", "host", "127.0.0.1");
        config.merge_env(
            "app",
            env(&[
                ("APP_CACHE_REDIS_PORT", "6390"),
                ("APP_CACHE_REDIS_TLS", "yes"),
            ]),
            &[],
        );
        let redis: Redis = config.section("cache.redis").unwrap();
        assert_eq!(
            redis,
            Redis {
                host: "127.0.0.1".into(),
                port: 6390,
                tls: true,
                hosts: None
            }
        );
    }

    #[test]
    fn typed_section_error_names_key_and_origin() {
        let mut config = Config::with_sections(&["cache.redis"]);
        config.set("cache.redis", "host", "h");
        config.merge_env("app", env(&[("APP_CACHE_REDIS_PORT", "x")]), &[]);
        let err = config
            .section::<Redis>("cache.redis")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key \"port\" in section [cache.redis]"),
            "{err}"
        );
        assert!(
            err.contains("environment variable APP_CACHE_REDIS_PORT"),
            "{err}"
        );
        let mut config = Config::with_sections(&["cache.redis"]);
        config.set("cache.redis", "host", "h");
        config.set("cache.redis", "port", 1);
        config.set("cache.redis", "prot", 1);
        let err = config
            .section::<Redis>("cache.redis")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `prot`"), "{err}");
    }

    #[test]
    fn files_give_file_and_line() {
        let dir = std::env::temp_dir().join(format!("cement-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.toml");
        std::fs::write(
            &path,
            "[myapp]\ncache_handler = \"redis\"\n\n[cache.redis]\nhost = \"h\"\nport = \"abc\"\n",
        )
        .unwrap();
        let mut config = Config::with_sections(&["myapp"]);
        config.merge_file(&path).unwrap();
        assert_eq!(
            config.get::<String>("myapp", "cache_handler").unwrap(),
            "redis"
        );
        let err = config
            .get::<u16>("cache.redis", "port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("config file {}, line 6", path.display())),
            "{err}"
        );
        std::fs::write(&path, "[cache\nx = 1").unwrap();
        let err = Config::new().merge_file(&path).unwrap_err().to_string();
        assert!(err.contains("is not valid TOML"), "{err}");
        let err = Config::new()
            .merge_file(&dir.join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read config file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn join_fills_only_unset_keys() {
        let mut app = Config::with_sections(&["cache.redis"]);
        app.set("cache.redis", "host", "app-host");
        let mut handler = Config::new();
        handler.set("cache.redis", "host", "127.0.0.1");
        handler.set("cache.redis", "port", 6379);
        app.join(&handler);
        assert_eq!(
            app.get::<String>("cache.redis", "host").unwrap(),
            "app-host"
        );
        assert_eq!(app.get::<u16>("cache.redis", "port").unwrap(), 6379);
    }

    #[test]
    fn bools_and_lists_from_text() {
        let mut config = Config::new();
        config.set("s", "flag", "off");
        config.set("s", "list", "");
        config.set("s", "bad", "maybe");
        assert!(!config.get::<bool>("s", "flag").unwrap());
        assert!(config.get::<Vec<String>>("s", "list").unwrap().is_empty());
        assert!(config
            .get::<bool>("s", "bad")
            .unwrap_err()
            .to_string()
            .contains("not a boolean"));
    }

    #[test]
    fn debug_hides_url_passwords_whatever_they_hold() {
        for pw in super::redact::tests::PASSWORDS {
            let mut config = Config::with_sections(&["cache.redis"]);
            config.set(
                "cache.redis",
                "url",
                format!("redis://:{pw}@127.0.0.1:6379"),
            );
            config.set(
                "cache.redis",
                "hosts",
                vec![format!("rediss://u:{pw}@a:1/0")],
            );
            let shown = format!("{config:?}");
            assert!(
                shown.contains("\"redis://:<redacted>@127.0.0.1:6379\"")
                    && shown.contains("\"rediss://u:<redacted>@a:1/0\""),
                "{pw:?}: {shown}"
            );
        }
    }

    #[test]
    fn missing_key_hint_names_the_variable() {
        let mut config = Config::with_sections(&["myapp", "cache.redis"]);
        config.merge_env("myapp", Vec::new(), &[]);
        let err = config
            .get::<u8>("cache.redis", "port")
            .unwrap_err()
            .to_string();
        assert!(err.contains("MYAPP_CACHE_REDIS_PORT"), "{err}");
        let err = config.get::<u8>("myapp", "debug").unwrap_err().to_string();
        assert!(err.contains("(MYAPP_DEBUG)"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut config = Config::with_sections(&["cache.redis"]);
        config.set("cache.redis", "password", "s3cret");
        config.set("cache.redis", "url", "redis://user:s3cret@host:6379/0");
        config.set("cache.redis", "auth_token", "s3cret");
        config.set("cache.redis", "hosts", vec!["rediss://:s3cret@a", "b"]);
        config.set("cache.redis", "port", 6379);
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("cache.redis.url: \"redis://user:<redacted>@host:6379/0\""),
            "{shown}"
        );
        assert!(shown.contains("cache.redis.port: 6379"), "{shown}");
        assert_eq!(redact_url("plain text"), "plain text");
        assert_eq!(redact_url("redis://host/0?x=a@b"), "redis://host/0?x=a@b");
    }

    #[test]
    fn env_names() {
        assert_eq!(env_name("cache.redis"), "CACHE_REDIS");
        assert_eq!(env_name("__foo__"), "__FOO__");
        assert_eq!(env_name("my-app"), "MY_APP");
    }
}
