#!/usr/bin/env bash
# End-to-end tests of dynamo-config: every target on the bundled plans, exit codes, exact error
# texts, and outputs complete or absent (an error leaves no --out directory and no temporary
# directory behind).
# With DYNAMO_SIM, the emitted sweep job is also run locally (every shard, then the merge job)
# to check that its command lines are ones dynamo-sim accepts.
# Usage: config_e2e_test.sh DYNAMO_CONFIG SOURCE_DIR [DYNAMO_SIM]
set -uo pipefail
BIN=$1
SRC=$2
SIM=${3:-}
source "$(dirname "$0")/e2e_lib.sh"
cd "$TMP" || exit 1

# absent NAME DIR : DIR does not exist and no temporary directory is left beside it.
absent() {
  if [ -e "$2" ]; then
    bad "$1: $2 exists"
  elif ls -a "$(dirname "$2")" | grep -q -- "^\.$(basename "$2")\.tmp-"; then
    bad "$1: temporary directory left beside $2"
  else
    ok
  fi
}
# has_files NAME DIR FILE... : DIR holds exactly these files.
has_files() {
  local name=$1 dir=$2
  shift 2
  local want got
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  got=$(ls -A "$dir" 2>/dev/null | sort | tr '\n' ' ')
  if [ "$want" = "$got" ]; then ok; else bad "$name: files '$got', expected '$want'"; fi
}

# --- every target on the bundled plans ---
for plan in llama70b_agg llama70b_disagg llama70b_disagg_2node llama8b_agg; do
  for backend in vllm sglang trtllm; do
    expect "dynamo_${plan}_$backend" 0 '' -- --plan "$plan" --target dynamo --backend "$backend" \
      --out "gen/dynamo-$plan-$backend"
    has_files "dynamo_${plan}_${backend}_files" "gen/dynamo-$plan-$backend" \
      dynamo-graph-deployment.yaml README.md plan.json
  done
  expect "k8s_$plan" 0 '' -- --plan "$plan" --target k8s --out "gen/k8s-$plan"
  has_files "k8s_${plan}_files" "gen/k8s-$plan" k8s.yaml README.md plan.json
  expect "local_$plan" 0 '' -- --plan "$plan" --target local --out "gen/local-$plan"
  has_files "local_${plan}_files" "gen/local-$plan" run_local.sh README.md plan.json
done
expect sweep 0 '' -- --target k8s-sweep --out gen/sweep --shards 8 --pvc my-results \
  --sweep-args "--model llama-3.1-70b --gpus 16 --isl 3000 --osl 150"
has_files sweep_files gen/sweep sweep-job.yaml merge-job.yaml pvc.yaml README.md
contains sweep_stdout "$TMP/out" "dynamo-config: wrote gen/sweep (--target k8s-sweep): sweep-job.yaml, merge-job.yaml, pvc.yaml, README.md"
contains sweep_shard gen/sweep/sweep-job.yaml '- $(JOB_COMPLETION_INDEX)/8'
contains sweep_out gen/sweep/sweep-job.yaml '- /results/shard-$(JOB_COMPLETION_INDEX)'
contains sweep_indexed gen/sweep/sweep-job.yaml 'completionMode: Indexed'
contains sweep_completions gen/sweep/sweep-job.yaml 'completions: 8'
contains sweep_parallelism gen/sweep/sweep-job.yaml 'parallelism: 8'
contains sweep_pvc gen/sweep/sweep-job.yaml 'claimName: my-results'
contains sweep_merge gen/sweep/merge-job.yaml 'exec dynamo-sim merge /results/shard-* --out /results/merged'

# The sweep job's command lines run: each shard as Kubernetes would start it (index substituted,
# /results on a local directory), then the merge job's shell command.
if [ -n "$SIM" ]; then
  expect sweep_tiny 0 '' -- --target k8s-sweep --out gen/tiny --shards 2 --sweep-args \
    "--model qwen2.5-0.5b --gpus 1 --requests 10 --modes agg --router round_robin --isl 64 --osl 8 --threads 1"
  mkdir -p results
  # The container's args: the "- " items between "args:" and "env:", unquoted.
  args=()
  while IFS= read -r line; do
    v=${line#*- }
    if [[ $v == \"*\" ]]; then v=${v:1:${#v}-2}; v=${v//\\\"/\"}; fi
    args+=("$v")
  done < <(sed -n '/^ *args:$/,/^ *env:$/p' gen/tiny/sweep-job.yaml | grep '^ *- ')
  for i in 0 1; do
    shard_args=()
    for a in "${args[@]}"; do
      a=${a//\$(JOB_COMPLETION_INDEX)/$i}
      shard_args+=("${a//\/results/$TMP/results}")
    done
    if "$SIM" "${shard_args[@]}" >"$TMP/sim.log" 2>&1; then ok; else bad "shard $i: $SIM ${shard_args[*]}: $(tail -3 "$TMP/sim.log")"; fi
  done
  merge=$(sed -n 's/^ *- exec dynamo-sim /exec "$SIM" /p' gen/tiny/merge-job.yaml)
  merge=${merge//\/results/$TMP/results}
  if SIM=$SIM sh -c "$merge" >"$TMP/sim.log" 2>&1 && [ -f results/merged/best_plan.json ]; then
    ok
  else
    bad "merge job: $merge: $(tail -3 "$TMP/sim.log")"
  fi
else
  echo "skipped: running the sweep job (no dynamo-sim given)"
fi

# The dynamo target's content: services, GPUs, multinode, secrets by reference.
D=gen/dynamo-llama70b_disagg-vllm/dynamo-graph-deployment.yaml
contains dgd_kind "$D" 'kind: DynamoGraphDeployment'
contains dgd_prefill "$D" 'subComponentType: prefill'
contains dgd_decode "$D" 'subComponentType: decode'
contains dgd_gpu "$D" 'gpu: "4"'
contains dgd_secret "$D" 'envFromSecret: hf-token-secret'
contains dgd_model "$D" '- meta-llama/Llama-3.1-70B-Instruct'
contains dgd_nixl "$D" 'NixlConnector'
expect dgd_again 0 '' -- --plan llama8b_agg --target dynamo --backend trtllm --out gen/again
contains dgd_stdout "$TMP/out" "dynamo-config: wrote gen/again (--target dynamo, --backend trtllm): dynamo-graph-deployment.yaml, README.md, plan.json"
cmp -s gen/dynamo-llama70b_agg-vllm/plan.json gen/k8s-llama70b_agg/plan.json && ok || bad "plan.json differs between targets"

# Flags reach the manifests.
expect flags 0 '' -- --plan llama70b_agg --target dynamo --backend sglang --out gen/flags \
  --namespace serving --image registry.example.com/dyn:7 --model-id org/model --name prod-70b
contains flags_ns gen/flags/dynamo-graph-deployment.yaml '  namespace: serving'
contains flags_name gen/flags/dynamo-graph-deployment.yaml '  name: prod-70b'
contains flags_image gen/flags/dynamo-graph-deployment.yaml 'image: registry.example.com/dyn:7'
contains flags_model gen/flags/dynamo-graph-deployment.yaml '- org/model'

# A plan with the planner, a kv router and a multinode worker.
cat >planner.json <<'EOF'
{"model": "llama-3.1-70b", "system": {"gpu": "h200_sxm", "nodes": 3},
 "workers": [{"role": "prefill", "replicas": 1, "tp": 8, "pp": 2},
             {"role": "decode", "replicas": 1, "tp": 4}],
 "router": {"policy": "kv", "overlap_weight": 2, "temperature": 0.25},
 "planner": {"enabled": true, "ttft_ms": 300, "itl_ms": 20}}
EOF
expect planner 0 '' -- --plan planner.json --target dynamo --backend vllm --out gen/planner
P=gen/planner/dynamo-graph-deployment.yaml
contains planner_service "$P" 'componentType: planner'
contains planner_config "$P" '\"ttft\":300.0,\"itl\":20.0'
contains planner_multinode "$P" 'nodeCount: 2'
contains planner_router "$P" '- --kv-overlap-score-weight'
contains planner_temperature "$P" '- --router-temperature'

# run_local.sh: executable, strict bash, runs dynamo-run on the plan beside it.
L=gen/local-llama8b_agg/run_local.sh
[ -x "$L" ] && ok || bad "run_local.sh is not executable"
bash -n "$L" && ok || bad "run_local.sh: bash syntax"
contains local_strict "$L" 'set -euo pipefail'
printf '#!/bin/sh\necho "$@"\n' >fake-dynamo-run
chmod +x fake-dynamo-run
mv gen/local-llama8b_agg moved-local # the directory moves as a whole
got=$(DYNAMO_RUN="$TMP/fake-dynamo-run" PORT=9001 moved-local/run_local.sh --extra 2>&1)
want="--plan $TMP/moved-local/plan.json --engine mock --host 127.0.0.1 --port 9001 --run-dir $TMP/moved-local/run --extra"
[ "$got" = "$want" ] && ok || bad "run_local.sh ran: '$got', expected '$want'"
DYNAMO_RUN=/nonexistent/dynamo-run moved-local/run_local.sh >/dev/null 2>&1
[ $? -eq 127 ] && ok || bad "run_local.sh without dynamo-run: expected exit 127"

expect help 0 '' -- --help
expect version 0 '' -- --version
contains version_text "$TMP/out" 'dynamo-config 0.1.0'

# --- complete or absent; --force ---
mkdir -p gen/full
echo mine >gen/full/keep.txt
expect not_empty 1 "error: --out gen/full: the directory exists and holds 1 entry; pass --force to replace it as a whole, or choose a new directory" -- --plan llama70b_agg --target k8s --out gen/full
[ "$(cat gen/full/keep.txt)" = mine ] && ok || bad "refused --out was modified"
expect force 0 '' -- --plan llama70b_agg --target k8s --out gen/full --force
has_files force_files gen/full k8s.yaml README.md plan.json
mkdir -p gen/empty
expect empty_dir 0 '' -- --plan llama70b_agg --target local --out gen/empty
has_files empty_dir_files gen/empty run_local.sh README.md plan.json
echo x >gen/afile
expect file_in_the_way 1 "error: --out gen/afile: exists and is not a directory; choose another --out" -- --plan llama70b_agg --target k8s --out gen/afile --force
expect cwd 1 "error: --out .: is the working directory or holds it, and cannot be replaced as a whole; name a new directory, e.g. --out deploy/" -- --plan llama70b_agg --target k8s --out . --force

# --- bad usage (CLI11): exit 2 ---
expect bad_target 2 '--target: helm not in {dynamo,k8s,local,k8s-sweep}' -- --plan llama70b_agg --target helm --out gen/x
absent bad_target_out gen/x
expect bad_backend 2 '--backend: tgi not in {vllm,sglang,trtllm}' -- --plan llama70b_agg --target dynamo --backend tgi --out gen/x
expect no_out 2 '--out is required' -- --plan llama70b_agg --target k8s
expect no_target 2 '--target is required' -- --plan llama70b_agg --out gen/x
expect bad_shards 2 '--shards: Value 0 not in range 1 to 100000' -- --target k8s-sweep --shards 0 --sweep-args "--gpus 8" --out gen/x
expect unknown_flag 2 'The following argument was not expected: --bogus' -- --target k8s --out gen/x --bogus
absent usage_out gen/x

# --- bad input: exit 1, exact messages, nothing written ---
expect unknown_plan 1 "error: unknown plan 'nope'; bundled: llama70b_agg, llama70b_disagg, llama70b_disagg_2node, llama8b_agg; or give a path to a JSON file" -- --plan nope --target dynamo --backend vllm --out gen/x
absent unknown_plan_out gen/x
printf '{"model": "llama-3.1-70b", "workers": [{"tp": 3}]}' >bad_tp.json
expect bad_plan 1 "error: bad_tp.json: \$.workers[0].tp: 3 does not divide 64 attention heads of llama-3.1-70b; use one of 1, 2, 4, 8, 16, 32, 64" -- --plan bad_tp.json --target k8s --out gen/x
absent bad_plan_out gen/x
expect no_plan 1 "error: --plan: missing; --target local emits a deployment of a plan: pass a bundled plan name (e.g. llama70b_disagg) or a plan.json path" -- --target local --out gen/x
expect no_backend 1 "error: --backend: missing; --target dynamo needs the engine the workers run: pass --backend vllm, sglang or trtllm" -- --plan llama70b_agg --target dynamo --out gen/x
expect sweep_no_args 1 "error: --sweep-args: missing; --target k8s-sweep runs \`dynamo-sim sweep ARGS\` in every shard and needs the sweep's flags, e.g. --sweep-args \"--model llama-3.1-70b --gpu h200_sxm --gpus 16 --isl 3000 --osl 150\"" -- --target k8s-sweep --out gen/x
expect sweep_shard 1 "error: --sweep-args \"--gpus 8 --shard 1/2\": contains --shard; the job sets --shard \$(JOB_COMPLETION_INDEX)/N itself, one shard per completion index; remove it and choose N with --shards" -- --target k8s-sweep --out gen/x --sweep-args "--gpus 8 --shard 1/2"
expect sweep_out 1 "error: --sweep-args \"--gpus 8 --out=/tmp/r\": contains --out=/tmp/r; the job writes shard i to /results/shard-i on the claim of --pvc; remove it" -- --target k8s-sweep --out gen/x --sweep-args "--gpus 8 --out=/tmp/r"
expect sweep_quote 1 "error: --sweep-args \"--workload 'a b\": unterminated ' quote at character 12; quote as in a shell" -- --target k8s-sweep --out gen/x --sweep-args "--workload 'a b"
expect sweep_plan 1 "error: --plan llama70b_agg: does not apply to --target k8s-sweep (the sweep's inputs go in --sweep-args); drop it" -- --target k8s-sweep --plan llama70b_agg --sweep-args "--gpus 8" --out gen/x
expect shards_elsewhere 1 "error: --shards: applies to --target k8s-sweep only, not --target dynamo; drop it" -- --plan llama70b_agg --target dynamo --backend vllm --shards 2 --out gen/x
expect pvc_elsewhere 1 "error: --pvc: applies to --target k8s-sweep only, not --target k8s; drop it" -- --plan llama70b_agg --target k8s --pvc r --out gen/x
expect bad_name 1 "error: --name: \"Llama_70B\" is not a valid name; use at most 45 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. llama70b-disagg)" -- --plan llama70b_agg --target k8s --name Llama_70B --out gen/x
expect bad_namespace 1 "error: --namespace: \"Prod\" is not a Kubernetes namespace name; use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. dynamo)" -- --plan llama70b_agg --target k8s --namespace Prod --out gen/x
mkdir -p models/custom
cp "$SRC/data/models/llama-3.1-8b/config.json" models/custom/config.json
printf '{"model": {"hf_config": "models/custom"}, "workers": [{"tp": 1}]}' >hf.json
expect hf_no_model_id 1 "error: --model-id: missing; the plan hf.json gives its model as {\"hf_config\": \"$TMP/models/custom\"}, which names no Hugging Face repository; pass --model-id with the repository (e.g. --model-id meta-llama/Llama-3.1-8B-Instruct) or a path inside the image" -- --plan hf.json --target dynamo --backend vllm --out gen/x
expect hf_model_id 0 '' -- --plan hf.json --target dynamo --backend vllm --model-id my-org/custom-8b --out gen/hf
contains hf_model_id_used gen/hf/dynamo-graph-deployment.yaml '- my-org/custom-8b'
expect hf_k8s 0 '' -- --plan hf.json --target k8s --out gen/hf-k8s
cat >wide.json <<'EOF'
{"model": "llama-3.1-70b", "system": {"gpu": "h200_sxm", "nodes": 2},
 "workers": [{"role": "agg", "tp": 8, "pp": 2}]}
EOF
expect k8s_too_wide 1 "error: --target k8s: pool 0 of wide.json needs 16 GPUs per worker (tp 8 x pp 2), more than one node's 8; a plain Deployment pod cannot span nodes; use --target dynamo (multinode workers) or a plan with tp x pp <= 8" -- --plan wide.json --target k8s --out gen/x
absent bad_input_out gen/x
expect wide_dynamo 0 '' -- --plan wide.json --target dynamo --backend vllm --out gen/wide
contains wide_multinode gen/wide/dynamo-graph-deployment.yaml 'nodeCount: 2'

finish
