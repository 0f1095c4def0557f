//! The app lifecycle through `#[derive(App)]`, as a user writes it: the seed's examples, config
//! layers from files and the environment, backend switching from config, errors, threads.

use std::time::Duration;

use cement::{App, Config, Error};

#[derive(App)]
#[app(label = "seedapp", config_defaults = defaults)]
struct SeedApp;

fn defaults() -> Config {
    let mut config = cement::init_defaults!("seedapp", "cache.memory");
    config.set("cache.memory", "expire_time", 300);
    config
}

fn quiet<A: App>() -> cement::Builder {
    A::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
}

#[test]
fn working_with_caches() {
    let app = quiet::<SeedApp>().setup().unwrap();
    app.run().unwrap();
    app.cache().set("my_key", "my value").unwrap();
    assert_eq!(
        app.cache().get::<String>("my_key").unwrap().as_deref(),
        Some("my value")
    );
    assert!(app.cache().delete("my_key").unwrap());
    assert_eq!(app.cache().get::<String>("my_key").unwrap(), None);
    app.cache().set("other", &1).unwrap();
    app.cache().purge().unwrap();
    assert_eq!(app.cache().get::<i32>("other").unwrap(), None);
    assert_eq!(app.cache().default_ttl(), Some(Duration::from_secs(300)));
    assert_eq!(app.label(), "seedapp");
    app.close().unwrap();
}

#[test]
fn memory_handler_conforms_through_the_derive() {
    #[derive(App)]
    #[app(label = "conform_derive")]
    struct ConformApp;
    let app = quiet::<ConformApp>().setup().unwrap();
    cement::testing::conformance::run_all(app.cache());
}

/// The default store is quick_cache (`eviction = "s3fifo"`); the two moka policies are a
/// store of their own and conform as well, with and without a byte bound.
#[test]
fn memory_handler_conforms_with_every_eviction() {
    #[derive(App)]
    #[app(label = "conform_eviction")]
    struct ConformApp;
    // In parallel: the suite mostly waits for TTLs to pass.
    std::thread::scope(|s| {
        for eviction in ["s3fifo", "tinylfu", "lru"] {
            for max_size in [None, Some(1 << 20), Some(64 << 20)] {
                s.spawn(move || {
                    let mut builder =
                        quiet::<ConformApp>().set("cache.memory", "eviction", eviction);
                    if let Some(max_size) = max_size {
                        builder = builder.set("cache.memory", "max_size", max_size);
                    }
                    let app = builder.setup().unwrap();
                    cement::testing::conformance::run_all(app.cache());
                });
            }
        }
    });
}

#[test]
fn threads_share_the_app() {
    let app = quiet::<SeedApp>().setup().unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let app = &app;
            s.spawn(move || {
                for i in 0..100 {
                    app.cache().set(&format!("t{t}:{i}"), &(t, i)).unwrap();
                }
            });
        }
    });
    for t in 0..8 {
        for i in 0..100 {
            assert_eq!(
                app.cache().get::<(i32, i32)>(&format!("t{t}:{i}")).unwrap(),
                Some((t, i))
            );
        }
    }
}

#[test]
fn environment_overrides_defaults_with_cements_names() {
    let app = quiet::<SeedApp>()
        .env_vars([
            ("SEEDAPP_CACHE_MEMORY_EXPIRE_TIME", "60"),
            ("SEEDAPP_CACHE_MEMORY_MAX_ENTRIES", "2"),
            ("SEEDAPP_DEBUG", "true"),
        ])
        .setup()
        .unwrap();
    assert_eq!(app.cache().default_ttl(), Some(Duration::from_secs(60)));
    assert_eq!(
        app.config()
            .get::<u64>("cache.memory", "max_entries")
            .unwrap(),
        2
    );
    assert!(app.config().get::<bool>("seedapp", "debug").unwrap());
    assert_eq!(
        app.config().origin("cache.memory", "expire_time").unwrap(),
        "environment variable SEEDAPP_CACHE_MEMORY_EXPIRE_TIME"
    );
}

#[test]
fn a_config_file_switches_the_backend_without_recompiling() {
    let dir = std::env::temp_dir().join(format!("cement-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("seedapp.toml");
    std::fs::write(&file, "[seedapp]\ncache_handler = \"no_such_backend\"\n").unwrap();
    let err = quiet::<SeedApp>().config_file(&file).setup().unwrap_err();
    match &err {
        Error::UnknownHandler {
            label, registered, ..
        } => {
            assert_eq!(label, "no_such_backend");
            assert!(registered.iter().any(|l| l == "memory"), "{registered:?}");
        }
        other => panic!("expected UnknownHandler, got {other:?}"),
    }
    std::fs::write(
        &file,
        "[seedapp]\ncache_handler = \"memory\"\n\n[cache.memory]\nexpire_time = \"ten\"\n",
    )
    .unwrap();
    let err = quiet::<SeedApp>()
        .config_file(&file)
        .setup()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("config file {}, line 5", file.display())),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keys_from_two_apps_do_not_collide_on_a_shared_prefix_scheme() {
    #[derive(App)]
    #[app(label = "app_one")]
    struct One;
    let one = quiet::<One>().setup().unwrap();
    assert_eq!(one.cache().prefix(), "app_one:");
    assert_eq!(
        one.config()
            .get::<String>("cache.memory", "prefix")
            .unwrap(),
        "app_one:"
    );
}
