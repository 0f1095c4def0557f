//! Where a config value came from: a file and line, a variable, or a line of code.

use std::path::Path;

use figment::value::Value;
use figment::Source;

use super::Config;

impl Config {
    /// Where the value of `key` in `section` came from, e.g. `environment variable
    /// MYAPP_CACHE_REDIS_PORT` or `config file /etc/myapp/myapp.toml, line 4`.
    pub fn origin(&self, section: &str, key: &str) -> Option<String> {
        match self.find_section(section) {
            Some(Value::Dict(_, dict)) => dict.get(key).map(|v| self.origin_of(v, section, key)),
            _ => None,
        }
    }

    pub(super) fn origin_of(&self, value: &Value, section: &str, key: &str) -> String {
        let Some(metadata) = self.figment.get_metadata(value.tag()) else {
            return "an unknown source".to_string();
        };
        match &metadata.source {
            Some(Source::File(path)) => match find_line(path, section, key) {
                Some(line) => format!("config file {}, line {line}", path.display()),
                None => format!("config file {}", path.display()),
            },
            Some(Source::Code(location)) => format!(
                "{} at {}:{}",
                metadata.name,
                location.file(),
                location.line()
            ),
            Some(Source::Custom(custom)) => format!("{} ({custom})", metadata.name),
            _ => metadata.name.to_string(),
        }
    }
}

/// The 1-based line of `key = ...` under `[section]` in a TOML file, if it is written that way.
pub(super) fn find_line(path: &Path, section: &str, key: &str) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    let header = format!("[{section}]");
    let mut in_section = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line.split('#').next().map(str::trim) == Some(header.as_str());
            continue;
        }
        if in_section {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim().trim_matches('"');
                if name == key {
                    return Some(index + 1);
                }
            }
        }
    }
    None
}
