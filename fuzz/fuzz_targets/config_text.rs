//! Arbitrary text as config values (environment variables) and as whole config files (TOML),
//! read into every built-in handler's typed settings at setup: never a panic; a refusal is a
//! config error that names the key, or the file, and never echoes a password.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use cement::{Builder, Error, Meta};
use cement_ext as _;
use libfuzzer_sys::fuzz_target;

const KEYS: &[(&str, &str)] = &[
    ("memory", "max_entries"),
    ("memory", "expire_time"),
    ("memory", "lease_time"),
    ("memory", "breaker_failures"),
    ("memory", "breaker_cooldown"),
    ("memory", "on_read_error"),
    ("memcached", "hosts"),
    ("memcached", "pool_size"),
    ("memcached", "max_value_size"),
    ("memcached", "connect_timeout"),
    ("memcached", "purge"),
    ("redis", "port"),
    ("redis", "db"),
    ("redis", "url"),
    ("redis", "password"),
    ("redis", "response_timeout"),
    ("redis", "max_value_size"),
    ("redis", "tls"),
];

fn app(handler: &str) -> Builder {
    let mut meta = Meta::new("fz")
        .cache_handler(handler)
        .default_config_files(false);
    if handler != "memory" {
        meta = meta.extensions([handler]);
    }
    Builder::new(meta)
}

fn toml_path() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("cement-fuzz-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector & 0x80 == 0 {
        // One environment variable.
        let (handler, key) = KEYS[usize::from(selector) % KEYS.len()];
        let var = format!("FZ_CACHE_{}_{}", handler.to_uppercase(), key.to_uppercase());
        match app(handler)
            .env_vars([(var.clone(), text.to_string())])
            .setup()
        {
            Ok(app) => drop(app),
            Err(err) => {
                let message = err.to_string();
                assert!(matches!(err, Error::Config(_)), "{var}={text:?}: {err:?}");
                assert!(
                    message.contains(key) || message.contains("hosts"),
                    "{var}={text:?}: {message}"
                );
                if key == "password" && text.len() >= 4 {
                    assert!(
                        !message.contains(text),
                        "the password was echoed: {message}"
                    );
                }
            }
        }
    } else {
        // A whole config file.
        let handler = ["memory", "memcached", "redis"][usize::from(selector) % 3];
        let mut file = std::fs::File::create(toml_path()).expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        drop(file);
        match app(handler)
            .env_vars(Vec::<(String, String)>::new())
            .config_file(toml_path())
            .setup()
        {
            Ok(app) => drop(app),
            Err(err) => assert!(
                matches!(
                    err,
                    Error::Config(_)
                        | Error::UnknownHandler { .. }
                        | Error::UnknownExtension { .. }
                        | Error::HandlerNotLoaded { .. }
                        | Error::InvalidLabel { .. }
                ),
                "{text:?}: {err:?}"
            ),
        }
    }
});
