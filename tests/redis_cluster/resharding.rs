//! A slot migrating between two primaries while the handler works on it (what `redis-cli
//! --cluster reshard` does, step by step): keys already moved answer `ASK` on their old node,
//! keys not yet moved are served there, and once the slot is assigned to its new node the old
//! one answers `MOVED`. Sync and async faces must follow all of it without an error.

use cement::cache::{AsyncCache, Cache};
use cement_ext::testing::{RedisCluster, RedisServer};

use crate::{raw, support};

/// A primary of the cluster: its node id, its server, and its slot ranges.
struct Primary<'a> {
    id: String,
    server: &'a RedisServer,
    slots: Vec<(u16, u16)>,
}

/// The primaries, from `CLUSTER NODES` of each node (`<id> <addr> <flags> … <slot ranges>`).
fn primaries(cluster: &RedisCluster) -> Vec<Primary<'_>> {
    cluster
        .nodes()
        .iter()
        .filter_map(|server| {
            let text: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut raw(server))
                .unwrap();
            let me = text.lines().find(|l| l.contains("myself"))?;
            let fields: Vec<&str> = me.split_whitespace().collect();
            if !fields[2].contains("master") {
                return None;
            }
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .map(|range| match range.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (range.parse().unwrap(), range.parse().unwrap()),
                })
                .collect();
            Some(Primary {
                id: fields[0].to_string(),
                server,
                slots,
            })
        })
        .collect()
}

fn setslot(server: &RedisServer, slot: u16, state: &str, id: &str) {
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(state)
        .arg(id)
        .query::<()>(&mut raw(server))
        .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {state} on {}: {e}", server.port()));
}

/// `MIGRATE` of `wire_keys` from `from` to `to` (which must be importing their slot).
fn migrate(from: &RedisServer, to: &RedisServer, wire_keys: &[String]) {
    redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(to.port())
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(wire_keys)
        .query::<()>(&mut raw(from))
        .unwrap();
}

/// Every key of `keys` reads back as its index, through single gets and one `get_many`.
fn reads_back(cache: &Cache, keys: &[String], stage: &str) {
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(cache.get::<usize>(key).unwrap(), Some(i), "{stage}: {key}");
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expected: Vec<Option<usize>> = (0..keys.len()).map(Some).collect();
    assert_eq!(cache.get_many::<usize>(&refs).unwrap(), expected, "{stage}");
}

async fn reads_back_async(cache: &AsyncCache, keys: &[String], stage: &str) {
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            cache
                .get::<usize>(key)
                .await
                .unwrap_or_else(|e| panic!("async get, {stage}: {e:?}")),
            Some(i),
            "async, {stage}: {key}"
        );
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expected: Vec<Option<usize>> = (0..keys.len()).map(Some).collect();
    assert_eq!(
        cache
            .get_many::<usize>(&refs)
            .await
            .unwrap_or_else(|e| panic!("async get_many, {stage}: {e:?}")),
        expected,
        "async, {stage}"
    );
}

/// Moves the slot of the app's keys from its primary to another one, in the middle of calls.
pub(crate) fn during_a_slot_migration(cluster: &RedisCluster) {
    let app = support::app("rdc_mig", "redis")
        .set("cache.redis", "cluster", cluster.seeds())
        .setup()
        .unwrap();
    let cache = app.cache();
    let rt = crate::async_face::runtime("rdc-mig");
    // The test's keys share a hash tag so that they live in one slot (the handler forces no
    // tag; the test picks one so that a single slot's migration concerns all of them).
    let keys: Vec<String> = (0..40).map(|i| format!("{{moving}}{i}")).collect();
    let wire = |key: &str| format!("rdc_mig:{key}");
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, &i).unwrap();
    }
    cache.set("{moving}ctr", &0u64).unwrap();
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(wire(&keys[0]))
        .query(&mut raw(&cluster.nodes()[0]))
        .unwrap();
    let primaries = primaries(cluster);
    assert_eq!(primaries.len(), 3);
    let from = primaries
        .iter()
        .find(|p| p.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
        .expect("the slot's owner");
    let to = primaries.iter().find(|p| p.id != from.id).unwrap();
    reads_back(cache, &keys, "before");
    rt.block_on(reads_back_async(app.async_cache(), &keys, "before"));

    // The migration starts: half of the keys (and the counter) move to the importing node.
    setslot(to.server, slot, "IMPORTING", &from.id);
    setslot(from.server, slot, "MIGRATING", &to.id);
    let mut moved: Vec<String> = keys[..20].iter().map(|k| wire(k)).collect();
    moved.push(wire("{moving}ctr"));
    migrate(from.server, to.server, &moved);
    // Moved keys answer ASK on their old node, the others are served there.
    reads_back(cache, &keys, "half migrated");
    assert_eq!(cache.incr("{moving}ctr", 1).unwrap(), 1);
    // A key that exists on neither node during the migration is stored on the new one.
    cache.set("{moving}new", &"stored mid-migration").unwrap();
    assert_eq!(
        cache.get::<String>("{moving}new").unwrap().as_deref(),
        Some("stored mid-migration")
    );
    // A batch delete mid-migration removes keys on both nodes (its count is a lower bound
    // there, see the redis module docs).
    cache.set("{moving}gone", &1u8).unwrap();
    let doomed = ["{moving}gone", "{moving}never"];
    assert!(cache.delete_many(&doomed).unwrap() <= 1);
    assert_eq!(cache.get::<u8>("{moving}gone").unwrap(), None);
    rt.block_on(async {
        let cache = app.async_cache();
        reads_back_async(cache, &keys, "half migrated").await;
        assert_eq!(cache.incr("{moving}ctr", 1).await.unwrap(), 2);
        cache.set("{moving}new2", &7u8).await.unwrap();
        assert_eq!(cache.get::<u8>("{moving}new2").await.unwrap(), Some(7));
    });

    // The rest moves and the slot is assigned to its new node: the old one answers MOVED.
    let rest: Vec<String> = keys[20..].iter().map(|k| wire(k)).collect();
    migrate(from.server, to.server, &rest);
    for p in &primaries {
        setslot(p.server, slot, "NODE", &to.id);
    }
    let on_new: u64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query(&mut raw(to.server))
        .unwrap();
    assert_eq!(
        on_new, 43,
        "40 keys, the counter and the two stored mid-migration"
    );
    reads_back(cache, &keys, "after");
    assert_eq!(cache.incr("{moving}ctr", 1).unwrap(), 3);
    rt.block_on(async {
        let cache = app.async_cache();
        reads_back_async(cache, &keys, "after").await;
        assert_eq!(cache.incr("{moving}ctr", 1).await.unwrap(), 4);
        assert_eq!(cache.get::<u8>("{moving}new2").await.unwrap(), Some(7));
    });
    app.close().unwrap();
}
