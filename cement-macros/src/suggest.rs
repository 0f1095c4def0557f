//! "Did you mean" suggestions for keys and hook names.

// The distance rule itself is shared with the runtime crate; see its module docs.
mod closest;

pub(crate) use closest::closest;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::{APP_KEYS, HANDLER_KEYS, HOOK_NAMES};

    fn app_keys() -> impl Iterator<Item = &'static str> {
        APP_KEYS.iter().map(|k| k.name)
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
