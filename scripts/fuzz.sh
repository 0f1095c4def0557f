#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 600), one after the other, on the
# nightly toolchain (cargo-fuzz needs it; `cargo +nightly install cargo-fuzz` once). Corpora
# stay in fuzz/corpus/<target>, findings in fuzz/artifacts/<target>, whole logs in
# fuzz/logs/<target>.log. CI does not run this: the property tests cover the same ground there.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
command -v cargo-fuzz >/dev/null 2>&1 || { echo "cargo-fuzz is missing: cargo +nightly install cargo-fuzz"; exit 2; }
mkdir -p logs
status=0
for target in $(cargo +nightly fuzz list); do
  echo "== $target: ${seconds}s"
  mkdir -p "corpus/$target"
  if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 > "logs/$target.log" 2>&1; then
    status=1
    grep -E "panicked|Failing input|artifact_prefix|SUMMARY" "logs/$target.log" || true
  fi
  grep -E "^Done|stat::(number_of_executed_units|average_exec_per_sec)" "logs/$target.log" || true
  echo "corpus: $(ls "corpus/$target" | wc -l) inputs"
done
exit "$status"
