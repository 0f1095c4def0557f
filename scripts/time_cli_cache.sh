#!/usr/bin/env bash
# Whole-process timing of examples/cli_cache (the figures in benches/README.md, section sqlite):
# N runs on a warm sqlite cache against N runs of the same program on the memory handler (which
# recomputes every time), interleaved, and the "setup + lookup" time each run prints (for
# sqlite: opening the file and the first read, the handler's own startup cost).
#
#   scripts/time_cli_cache.sh [runs]      # default 20; builds the example in release mode
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release --quiet --example cli_cache
bin=${CARGO_TARGET_DIR:-target}/release/examples/cli_cache
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export CLI_CACHE_CACHE_SQLITE_PATH=$dir/cache.sqlite3
"$bin" timing >/dev/null # the miss that fills the cache

now_us() { echo $(($(date +%s%N) / 1000)); }
: >"$dir/sqlite" && : >"$dir/memory"
for _ in $(seq "$runs"); do
    for handler in sqlite memory; do
        flag=() && [ "$handler" = memory ] && flag=(--memory)
        start=$(now_us)
        out=$("$bin" "${flag[@]}" timing)
        end=$(now_us)
        grep -q "^hit$" <<<"$out" && [ "$handler" = memory ] && { echo "memory run hit?" >&2; exit 1; }
        [ "$handler" = sqlite ] && ! grep -q "^hit$" <<<"$out" && { echo "sqlite run missed" >&2; exit 1; }
        inner=$(sed -n 's/^setup + lookup: //p' <<<"$out")
        echo "$((end - start)) $inner" >>"$dir/$handler"
    done
done
report() {
    sort -n "$dir/$1" | awk -v name="$1" '{ t[NR] = $1; s[NR] = $2 } END {
        printf "%-7s whole process: median %.1f ms, min %.1f ms, max %.1f ms (%d runs)\n",
            name, t[int((NR + 1) / 2)] / 1000, t[1] / 1000, t[NR] / 1000, NR }'
    awk '{ print $2 }' "$dir/$1" | sort -g | awk '{ v[NR] = $1 } END {
        printf "        setup + first get, in process: median %.3f ms, min %.3f ms, max %.3f ms\n",
            v[int((NR + 1) / 2)], v[1], v[NR] }'
}
report sqlite
report memory
