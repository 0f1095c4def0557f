//! The app lifecycle: [`App`] (what `#[derive(App)]` implements), [`Builder`] (runtime
//! overrides) and [`Application`] (the running app).
//!
//! Setup follows Cement's order: `pre_setup` hooks → config (defaults, files, environment,
//! builder values) → `[<label>]` overrides of `cache_handler` / `extensions` → extensions →
//! cache handler → `post_setup` hooks.

use std::panic::Location;
use std::path::PathBuf;

use crate::cache::Cache;
use crate::cache::{CacheSettings, HandlerContext};
use crate::config::{default_config_files, Value, BUILDER_LAYER};
use crate::registry;
use crate::{Config, Error, Hook, Meta, Result};

/// An application: a type with a [`Meta`]. Implemented by `#[derive(App)]`, which also adds
/// inherent `setup()` and `builder()` functions so that callers need not import this trait.
///
/// ```
/// use cement::App;
///
/// #[derive(App)]
/// #[app(label = "traitapp")]
/// struct TraitApp;
///
/// assert_eq!(<TraitApp as App>::meta().label(), "traitapp");
/// let app = TraitApp::setup().unwrap();
/// assert_eq!(app.label(), "traitapp");
/// ```
pub trait App {
    /// The app's Meta, as declared in `#[app(...)]`.
    fn meta() -> Meta;

    /// Sets the app up with its Meta as declared (Python's `with MyApp() as app:`).
    fn setup() -> Result<Application>
    where
        Self: Sized,
    {
        Self::builder().setup()
    }

    /// A builder to change the Meta and config before setup.
    fn builder() -> Builder
    where
        Self: Sized,
    {
        Builder::new(Self::meta())
    }
}

/// Sets an app up with runtime overrides: config values, config files, Meta changes, hooks,
/// and a substitute environment (for tests and embedding).
///
/// Values given with [`set`](Self::set) win over every other layer. Meta changes are like
/// `#[app(...)]` keys: the `[<label>]` section of the config can still override
/// `cache_handler` and `extensions`, as in Cement.
///
/// ```
/// use cement::App;
///
/// #[derive(App)]
/// #[app(label = "builderapp")]
/// struct BuilderApp;
///
/// let app = BuilderApp::builder()
///     .set("cache.memory", "expire_time", 60)
///     .env_vars([("BUILDERAPP_CACHE_MEMORY_MAX_ENTRIES", "5")])
///     .default_config_files(false)
///     .setup()?;
/// assert_eq!(app.config().get::<u64>("cache.memory", "max_entries")?, 5);
/// assert_eq!(app.cache().default_ttl(), Some(std::time::Duration::from_secs(60)));
/// # Ok::<(), cement::Error>(())
/// ```
#[must_use = "a builder does nothing until `setup()` is called"]
pub struct Builder {
    meta: Meta,
    overrides: Config,
    env: Option<Vec<(String, String)>>,
}

impl std::fmt::Debug for Builder {
    // Environment values can be secrets: show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Option<Vec<&str>> = self
            .env
            .as_ref()
            .map(|vars| vars.iter().map(|(k, _)| k.as_str()).collect());
        f.debug_struct("Builder")
            .field("meta", &self.meta)
            .field("overrides", &self.overrides)
            .field("env_vars", &env)
            .finish()
    }
}

impl Builder {
    /// A builder for an app with this Meta.
    pub fn new(meta: Meta) -> Self {
        Builder {
            meta,
            overrides: Config::new(),
            env: None,
        }
    }

    /// Sets a config value that wins over defaults, files and the environment.
    #[track_caller]
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Self {
        self.overrides.set_from(
            BUILDER_LAYER,
            Location::caller(),
            section,
            key,
            value.into(),
        );
        self
    }

    /// Reads this TOML file after the Meta's; it must exist.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.meta = self.meta.config_file(path);
        self
    }

    /// Whether to read the default config file locations (on by default).
    pub fn default_config_files(mut self, read: bool) -> Self {
        self.meta = self.meta.default_config_files(read);
        self
    }

    /// Uses this cache handler instead of the Meta's.
    pub fn cache_handler(mut self, label: impl Into<String>) -> Self {
        self.meta = self.meta.cache_handler(label);
        self
    }

    /// Loads these extensions too.
    pub fn extensions<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.meta = self.meta.extensions(labels);
        self
    }

    /// Adds a hook.
    pub fn hook(mut self, hook: Hook) -> Self {
        self.meta = self.meta.hook(hook);
        self
    }

    /// Reads config from these variables instead of the process environment.
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// The Meta as it stands.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Sets the app up: hooks, config, extensions, cache handler.
    pub fn setup(self) -> Result<Application> {
        let Builder {
            mut meta,
            overrides,
            env,
        } = self;
        crate::label::check("app", &meta.label)?;

        let hooks = meta.hooks.clone();
        for hook in &hooks {
            if let Hook::PreSetup(f) = hook {
                f(&mut meta).map_err(|e| Error::Hook {
                    hook: "pre_setup",
                    source: Box::new(e),
                })?;
            }
        }
        crate::label::check("app", &meta.label)?;
        let label = meta.label.clone();

        // Config: defaults, files, environment, builder values.
        let mut config = meta.config_defaults.map(|f| f()).unwrap_or_default();
        config.join(&Config::with_sections(&[label.as_str()]));
        if meta.default_config_files {
            for path in default_config_files(&label) {
                if path.is_file() {
                    config.merge_file(&path)?;
                }
            }
        }
        for path in &meta.config_files {
            config.merge_file(path)?;
        }
        let handler_sections: Vec<String> = registry::handler_labels("cache")
            .iter()
            .map(|l| format!("cache.{l}"))
            .collect();
        let env = env.unwrap_or_else(|| {
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect()
        });
        config.merge_env(&label, env, &handler_sections);
        config.merge(&overrides);
        config.check()?;

        // Cement's core_meta_override: the app's own section can switch backend.
        if config.has_key(&label, "cache_handler") {
            meta.cache_handler = config.get(&label, "cache_handler")?;
        }
        if config.has_key(&label, "extensions") {
            let extra: Vec<String> = config.get(&label, "extensions")?;
            meta = meta.extensions(extra.into_iter().filter(|e| !e.is_empty()));
        }

        for extension in &meta.extensions {
            crate::label::check("extension", extension)?;
        }
        registry::check_extensions(&meta.extensions)?;

        let cache = setup_cache(&meta, &mut config)?;
        tracing::debug!(app = %label, cache_handler = cache.handler_label(), "app set up");

        let app = Application {
            meta,
            config,
            #[cfg(feature = "tokio")]
            async_cache: crate::cache::AsyncCache::new(&cache),
            cache,
            closed: false,
        };
        for hook in &hooks {
            if matches!(hook, Hook::PostSetup(_)) {
                if let Err(e) = hook.run_on(&app) {
                    app.abandon();
                    return Err(e);
                }
            }
        }
        Ok(app)
    }
}

/// Resolves the Meta's cache handler, completes its config section and builds it.
fn setup_cache(meta: &Meta, config: &mut Config) -> Result<Cache> {
    let registration = registry::resolve("cache", &meta.cache_handler, &meta.extensions)?;
    let section = format!("cache.{}", registration.label());
    if let Some(defaults) = registration.config_defaults() {
        config.join(&defaults);
    }
    config.join(&CacheSettings::defaults(&meta.label, &section));

    let ctx = HandlerContext::new(&meta.label, "cache", registration.label(), config);
    let handler = registration.build(&ctx)?;
    Cache::from_config(registration.label(), handler, config, &section)
}

/// A running app: its config, its cache, and its hooks. `Send + Sync`: share `&app` between
/// threads.
///
/// Closing runs the `pre_close` hooks, closes the cache handler, then runs the `post_close`
/// hooks. [`close`](Self::close) reports errors; dropping an app that was not closed closes it
/// and logs errors with `tracing`.
#[derive(Debug)]
pub struct Application {
    meta: Meta,
    config: Config,
    cache: Cache,
    #[cfg(feature = "tokio")]
    async_cache: crate::cache::AsyncCache,
    closed: bool,
}

impl Application {
    /// Runs the app: the `pre_run` hooks, then the `post_run` hooks.
    pub fn run(&self) -> Result<()> {
        self.run_hooks(|h| matches!(h, Hook::PreRun(_)))?;
        self.run_hooks(|h| matches!(h, Hook::PostRun(_)))
    }

    /// The app's cache (`app.cache` in Cement).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The app's cache for async code (feature `tokio`): the [`cache`](Self::cache) with
    /// `async fn` methods of the same names, on the same engine, counters and breaker; see
    /// [`AsyncCache`](crate::cache::AsyncCache).
    ///
    /// ```
    /// use cement::App;
    ///
    /// #[derive(App)]
    /// #[app(label = "async_accessor")]
    /// struct AsyncApp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> cement::Result<()> {
    /// let app = AsyncApp::setup()?;
    /// app.async_cache().set("k", "v").await?;
    /// assert_eq!(app.cache().get::<String>("k")?.as_deref(), Some("v"));
    /// # app.close() }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn async_cache(&self) -> &crate::cache::AsyncCache {
        &self.async_cache
    }

    /// The app's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The app's label.
    pub fn label(&self) -> &str {
        &self.meta.label
    }

    /// The app's Meta, after overrides from the builder and the config.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Closes the app: `pre_close` hooks, the cache handler's `close`, `post_close` hooks.
    /// Every step runs even if an earlier one fails; the first error is returned.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.shutdown()
    }

    fn run_hooks(&self, which: impl Fn(&Hook) -> bool) -> Result<()> {
        self.meta
            .hooks
            .iter()
            .filter(|h| which(h))
            .try_for_each(|h| h.run_on(self))
    }

    fn shutdown(&self) -> Result<()> {
        let pre = self.run_hooks(|h| matches!(h, Hook::PreClose(_)));
        let cache = self.cache.close();
        let post = self.run_hooks(|h| matches!(h, Hook::PostClose(_)));
        pre.and(cache).and(post)
    }

    /// Setup failed after the handler was built: release it without running close hooks.
    fn abandon(mut self) {
        self.closed = true;
        if let Err(e) = self.cache.close() {
            tracing::warn!(app = %self.meta.label, error = %e, "closing the cache handler failed");
        }
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        if !self.closed {
            self.closed = true;
            if let Err(e) = self.shutdown() {
                tracing::error!(app = %self.meta.label, error = %e, "closing the app on drop failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheHandler, MemoryCacheHandler};
    use crate::registry::HandlerRegistration;
    use std::sync::Mutex;
    use std::time::Duration;

    fn builder(label: &str) -> Builder {
        Builder::new(Meta::new(label))
            .default_config_files(false)
            .env_vars(Vec::<(String, String)>::new())
    }

    #[test]
    fn builder_debug_hides_url_passwords() {
        let builder = builder("dbgapp")
            .set("cache.redis", "url", "redis://:wr#ong-Pw@127.0.0.1:6379")
            .set("cache.redis", "password", "s3cret");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("wr#ong-Pw"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
    }

    #[test]
    fn application_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Application>();
        assert_send_sync::<Cache>();
        #[cfg(feature = "tokio")]
        assert_send_sync::<crate::cache::AsyncCache>();
    }

    #[test]
    fn memory_is_the_default_and_conforms() {
        let app = builder("conf_mem").setup().unwrap();
        assert_eq!(app.cache().handler_label(), "memory");
        assert_eq!(app.cache().prefix(), "conf_mem:");
        #[cfg(feature = "testing")]
        crate::testing::conformance::run_all(app.cache());
        app.close().unwrap();
    }

    #[cfg(all(feature = "testing", feature = "tokio"))]
    #[tokio::test(flavor = "current_thread")]
    async fn memory_conforms_through_the_async_face() {
        let app = builder("conf_mem_async").setup().unwrap();
        crate::testing::conformance_async::run_all_async(app.async_cache()).await;
        assert_eq!(app.cache().stats(), app.async_cache().stats());
        app.close().unwrap();
    }

    static CALLS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    fn record(name: &'static str) {
        CALLS.lock().unwrap().push(name);
    }

    #[test]
    fn hooks_run_in_cements_order() {
        fn pre_setup(meta: &mut Meta) -> Result<()> {
            record("pre_setup");
            *meta = meta.clone().cache_handler("memory");
            Ok(())
        }
        fn post_setup(app: &Application) -> Result<()> {
            record("post_setup");
            app.cache().set("ready", &true)
        }
        fn pre_run(_: &Application) -> Result<()> {
            record("pre_run");
            Ok(())
        }
        fn post_run(_: &Application) -> Result<()> {
            record("post_run");
            Ok(())
        }
        fn pre_close(app: &Application) -> Result<()> {
            record("pre_close");
            // The cache is still open in pre_close.
            app.cache().get::<bool>("ready").map(|_| ())
        }
        fn post_close(_: &Application) -> Result<()> {
            record("post_close");
            Ok(())
        }
        let app = builder("hooks_order")
            .hook(Hook::post_close(post_close))
            .hook(Hook::pre_close(pre_close))
            .hook(Hook::post_run(post_run))
            .hook(Hook::pre_run(pre_run))
            .hook(Hook::post_setup(post_setup))
            .hook(Hook::pre_setup(pre_setup))
            .setup()
            .unwrap();
        assert_eq!(*CALLS.lock().unwrap(), ["pre_setup", "post_setup"]);
        app.run().unwrap();
        drop(app); // closing on drop runs the close hooks
        assert_eq!(
            *CALLS.lock().unwrap(),
            [
                "pre_setup",
                "post_setup",
                "pre_run",
                "post_run",
                "pre_close",
                "post_close"
            ]
        );
    }

    #[test]
    fn a_failing_hook_is_named() {
        fn fails(_: &Application) -> Result<()> {
            Err(Error::InvalidArgument("boom".into()))
        }
        let err = builder("hook_fails")
            .hook(Hook::post_setup(fails))
            .setup()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Hook {
                hook: "post_setup",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "post_setup hook failed: invalid argument: boom"
        );
        let app = builder("hook_fails2")
            .hook(Hook::pre_close(fails))
            .setup()
            .unwrap();
        let err = app.close().unwrap_err();
        assert!(
            err.to_string().starts_with("pre_close hook failed"),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let builder = builder("secrets")
            .set("cache.memory", "password", "s3cret")
            .env_vars([("SECRETS_TOKEN", "s3cret")]);
        let shown = format!("{builder:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("SECRETS_TOKEN"),
            "{shown}"
        );
        let app = builder.setup().unwrap_err();
        // The memory handler rejects the unknown key; the message names it, not its value.
        assert!(!app.to_string().contains("s3cret"), "{app}");
    }

    #[test]
    fn invalid_app_label() {
        let err = builder("My-App").setup().unwrap_err();
        assert!(
            matches!(err, Error::InvalidLabel { what: "app", .. }),
            "{err}"
        );
    }

    #[test]
    fn unknown_cache_handler_lists_registered_labels() {
        let err = builder("unknown_handler")
            .cache_handler("memroy")
            .setup()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no cache handler is registered with label \"memroy\""),
            "{msg}"
        );
        assert!(msg.contains("\"memory\""), "{msg}");
        assert!(msg.contains("did you mean \"memory\"?"), "{msg}");
    }

    #[test]
    fn config_section_overrides_meta_cache_handler() {
        // From the environment, as a deployed binary would get it.
        let err = builder("meta_override")
            .env_vars([("META_OVERRIDE_CACHE_HANDLER", "bogus")])
            .setup()
            .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownHandler { label, .. } if label == "bogus"),
            "{err}"
        );
        // From a config value.
        let app = builder("meta_override2")
            .cache_handler("bogus")
            .set("meta_override2", "cache_handler", "memory")
            .setup()
            .unwrap();
        assert_eq!(app.meta().cache_handler_label(), "memory");
    }

    #[test]
    fn unknown_extension_says_which_crate_provides_it() {
        let err = builder("unknown_ext")
            .extensions(["redis"])
            .setup()
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::UnknownExtension { .. }));
        assert!(msg.contains("unknown extension \"redis\""), "{msg}");
        assert!(
            msg.contains("crate `cement-ext` with feature \"redis\""),
            "{msg}"
        );
        let err = builder("unknown_ext2")
            .set("unknown_ext2", "extensions", "test_ext, nosuch")
            .setup()
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown extension \"nosuch\""),
            "{err}"
        );
    }

    // A handler owned by an extension, and two types claiming one label.
    #[derive(Default)]
    struct ExtOwned;
    #[derive(Default)]
    struct DupA;
    #[derive(Default)]
    struct DupB;

    macro_rules! bytes_handler {
        ($($t:ty),*) => {$(
            impl CacheHandler for $t {
                fn get(&self, _: &str) -> Result<Option<Vec<u8>>> { Ok(None) }
                fn set(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<()> { Ok(()) }
                fn delete(&self, _: &str) -> Result<bool> { Ok(false) }
                fn purge(&self) -> Result<()> { Ok(()) }
            }
        )*};
    }
    bytes_handler!(ExtOwned, DupA, DupB);

    crate::register_extension!("test_ext", "a test extension");
    inventory::submit! { HandlerRegistration::cache::<ExtOwned>("test_ext_handler", "ExtOwned", Some("test_ext"), None) }
    inventory::submit! { HandlerRegistration::cache::<DupA>("test_dup", "DupA", None, None) }
    inventory::submit! { HandlerRegistration::cache::<DupB>("test_dup", "DupB", None, None) }

    #[test]
    fn extension_owned_handler_needs_its_extension() {
        let err = builder("needs_ext")
            .cache_handler("test_ext_handler")
            .setup()
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::HandlerNotLoaded { .. }));
        assert!(msg.contains("provided by extension \"test_ext\""), "{msg}");
        assert!(msg.contains("extensions = [\"test_ext\"]"), "{msg}");
        let app = builder("needs_ext2")
            .cache_handler("test_ext_handler")
            .extensions(["test_ext"])
            .setup()
            .unwrap();
        assert_eq!(app.cache().handler_label(), "test_ext_handler");
    }

    #[test]
    fn duplicate_labels_name_both_types() {
        let err = builder("dups")
            .cache_handler("test_dup")
            .setup()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cache handler label \"test_dup\" is registered twice, by `DupA` and by `DupB`; give one of them another label"
        );
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cement-app-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn layers_win_in_order() {
        fn defaults() -> Config {
            let mut config = crate::init_defaults!("layers", "cache.memory");
            config.set("cache.memory", "expire_time", 10);
            config.set("layers", "a", "defaults");
            config.set("layers", "b", "defaults");
            config.set("layers", "c", "defaults");
            config.set("layers", "d", "defaults");
            config
        }
        let dir = scratch("layers");
        let file = dir.join("layers.toml");
        std::fs::write(
            &file,
            "[layers]\nb = \"file\"\nc = \"file\"\nd = \"file\"\n",
        )
        .unwrap();
        let app = Builder::new(Meta::new("layers").config_defaults(defaults))
            .default_config_files(false)
            .config_file(&file)
            .env_vars([("LAYERS_C", "env"), ("LAYERS_D", "env")])
            .set("layers", "d", "builder")
            .setup()
            .unwrap();
        let config = app.config();
        let get = |k: &str| config.get::<String>("layers", k).unwrap();
        assert_eq!(
            [get("a"), get("b"), get("c"), get("d")],
            ["defaults", "file", "env", "builder"]
        );
        // The handler's defaults fill only what the app left unset.
        assert_eq!(
            config.get::<u64>("cache.memory", "expire_time").unwrap(),
            10
        );
        assert_eq!(
            config.get::<u64>("cache.memory", "max_entries").unwrap(),
            10_000
        );
        assert_eq!(app.cache().default_ttl(), Some(Duration::from_secs(10)));
        assert_eq!(
            config.origin("layers", "b").unwrap(),
            format!("config file {}, line 2", file.display())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn config_errors_at_setup_name_their_source() {
        let err = builder("bad_env")
            .env_vars([("BAD_ENV_CACHE_MEMORY_EXPIRE_TIME", "soon")])
            .setup()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key \"expire_time\" in section [cache.memory]"),
            "{err}"
        );
        assert!(
            err.contains("environment variable BAD_ENV_CACHE_MEMORY_EXPIRE_TIME"),
            "{err}"
        );
        let err = builder("typo_key")
            .set("cache.memory", "max_entires", 5)
            .setup()
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `max_entires`"), "{err}");
        let err = builder("missing_file")
            .config_file("/nonexistent/x.toml")
            .setup()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read config file /nonexistent/x.toml"),
            "{err}"
        );
    }

    #[test]
    fn prefix_is_configurable_and_isolates_apps() {
        let a = builder("iso_a").setup().unwrap();
        let b = builder("iso_b")
            .set("cache.memory", "prefix", "custom/")
            .setup()
            .unwrap();
        assert_eq!(b.cache().prefix(), "custom/");
        a.cache().set("k", &1).unwrap();
        assert_eq!(b.cache().get::<i32>("k").unwrap(), None);
    }

    #[test]
    fn cache_new_wraps_a_handler() {
        let cache = Cache::new(
            "memory",
            Box::new(MemoryCacheHandler::new(10_000)),
            "p:",
            None,
        );
        #[cfg(feature = "testing")]
        crate::testing::conformance::run_all(&cache);
        cache.set("k", &1).unwrap();
        assert_eq!(cache.handler().get("p:k").unwrap(), Some(b"1".to_vec()));
    }
}
