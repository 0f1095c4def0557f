//! Every cache operation is traced in a `cache` span, and keys are never logged in full unless
//! the section says `log_keys = true`. Own test binary: it installs a process-wide subscriber.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cement::App;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records span names with their fields, and events' fields, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(span.metadata().name().to_string());
        span.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields("event".to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[derive(App)]
#[app(label = "traced")]
struct Traced;

#[test]
fn operations_are_traced_without_full_keys() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    const KEY: &str = "user:alice@example.com";

    let app = Traced::builder()
        .default_config_files(false)
        .setup()
        .unwrap();
    app.cache().set(KEY, "v").unwrap();
    app.cache().get::<String>(KEY).unwrap();
    app.cache().get::<u64>(KEY).unwrap(); // undecodable: a warning event
    app.cache().delete(KEY).unwrap();
    let lines = recorder.0.lock().unwrap().clone();
    let spans: Vec<&String> = lines.iter().filter(|l| l.starts_with("cache ")).collect();
    for op in ["set", "get", "delete"] {
        assert!(
            spans
                .iter()
                .any(|l| l.contains(&format!("op=\"{op}\"")) && l.contains("handler=\"memory\"")),
            "no span for {op}: {lines:#?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("undecodable")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("alice")),
        "a key was logged in full: {lines:#?}"
    );
    assert!(spans.iter().all(|l| l.contains("(22 bytes)")), "{spans:#?}");

    recorder.0.lock().unwrap().clear();
    let app = Traced::builder()
        .default_config_files(false)
        .set("cache.memory", "log_keys", true)
        .setup()
        .unwrap();
    app.cache().get::<String>(KEY).unwrap();
    let lines = recorder.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains(KEY)),
        "log_keys = true shows keys: {lines:#?}"
    );

    // The async face traces the same spans, for calls that run on the blocking pool too.
    recorder.0.lock().unwrap().clear();
    struct OffTask(cement::cache::MemoryCacheHandler);
    impl cement::cache::CacheHandler for OffTask {
        fn get(&self, key: &str) -> cement::Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> cement::Result<()> {
            self.0.set(key, value, ttl)
        }
        fn delete(&self, key: &str) -> cement::Result<bool> {
            self.0.delete(key)
        }
        fn purge(&self) -> cement::Result<()> {
            self.0.purge()
        }
    }
    let cache = cement::cache::Cache::new(
        "off_task",
        Box::new(OffTask(cement::cache::MemoryCacheHandler::new(10))),
        "p:",
        None,
    );
    let cache = cement::cache::AsyncCache::new(&cache);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        cache.set(KEY, "v").await.unwrap();
        cache.get::<String>(KEY).await.unwrap();
        cache.delete(KEY).await.unwrap();
    });
    let lines = recorder.0.lock().unwrap().clone();
    for op in ["set", "get", "delete"] {
        assert!(
            lines.iter().any(|l| l.starts_with("cache ")
                && l.contains(&format!("op=\"{op}\""))
                && l.contains("handler=\"off_task\"")),
            "no async span for {op}: {lines:#?}"
        );
    }
    assert!(
        lines.iter().all(|l| !l.contains("alice")),
        "the async face logged a key in full: {lines:#?}"
    );
}
