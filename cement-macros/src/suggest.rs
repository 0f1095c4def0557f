//! "Did you mean" suggestions for keys and hook names, by edit distance.

/// The candidate closest to `input`, if it is close enough to be a likely typo: at most a
/// third of the input's length away (at least one edit), and not `input` itself.
pub(crate) fn closest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        // Ties go to the earlier candidate: candidate lists are in documentation order.
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` for a likely typo, or nothing.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match closest(input, candidates) {
        Some(near) => format!("; did you mean `{near}`?"),
        None => String::new(),
    }
}

/// Levenshtein distance over chars, with an adjacent transposition counted as one edit.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
    use crate::symbol::{APP_KEYS, HANDLER_KEYS, HOOK_NAMES};

    fn app_keys() -> impl Iterator<Item = &'static str> {
        APP_KEYS.iter().map(|k| k.name)
    }

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
    fn suggests_app_keys() {
        assert_eq!(closest("labl", app_keys()), Some("label"));
        assert_eq!(closest("lable", app_keys()), Some("label"));
        assert_eq!(closest("extension", app_keys()), Some("extensions"));
        assert_eq!(closest("cache_handlr", app_keys()), Some("cache_handler"));
        assert_eq!(closest("config_file", app_keys()), Some("config_files"));
        assert_eq!(closest("hook", app_keys()), Some("hooks"));
        assert_eq!(closest("handler", app_keys()), Some("handlers"));
        assert_eq!(closest("version", app_keys()), None);
        assert_eq!(closest("label", app_keys()), None);
    }

    #[test]
    fn suggests_handler_keys_and_hooks() {
        let keys = || HANDLER_KEYS.iter().map(|k| k.name);
        assert_eq!(closest("extensions", keys()), Some("extension"));
        assert_eq!(closest("lbel", keys()), Some("label"));
        assert_eq!(
            closest("post_stup", HOOK_NAMES.iter().copied()),
            Some("post_setup")
        );
        assert_eq!(
            closest("presetup", HOOK_NAMES.iter().copied()),
            Some("pre_setup")
        );
        assert_eq!(closest("on_start", HOOK_NAMES.iter().copied()), None);
    }

    #[test]
    fn did_you_mean_text() {
        assert_eq!(did_you_mean("labl", app_keys()), "; did you mean `label`?");
        assert_eq!(did_you_mean("zzz", app_keys()), "");
    }
}
