// The hook names, one source for the macros (which check `hooks = [(name, f)]` at compile time)
// and the runtime (`cement::Hook::NAMES`): `cement/src/hook/names.rs` is a symlink to this
// file, so `cargo package` of either crate carries it.

/// The names of the hooks, in the order they run.
pub(crate) const HOOK_NAMES: [&str; 6] = [
    "pre_setup",
    "post_setup",
    "pre_run",
    "post_run",
    "pre_close",
    "post_close",
];
