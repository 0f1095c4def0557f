//! What the benches share: the median of their interleaved rounds, and a `main` that runs the
//! criterion groups and then the bench's interleaved comparison (skipped under `--test` and
//! `--list`, which only check that the bench runs). Not a bench itself (`benches/bench_support/`).

#![allow(dead_code)] // each bench uses its part

use criterion::Criterion;

/// The median of `values` (sorted in place); `values` is never empty here.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the criterion groups, then the interleaved comparison unless criterion was asked only
/// to test or list.
pub fn main(groups: fn(), interleaved: &[fn()]) {
    groups();
    Criterion::default().configure_from_args().final_summary();
    if !std::env::args().any(|arg| arg == "--test" || arg == "--list") {
        for run in interleaved {
            run();
        }
    }
}
