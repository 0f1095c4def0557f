//! The label rule, `[a-z][a-z0-9_]*`, and the fixed label to suggest when it is broken.
//!
//! Labels name config sections and environment variables (`MYAPP_CACHE_REDIS_PORT`), so the
//! rule is strict and a bad label is a compile error, never silently rewritten.

mod rule;

pub(crate) use rule::is_valid;

use syn::LitStr;

use crate::ctxt::Ctxt;

/// Reports `lit` at its own token if it breaks the rule; `what` names it in the message
/// (`"app label"`, `"extension label"`, ...).
pub(crate) fn check(cx: &Ctxt, what: &str, lit: &LitStr) {
    let value = lit.value();
    if !is_valid(&value) {
        cx.error_spanned_by(lit, error_message(what, &value));
    }
}

/// A label to show in a "missing label" message, derived from the type's name (`MyApp` →
/// `my_app`), or `fallback` when the name gives none.
pub(crate) fn example(type_name: Option<&str>, fallback: &str) -> String {
    match type_name {
        Some(name) if is_valid(name) => name.to_string(),
        Some(name) => suggest(name).unwrap_or_else(|| fallback.to_string()),
        None => fallback.to_string(),
    }
}

/// The label the user most likely meant, if one can be derived: `my-app` → `my_app`,
/// `MyApp` → `my_app`, `HTTPCache` → `http_cache`. `None` when nothing sensible is left
/// (non-ASCII text, no letters).
pub(crate) fn suggest(label: &str) -> Option<String> {
    if !label.is_ascii() {
        return None;
    }
    let chars: Vec<char> = label.chars().collect();
    let mut out = String::with_capacity(label.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            // A word starts at an upper-case letter after a lower-case letter or digit, or at
            // the last capital of an acronym followed by a lower-case letter (`HTTPCache`).
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let after_word = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
            let acronym_end = prev.is_some_and(|p| p.is_ascii_uppercase())
                && next.is_some_and(|n| n.is_ascii_lowercase());
            if after_word || acronym_end {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    // Collapse `__` runs left by replaced characters, and drop what cannot start a label.
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if !(c == '_' && collapsed.ends_with('_')) {
            collapsed.push(c);
        }
    }
    let fixed = collapsed
        .trim_start_matches(|c: char| c == '_' || c.is_ascii_digit())
        .trim_end_matches('_')
        .to_string();
    (is_valid(&fixed) && fixed != label).then_some(fixed)
}

/// Why `label` is invalid, with a fix when one can be derived, e.g.
/// `invalid label "my-app": labels are ...; did you mean "my_app"?`.
pub(crate) fn error_message(what: &str, label: &str) -> String {
    let problem = if label.is_empty() {
        format!("{what} cannot be empty")
    } else {
        format!("invalid {what} {label:?}")
    };
    let fix = match suggest(label) {
        Some(fixed) => format!("; did you mean {fixed:?}?"),
        None => String::new(),
    };
    format!("{problem}: labels are lowercase letters, digits and `_`, starting with a letter ([a-z][a-z0-9_]*){fix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        for good in ["a", "myapp", "my_app", "app2", "a_1_b", "x__y", "memcached"] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "", "My", "my-app", "1app", "_x", "a b", "café", "app!", "APP",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("my-app").as_deref(), Some("my_app"));
        assert_eq!(suggest("my app").as_deref(), Some("my_app"));
        assert_eq!(
            suggest("my.cache-handler").as_deref(),
            Some("my_cache_handler")
        );
        assert_eq!(suggest("MyApp").as_deref(), Some("my_app"));
        assert_eq!(
            suggest("MyCacheHandler").as_deref(),
            Some("my_cache_handler")
        );
        assert_eq!(suggest("HTTPCache").as_deref(), Some("http_cache"));
        assert_eq!(suggest("MYAPP").as_deref(), Some("myapp"));
        assert_eq!(suggest("App2Go").as_deref(), Some("app2_go"));
        assert_eq!(suggest("my--app-").as_deref(), Some("my_app"));
        assert_eq!(suggest("_x").as_deref(), Some("x"));
        assert_eq!(suggest("1app").as_deref(), Some("app"));
        assert_eq!(suggest("café"), None);
        assert_eq!(suggest(""), None);
        assert_eq!(suggest("---"), None);
        assert_eq!(suggest("123"), None);
        // Already valid: nothing to suggest.
        assert_eq!(suggest("my_app"), None);
    }

    #[test]
    fn every_suggestion_is_valid() {
        for input in [
            "a-B-c",
            "X",
            "Z9",
            "a b c",
            "Ab_Cd",
            "ABCdef",
            "a__B",
            "9Lives",
            "HTTPServer2",
        ] {
            if let Some(fixed) = suggest(input) {
                assert!(is_valid(&fixed), "{input} -> {fixed}");
            }
        }
    }

    #[test]
    fn examples_from_type_names() {
        assert_eq!(example(Some("MyApp"), "myapp"), "my_app");
        assert_eq!(example(Some("plain"), "myapp"), "plain");
        assert_eq!(example(Some("Étoile"), "myapp"), "myapp");
        assert_eq!(example(None, "my_cache_handler"), "my_cache_handler");
    }

    #[test]
    fn messages() {
        assert_eq!(
            error_message("label", "my-app"),
            "invalid label \"my-app\": labels are lowercase letters, digits and `_`, starting with a letter \
             ([a-z][a-z0-9_]*); did you mean \"my_app\"?"
        );
        assert!(error_message("label", "").starts_with("label cannot be empty: "));
        assert!(!error_message("extension label", "café").contains("did you mean"));
    }
}
