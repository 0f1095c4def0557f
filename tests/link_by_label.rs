//! An app that names its backends only by label still gets them.
//!
//! Nothing in this test binary names `cement_ext` (no `use`, no path): rustc would drop the
//! crate and, with it, its link-time registrations. `#[derive(App)]` sees that this package
//! depends on `cement-ext` and emits `use ::cement_ext as _;`, which links it.

use cement::App;

#[derive(App)]
#[app(label = "linked", extensions = ["memcached", "redis", "sqlite"])]
struct Linked;

#[test]
fn extensions_of_cement_ext_are_registered() {
    let extensions: Vec<&str> = cement::registry::extensions()
        .iter()
        .map(|e| e.label())
        .collect();
    assert!(
        extensions.contains(&"memcached"),
        "registered extensions: {extensions:?}"
    );
    assert!(
        extensions.contains(&"redis"),
        "registered extensions: {extensions:?}"
    );
    assert!(
        extensions.contains(&"sqlite"),
        "registered extensions: {extensions:?}"
    );
}

#[test]
fn an_app_loads_them_by_label() {
    // Loading an extension that is not registered fails setup; the cache stays `memory`,
    // so no server is needed.
    let app = Linked::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .setup()
        .unwrap();
    assert_eq!(
        app.meta().extension_labels(),
        ["memcached", "redis", "sqlite"]
    );
    app.close().unwrap();
}

#[test]
fn config_alone_switches_the_app_to_sqlite() {
    // What a deployed CLI does without recompiling: `[linked] cache_handler = "sqlite"` and a
    // path (here through the builder's config layer, the same as a config file's).
    let dir = std::env::temp_dir().join(format!("cement-link-sqlite-{}", std::process::id()));
    let app = Linked::builder()
        .default_config_files(false)
        .env_vars(Vec::<(String, String)>::new())
        .set("linked", "cache_handler", "sqlite")
        .set(
            "cache.sqlite",
            "path",
            dir.join("c.sqlite3").display().to_string(),
        )
        .setup()
        .unwrap();
    assert_eq!(app.cache().handler_label(), "sqlite");
    app.cache().set("k", &1).unwrap();
    assert_eq!(app.cache().get::<i32>("k").unwrap(), Some(1));
    app.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
