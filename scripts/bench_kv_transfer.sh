#!/usr/bin/env bash
# KV transfer bandwidth: UcxKvTransport (tests/bench/kv_transfer_bench: a forked holder process,
# pulls of 1, 8, 64 MiB) against ucx_perftest's ucp_am_bw (UCP active messages, rendezvous at
# these sizes: what the transport sends) between two processes on this host, with the same
# UCX_TLS and the same way of waiting (MODES) for both. Runs are interleaved and repeated; the
# table shows medians (ratios: the median of each run's ratio), perftest both with its own
# window of sends in flight and with one send at a time (-O 1, the like of one pull at a time),
# and the lanes UCX chose for each side. They can differ: the transport asks for peer error
# handling, which UCX 1.13's shared-memory transports do not offer, so its "default" is tcp
# where ucx_perftest's is sysv + cma.
#
# Usage: scripts/bench_kv_transfer.sh [UCX_TLS settings...]   (default: "default tcp")
# Environment: BUILD_DIR (build), REPS (5), PORT (first ucx_perftest port, 13337),
# MODES ("poll sleep": how both sides wait; perftest -E MODE, and for the transport its default
# polling or DYNAMO_KV_POLL_IDLE_US=0).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BENCH="$BUILD_DIR/tests/bench/kv_transfer_bench"
PERFTEST=${PERFTEST:-ucx_perftest}
REPS=${REPS:-5}
MODES=${MODES:-poll sleep}
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

# ucx_perftest ucp_am_bw, one size; OUTSTANDING "default" (perftest's own window) or a count
# (-O: sends in flight; 1 = one message at a time, like one pull). Appends "WHO TLS MiB GB/s
# lanes" to results.tsv, WHO perftest or perftest_o1 (its MB/s are MiB/s).
perftest() {
  local tls=$1 mib=$2 outstanding=${3:-default}
  local who=perftest extra=()
  if [ "$outstanding" != default ]; then
    who=perftest_o$outstanding
    extra=(-O "$outstanding")
  fi
  local iters=$((2048 / mib))
  [ "$iters" -ge 32 ] || iters=32
  local port=$PORT
  PORT=$((PORT + 1))
  with_tls "$tls" "$PERFTEST" -p "$port" -E "$MODE" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if ss -ltn "sport = :$port" | grep -q LISTEN; then break; fi
    sleep 0.05
  done
  with_tls "$tls" "$PERFTEST" 127.0.0.1 -p "$port" -t ucp_am_bw -s $((mib * 1048576)) \
    -n "$iters" -w $((iters / 10 + 2)) -E "$MODE" "${extra[@]}" >"$tmp/client.log" 2>&1 || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  local mib_s
  mib_s=$(awk '$1 == "Final:" { print $7 }' "$tmp/client.log")
  if [ -z "$mib_s" ]; then
    echo "ucx_perftest failed (UCX_TLS=$tls, $mib MiB):" >&2
    cat "$tmp/client.log" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$REP" "$who" "$tls/$MODE" "$mib" \
    "$(awk -v m="$mib_s" 'BEGIN { print m * 1048576 / 1e9 }')" "$(lanes "$tmp/client.log")" \
    >>"$tmp/results.tsv"
}

# kv_transfer_bench, every size and window. Appends "ours_wN TLS MiB GB/s lanes".
ours() {
  local tls=$1 poll=()
  [ "$MODE" = sleep ] && poll=(DYNAMO_KV_POLL_IDLE_US=0)
  with_tls "$tls" "${poll[@]}" "$BENCH" --benchmark_min_time=0.5 --benchmark_out="$tmp/ours.json" \
    --benchmark_out_format=json >"$tmp/ours.log" 2>&1
  python3 - "$tmp/ours.json" "$tls/$MODE" "$(lanes "$tmp/ours.log")" "$REP" >>"$tmp/results.tsv" <<'PY'
import json, re, sys
for run in json.load(open(sys.argv[1]))["benchmarks"]:
    m = re.match(r"BM_KvPull/MiB:(\d+)/window:(\d+)", run["name"])
    if m and "GB/s" in run:
        print(f"{sys.argv[4]}\tours_w{m[2]}\t{sys.argv[2]}\t{m[1]}\t{run['GB/s']}\t{sys.argv[3]}")
PY
}

: >"$tmp/results.tsv"
for REP in $(seq "$REPS"); do
  for tls in "${TLS_SETTINGS[@]}"; do
    for MODE in $MODES; do
      echo "run $REP/$REPS, UCX_TLS=$tls, $MODE" >&2
      for mib in "${SIZES_MIB[@]}"; do
        perftest "$tls" "$mib"
        perftest "$tls" "$mib" 1
      done
      ours "$tls"
    done
  done
done

settings=()
for tls in "${TLS_SETTINGS[@]}"; do for m in $MODES; do settings+=("$tls/$m"); done; done
python3 - "$tmp/results.tsv" "${settings[*]}" "${SIZES_MIB[*]}" <<'PY'
import statistics, sys
from collections import defaultdict
gbps, lanes = defaultdict(dict), {}
for line in open(sys.argv[1]):
    rep, who, tls, mib, value, lane = (line.rstrip("\n").split("\t") + [""])[:6]
    gbps[who, tls, mib][rep] = float(value)
    lanes[who.split("_")[0], tls] = lane
nan = float("nan")
def med(who, tls, mib):
    v = gbps.get((who, tls, mib))
    return statistics.median(v.values()) if v else nan
def ratio(ours, ref, tls, mib):
    # Median of per-run ratios: each run's figures were measured back to back, so a host that
    # drifts between runs moves both sides of a ratio.
    a, b = gbps.get((ours, tls, mib), {}), gbps.get((ref, tls, mib), {})
    r = [a[k] / b[k] for k in a if k in b and b[k] > 0]
    return statistics.median(r) if r else nan
print(f"{'size':>6} {'TLS/mode':14} {'perftest':>9} {'-O 1':>6} {'ours w1':>8} {'/pt':>5} "
      f"{'/-O1':>5} {'ours w4':>8} {'/pt':>5}")
for tls in sys.argv[2].split():
    for mib in sys.argv[3].split():
        p, p1 = med("perftest", tls, mib), med("perftest_o1", tls, mib)
        w1, w4 = med("ours_w1", tls, mib), med("ours_w4", tls, mib)
        print(f"{mib + ' MiB':>6} {tls:14} {p:9.2f} {p1:6.2f} {w1:8.2f} "
              f"{ratio('ours_w1', 'perftest', tls, mib):5.0%} "
              f"{ratio('ours_w1', 'perftest_o1', tls, mib):5.0%} {w4:8.2f} "
              f"{ratio('ours_w4', 'perftest', tls, mib):5.0%}")
print("GB/s = 1e9 bytes/s, medians of the runs; ratios: medians of each run's ratio. perftest:")
print("ucx_perftest -t ucp_am_bw (its own window of sends in flight); -O 1: one send at a time.")
print("ours wN: kv_transfer_bench with N pulls in flight (w1: one pull at a time, each a request")
print("and a rendezvous). mode poll: both busy-poll (perftest -E poll, the transport's default")
print("polling while transfers are in flight); sleep: both wait on UCX's fd (perftest -E sleep,")
print("DYNAMO_KV_POLL_IDLE_US=0).")
print("Lanes (UCX's last endpoint configuration):")
for (who, tls), lane in sorted(lanes.items()):
    print(f"  {who:8} {tls:14} {lane}")
PY
