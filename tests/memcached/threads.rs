//! Threads: shared handlers under concurrent mixed operations.

use std::collections::HashMap;

use cement_ext::testing::MemcachedServer;

use crate::support::memcached::{cache, hosts};

/// 8 threads × 1000 mixed operations on shared handlers over two servers: every read sees the
/// thread's own last write, and nothing is lost.
#[test]
fn eight_threads_thousand_mixed_ops_lose_nothing() {
    let (s1, s2) = (
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    );
    let cache = cache(&hosts(&[&s1, &s2]), "stress:");
    const THREADS: usize = 8;
    const OPS: usize = 1000;
    const KEYS: usize = 40;
    let models: Vec<HashMap<String, u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let cache = &cache;
                scope.spawn(move || {
                    let mut model: HashMap<String, u64> = HashMap::new();
                    for i in 0..OPS {
                        let key = format!("t{t}:k{}", (i * 7) % KEYS);
                        let value = (t * OPS + i) as u64;
                        match i % 5 {
                            0 | 1 => {
                                cache.set(&key, &value).unwrap();
                                model.insert(key, value);
                            }
                            2 => {
                                let got: Option<u64> = cache.get(&key).unwrap();
                                assert_eq!(
                                    got,
                                    model.get(&key).copied(),
                                    "thread {t} op {i} {key}"
                                );
                            }
                            3 => {
                                let removed = cache.delete(&key).unwrap();
                                assert_eq!(
                                    removed,
                                    model.remove(&key).is_some(),
                                    "thread {t} op {i} {key}"
                                );
                            }
                            _ => {
                                let keys: Vec<String> = (0..5)
                                    .map(|j| format!("t{t}:k{}", (i + j) % KEYS))
                                    .collect();
                                let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                                let got: Vec<Option<u64>> = cache.get_many(&refs).unwrap();
                                let expected: Vec<Option<u64>> =
                                    keys.iter().map(|k| model.get(k).copied()).collect();
                                assert_eq!(got, expected, "thread {t} op {i}");
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, model) in models.iter().enumerate() {
        for k in 0..KEYS {
            let key = format!("t{t}:k{k}");
            assert_eq!(
                cache.get::<u64>(&key).unwrap(),
                model.get(&key).copied(),
                "{key}"
            );
        }
    }
}
