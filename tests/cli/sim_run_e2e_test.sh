#!/usr/bin/env bash
# End-to-end tests of `dynamo-sim run`: outputs, determinism, exit codes and exact error texts.
# Usage: sim_run_e2e_test.sh DYNAMO_SIM SOURCE_DIR SHARED_DATA_DIR
BIN=$1
SRC=$2
SHARED=$3
source "$(dirname "$0")/e2e_lib.sh"

# A small synthetic workload, so every run here takes well under a second.
cat >"$TMP/small.json" <<'JSON'
{"requests": 300, "seed": 3, "arrival": {"process": "poisson", "rate_rps": 10},
 "isl": {"dist": "uniform", "min": 200, "max": 4000}, "osl": {"dist": "uniform", "min": 8, "max": 200},
 "prefix": {"groups": 4, "shared_tokens": 512}}
JSON

# --- success paths ---
expect json 0 '' -- run --plan llama8b_agg --workload "$TMP/small.json" --json --seed 5
json_has json_keys seed requests completed duration_s gpus ttft_ms itl_ms tpot_ms e2e_ms queue_ms \
  throughput_rps output_tokens_per_s output_tokens_per_s_per_gpu kv_hit_rate perf_source fingerprint \
  events wall_s
check json_values "j['seed']==5 and j['requests']==300 and j['completed']==300 and j['gpus']==8 and all(k in j['ttft_ms'] for k in ['mean','p50','p90','p99']) and j['perf_source'].startswith('analytic: h200_sxm') and 'slo' not in j"
check no_leak "j['kv_blocks_in_use_at_end']==0 and j['stalled']==0"
check littles_law "abs(j['littles_law']['l'] - j['littles_law']['lambda_w']) <= 1e-9 * max(1, j['littles_law']['l'])"
cp "$TMP/out" "$TMP/first.json"
expect json_again 0 '' -- run --plan llama8b_agg --workload "$TMP/small.json" --json --seed 5
python3 -c "
import json,sys
a=json.load(open('$TMP/first.json')); b=json.load(open('$TMP/out'))
a.pop('wall_s'); b.pop('wall_s')
sys.exit(0 if a==b else 1)" && ok || bad "same seed gives the same summary"
expect json_seed6 0 '' -- run --plan llama8b_agg --workload "$TMP/small.json" --json --seed 6
python3 -c "
import json,sys
a=json.load(open('$TMP/first.json')); b=json.load(open('$TMP/out'))
sys.exit(0 if a['fingerprint']!=b['fingerprint'] else 1)" && ok || bad "another seed gives another fingerprint"

expect slo 0 '' -- run --plan llama8b_agg --workload "$TMP/small.json" --json --ttft-ms 500 --itl-ms 50
check slo_keys "set(['ttft_ok','itl_ok','goodput_rps']) <= set(j['slo']) and j['slo']['percentile']==90"

expect human 0 '' -- run --plan llama70b_disagg --workload "$TMP/small.json" --out "$TMP/run"
contains human_seed "$TMP/err" "seed 3"
contains human_perf "$TMP/out" "perf model: analytic: h200_sxm"
contains human_ttft "$TMP/out" "TTFT"
contains human_fingerprint "$TMP/out" "fingerprint "
for f in summary.json requests.csv timeseries.csv; do
  [ -s "$TMP/run/$f" ] && ok || bad "--out wrote $f"
done
python3 - "$TMP/run" <<'PY' && ok || bad "--out files are consistent"
import csv, json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
rows = list(csv.DictReader(open(d + "/requests.csv")))
ts = list(csv.DictReader(open(d + "/timeseries.csv")))
assert len(rows) == s["requests"] == 300, len(rows)
assert sum(r["status"] == "completed" for r in rows) == s["completed"]
assert all(int(r["output"]) == int(r["osl"]) for r in rows if r["status"] == "completed")
assert all(int(r["decode_worker"]) >= 2 for r in rows)  # the decode pool follows 2 prefill workers
assert s["transfers"] > 0 and s["transfer_ms"]["count"] > 0
assert sum(int(r["arrivals"]) for r in ts) == 300
assert sum(int(r["completions"]) for r in ts) == s["completed"]
PY

# --- bad input: exit 1, the file, the JSON path and the fix ---
printf '{"model": "llama-3.1-70b", "workers": [{"role": "agg", "tp": 3}]}' >"$TMP/tp3.json"
expect bad_tp 1 "error: $TMP/tp3.json: \$.workers[0].tp: 3 does not divide 64 attention heads of llama-3.1-70b; use one of 1, 2, 4, 8, 16, 32, 64" -- run --plan "$TMP/tp3.json" --workload "$TMP/small.json"
printf '{"model": "llama-3.1-70b", "system": {"gpu": "l40s"}, "workers": [{"role": "agg", "tp": 1}]}' >"$TMP/big.json"
expect too_big 1 '' -- run --plan "$TMP/big.json" --workload "$TMP/small.json"
contains too_big_path "$TMP/err" "\$.workers[0]"
contains too_big_fix "$TMP/err" "use tp >= "
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg", "tp": 2}], "planner": {"enabled": true, "max_gpus": 1}}' >"$TMP/planner.json"
expect planner_budget 1 "error: $TMP/planner.json: \$.planner.max_gpus: a budget of 1 GPU(s) cannot hold 1 agg worker(s) of 2 GPU(s); use max_gpus >= 2 or smaller workers" -- run --plan "$TMP/planner.json" --workload "$TMP/small.json"
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg"}], "planner": {"enabled": true, "predictor": "arima"}}' >"$TMP/predictor.json"
expect planner_predictor 1 '' -- run --plan "$TMP/predictor.json" --workload "$TMP/small.json"
contains planner_predictor_path "$TMP/err" "\$.planner.predictor"
contains planner_predictor_names "$TMP/err" "kalman"
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg"}], "router": {"policy": "fastest"}}' >"$TMP/policy.json"
expect router_policy 1 '' -- run --plan "$TMP/policy.json" --workload "$TMP/small.json"
contains router_policy_path "$TMP/err" "\$.router.policy"
contains router_policy_names "$TMP/err" "least_loaded"
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg"}], "router": {"policy": "kv", "overlap_weight": -1}}' >"$TMP/weight.json"
expect router_weight 1 '' -- run --plan "$TMP/weight.json" --workload "$TMP/small.json"
contains router_weight_path "$TMP/err" "\$.router.overlap_weight"
expect unknown_plan 1 '' -- run --plan nope --workload "$TMP/small.json"
contains unknown_plan_names "$TMP/err" "llama8b_agg"
expect missing_workload 1 "error: $TMP/none.jsonl: cannot open: No such file or directory" -- run --plan llama8b_agg --workload "$TMP/none.jsonl"
expect missing_db 1 '' -- run --plan llama8b_agg --workload "$TMP/small.json" --perf-db "$TMP/none.sqlite"
contains missing_db_name "$TMP/err" "$TMP/none.sqlite"
expect no_plan 2 '--plan is required' -- run --workload "$TMP/small.json"
expect bad_percentile 2 '' -- run --plan llama8b_agg --percentile 42

# A request longer than the KV cache can ever hold: rejected and counted, the run goes on.
printf '{"timestamp": 0, "input_length": 100, "output_length": 5}\n{"timestamp": 10, "input_length": 3000000, "output_length": 5}\n{"timestamp": 20, "input_length": 200, "output_length": 5}\n' >"$TMP/long.jsonl"
expect too_long 0 '' -- run --plan llama8b_agg --workload "$TMP/long.jsonl" --json
check too_long_counted "j['rejected']==1 and j['completed']==2 and j['requests']==3"

# --- the KV-aware router and the planner ---
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg", "replicas": 4}], "router": {"policy": "kv", "queue_threshold": 2}}' >"$TMP/kv.json"
expect kv_run 0 '' -- run --plan "$TMP/kv.json" --workload "$TMP/small.json" --json
check kv_run_complete "j['completed']==300 and j['kv_blocks_in_use_at_end']==0 and j['kv_hit_rate']>0"
printf '{"model": "llama-3.1-8b", "workers": [{"role": "agg", "replicas": 1}], "planner": {"enabled": true, "interval_s": 5, "startup_s": 5, "max_gpus": 4}}' >"$TMP/planned.json"
expect planner_run 0 '' -- run --plan "$TMP/planned.json" --workload "$TMP/small.json" --out "$TMP/planned"
contains planner_run_line "$TMP/out" "planner: "
python3 - "$TMP/planned" <<'PY' && ok || bad "planner run: summary and time series"
import csv, json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
ts = list(csv.DictReader(open(d + "/timeseries.csv")))
assert s["completed"] == 300 and s["kv_blocks_in_use_at_end"] == 0, s
assert s["planner"]["intervals"] > 0 and 0 <= s["planner"]["intervals_within_sla"] <= 1
assert s["gpu_seconds"] > 0 and max(int(r["gpus"]) for r in ts) <= 4
PY
expect planner_warmup 0 '' -- run --plan "$TMP/planned.json" --workload "$TMP/small.json" --planner-warmup "$TMP/small.json" --json
check planner_warmup_complete "j['completed']==300 and j['planner']['intervals']>0"
expect planner_warmup_off 1 "error: --planner-warmup $TMP/small.json: the plan llama8b_agg does not enable the planner (\$.planner.enabled); drop the flag or enable the planner" -- run --plan llama8b_agg --workload "$TMP/small.json" --planner-warmup "$TMP/small.json"

# --- the bundled plans on the bundled workload ---
for p in llama8b_agg llama70b_agg llama70b_disagg llama70b_disagg_2node; do
  expect "bundled_$p" 0 '' -- run --plan "$p" --json
  check "bundled_${p}_complete" "j['completed']==j['requests']==2000 and j['kv_blocks_in_use_at_end']==0"
done

# --- a real trace (skipped without ../shared/data) ---
if [ -f "$SHARED/traces/mooncake/conversation_trace.jsonl" ]; then
  expect mooncake 0 '' -- run --plan llama8b_agg --workload "$SHARED/traces/mooncake/conversation_trace.jsonl" --json
  check mooncake_all "j['completed']==12031 and j['kv_hit_rate']>0"
else
  echo "skipped: real traces (../shared/data absent)"
fi

finish
