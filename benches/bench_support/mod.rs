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

/// The order of the variants in round `round` of an interleaved comparison: a permutation
/// that changes every round (Fisher-Yates on a xorshift seeded with the round), so that no
/// variant always follows the same one. A fixed rotation did (variant `i` always after
/// `i - 1`), and a variant run right after one on the same connection ran warm: on the
/// memcached bench the handler alone, always after `app.cache()` on its connection, read
/// 4-10 % faster than the very same calls in `app.cache()`'s slot, which always followed the
/// raw client.
pub fn order(round: usize, n: usize) -> Vec<usize> {
    let mut state = (round as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// One variant of an interleaved comparison: its label and one call.
pub type Call<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// `rounds` rounds of `batch` calls of each variant, in an order that changes every round
/// ([`order`]), each timed batch after one untimed call of its own (and the whole after one
/// untimed warm-up batch each). Prints, per variant, the median time per call and
/// the median over the rounds of the per-round ratio *this variant's time ÷ the first
/// variant's*, which is also *the first variant's ops/s ÷ this one's* (so `0.93×` on a raw
/// variant's line: the first variant does 93 % of its work rate; `1.04×` on a line against a
/// hand-written first variant: it takes 1.04 times as long). Returns those ratios, by variant
/// (the first is 1).
pub fn interleave(title: &str, rounds: usize, batch: usize, variants: &mut [Call<'_>]) -> Vec<f64> {
    use std::time::Instant;
    for (_, call) in variants.iter_mut() {
        (0..batch).for_each(|_| call());
    }
    let n = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    let mut ratios = vec![Vec::with_capacity(rounds); n];
    let mut this = vec![0.0; n];
    for round in 0..rounds {
        for i in order(round, n) {
            (variants[i].1)(); // untimed: the variant before may have used other state
            let started = Instant::now();
            (0..batch).for_each(|_| (variants[i].1)());
            this[i] = started.elapsed().as_secs_f64() * 1e9 / batch as f64;
            times[i].push(this[i]);
        }
        for i in 0..n {
            ratios[i].push(this[i] / this[0]);
        }
    }
    let shares: Vec<f64> = ratios.iter_mut().map(|r| median(r)).collect();
    let line: Vec<String> = variants
        .iter()
        .zip(times.iter_mut())
        .zip(&shares)
        .enumerate()
        .map(|(i, (((label, _), t), share))| {
            let t = median(t);
            if i == 0 {
                format!("{label} {t:.0} ns")
            } else {
                format!("{label} {t:.0} ns ({share:.2}×)")
            }
        })
        .collect();
    println!("  {title:<6} {}", line.join("   "));
    shares
}
