#!/usr/bin/env bash
# End-to-end tests of the SLA planner inside dynamo-run: the planner core (the simulator's, built
# by planner/plan_planner) fed by the frontend's measured TTFT/ITL and load.
#  1. Local connector: an aggregated plan starting with 1 worker under a load it cannot carry;
#     the planner starts more worker processes (never beyond the plan's 4-GPU budget), they join
#     the router and serve; once the load stops it drains them again. Every request completes.
#  2. Kubernetes connector: `dynamo-run frontend --planner-connector kubernetes --k8s-mode kubectl`
#     with a fake kubectl; workers register over HTTP; the planner's decision reaches kubectl as
#     `patch deployment NAME-agg-0 ... {"spec":{"replicas":N}}`.
# Usage: run_planner_e2e_test.sh DYNAMO_RUN DYNAMO_LOAD SOURCE_DIR
RUN=$1
LOAD=$2
SRC=$3
BIN=$RUN
source "$SRC/tests/cli/e2e_lib.sh"
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }

cat >"$TMP/plan.json" <<'JSON'
{ "model": "llama-3.1-8b",
  "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
  "workers": [{"role": "agg", "replicas": 1, "tp": 1, "max_num_batched_tokens": 8192, "block_size": 16}],
  "router": {"policy": "kv"},
  "planner": {"enabled": true, "ttft_ms": 300, "itl_ms": 30, "interval_s": 2, "max_gpus": 4} }
JSON
PIDS=
trap 'kill -KILL $PIDS 2>/dev/null; rm -rf "$TMP"' EXIT
# wait_for FILE TEXT SECONDS : polls until FILE contains TEXT
wait_for() {
  local n=$(($3 * 20))
  for _ in $(seq 1 $n); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

# --- 1. local processes ---
"$RUN" --plan "$TMP/plan.json" --port 0 --run-dir "$TMP/run" >"$TMP/out" 2>"$TMP/err" &
SERVER=$!
PIDS="$SERVER"
wait_for "$TMP/out" "serving" 20 || { bad "server did not start: $(cat "$TMP/err")"; finish; exit 1; }
PORT=$(python3 -c "import json; print(json.load(open('$TMP/run/frontend.json'))['port'])")
"$LOAD" --url "http://127.0.0.1:$PORT" --requests 240 --isl 2048 --osl 48 --rate 30 --seed 1 \
  --no-progress --json >"$TMP/load.json" 2>"$TMP/load.err" || bad "load: exit $? $(tail -n 3 "$TMP/load.err")"
python3 -c "import json,sys; j=json.load(open('$TMP/load.json')); sys.exit(0 if j['completed']==240 and j['incomplete_outputs']==0 else 1)" \
  && ok || bad "load through scaling: $(head -c 400 "$TMP/load.json")"
contains scaled_up "$TMP/err" "worker agg-0-1 ("
# Idle now: the planner drains what it added (it never drains the last worker).
wait_for "$TMP/err" "draining (planner)" 20 && ok || bad "no scale-down after the load stopped: $(grep planner "$TMP/err" | tail -n 5)"
kill -TERM "$SERVER"
wait "$SERVER" && ok || bad "SIGTERM: exit $?"
python3 - "$TMP/run/planner.csv" <<'PY' && ok || bad "planner.csv: $(cat "$TMP/run/planner.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) >= 3, len(rows)
replicas = [int(r["decode_replicas"]) for r in rows]
assert max(replicas) >= 2, replicas          # scaled up under load
assert max(replicas) <= 4, replicas          # within max_gpus 4 (tp 1)
assert min(replicas) >= 1, replicas
assert float(rows[0]["predicted_rps"]) >= 0
PY
grep -q "worker(s) added" "$TMP/out" && ! grep -q " 0 worker(s) added" "$TMP/out" && ok \
  || bad "stats: $(tail -n 1 "$TMP/out")"

# --- 2. Kubernetes connector (kubectl mode, fake kubectl) ---
cat >"$TMP/kubectl" <<EOF2
#!/bin/sh
echo "\$@" >>"$TMP/kubectl.log"
exit 0
EOF2
chmod +x "$TMP/kubectl"
"$RUN" frontend --plan "$TMP/plan.json" --port 0 --planner-connector kubernetes --k8s-mode kubectl \
  --k8s-kind deployment --k8s-name demo --k8s-namespace serving --kubectl "$TMP/kubectl" \
  >"$TMP/fe.out" 2>"$TMP/fe.err" &
FE=$!
PIDS="$PIDS $FE"
wait_for "$TMP/fe.out" "listening" 20 || bad "frontend did not start: $(cat "$TMP/fe.err")"
FE_PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/fe.out" | head -n 1)
"$RUN" worker --plan "$TMP/plan.json" --pool 0 --replica 0 --frontend "127.0.0.1:$FE_PORT" \
  >/dev/null 2>"$TMP/w.err" &
W=$!
PIDS="$PIDS $W"
"$LOAD" --url "http://127.0.0.1:$FE_PORT" --requests 120 --isl 2048 --osl 32 --rate 30 --seed 2 \
  --no-progress --json >"$TMP/load2.json" 2>"$TMP/load2.err" || bad "load (k8s): exit $? $(tail -n 3 "$TMP/load2.err")"
wait_for "$TMP/kubectl.log" "patch" 10 && ok || bad "kubectl never called: $(grep planner "$TMP/fe.err" | tail -n 3)"
python3 - "$TMP/kubectl.log" <<'PY' && ok || bad "kubectl arguments: $(cat "$TMP/kubectl.log")"
import json, sys
line = open(sys.argv[1]).readline().split()
assert line[:3] == ["patch", "deployment", "demo-agg-0"], line
assert "-n" in line and line[line.index("-n") + 1] == "serving", line
assert "--type" in line and line[line.index("--type") + 1] == "merge", line
patch = json.loads(line[line.index("-p") + 1])
assert patch["spec"]["replicas"] >= 2, patch
PY
kill -TERM "$FE"
wait "$FE" && ok || bad "frontend SIGTERM: exit $?"
wait "$W"
expect k8s_needs_name 1 '' -- frontend --plan "$TMP/plan.json" --port 0 --planner-connector kubernetes
contains k8s_name_message "$TMP/err" "--k8s-name: required"
finish
