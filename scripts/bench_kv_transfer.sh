#!/usr/bin/env bash
# KV transfer bandwidth: UcxKvTransport (tests/bench/kv_transfer_bench: a forked holder process,
# pulls of 1, 8, 64 MiB) against ucx_perftest's ucp_am_bw (UCP active messages, rendezvous at
# these sizes: what the transport sends) between two processes on this host, with the same
# UCX_TLS for both. Runs are interleaved and repeated; the table shows medians and the lanes UCX
# chose for each side. They can differ: the transport asks for peer error handling, which UCX
# 1.13's shared-memory transports do not offer, so its "default" is tcp where ucx_perftest's is
# sysv + cma.
#
# Usage: scripts/bench_kv_transfer.sh [UCX_TLS settings...]   (default: "default tcp")
# Environment: BUILD_DIR (build), REPS (3), PORT (first ucx_perftest port, 13337).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BENCH="$BUILD_DIR/tests/bench/kv_transfer_bench"
PERFTEST=${PERFTEST:-ucx_perftest}
REPS=${REPS:-3}
PORT=${PORT:-13337}
SIZES_MIB=(1 8 64)
TLS_SETTINGS=("$@")
[ ${#TLS_SETTINGS[@]} -gt 0 ] || TLS_SETTINGS=(default tcp)

[ -x "$BENCH" ] || { echo "missing $BENCH: build target kv_transfer_bench" >&2; exit 1; }
command -v "$PERFTEST" >/dev/null || { echo "missing $PERFTEST: apt-get install ucx-utils" >&2; exit 1; }
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Runs the command with UCX_TLS set ("default": unset) and UCX's info log on (for the lanes).
with_tls() {
  local tls=$1
  shift
  if [ "$tls" = default ]; then
    env -u UCX_TLS UCX_LOG_LEVEL=info "$@"
  else
    env UCX_TLS="$tls" UCX_LOG_LEVEL=info "$@"
  fi
}

# The lanes of the last endpoint configuration UCX logged.
lanes() { grep -o 'ep_cfg\[[0-9]*\]: .*' "$1" | tail -1 | sed 's/^ep_cfg\[[0-9]*\]: //; s/ /,/g'; }

# ucx_perftest ucp_am_bw, one size. Appends "perftest TLS MiB GB/s lanes" to results.tsv (its
# MB/s are MiB/s).
perftest() {
  local tls=$1 mib=$2
  local iters=$((2048 / mib))
  [ "$iters" -ge 32 ] || iters=32
  local port=$PORT
  PORT=$((PORT + 1))
  with_tls "$tls" "$PERFTEST" -p "$port" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if ss -ltn "sport = :$port" | grep -q LISTEN; then break; fi
    sleep 0.05
  done
  with_tls "$tls" "$PERFTEST" 127.0.0.1 -p "$port" -t ucp_am_bw -s $((mib * 1048576)) \
    -n "$iters" -w $((iters / 10 + 2)) >"$tmp/client.log" 2>&1 || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  local mib_s
  mib_s=$(awk '$1 == "Final:" { print $7 }' "$tmp/client.log")
  if [ -z "$mib_s" ]; then
    echo "ucx_perftest failed (UCX_TLS=$tls, $mib MiB):" >&2
    cat "$tmp/client.log" >&2
    exit 1
  fi
  printf 'perftest\t%s\t%s\t%s\t%s\n' "$tls" "$mib" \
    "$(awk -v m="$mib_s" 'BEGIN { print m * 1048576 / 1e9 }')" "$(lanes "$tmp/client.log")" \
    >>"$tmp/results.tsv"
}

# kv_transfer_bench, every size and window. Appends "ours_wN TLS MiB GB/s lanes".
ours() {
  local tls=$1
  with_tls "$tls" "$BENCH" --benchmark_min_time=0.5 --benchmark_out="$tmp/ours.json" \
    --benchmark_out_format=json >"$tmp/ours.log" 2>&1
  python3 - "$tmp/ours.json" "$tls" "$(lanes "$tmp/ours.log")" >>"$tmp/results.tsv" <<'PY'
import json, re, sys
for run in json.load(open(sys.argv[1]))["benchmarks"]:
    m = re.match(r"BM_KvPull/MiB:(\d+)/window:(\d+)", run["name"])
    if m and "GB/s" in run:
        print(f"ours_w{m[2]}\t{sys.argv[2]}\t{m[1]}\t{run['GB/s']}\t{sys.argv[3]}")
PY
}

: >"$tmp/results.tsv"
for rep in $(seq "$REPS"); do
  for tls in "${TLS_SETTINGS[@]}"; do
    echo "run $rep/$REPS, UCX_TLS=$tls" >&2
    for mib in "${SIZES_MIB[@]}"; do perftest "$tls" "$mib"; done
    ours "$tls"
  done
done

python3 - "$tmp/results.tsv" "${TLS_SETTINGS[*]}" "${SIZES_MIB[*]}" <<'PY'
import statistics, sys
from collections import defaultdict
gbps, lanes = defaultdict(list), {}
for line in open(sys.argv[1]):
    who, tls, mib, value, lane = (line.rstrip("\n").split("\t") + [""])[:5]
    gbps[who, tls, mib].append(float(value))
    lanes[who.split("_")[0], tls] = lane
def med(who, tls, mib):
    v = gbps.get((who, tls, mib))
    return statistics.median(v) if v else float("nan")
print(f"{'size':>6} {'UCX_TLS':8} {'perftest':>9} {'ours w1':>8} {'ratio':>6} {'ours w4':>8} {'ratio':>6}")
for tls in sys.argv[2].split():
    for mib in sys.argv[3].split():
        p, w1, w4 = med("perftest", tls, mib), med("ours_w1", tls, mib), med("ours_w4", tls, mib)
        print(f"{mib + ' MiB':>6} {tls:8} {p:9.2f} {w1:8.2f} {w1 / p:6.0%} {w4:8.2f} {w4 / p:6.0%}")
print("GB/s = 1e9 bytes/s, medians of the runs. perftest: ucx_perftest -t ucp_am_bw; ours wN:")
print("kv_transfer_bench with N pulls in flight (N=1: one pull at a time, each a round trip).")
print("Lanes (UCX's last endpoint configuration):")
for (who, tls), lane in sorted(lanes.items()):
    print(f"  {who:8} UCX_TLS={tls:8} {lane}")
PY
