//! Every numeric setting of every built-in handler has a stated range, and a value outside it
//! fails setup with a config error naming the key, the section and where the value came from.
//! No server is needed: handlers connect lazily, and these apps never get that far.

// The handlers register at link time; nothing else here names the crate.
use cement_ext as _;

use cement::{Builder, Error, Meta};

fn app(label: &str, handler: &str, env: &[(String, String)]) -> Builder {
    let mut meta = Meta::new(label)
        .cache_handler(handler)
        .default_config_files(false);
    if handler != "memory" {
        meta = meta.extensions([handler]);
    }
    Builder::new(meta).env_vars(env.to_vec())
}

/// (handler, key, values outside the range)
const OUT_OF_RANGE: &[(&str, &str, &[&str])] = &[
    ("memory", "max_entries", &["0", "-1"]),
    ("memcached", "max_value_size", &["0", "1023", "1073741825"]),
    ("memcached", "pool_size", &["0", "1025"]),
    (
        "memcached",
        "connect_timeout",
        &["0", "-1", "nan", "inf", "86401"],
    ),
    ("memcached", "response_timeout", &["0", "0.0"]),
    ("redis", "max_value_size", &["0", "4294967297"]),
    ("redis", "pool_size", &["0", "5000"]),
    ("redis", "port", &["0", "65536"]),
    ("redis", "db", &["-1", "2147483648"]),
    ("redis", "connect_timeout", &["0", "-0.5"]),
    ("redis", "response_timeout", &["0", "1e9"]),
    // The facade's own numeric keys, on every handler section alike.
    ("memory", "breaker_cooldown", &["0", "-3"]),
    ("memory", "lease_time", &["-1", "nan"]),
    ("redis", "lease_time", &["100000"]),
    ("memory", "async_blocking_limit", &["0", "-1", "513"]),
    ("redis", "async_blocking_limit", &["0", "1.5"]),
];

#[test]
fn out_of_range_settings_name_key_section_and_origin() {
    for (handler, key, values) in OUT_OF_RANGE {
        for value in *values {
            let var = format!(
                "RANGES_CACHE_{}_{}",
                handler.to_ascii_uppercase(),
                key.to_ascii_uppercase()
            );
            let env = [(var.clone(), value.to_string())];
            let err = app("ranges", handler, &env)
                .setup()
                .expect_err(&format!("{var}={value} was accepted"));
            let message = err.to_string();
            assert!(matches!(err, Error::Config(_)), "{var}={value}: {message}");
            assert!(
                message.contains(&format!("key \"{key}\" in section [cache.{handler}]")),
                "{var}={value}: {message}"
            );
            assert!(
                message.contains(&format!("environment variable {var}")),
                "{var}={value}: {message}"
            );
        }
    }
}

#[test]
fn the_edges_of_each_range_are_accepted() {
    for (handler, key, value) in [
        ("memory", "max_entries", "1"),
        ("memcached", "max_value_size", "1024"),
        ("memcached", "max_value_size", "1073741824"),
        ("memcached", "pool_size", "1"),
        ("memcached", "pool_size", "1024"),
        ("memcached", "connect_timeout", "86400"),
        ("memcached", "response_timeout", "0.001"),
        ("redis", "port", "65535"),
        ("redis", "db", "0"),
        ("redis", "max_value_size", "1"),
        ("memory", "lease_time", "0"),
        ("memory", "breaker_cooldown", "0.5"),
        ("memory", "async_blocking_limit", "1"),
        ("redis", "async_blocking_limit", "512"),
    ] {
        let var = format!(
            "EDGES_CACHE_{}_{}",
            handler.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        );
        let env = [(var.clone(), value.to_string())];
        if let Err(err) = app("edges", handler, &env).setup() {
            panic!("{var}={value} was refused: {err}");
        }
    }
}
