//! Compile-time behaviour of the macros: what compiles (`tests/ui/pass`), and the exact error
//! for each misuse (`tests/ui/app`, `tests/ui/cache_handler`, `tests/ui/cached`). The `.stderr` files were recorded
//! with the toolchain pinned in rust-toolchain.toml; after a toolchain change, re-record with
//! `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/app/*.rs");
    t.compile_fail("tests/ui/cache_handler/*.rs");
    t.compile_fail("tests/ui/cached/*.rs");
}
