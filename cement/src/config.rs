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

use std::fmt;
use std::panic::Location;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Empty, Map, Num};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::de::{self, DeserializeOwned, Error as _, IntoDeserializer, Visitor};

use crate::{Error, Result};

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

/// A value as `Debug` shows it, with secrets hidden.
struct Redacted<'a> {
    key: &'a str,
    value: &'a Value,
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.key.to_ascii_lowercase();
        if ["password", "secret", "token", "credential"]
            .iter()
            .any(|s| key.contains(s))
        {
            return f.write_str("<redacted>");
        }
        match self.value {
            Value::String(_, s) => write!(f, "{:?}", redact_url(s)),
            Value::Array(_, items) => f
                .debug_list()
                .entries(items.iter().map(|v| Redacted {
                    key: self.key,
                    value: v,
                }))
                .finish(),
            Value::Num(_, n) => f.write_str(&num_text(n)),
            Value::Bool(_, b) => write!(f, "{b}"),
            Value::Char(_, c) => write!(f, "{c:?}"),
            Value::Empty(..) => f.write_str("none"),
            Value::Dict(..) => f.write_str("{..}"),
        }
    }
}

/// Whether a key names a secret, whose value is never shown.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential"]
        .iter()
        .any(|s| key.contains(s))
}

/// An error message about `key`'s value, without the value when it is a secret.
fn value_message(key: &str, message: String) -> String {
    if is_secret_key(key) {
        "the value (a secret, not shown) has the wrong type".to_string()
    } else {
        redact_url(&message).into_owned()
    }
}

/// `scheme://user:password@host` → `scheme://user:<redacted>@host`; other text unchanged.
pub(crate) fn redact_url(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return text.into();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!(
                "{}{}:<redacted>{}",
                &text[..scheme_end + 3],
                &authority[..colon],
                &text[scheme_end + 3 + at..]
            )
            .into(),
            None => text.into(),
        },
        None => text.into(),
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
const ENV_PREFIX: &str = "environment variable ";

impl Config {
    /// An empty config.
    pub fn new() -> Self {
        Config {
            figment: Figment::new(),
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

    /// Merges environment variables named after `app_label` (see the [module docs](self)).
    /// `known_sections` are the sections a variable may address besides those already in the
    /// config (the registered handlers' sections).
    pub(crate) fn merge_env<I>(&mut self, app_label: &str, vars: I, known_sections: &[String])
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let prefix = format!("{}_", env_name(app_label));
        let mut sections = self.sections();
        sections.extend(known_sections.iter().cloned());
        sections.retain(|s| s != app_label);
        // Longest section first, so `CACHE_REDIS_X` is not taken as section `cache` + `redis_x`.
        sections.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        sections.dedup();
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let rest = &name[prefix.len()..];
            let (section, key_env) = sections
                .iter()
                .find_map(|section| {
                    let section_env = env_name(section);
                    rest.strip_prefix(&section_env)
                        .and_then(|r| r.strip_prefix('_'))
                        .filter(|k| !k.is_empty())
                        .map(|k| (section.as_str(), k))
                })
                .unwrap_or((app_label, rest));
            if key_env.is_empty() {
                continue;
            }
            let key = self
                .keys(section)
                .unwrap_or_default()
                .into_iter()
                .find(|k| env_name(k) == key_env)
                .unwrap_or_else(|| key_env.to_ascii_lowercase());
            let mut entry = Dict::new();
            entry.insert(key, Value::from(value));
            self.merge_layer(Layer {
                metadata: Metadata::named(format!("{ENV_PREFIX}{name}")),
                data: nest(section, entry),
            });
        }
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

    /// Where the value of `key` in `section` came from, e.g. `environment variable
    /// MYAPP_CACHE_REDIS_PORT` or `config file /etc/myapp/myapp.toml, line 4`.
    pub fn origin(&self, section: &str, key: &str) -> Option<String> {
        match self.find_section(section) {
            Some(Value::Dict(_, dict)) => dict.get(key).map(|v| self.origin_of(v, section, key)),
            _ => None,
        }
    }

    fn origin_of(&self, value: &Value, section: &str, key: &str) -> String {
        let Some(metadata) = self.figment.get_metadata(value.tag()) else {
            return "an unknown source".to_string();
        };
        match &metadata.source {
            Some(Source::File(path)) => match find_line(path, section, key) {
                Some(line) => format!("config file {}, line {line}", path.display()),
                None => format!("config file {}", path.display()),
            },
            Some(Source::Code(location)) => format!(
                "{} at {}:{}",
                metadata.name,
                location.file(),
                location.line()
            ),
            Some(Source::Custom(custom)) => format!("{} ({custom})", metadata.name),
            _ => metadata.name.to_string(),
        }
    }

    fn env_hint(&self, section: &str, key: &str) -> String {
        // The app section is the one whose name has no dot and holds `cache_handler`-like keys;
        // callers know the app label, this is only a hint.
        format!("<LABEL>_{}_{}", env_name(section), env_name(key))
    }
}

/// Cement's environment-variable form of a name: upper-case, every character outside
/// `[0-9A-Za-z_]` replaced by `_`.
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `{"cache": {"redis": entry}}` for section `cache.redis`.
fn nest(section: &str, entry: Dict) -> Dict {
    section.rsplit('.').fold(entry, |inner, part| {
        let mut outer = Dict::new();
        outer.insert(part.to_string(), Value::from(inner));
        outer
    })
}

/// The 1-based line of `key = ...` under `[section]` in a TOML file, if it is written that way.
fn find_line(path: &Path, section: &str, key: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let header = format!("[{section}]");
    let mut in_section = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line.split('#').next().map(str::trim) == Some(header.as_str());
            continue;
        }
        if in_section {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_matches('"');
                if name == key {
                    return Some(index + 1);
                }
            }
        }
    }
    None
}

/// One layer of config data with its metadata.
struct Layer {
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

/// A deserialization error, with the key and value it happened at (innermost first).
#[derive(Debug)]
struct DeError {
    message: String,
    at: Option<(String, Value)>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            at: None,
        }
    }
}

/// Deserializes a config [`Value`], parsing text to the type asked for (environment variables
/// and many config files only have text).
struct ValueDe<'a> {
    value: &'a Value,
    config: &'a Config,
}

impl<'a> ValueDe<'a> {
    fn text(&self) -> Option<&'a str> {
        match self.value {
            Value::String(_, s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn parse<T, V>(
        self,
        expected: &str,
        visit: impl FnOnce(T) -> std::result::Result<V, DeError>,
    ) -> std::result::Result<V, DeError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        let text = self.text().unwrap_or_default().trim();
        let parsed = text
            .parse::<T>()
            .map_err(|e| DeError::custom(format!("\"{text}\" is not a valid {expected} ({e})")))?;
        visit(parsed)
    }
}

macro_rules! lenient_number {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> std::result::Result<V::Value, DeError> {
            if self.text().is_some() {
                self.parse::<$ty, _>(stringify!($ty), |n| visitor.$visit(n))
            } else {
                self.deserialize_any(visitor)
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::String(_, s) => visitor.visit_str(s),
            Value::Char(_, c) => visitor.visit_char(*c),
            Value::Bool(_, b) => visitor.visit_bool(*b),
            Value::Num(_, n) => match *n {
                Num::U8(n) => visitor.visit_u8(n),
                Num::U16(n) => visitor.visit_u16(n),
                Num::U32(n) => visitor.visit_u32(n),
                Num::U64(n) => visitor.visit_u64(n),
                Num::U128(n) => visitor.visit_u128(n),
                Num::USize(n) => visitor.visit_u64(n as u64),
                Num::I8(n) => visitor.visit_i8(n),
                Num::I16(n) => visitor.visit_i16(n),
                Num::I32(n) => visitor.visit_i32(n),
                Num::I64(n) => visitor.visit_i64(n),
                Num::I128(n) => visitor.visit_i128(n),
                Num::ISize(n) => visitor.visit_i64(n as i64),
                Num::F32(n) => visitor.visit_f32(n),
                Num::F64(n) => visitor.visit_f64(n),
            },
            Value::Empty(_, Empty::None) => visitor.visit_none(),
            Value::Empty(_, Empty::Unit) => visitor.visit_unit(),
            Value::Dict(_, dict) => visitor.visit_map(DictAccess {
                iter: dict.iter(),
                current: None,
                config: self.config,
            }),
            Value::Array(_, items) => visitor.visit_seq(SeqAccess {
                iter: items.iter(),
                config: self.config,
            }),
        }
    }

    lenient_number! {
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
        deserialize_u128 => u128, visit_u128;
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_i128 => i128, visit_i128;
        deserialize_f32 => f32, visit_f32;
        deserialize_f64 => f64, visit_f64;
    }

    fn deserialize_bool<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.text() {
            Some(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => visitor.visit_bool(true),
                "false" | "no" | "off" | "0" => visitor.visit_bool(false),
                _ => Err(DeError::custom(format!(
                    "\"{text}\" is not a boolean (use true/false, yes/no, on/off or 1/0)"
                ))),
            },
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::Num(_, n) => visitor.visit_string(num_text(n)),
            Value::Bool(_, b) => visitor.visit_string(b.to_string()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::Empty(..) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.text() {
            // Cement's form for lists in files and the environment: `a, b, c`.
            Some(text) => {
                let items: Vec<Value> = if text.trim().is_empty() {
                    Vec::new()
                } else {
                    text.split(',')
                        .map(|part| Value::from(part.trim()))
                        .collect()
                };
                visitor.visit_seq(SeqAccess {
                    iter: items.iter(),
                    config: self.config,
                })
            }
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self.value {
            Value::String(_, s) => visitor.visit_enum(s.as_str().into_deserializer()),
            _ => Err(DeError::custom("expected the name of a variant, as text")),
        }
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

fn num_text(n: &Num) -> String {
    match *n {
        Num::U8(n) => n.to_string(),
        Num::U16(n) => n.to_string(),
        Num::U32(n) => n.to_string(),
        Num::U64(n) => n.to_string(),
        Num::U128(n) => n.to_string(),
        Num::USize(n) => n.to_string(),
        Num::I8(n) => n.to_string(),
        Num::I16(n) => n.to_string(),
        Num::I32(n) => n.to_string(),
        Num::I64(n) => n.to_string(),
        Num::I128(n) => n.to_string(),
        Num::ISize(n) => n.to_string(),
        Num::F32(n) => n.to_string(),
        Num::F64(n) => n.to_string(),
    }
}

struct DictAccess<'a, I> {
    iter: I,
    current: Option<(&'a String, &'a Value)>,
    config: &'a Config,
}

impl<'de, 'a, I> de::MapAccess<'de> for DictAccess<'a, I>
where
    I: Iterator<Item = (&'a String, &'a Value)>,
{
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> std::result::Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.current = Some((key, value));
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<S::Value, DeError> {
        let Some((key, value)) = self.current.take() else {
            return Err(DeError::custom("a value was asked for before its key"));
        };
        seed.deserialize(ValueDe {
            value,
            config: self.config,
        })
        .map_err(|mut e| {
            // Keep the innermost key: that is the one a user has to fix.
            if e.at.is_none() {
                e.at = Some((key.clone(), value.clone()));
            }
            e
        })
    }
}

struct SeqAccess<'a, I> {
    iter: I,
    config: &'a Config,
}

impl<'de, 'a, I> de::SeqAccess<'de> for SeqAccess<'a, I>
where
    I: Iterator<Item = &'a Value>,
{
    type Error = DeError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> std::result::Result<Option<S::Value>, DeError> {
        match self.iter.next() {
            Some(value) => seed
                .deserialize(ValueDe {
                    value,
                    config: self.config,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

/// Where cement looks for an app's config files by default, in reading order.
pub fn default_config_files(label: &str) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(format!("/etc/{label}/{label}.toml"))];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        files.push(
            home.join(".config")
                .join(label)
                .join(format!("{label}.toml")),
        );
        files.push(home.join(format!(".{label}.toml")));
    }
    files
}

#[cfg(test)]
mod tests {
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
            err.contains("config_defaults at cement/src/config.rs:"),
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
