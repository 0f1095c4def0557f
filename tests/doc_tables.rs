//! The key tables of the docs name exactly the keys each handler's settings accept: the full
//! table in the handler's module docs (the reference) and the short one in README.md.

use std::collections::BTreeSet;

use cement::Config;
use cement_ext::memcached::MemcachedSettings;
use cement_ext::redis::RedisSettings;
use cement_ext::sqlite::SqliteSettings;

/// The keys a section accepts: its settings type's, as its unknown-key error lists them, and
/// the facade's `prefix` and `expire_time`.
fn accepted<T: serde::de::DeserializeOwned>(mut config: Config, section: &str) -> BTreeSet<String> {
    config.set(section, "no_such_key", 1);
    let err = match config.section::<T>(section) {
        Ok(_) => panic!("[{section}] accepted an unknown key"),
        Err(err) => err.to_string(),
    };
    let list = err
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("no list of keys in: {err}"))
        .1;
    let mut keys = backticked(list);
    assert!(!keys.is_empty(), "{err}");
    // The facade owns these two (the handler never sees them); every handler table lists
    // them, since they are the ones users set per handler.
    keys.extend(["prefix".to_string(), "expire_time".to_string()]);
    keys
}

/// Every `word` in backticks.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The first cells of the table rows between the line starting with `from` and the next line
/// starting with `to`, each line stripped of `strip` first.
fn table_keys(text: &str, strip: &str, from: &str, to: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix(strip).unwrap_or(l).trim_start())
        .collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(from))
        .unwrap_or_else(|| panic!("no line starting with {from:?}"));
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with(to))
        .filter(|l| l.starts_with("| `"))
        .flat_map(|row| backticked(row.split('|').nth(1).unwrap_or_default()))
        .collect()
}

const README: &str = include_str!("../README.md");
const MEMCACHED_DOCS: &str = include_str!("../cement-ext/src/memcached/mod.rs");
const REDIS_DOCS: &str = include_str!("../cement-ext/src/redis/mod.rs");
const SQLITE_DOCS: &str = include_str!("../cement-ext/src/sqlite/mod.rs");

#[test]
fn memcached_tables_list_every_key() {
    let keys = accepted::<MemcachedSettings>(cement_ext::memcached::defaults(), "cache.memcached");
    assert_eq!(table_keys(MEMCACHED_DOCS, "//!", "# Config", "# "), keys);
    assert_eq!(table_keys(README, "", "### memcached:", "#"), keys);
}

#[test]
fn redis_tables_list_every_key() {
    let keys = accepted::<RedisSettings>(cement_ext::redis::defaults(), "cache.redis");
    assert_eq!(table_keys(REDIS_DOCS, "//!", "# Config", "# "), keys);
    assert_eq!(table_keys(README, "", "### redis:", "#"), keys);
}

#[test]
fn sqlite_tables_list_every_key() {
    let keys = accepted::<SqliteSettings>(cement_ext::sqlite::defaults(), "cache.sqlite");
    assert_eq!(table_keys(SQLITE_DOCS, "//!", "# Config", "# "), keys);
    assert_eq!(table_keys(README, "", "### sqlite:", "#"), keys);
}
