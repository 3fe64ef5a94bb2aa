#!/usr/bin/env bash
# End-to-end tests of `dynamo-sim sweep` and `dynamo-sim merge`: outputs, reproduction of the
# chosen plan by `dynamo-sim run`, sharding, exit codes and exact error texts, and an
# interrupted sweep leaving nothing behind.
# Usage: sweep_e2e_test.sh DYNAMO_SIM SOURCE_DIR
BIN=$1
SRC=$2
source "$(dirname "$0")/e2e_lib.sh"

SMALL=(--model llama-3.1-8b --gpus 2 --isl 512 --osl 64 --ttft-ms 500 --itl-ms 40 --requests 200
       --seed 3 --no-progress)

# --- a small sweep: every output file, the JSON summary, the table ---
expect sweep_json 0 '' -- sweep "${SMALL[@]}" --out "$TMP/a" --json
json_has sweep_keys seed objective counts best plan wall_s out
check sweep_values "j['seed']==3 and j['objective']=='throughput_per_gpu' and j['counts']['passed']>0 and j['best']['gpus']<=2 and j['plan']['model']=='llama-3.1-8b'"
check sweep_counts "sum(j['counts'][k] for k in ['passed','sla_missed','below_demand','pruned','infeasible'])==j['counts']['candidates']"
for f in results.sqlite results.csv pareto.csv best_plan.json best_workload.json report.html; do
  [ -s "$TMP/a/$f" ] && ok || bad "sweep wrote no $f"
done
cp "$TMP/out" "$TMP/a.json"
ls -A "$TMP" | grep -q '^\.' && bad "temporary directories left behind" || ok
# A trailing slash names the same directory (replaced as a whole, nothing left behind).
expect trailing_slash 0 '' -- sweep "${SMALL[@]}" --out "$TMP/a/" --json
[ -s "$TMP/a/results.sqlite" ] && ! ls -A "$TMP" | grep -q '^\.' && ok \
  || bad "--out DIR/ did not replace DIR cleanly"

# The chosen plan, simulated by `dynamo-sim run` from the files the sweep wrote, gives the
# sweep's figures (same fingerprint, same tokens/s/GPU).
expect reproduce 0 '' -- run --plan "$TMP/a/best_plan.json" --workload "$TMP/a/best_workload.json" \
  --seed 3 --ttft-ms 500 --itl-ms 40 --json
python3 -c "
import json,sys
s=json.load(open('$TMP/a.json')); r=json.load(open('$TMP/out'))
ok = r['fingerprint']==s['best']['fingerprint'] and abs(r['output_tokens_per_s_per_gpu']-s['best']['tokens_per_s_per_gpu'])<1e-9 and r['slo']['ttft_ok'] and r['slo']['itl_ok']
sys.exit(0 if ok else 1)" && ok || bad "dynamo-sim run does not reproduce the sweep's best plan"

# Same seed, same outcome; the human output has the table and the reproduce line.
expect sweep_human 0 '' -- sweep "${SMALL[@]}" --out "$TMP/a"
contains table "$TMP/out" "<- chosen"
contains reproduce_line "$TMP/out" "reproduce: dynamo-sim run --plan $TMP/a/best_plan.json"
contains seed_printed "$TMP/err" "seed 3"
expect sweep_again 0 '' -- sweep "${SMALL[@]}" --out "$TMP/b" --json --threads 1
python3 -c "
import json,sys
a=json.load(open('$TMP/a.json')); b=json.load(open('$TMP/out'))
sys.exit(0 if a['best']==b['best'] and a['plan']==b['plan'] and a['counts']==b['counts'] else 1)" \
  && ok || bad "same seed (1 thread vs all cores) gives another outcome"

# --- shards and merge ---
for i in 0 1; do
  expect "shard$i" 0 '' -- sweep "${SMALL[@]}" --no-prune --shard "$i/2" --out "$TMP/s$i"
done
expect whole 0 '' -- sweep "${SMALL[@]}" --no-prune --out "$TMP/whole" --json
cp "$TMP/out" "$TMP/whole.json"
expect merge 0 '' -- merge "$TMP/s0" "$TMP/s1" --out "$TMP/merged" --json
python3 -c "
import json,sys
a=json.load(open('$TMP/whole.json')); b=json.load(open('$TMP/out'))
sys.exit(0 if a['best']==b['best'] and a['plan']==b['plan'] and a['counts']['candidates']==b['counts']['candidates'] else 1)" \
  && ok || bad "merged shards choose differently from the whole sweep"
expect merge_into_shard 1 "error: --out $TMP/s0: is one of the shards being merged ($TMP/s0); choose another directory" -- \
  merge "$TMP/s0" "$TMP/s1" --out "$TMP/s0"
expect merge_missing 1 "error: merge: the shards must cover 0..1 exactly once: missing shard 1; pass every shard's results.sqlite once" -- \
  merge "$TMP/s0" --out "$TMP/m2"

# --- bad input: clear message, exit 1, nothing written ---
expect unknown_gpu 1 'error: sweep: $.system.gpu: unknown GPU "z100"; bundled GPUs: a100_sxm_80g, b200_sxm, gb200, h100_sxm, h200_sxm, l40s; or give the path of a GPU catalog file (docs/formats.md)' -- \
  sweep --gpu z100 --out "$TMP/x" --no-progress
expect small_budget 1 'error: --gpus: a budget of 1 GPU(s) is too small for llama-3.1-70b in bf16 on h200_sxm: the smallest worker that fits is tp 2 x pp 1 (2 GPUs); use --gpus >= 2 or --dtype fp8' -- \
  sweep --model llama-3.1-70b --gpus 1 --out "$TMP/x" --no-progress
expect impossible_sla 1 '' -- sweep --model llama-3.1-8b --gpus 2 --isl 512 --osl 64 --ttft-ms 500 \
  --itl-ms 0.5 --requests 200 --seed 3 --no-progress --out "$TMP/imp"
contains impossible_reason "$TMP/err" "error: no topology can meet TTFT p90 <= 500 ms and ITL p90 <= 0.5 ms"
[ -s "$TMP/imp/results.sqlite" ] && [ ! -e "$TMP/imp/best_plan.json" ] && ok \
  || bad "an impossible SLA writes the results but no best plan"
expect bad_shard 1 'error: --shard 2/2: use i/N with 0 <= i < N, e.g. --shard 0/4' -- \
  sweep "${SMALL[@]}" --shard 2/2 --out "$TMP/x"
expect bad_mode 1 "error: --modes: unknown mode 'mixed'; use agg, disagg or agg,disagg" -- \
  sweep "${SMALL[@]}" --modes mixed --out "$TMP/x"
expect bad_router 1 "error: --router: unknown policy 'fastest'; use kv, round_robin, random or least_loaded (comma-separated)" -- \
  sweep "${SMALL[@]}" --router fastest --out "$TMP/x"
expect rate_with_workload 2 '' -- sweep --workload default --rate 3 --out "$TMP/x" --no-progress
mkdir -p "$TMP/precious" && echo keep >"$TMP/precious/notes.txt"
expect foreign_out 1 "error: --out $TMP/precious: holds files a sweep did not write (notes.txt); choose an empty or new directory" -- \
  sweep "${SMALL[@]}" --out "$TMP/precious"
[ "$(cat "$TMP/precious/notes.txt")" = keep ] && ok || bad "a foreign --out directory was touched"
[ ! -e "$TMP/x" ] && ok || bad "a failed sweep left $TMP/x"

# --- interrupted: exit 130, no output directory, no partial one ---
"$BIN" sweep --model llama-3.1-70b --gpus 64 --no-prune --no-progress --out "$TMP/int" \
  >"$TMP/out" 2>"$TMP/err" &
pid=$!
# Wait until the sweep is under way (its seed line), then interrupt it.
for _ in $(seq 1 200); do grep -q '^seed' "$TMP/err" && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] && ok || bad "interrupted sweep: exit $rc, expected 130; $(cat "$TMP/err")"
contains interrupted_message "$TMP/err" "error: interrupted; nothing written to $TMP/int"
[ ! -e "$TMP/int" ] && ! ls -A "$TMP" | grep -q '^\.int' && ok || bad "an interrupted sweep left files"

finish
