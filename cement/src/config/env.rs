//! Environment variables as Cement names them, and the default config file locations.

use std::path::PathBuf;

use figment::value::{Dict, Value};
use figment::Metadata;

use super::{nest, Config, Layer, ENV_PREFIX};

impl Config {
    /// Merges environment variables named after `app_label` (see the [module docs](self)).
    /// `known_sections` are the sections a variable may address besides those already in the
    /// config (the registered handlers' sections).
    pub(crate) fn merge_env<I>(&mut self, app_label: &str, vars: I, known_sections: &[String])
    where
        I: IntoIterator<Item = (String, String)>,
    {
        self.app_label = Some(app_label.into());
        let prefix = format!("{}_", env_name(app_label));
        let mut sections = self.sections();
        sections.extend(known_sections.iter().cloned());
        sections.retain(|s| s != app_label);
        // Longest section first, so `CACHE_REDIS_X` is not taken as section `cache` + `redis_x`.
        sections.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        sections.dedup();
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let rest = &name[prefix.len()..];
            let (section, key_env) = sections
                .iter()
                .find_map(|section| {
                    let section_env = env_name(section);
                    rest.strip_prefix(&section_env)
                        .and_then(|r| r.strip_prefix('_'))
                        .filter(|k| !k.is_empty())
                        .map(|k| (section.as_str(), k))
                })
                .unwrap_or((app_label, rest));
            if key_env.is_empty() {
                continue;
            }
            let key = self
                .keys(section)
                .unwrap_or_default()
                .into_iter()
                .find(|k| env_name(k) == key_env)
                .unwrap_or_else(|| key_env.to_ascii_lowercase());
            let mut entry = Dict::new();
            entry.insert(key, Value::from(value));
            self.merge_layer(Layer {
                metadata: Metadata::named(format!("{ENV_PREFIX}{name}")),
                data: nest(section, entry),
            });
        }
    }

    /// The environment variable that sets `key` in `section`: `<LABEL>_<SECTION>_<KEY>`, or
    /// `<LABEL>_<KEY>` for the app's own section (`<LABEL>` until the app label is known).
    pub(super) fn env_hint(&self, section: &str, key: &str) -> String {
        match self.app_label.as_deref() {
            Some(label) if label == section => format!("{}_{}", env_name(label), env_name(key)),
            Some(label) => format!(
                "{}_{}_{}",
                env_name(label),
                env_name(section),
                env_name(key)
            ),
            None => format!("<LABEL>_{}_{}", env_name(section), env_name(key)),
        }
    }
}

/// Cement's environment-variable form of a name: upper-case, every character outside
/// `[0-9A-Za-z_]` replaced by `_`.
pub(crate) fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Where cement looks for an app's config files by default, in reading order.
pub fn default_config_files(label: &str) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from(format!("/etc/{label}/{label}.toml"))];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let home = PathBuf::from(home);
        files.push(
            home.join(".config")
                .join(label)
                .join(format!("{label}.toml")),
        );
        files.push(home.join(format!(".{label}.toml")));
    }
    files
}
