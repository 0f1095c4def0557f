// The label rule, one source for the macros (which check labels at compile time) and the
// runtime (which checks labels that arrive from config): `cement/src/label/rule.rs` is a
// symlink to this file, so `cargo package` of either crate carries it.

/// Whether `label` matches `[a-z][a-z0-9_]*`.
pub(crate) fn is_valid(label: &str) -> bool {
    let mut chars = label.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}
