//! Which server holds a key: a consistent-hash ring in the style of ketama.
//!
//! Every server is put on a 64-bit circle at [`POINTS_PER_SERVER`] pseudo-random points
//! (`xxh3("<host>:<port>-<i>")`); a key belongs to the first point at or after `xxh3(key)`,
//! wrapping around. Adding or removing one of N servers therefore moves only the keys whose
//! nearest point changes, about 1/N of them, and the order of `hosts` does not matter.
//!
//! XXH3 has a fixed specification, so every process, platform and build routes a key the same
//! way (unlike `std`'s `DefaultHasher`, whose algorithm may change between Rust releases).

use xxhash_rust::xxh3::xxh3_64;

/// Points per server, as in ketama: enough to spread keys within a few percent of evenly.
pub(crate) const POINTS_PER_SERVER: usize = 160;

/// The ring: sorted `(point, server index)` pairs.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    points: Vec<(u64, usize)>,
    servers: usize,
}

impl Ring {
    /// A ring over servers with these identities (`host:port`), indexed in the given order.
    pub(crate) fn new<S: AsRef<str>>(identities: &[S]) -> Ring {
        let mut points = Vec::with_capacity(identities.len() * POINTS_PER_SERVER);
        for (index, identity) in identities.iter().enumerate() {
            for point in 0..POINTS_PER_SERVER {
                let label = format!("{}-{point}", identity.as_ref());
                points.push((xxh3_64(label.as_bytes()), index));
            }
        }
        // Ties (astronomically unlikely) are broken by identity-independent index order, so
        // sort by the pair for determinism.
        points.sort_unstable();
        Ring {
            points,
            servers: identities.len(),
        }
    }

    /// The index of the server that holds `key`.
    pub(crate) fn server_for(&self, key: &[u8]) -> usize {
        if self.servers <= 1 {
            return 0;
        }
        let hash = xxh3_64(key);
        let at = self.points.partition_point(|&(point, _)| point < hash);
        match self.points.get(at).or_else(|| self.points.first()) {
            Some(&(_, server)) => server,
            None => 0,
        }
    }

    /// How many servers it spreads over.
    pub(crate) fn len(&self) -> usize {
        self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:11211", i + 1)).collect()
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("app:user:{i}")).collect()
    }

    #[test]
    fn one_server_takes_everything() {
        let ring = Ring::new(&hosts(1));
        assert!(keys(100).iter().all(|k| ring.server_for(k.as_bytes()) == 0));
    }

    #[test]
    fn keys_spread_evenly() {
        let ring = Ring::new(&hosts(3));
        let mut counts = [0usize; 3];
        for key in keys(30_000) {
            counts[ring.server_for(key.as_bytes())] += 1;
        }
        // Each server gets its third within a quarter of it.
        for count in counts {
            assert!((7_500..=12_500).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let three = hosts(3);
        let two: Vec<String> = vec![three[0].clone(), three[2].clone()];
        let (ring3, ring2) = (Ring::new(&three), Ring::new(&two));
        let mut moved = 0;
        for key in keys(10_000) {
            let before = &three[ring3.server_for(key.as_bytes())];
            let after = &two[ring2.server_for(key.as_bytes())];
            if before != after {
                // Only keys of the removed server may move.
                assert_eq!(before, &three[1], "{key} moved from a surviving server");
                moved += 1;
            }
        }
        assert!((2_500..=4_200).contains(&moved), "{moved} of 10000 moved");
    }

    #[test]
    fn adding_a_server_moves_keys_only_to_it() {
        let three = hosts(3);
        let four = hosts(4);
        let (ring3, ring4) = (Ring::new(&three), Ring::new(&four));
        let mut moved = 0;
        for key in keys(10_000) {
            let before = &three[ring3.server_for(key.as_bytes())];
            let after = &four[ring4.server_for(key.as_bytes())];
            if before != after {
                assert_eq!(after, &four[3], "{key} moved between old servers");
                moved += 1;
            }
        }
        assert!((1_800..=3_200).contains(&moved), "{moved} of 10000 moved");
    }

    #[test]
    fn host_order_does_not_matter() {
        let forward = hosts(3);
        let mut backward = forward.clone();
        backward.reverse();
        let (a, b) = (Ring::new(&forward), Ring::new(&backward));
        for key in keys(1_000) {
            assert_eq!(
                forward[a.server_for(key.as_bytes())],
                backward[b.server_for(key.as_bytes())]
            );
        }
    }

    #[test]
    fn routing_is_stable_across_builds() {
        // Pinned values: a change here means keys would move after an upgrade.
        let ring = Ring::new(&hosts(3));
        let routed: Vec<usize> = ["a", "b", "c", "user:42", "session:abc"]
            .iter()
            .map(|k| ring.server_for(k.as_bytes()))
            .collect();
        assert_eq!(routed, PINNED_ROUTES);
    }

    /// Recorded from this implementation; see `routing_is_stable_across_builds`.
    const PINNED_ROUTES: [usize; 5] = [2, 0, 1, 1, 2];
}
