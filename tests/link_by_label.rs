//! An app that names its backends only by label still gets them.
//!
//! Nothing in this test binary names `cement_ext` (no `use`, no path): rustc would drop the
//! crate and, with it, its link-time registrations. `#[derive(App)]` sees that this package
//! depends on `cement-ext` and emits `use ::cement_ext as _;`, which links it.

use cement::App;

#[derive(App)]
#[app(label = "linked", extensions = ["memcached", "redis"])]
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
    assert_eq!(app.meta().extension_labels(), ["memcached", "redis"]);
    app.close().unwrap();
}
