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

# Simulator memory must not grow with the tokens generated: the same 2,000 requests with 10x
# longer answers (10x the tokens and steps) should peak at about the same resident memory.
SIM="$BUILD_DIR/cli/dynamo-sim"
if [ -x "$SIM" ] && [ -x /usr/bin/time ]; then
  echo "== simulation memory vs generated tokens (llama8b_agg, 2,000 requests)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for osl in 100 1000; do
    printf '{"requests": 2000, "seed": 1, "arrival": {"process": "poisson", "rate_rps": 4},
      "isl": {"dist": "fixed", "value": 1024}, "osl": {"dist": "fixed", "value": %d}}' "$osl" \
      >"$tmp/w$osl.json"
    /usr/bin/time -f "%M" -o "$tmp/rss" "$SIM" run --plan llama8b_agg --workload "$tmp/w$osl.json" \
      --json >"$tmp/out.json"
    python3 - "$tmp/out.json" "$(cat "$tmp/rss")" "$osl" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
tokens = j["output_tokens_per_s"] * j["duration_s"]
print(f"  osl {sys.argv[3]:>5}: {tokens:12,.0f} output tokens, {j['steps']:9,} steps, "
      f"peak RSS {int(sys.argv[2]) / 1024:6.1f} MiB, {j['wall_s']:.3f} s wall")
PY
  done
fi
