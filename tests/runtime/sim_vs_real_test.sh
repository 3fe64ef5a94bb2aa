#!/usr/bin/env bash
# The differential test of design.md ("one component, two clocks"): the same plan and workload
# through `dynamo-sim run` (virtual clock) and through `dynamo-run --engine mock` driven by
# `dynamo-load` (real clock) must give
#   - the same routing decisions: request i goes to the same worker (plan order) in both, and
#     the runtime routes the requests in workload order; in a disaggregated plan both the
#     prefill and the decode decision;
#   - p50 TTFT and p50 ITL within 10% of the simulator's (ITL: per-request mean token gap).
# docs/runtime.md, "Simulator vs runtime", has the reasoning and measured figures.
#
# Cases (SIM_VS_REAL_CASES, default "kv kv_tails rr disagg"; data in tests/runtime/data/):
#   kv   KV-aware router at temperature 0, closed loop with ONE request in flight. The kv cost
#        adds each worker's load (prefill tokens until the first token, prompt blocks until the
#        request ends) to the prefix overlap, and one in-flight request weighs as much as a
#        whole shared prefix: whether a request has finished when the next one is routed would
#        decide. In the runtime that depends on real timing (dynamo-load's send jitter, HTTP
#        and TCP hops, step wake-ups: tens of ms on an oversubscribed 2-core machine), so
#        open-loop gaps can only make a flip unlikely, not impossible. A closed loop of one
#        routes every request on an idle system, in both drivers: only the prefix caches decide;
#        they depend on the earlier decisions only. Each prompt is a shared 512-token system
#        prompt plus 1-15 tokens, so every full block of a prompt is shared: see kv_tails.
#   rr   round-robin router, open loop with constant gaps (33 ms of plan time), so requests
#        batch (about 8 per worker) and new prompts queue behind running steps: the latency
#        comparison under load. Round-robin decisions depend on the arrival order only, and
#        constant gaps keep two arrivals from swapping.
#   kv_tails as kv, but prompts carry 88-588 tokens of their own. By default the simulator
#        hashes only the blocks some other request shares (sim/simulation.cc,
#        Simulation::HashesFor), the runtime every full block (FrontendService, HandleGenerate),
#        so the indexers' cached-block counts, the kv policy's first tie-break
#        (Router::Select), would differ; `dynamo-sim run --hash-every-block` (passed to every
#        case) indexes every full block as the runtime does.
#   disagg 2 prefill + 2 decode Llama-3.1-70B tp2 workers on one H200 node, kv routers at
#        temperature 0, the kv case's closed loop of one (5 shared 512-token prompts, 4 output
#        tokens): the prefill router's choices (routing.csv prefill rows vs prefill_worker) and
#        the decode router's (decode rows vs decode_worker). The decode router balances decode
#        blocks only, so on an idle system every decode choice is the tie-break (lowest id):
#        this checks the decode path and its bookkeeping, not load balancing. The decode
#        worker keeps the prompts it received in its prefix cache and pulls only the tokens it
#        lacks (5 full transfers, the others 15 tokens or less), in both.
#        --kv-bytes-scale 1/64 (SIM_VS_REAL_KV_BYTES_SCALE overrides): the simulator prices a
#        full 70B prompt (518 tokens x 320 KiB, 170 MB) over NVLink at 0.19 ms. dynamo-run moves
#        the bytes with UCX through this machine's memory (about 3 GB/s measured, some 300x
#        slower than NVLink), so at scale 1 a full transfer takes about 58 ms of real time
#        (+14.5 ms of plan time in the first inter-token gap: the per-request ITL p90 goes to
#        +4.8 ms over 3 gaps): the comparison would measure this machine's memcpy, not the
#        plan. 1/64 (2.7 MB, about 1 ms real, 0.25 ms of plan time at time scale 4) is the
#        simulator's figure again; the per-request ITL p90 shows what is left (+0.1-0.8 ms).
# The runtime runs at --time-scale 4 (kv, kv_tails, disagg) and 3 (rr) (SIM_VS_REAL_TIME_SCALE overrides;
# dynamo-load divides its latencies by the same factor): the runtime's fixed costs, which the
# simulator does not model (HTTP, TCP, timer wake-ups: 0.3 ms per request on an idle machine, a
# few ms on an oversubscribed one), weigh 3-4 times less against the plan's step times (24 ms
# here). kv's TTFT is one step (a prefix hit), so it gets the larger factor.
#
# Usage: sim_vs_real_test.sh DYNAMO_SIM DYNAMO_RUN DYNAMO_LOAD SOURCE_DIR [--routing-only]
#   --routing-only: report latencies without checking them (sanitizer builds, whose slowdown
#   is not the runtime's). Exit: 0 pass, 1 fail, 77 skipped (a tool or binary missing).
SIM=$1
RUN=$2
LOAD=$3
SRC=$4
MODE=${5:-}
if [ -z "$SRC" ] || { [ -n "$MODE" ] && [ "$MODE" != "--routing-only" ]; }; then
  echo "usage: $0 DYNAMO_SIM DYNAMO_RUN DYNAMO_LOAD SOURCE_DIR [--routing-only]" >&2
  exit 2
fi
DATA=$SRC/tests/runtime/data
COMPARE=$SRC/tests/runtime/sim_vs_real_compare.py
CASES=${SIM_VS_REAL_CASES:-kv kv_tails rr disagg}
TOLERANCE=0.10
DISAGG_KV_BYTES_SCALE=${SIM_VS_REAL_KV_BYTES_SCALE:-0.015625}  # 1/64: see the disagg case above

command -v python3 >/dev/null || { echo "python3 not installed: skipped"; exit 77; }
for b in "$SIM" "$RUN" "$LOAD"; do
  [ -x "$b" ] || { echo "$b: not built: skipped"; exit 77; }
done

TMP=$(mktemp -d)
SERVER_PID=
LOAD_PID=
RUN_DIR=
# Our own processes only, by id: the launcher, then any worker it registered (workers also die
# with the launcher through PR_SET_PDEATHSIG).
cleanup() {
  [ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null
  if [ -n "$SERVER_PID" ]; then
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ -n "$RUN_DIR" ]; then
    for p in $(worker_pids "$RUN_DIR"); do kill -KILL "$p" 2>/dev/null; done
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

kill_server() {  # at once: after a failure
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  for p in $(worker_pids "$RUN_DIR"); do kill -KILL "$p" 2>/dev/null; done
  SERVER_PID=
  RUN_DIR=
}

worker_pids() {  # pids of the workers registered in run dir $1
  python3 - "$1" <<'PY' 2>/dev/null
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/workers/*.json"):
    try:
        print(json.load(open(f))["pid"])
    except Exception:
        pass
PY
}

failed=0
results=()

# run_case NAME PLAN WORKLOAD SEED TIME_SCALE [DYNAMO_RUN_ARGS...]
run_case() {
  local name=$1 plan=$2 workload=$3 seed=$4
  local SCALE=${SIM_VS_REAL_TIME_SCALE:-$5}
  shift 5
  local run_args=("$@")
  local dir=$TMP/$name
  mkdir -p "$dir"
  local t0=$SECONDS
  echo "== case $name: $(basename "$plan"), $(basename "$workload"), seed $seed, time scale $SCALE"

  # 1. The simulator.
  if ! "$SIM" run --plan "$plan" --workload "$workload" --seed "$seed" --hash-every-block --out "$dir/sim" \
      --no-progress >"$dir/sim.out" 2>"$dir/sim.err"; then
    echo "FAIL $name: dynamo-sim run: $(tail -n 3 "$dir/sim.err")"
    return 1
  fi

  # 2. The runtime: the launcher, its workers, then the same workload from dynamo-load.
  RUN_DIR=$dir/run
  "$RUN" --plan "$plan" --engine mock --port 0 --run-dir "$RUN_DIR" --seed "$seed" \
    --time-scale "$SCALE" "${run_args[@]}" >"$dir/server.out" 2>"$dir/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do  # up to 30 s on a busy machine
    grep -q "serving" "$dir/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q "serving" "$dir/server.out"; then
    echo "FAIL $name: dynamo-run did not start: $(tail -n 3 "$dir/server.err")"
    kill_server
    return 1
  fi
  local port
  port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$RUN_DIR/frontend.json")
  "$LOAD" --url "http://127.0.0.1:$port" --workload "$workload" --seed "$seed" \
    --time-scale "$SCALE" --timeout-s 60 --records "$dir/records.csv" --json --no-progress \
    >"$dir/load.json" 2>"$dir/load.err" &
  LOAD_PID=$!
  wait "$LOAD_PID"  # in the background, so that a signal to this script is handled at once
  local load_rc=$?
  LOAD_PID=

  # 3. SIGTERM: dynamo-run drains, writes routing.csv and exits 0 once its workers are gone.
  local workers
  workers=$(worker_pids "$RUN_DIR")
  kill -TERM "$SERVER_PID" 2>/dev/null
  local waited=0
  while kill -0 "$SERVER_PID" 2>/dev/null && [ $waited -lt 300 ]; do
    sleep 0.05
    waited=$((waited + 1))
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "FAIL $name: dynamo-run still running 15 s after SIGTERM"
    kill_server
    return 1
  fi
  wait "$SERVER_PID"
  local run_rc=$?
  SERVER_PID=
  local left=""
  for p in $workers; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
  RUN_DIR=
  local bad=0
  if [ "$load_rc" -ne 0 ]; then
    echo "FAIL $name: dynamo-load exit $load_rc: $(tail -n 3 "$dir/load.err") $(head -c 300 "$dir/load.json")"
    bad=1
  fi
  if [ "$run_rc" -ne 0 ]; then
    echo "FAIL $name: dynamo-run exit $run_rc after SIGTERM: $(tail -n 3 "$dir/server.err")"
    bad=1
  fi
  [ -z "$left" ] || { echo "FAIL $name: workers still running after shutdown:$left"; bad=1; }
  if [ ! -s "$dir/run/routing.csv" ] || [ ! -s "$dir/records.csv" ]; then
    echo "FAIL $name: no routing.csv or no dynamo-load records"
    return 1
  fi

  # 4. Compare.
  local block policy
  block=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['workers'][0].get('block_size', 16))" "$plan")
  policy=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('router', {}).get('policy', 'round_robin'))" "$plan")
  local extra=()
  [ "$MODE" = "--routing-only" ] && extra=(--no-latency)
  python3 "$COMPARE" --case "$name" --sim-requests "$dir/sim/requests.csv" \
    --records "$dir/records.csv" --routing "$dir/run/routing.csv" --tolerance "$TOLERANCE" \
    --block-size "$block" --policy "$policy" "${extra[@]}" >"$dir/compare.out" 2>&1
  local rc=$?
  cat "$dir/compare.out"
  results+=("$(grep '^RESULT' "$dir/compare.out")")
  echo "   ($((SECONDS - t0)) s)"
  [ $rc -eq 0 ] && [ $bad -eq 0 ]
}

for c in $CASES; do
  case $c in
    kv) run_case kv "$DATA/sim_vs_real_kv_plan.json" "$DATA/sim_vs_real_kv_workload.json" 11 4 || failed=1 ;;
    rr) run_case rr "$DATA/sim_vs_real_rr_plan.json" "$DATA/sim_vs_real_rr_workload.json" 12 3 || failed=1 ;;
    kv_tails) run_case kv_tails "$DATA/sim_vs_real_kv_plan.json" "$DATA/sim_vs_real_kv_tails_workload.json" 11 4 || failed=1 ;;
    disagg) run_case disagg "$DATA/sim_vs_real_disagg_plan.json" "$DATA/sim_vs_real_disagg_workload.json" 13 4 \
      --kv-bytes-scale "$DISAGG_KV_BYTES_SCALE" || failed=1 ;;
    *) echo "unknown case '$c' in SIM_VS_REAL_CASES; use kv, kv_tails, rr, disagg"; failed=1 ;;
  esac
done
echo "summary:"
for r in "${results[@]}"; do echo "  $r"; done
if [ $failed -eq 0 ]; then echo "sim_vs_real: pass ($SECONDS s)"; else echo "sim_vs_real: FAIL ($SECONDS s)"; fi
exit $failed
