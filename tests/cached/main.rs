//! `#[cement::cached]` on real caches: the body runs once per key under racing threads and
//! tasks, again after purge, TTL and a version bump; Err and None are not stored; keys are
//! pinned (golden); with sqlite, a value computed by one process is read by the next (the test
//! binary starts copies of itself with `CEMENT_CACHED_CHILD`); a dead redis with
//! `on_read_error = "miss"` still gives the function's result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use cement::cache::{AsyncCache, Cache, MemoryCacheHandler};
use cement::Application;

#[path = "../support/mod.rs"]
mod support;

mod golden;

fn memory(prefix: &str) -> Cache {
    Cache::new(
        "memory",
        Box::new(MemoryCacheHandler::new(1000)),
        prefix,
        None,
    )
}

/// An app on the embedded memory handler, without config files or environment variables.
fn memory_app(label: &str) -> cement::Result<Application> {
    cement::Builder::new(cement::Meta::new(label).default_config_files(false))
        .env_vars(Vec::<(String, String)>::new())
        .setup()
}

static RACED: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn raced(cache: &Cache, n: u64) -> u64 {
    RACED.fetch_add(1, Ordering::SeqCst);
    // Long enough that the other threads arrive while this one computes.
    std::thread::sleep(Duration::from_millis(100));
    n * 2
}

#[test]
fn sixteen_racing_threads_run_the_body_once() {
    let cache = memory("race:");
    let barrier = Barrier::new(16);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(raced(&cache, 21), 42);
            });
        }
    });
    assert_eq!(RACED.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(stats.ops["compute"].calls, 1);
    assert_eq!(stats.ops["get_or_set_with"].calls, 16);
}

static SQUARED: AtomicUsize = AtomicUsize::new(0);

/// On the app: `&Application` gives its cache.
#[cement::cached]
fn square(app: &Application, n: i64, label: String) -> String {
    SQUARED.fetch_add(1, Ordering::SeqCst);
    format!("{label}{}", n * n)
}

#[test]
fn two_arguments_run_twice_and_purge_runs_again() {
    let app = memory_app("cachedapp").unwrap();
    assert_eq!(square(&app, 3, "sq=".into()), "sq=9");
    assert_eq!(square(&app, 3, "sq=".into()), "sq=9");
    assert_eq!(square(&app, 4, "sq=".into()), "sq=16");
    assert_eq!(square(&app, 4, "sq=".into()), "sq=16");
    assert_eq!(SQUARED.load(Ordering::SeqCst), 2);
    app.cache().purge().unwrap();
    assert_eq!(square(&app, 3, "sq=".into()), "sq=9");
    assert_eq!(SQUARED.load(Ordering::SeqCst), 3);
    // The body as written, around the cache.
    assert_eq!(square_uncached(&app, 3, "sq=".into()), "sq=9");
    assert_eq!(SQUARED.load(Ordering::SeqCst), 4);
    app.close().unwrap();
}

static SHORT: AtomicUsize = AtomicUsize::new(0);

#[cement::cached(ttl = 1)]
fn short_lived(cache: &Cache) -> u32 {
    SHORT.fetch_add(1, Ordering::SeqCst) as u32
}

#[test]
fn the_body_runs_again_after_the_ttl() {
    let cache = memory("ttl:");
    assert_eq!(short_lived(&cache), 0);
    assert_eq!(short_lived(&cache), 0);
    // Past the one-second TTL, however loaded the host: expiry only gets surer with time.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(short_lived(&cache), 1);
    assert_eq!(SHORT.load(Ordering::SeqCst), 2);
}

static DEFAULT_TTL: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn default_ttl(cache: &Cache) -> usize {
    DEFAULT_TTL.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn without_ttl_the_sections_expire_time_applies() {
    let cache = Cache::new(
        "memory",
        Box::new(MemoryCacheHandler::new(10)),
        "exp:",
        Some(Duration::from_secs(1)),
    );
    assert_eq!(default_ttl(&cache), 0);
    assert_eq!(default_ttl(&cache), 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(default_ttl(&cache), 1);
}

static VERSIONED: AtomicUsize = AtomicUsize::new(0);

/// One function in two releases: the same readable key, the meaning changed in v2.
mod release1 {
    use super::*;
    #[cement::cached(key = "price:{id}", version = 1)]
    pub fn price(cache: &Cache, id: u32) -> u32 {
        VERSIONED.fetch_add(1, Ordering::SeqCst);
        id * 100
    }
}

mod release2 {
    use super::*;
    #[cement::cached(key = "price:{id}", version = 2)]
    pub fn price(cache: &Cache, id: u32) -> u32 {
        VERSIONED.fetch_add(1, Ordering::SeqCst);
        id * 110
    }
}

#[test]
fn a_version_bump_runs_the_body_again() {
    let cache = memory("ver:");
    assert_eq!(release1::price(&cache, 5), 500);
    assert_eq!(release1::price(&cache, 5), 500);
    assert_eq!(release2::price(&cache, 5), 550);
    assert_eq!(release2::price(&cache, 5), 550);
    assert_eq!(VERSIONED.load(Ordering::SeqCst), 2);
    // Readable keys, with the version appended, through the facade's prefix.
    assert_eq!(cache.get::<u32>("price:5#v1").unwrap(), Some(500));
    assert_eq!(cache.get::<u32>("price:5#v2").unwrap(), Some(550));
    assert!(cache.handler().get("ver:price:5#v2").unwrap().is_some());
}

static FALLIBLE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct RateError(String);

#[cement::cached(key = "rate:{from}:{to}")]
fn rate(cache: &Cache, from: &str, to: &str) -> Result<f64, RateError> {
    FALLIBLE.fetch_add(1, Ordering::SeqCst);
    match (from, to) {
        ("EUR", "USD") => Ok(1.0825),
        _ => Err(RateError(format!("no rate for {from}/{to}"))),
    }
}

#[test]
fn a_result_stores_ok_only() {
    let cache = memory("res:");
    assert_eq!(rate(&cache, "EUR", "USD"), Ok(1.0825));
    assert_eq!(rate(&cache, "EUR", "USD"), Ok(1.0825));
    assert_eq!(FALLIBLE.load(Ordering::SeqCst), 1);
    let err = Err(RateError("no rate for EUR/XXX".into()));
    assert_eq!(rate(&cache, "EUR", "XXX"), err);
    assert_eq!(rate(&cache, "EUR", "XXX"), err);
    assert_eq!(FALLIBLE.load(Ordering::SeqCst), 3);
    assert!(!cache.exists("rate:EUR:XXX").unwrap());
    // An f64 reads back exact.
    assert_eq!(cache.get::<f64>("rate:EUR:USD").unwrap(), Some(1.0825));
}

static OUTER: AtomicUsize = AtomicUsize::new(0);
static INNER: AtomicUsize = AtomicUsize::new(0);

/// A readable key from an owned parameter, whose body calls another readable-key fn: the
/// inner key is rendered while the outer one is held.
#[cement::cached(key = "outer:{name}")]
fn outer(cache: &Cache, name: String) -> String {
    OUTER.fetch_add(1, Ordering::SeqCst);
    format!("{}+{}", inner(cache, name.len()), name)
}

#[cement::cached(key = "inner:{len}")]
fn inner(cache: &Cache, len: usize) -> usize {
    INNER.fetch_add(1, Ordering::SeqCst);
    len * 10
}

#[test]
fn a_readable_key_is_rendered_per_call_even_when_calls_nest() {
    let cache = memory("nest:");
    for _ in 0..3 {
        assert_eq!(outer(&cache, "abc".to_string()), "30+abc");
        assert_eq!(outer(&cache, "de".to_string()), "20+de");
    }
    assert_eq!(OUTER.load(Ordering::SeqCst), 2);
    assert_eq!(INNER.load(Ordering::SeqCst), 2);
    assert_eq!(
        cache.get::<String>("outer:abc").unwrap().as_deref(),
        Some("30+abc")
    );
    assert_eq!(cache.get::<usize>("inner:3").unwrap(), Some(30));
    // A long key, then a short one: the reused buffer holds only the current key.
    let long = "x".repeat(300);
    assert_eq!(outer(&cache, long.clone()), format!("3000+{long}"));
    assert_eq!(outer(&cache, "de".to_string()), "20+de");
    assert_eq!(OUTER.load(Ordering::SeqCst), 3);
}

static BROKEN_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A parameter whose `Display` fails.
struct Broken;

impl std::fmt::Display for Broken {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[cement::cached(key = "broken:{part}")]
fn broken_key(cache: &Cache, part: Broken) -> u8 {
    let _ = part;
    BROKEN_RUNS.fetch_add(1, Ordering::SeqCst);
    7
}

#[test]
fn a_key_whose_display_fails_runs_the_body_uncached() {
    let cache = memory("broken:");
    assert_eq!(broken_key(&cache, Broken), 7);
    assert_eq!(broken_key(&cache, Broken), 7);
    assert_eq!(BROKEN_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(cache.stats().ops["get_or_set_with"].calls, 0);
}

static LOOKED_UP: AtomicUsize = AtomicUsize::new(0);
static LOOKED_UP_NEG: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn find(cache: &Cache, id: u32) -> Option<String> {
    LOOKED_UP.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "one".to_string())
}

#[cement::cached(cache_none)]
fn find_negative(cache: &Cache, id: u32) -> Option<String> {
    LOOKED_UP_NEG.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "one".to_string())
}

#[test]
fn an_option_stores_some_and_none_only_with_cache_none() {
    let cache = memory("opt:");
    for _ in 0..2 {
        assert_eq!(find(&cache, 1).as_deref(), Some("one"));
        assert_eq!(find(&cache, 2), None);
    }
    assert_eq!(LOOKED_UP.load(Ordering::SeqCst), 3);
    for _ in 0..2 {
        assert_eq!(find_negative(&cache, 1).as_deref(), Some("one"));
        assert_eq!(find_negative(&cache, 2), None);
    }
    assert_eq!(LOOKED_UP_NEG.load(Ordering::SeqCst), 2);
}

/// A type alias for the cache: named with `cache = ...`.
type Store = Cache;

static NAMED: AtomicUsize = AtomicUsize::new(0);

#[cement::cached(cache = store, ttl = 60)]
fn named_cache(store: &Store, word: &str) -> usize {
    NAMED.fetch_add(1, Ordering::SeqCst);
    word.len()
}

#[test]
fn the_cache_parameter_can_be_named() {
    let cache = memory("named:");
    assert_eq!(named_cache(&cache, "four"), 4);
    assert_eq!(named_cache(&cache, "four"), 4);
    assert_eq!(NAMED.load(Ordering::SeqCst), 1);
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cement::cached(key = "user:{id}", version = 2)]
async fn user(cache: &AsyncCache, id: u64) -> Option<String> {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    // The other tasks arrive while this one computes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Some(format!("user {id}"))
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_concurrent_calls_on_current_thread_compute_once() {
    let cache = AsyncCache::new(&memory("async:"));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let cache = cache.clone();
        tasks.spawn(async move { user(&cache, 7).await });
    }
    let mut answers = 0;
    while let Some(answer) = tasks.join_next().await {
        assert_eq!(answer.unwrap().as_deref(), Some("user 7"));
        answers += 1;
    }
    assert_eq!(answers, 1000);
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(
        cache.get::<String>("user:7#v2").await.unwrap().as_deref(),
        Some("user 7")
    );
}

static ASYNC_APP: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
async fn on_the_app(app: &Application, n: u8) -> Result<u16, String> {
    ASYNC_APP.fetch_add(1, Ordering::SeqCst);
    Ok(u16::from(n) + 1)
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_fn_takes_the_apps_async_cache() {
    let app = memory_app("cachedasync").unwrap();
    assert_eq!(on_the_app(&app, 1).await, Ok(2));
    assert_eq!(on_the_app(&app, 1).await, Ok(2));
    assert_eq!(ASYNC_APP.load(Ordering::SeqCst), 1);
    assert_eq!(on_the_app_uncached(&app, 1).await, Ok(2));
    assert_eq!(ASYNC_APP.load(Ordering::SeqCst), 2);
    app.close().unwrap();
}

static DOWN: AtomicUsize = AtomicUsize::new(0);

#[cement::cached(ttl = 60)]
fn through_redis(app: &Application, n: u32) -> u32 {
    DOWN.fetch_add(1, Ordering::SeqCst);
    n + 1
}

#[test]
fn a_dead_redis_with_on_read_error_miss_runs_the_function() {
    let mut server = cement_ext::testing::RedisServer::start().unwrap();
    let app = support::redis::app("cacheddown", &server)
        .set("cache.redis", "on_read_error", "miss")
        .set("cache.redis", "connect_timeout", 0.5)
        .set("cache.redis", "response_timeout", 0.5)
        .setup()
        .unwrap();
    assert_eq!(through_redis(&app, 1), 2);
    assert_eq!(through_redis(&app, 1), 2);
    assert_eq!(DOWN.load(Ordering::SeqCst), 1);
    server.kill().unwrap();
    // The read is a miss; the store fails (`on_write_error = "raise"`) and is logged: the
    // result is still the function's.
    assert_eq!(through_redis(&app, 1), 2);
    assert_eq!(through_redis(&app, 5), 6);
    assert_eq!(DOWN.load(Ordering::SeqCst), 3);
    let stats = app.cache().stats();
    assert!(stats.ops["get"].errors >= 2, "{stats:?}");
    drop(app);
}

static RAISED: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn through_a_dead_server(cache: &Cache) -> String {
    RAISED.fetch_add(1, Ordering::SeqCst);
    "computed".to_string()
}

#[test]
fn a_fault_the_policy_raises_runs_the_body_uncached_once() {
    let mut server = cement_ext::testing::RedisServer::start().unwrap();
    let cache = support::redis::cache(server.port(), "raised:");
    server.kill().unwrap();
    // `on_read_error = "raise"` (the default): the read fails before the body runs.
    assert_eq!(through_a_dead_server(&cache), "computed");
    assert_eq!(RAISED.load(Ordering::SeqCst), 1);
}

/// The variable that makes a copy of this binary a child process.
const ROLE: &str = "CEMENT_CACHED_CHILD";

static SLOW_REPORT: AtomicUsize = AtomicUsize::new(0);

#[cement::cached]
fn report(app: &Application, year: u16) -> Vec<u32> {
    SLOW_REPORT.fetch_add(1, Ordering::SeqCst);
    vec![u32::from(year), 1, 2, 3]
}

#[test]
fn with_sqlite_two_process_runs_compute_once() {
    let dir = support::sqlite::TempDir::new("cached");
    let db = dir.path().join("cache.sqlite3");
    let run = || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env(ROLE, "report")
            .env("CHILD_DB", &db)
            .output()
            .expect("start a child process");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed ({}):\n{text}",
            out.status
        );
        text.lines()
            .filter_map(|l| l.strip_prefix("result "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), ["report [2026,1,2,3] computed 1"]);
    assert_eq!(run(), ["report [2026,1,2,3] computed 0"]);
}

/// The child side: nothing in a normal test run; in a copy started by a test, plays the role
/// `CEMENT_CACHED_CHILD` names, printing `result …` lines.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    assert_eq!(role, "report");
    let db = std::env::var("CHILD_DB").expect("CHILD_DB");
    let app = support::sqlite::app("cachedchild", std::path::Path::new(&db))
        .setup()
        .unwrap();
    let value = report(&app, 2026);
    let json = serde_json_text(&value);
    println!(
        "result report {json} computed {}",
        SLOW_REPORT.load(Ordering::SeqCst)
    );
    app.close().unwrap();
}

fn serde_json_text(value: &[u32]) -> String {
    let items: Vec<String> = value.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(","))
}
