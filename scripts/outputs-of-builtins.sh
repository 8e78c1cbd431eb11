#!/usr/bin/env bash
# outputs-of-builtins.sh BIN OUTDIR — the simulator's byte-identity check.
#
# Writes, for every built-in scenario BIN lists, the stdout of `run NAME --json`,
# `run NAME --trace 40` and `run NAME --trace-status 503 --json` to OUTDIR (three files per
# scenario). Run it with a binary built before a change and one built after, then
# `diff -r BEFORE AFTER`: same scenario + seed must give the same bytes.
#
#   git worktree add /tmp/before HEAD && (cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p cdn-sim)
#   scripts/outputs-of-builtins.sh /tmp/before-target/release/cdn-sim /tmp/out-before
#   cargo build --release -p cdn-sim && scripts/outputs-of-builtins.sh target/release/cdn-sim /tmp/out-after
#   diff -r /tmp/out-before /tmp/out-after && echo IDENTICAL
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 CDN_SIM_BINARY OUTDIR" >&2; exit 2; }
BIN=$1
OUT=$2
mkdir -p "$OUT"
names=$("$BIN" list | awk '{print $1}')
[ -n "$names" ] || { echo "$BIN list printed no scenarios" >&2; exit 1; }
for n in $names; do
    "$BIN" run "$n" --json >"$OUT/$n.json" 2>/dev/null || true
    "$BIN" run "$n" --trace 40 >"$OUT/$n.trace40" 2>/dev/null || true
    "$BIN" run "$n" --trace-status 503 --json >"$OUT/$n.ts503.json" 2>/dev/null || true
done
echo "$(ls "$OUT" | wc -l) outputs in $OUT"
