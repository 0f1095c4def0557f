//! The nearest candidate to a likely typo, by edit distance: the one rule behind every "did you
//! mean" of cement and cement-macros.
//!
//! This file is compiled into both crates, since a proc-macro crate cannot depend on the
//! runtime: here as `suggest::closest`, and into `cement` as `cement/src/suggest.rs`, a
//! symlink to this file. A symlink rather than a `#[path]` out of `cement/`, because `cargo
//! package` copies a symlinked file into the package but nothing outside the crate's
//! directory (serde_derive_internals reaches serde_derive's code the same way). Keep it free
//! of anything only one of the crates has: `std` only, no `crate::` paths.

/// The candidate closest to `input`, if it is close enough to be a likely typo: at most a
/// third of the input's length away (at least one edit), and not `input` itself. Ties go to
/// the earlier candidate: the macros list keys in documentation order, the runtime passes
/// labels sorted.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        // `min_by_key` keeps the first of equal minima.
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars, with an adjacent transposition counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("label", "label"), 0);
        assert_eq!(edit_distance("labl", "label"), 1);
        assert_eq!(edit_distance("lable", "label"), 1); // transposition
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggests_typos_only() {
        let labels = ["memcached", "memory", "redis"];
        assert_eq!(closest("memcahced", labels), Some("memcached"));
        assert_eq!(closest("rdis", labels), Some("redis"));
        assert_eq!(closest("postgres", labels), None);
        assert_eq!(closest("redis", labels), None);
        assert_eq!(closest("", labels), None);
    }

    #[test]
    fn ties_go_to_the_earlier_candidate() {
        // "ab" is one edit from both.
        assert_eq!(closest("ab", ["ac", "aa"]), Some("ac"));
        assert_eq!(closest("ab", ["aa", "ac"]), Some("aa"));
    }
}
