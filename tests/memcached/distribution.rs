//! Distribution over several servers: consistent hashing and batches that span servers.

use cement_ext::testing::MemcachedServer;

use crate::held_by;
use crate::support::memcached::{cache, hosts};

/// Three real servers: record where keys land, remove one, add one, and measure what moved.
#[test]
fn consistent_hashing_moves_about_one_nth_of_the_keys() {
    let s = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let three = hosts(&[&s[0], &s[1], &s[2]]);
    let cache3 = cache(&three, "ring:");
    const N: usize = 3000;
    let keys: Vec<String> = (0..N).map(|i| format!("key:{i}")).collect();
    let entries: Vec<(&str, usize)> = keys.iter().map(String::as_str).zip(0..).collect();
    cache3.set_many(&entries).unwrap();

    // Every key is on exactly one server, and each server has a fair share.
    let wire: Vec<String> = keys.iter().map(|k| format!("ring:{k}")).collect();
    let on: Vec<Vec<bool>> = s[..3].iter().map(|server| held_by(server, &wire)).collect();
    for i in 0..N {
        assert_eq!(
            on.iter().filter(|held| held[i]).count(),
            1,
            "{} is not on exactly one server",
            keys[i]
        );
    }
    let shares: Vec<usize> = on
        .iter()
        .map(|held| held.iter().filter(|&&h| h).count())
        .collect();
    println!("3 servers: keys per server {shares:?} of {N}");
    for share in &shares {
        assert!(*share > N / 6, "unbalanced: {shares:?}");
    }

    // Remove the middle server: only its keys move (they miss on the survivors).
    let two = vec![three[0].clone(), three[2].clone()];
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let found = cache(&two, "ring:").get_many::<usize>(&refs).unwrap();
    let moved = found.iter().filter(|v| v.is_none()).count();
    println!(
        "removing 1 of 3 servers moved {moved} of {N} keys ({:.1}%; the removed server held {})",
        100.0 * moved as f64 / N as f64,
        shares[1]
    );
    assert_eq!(moved, shares[1], "keys of surviving servers moved");
    for (i, value) in found.iter().enumerate() {
        if let Some(value) = value {
            assert_eq!(*value, i);
        }
    }

    // Add a fourth server: only keys that now belong to it move.
    let four = hosts(&[&s[0], &s[1], &s[2], &s[3]]);
    let found = cache(&four, "ring:").get_many::<usize>(&refs).unwrap();
    let moved = found.iter().filter(|v| v.is_none()).count();
    println!(
        "adding a 4th server moved {moved} of {N} keys ({:.1}%)",
        100.0 * moved as f64 / N as f64
    );
    assert!(moved > N / 8 && moved < N * 3 / 8, "{moved} of {N} moved");

    // The order of `hosts` does not matter.
    let mut reversed = three.clone();
    reversed.reverse();
    let found = cache(&reversed, "ring:").get_many::<usize>(&refs).unwrap();
    assert!(
        found.iter().all(Option::is_some),
        "reordering hosts lost keys"
    );
}

#[test]
fn batch_operations_span_servers() {
    let s = [
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
        MemcachedServer::start().unwrap(),
    ];
    let cache = cache(&hosts(&[&s[0], &s[1], &s[2]]), "batch:");
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let entries: Vec<(&str, String)> = keys
        .iter()
        .map(|k| (k.as_str(), k.to_uppercase()))
        .step_by(2)
        .collect();
    cache.set_many(&entries).unwrap();
    let mut refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    refs.push("k0"); // a key twice
    let got = cache.get_many::<String>(&refs).unwrap();
    assert_eq!(got.len(), refs.len());
    for (key, value) in refs.iter().zip(&got) {
        let n: usize = key[1..].parse().unwrap();
        let expected = n.is_multiple_of(2).then(|| key.to_uppercase());
        assert_eq!(value, &expected, "{key}");
    }
    assert_eq!(cache.delete_many(&refs).unwrap(), 250);
    assert!(cache
        .get_many::<String>(&refs)
        .unwrap()
        .iter()
        .all(Option::is_none));
    assert_eq!(cache.delete_many(&refs).unwrap(), 0);
}
