#!/usr/bin/env bash
# Runs every Google Benchmark program and prints the headline figures (items/s).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
for b in "$BUILD_DIR"/tests/bench/*_bench; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_min_time=0.5 --benchmark_counters_tabular=true "$@"
done
