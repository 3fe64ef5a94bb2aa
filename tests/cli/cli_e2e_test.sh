#!/usr/bin/env bash
# End-to-end tests of the dynamo-sim CLI: exit codes, exact error texts, JSON outputs.
# Usage: cli_e2e_test.sh DYNAMO_SIM SOURCE_DIR SHARED_DATA_DIR
set -uo pipefail
SIM=$1
SRC=$2
SHARED=$3
BIN=$SIM
source "$(dirname "$0")/e2e_lib.sh"

# --- success paths ---
expect model_json 0 '' -- describe model llama-3.1-70b --tp 4 --json
json_has model_json_keys total_params active_params layers kv_bytes_per_token worker
expect model_human 0 '' -- describe model deepseek-v3 --tp 8 --ep 8 --dtype fp8
expect model_path 0 '' -- describe model "$SRC/data/models/qwen3-32b/config.json"
expect gpu_json 0 '' -- describe gpu h200_sxm --json
json_has gpu_json_keys memory_bytes hbm_bandwidth_bytes_per_s dense_tflops sources
expect workload_json 0 '' -- describe workload default --json
json_has workload_json_keys requests duration_s mean_rate_rps mean_isl p50_isl p99_isl mean_osl p50_osl p99_osl prefix_reuse_ratio
expect cluster 0 '' -- describe cluster --gpu gb200 --nodes 36 --json
json_has cluster_json_keys gpus nvlink_domain_size paths
expect bundled_case 0 '' -- describe workload DEFAULT
expect help 0 '' -- --help
expect version 0 '' -- --version

# Same seed, same output; another seed, another.
"$SIM" describe workload default --json --seed 3 >"$TMP/a"
"$SIM" describe workload default --json --seed 3 >"$TMP/b"
"$SIM" describe workload default --json --seed 4 >"$TMP/c"
if cmp -s "$TMP/a" "$TMP/b" && ! cmp -s "$TMP/a" "$TMP/c"; then ok; else bad "seed determinism"; fi

# --- bad usage: exit 2 ---
expect no_subcommand 2 'A subcommand is required' -- describe
expect bad_flag_value 2 'Could not convert: --tp = x' -- describe model llama-3.1-8b --tp x
expect unknown_flag 2 'The following argument was not expected: --bogus' -- describe gpu h200_sxm --bogus
expect scale_and_rate 2 '--time-scale excludes --rate' -- describe workload x.jsonl --time-scale 2 --rate 3

# --- bad input: exit 1, exact messages ---
expect unknown_model 1 "error: unknown model 'nope'; bundled: deepseek-v3, gpt-oss-120b, llama-3.1-70b, llama-3.1-8b, mistral-7b, mixtral-8x7b, qwen2.5-0.5b, qwen2.5-7b, qwen3-235b-a22b, qwen3-32b; or give a path to a JSON file" -- describe model nope
expect bad_tp 1 'error: --tp/--pp/--ep: tp: 3 does not divide 64 attention heads of llama-3.1-70b; use one of 1, 2, 4, 8, 16, 32, 64' -- describe model llama-3.1-70b --tp 3
expect bad_dtype 1 "error: unknown dtype 'int3'; use one of fp32, bf16, fp16, fp8, fp4" -- describe model llama-3.1-8b --dtype int3
expect unknown_gpu 1 "error: unknown GPU 'h300'; bundled: a100_sxm_80g, b200_sxm, gb200, h100_sxm, h200_sxm, l40s; or give a path to a JSON file" -- describe gpu h300

printf '{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 0}' >"$TMP/config.json"
expect bad_config 1 "error: $TMP/config.json: \$.num_hidden_layers: 0 is out of range; must be in [1, 10000]" -- describe model "$TMP/config.json"
printf '{"architectures": ["LlamaForCausalLM"],\n  "hidden_size": 4096,,\n}' >"$TMP/syntax.json"
expect json_syntax 1 '' -- describe model "$TMP/syntax.json"
grep -q "^error: $TMP/syntax.json:2:23: invalid JSON: " "$TMP/err" && ok || bad "json_syntax location: $(cat "$TMP/err")"

printf '{"requests": 5, "arrival": {"process": "poisson", "rate_rps": -2}, "isl": 10, "osl": 2}' >"$TMP/neg.json"
expect negative_rate 1 "error: $TMP/neg.json: \$.arrival.rate_rps: -2 is out of range; must be > 0" -- describe workload "$TMP/neg.json"
printf '{"timestamp": 0, "input_length": 10, "output_length": 1}\n{"timestamp": 5, "input_length": 10}\n' >"$TMP/t.jsonl"
expect trace_line 1 "error: $TMP/t.jsonl:2: field 'output_length': missing; expected an integer >= 1" -- describe workload "$TMP/t.jsonl"
expect missing_file 1 "error: $TMP/none.jsonl: cannot open: No such file or directory" -- describe workload "$TMP/none.jsonl"
expect wrong_ext 1 "error: $SRC/README.md: unknown workload file type; use .json (a spec), .jsonl (Mooncake trace) or .csv (Azure trace)" -- describe workload "$SRC/README.md"
expect spec_rate 1 "error: data/workloads/default.json: --first, --time-scale and --rate apply to traces; edit the spec's 'requests' or 'arrival' instead" -- describe workload default --rate 3
head -c 3000 /dev/urandom >"$TMP/garbage.csv"
expect garbage_csv 1 '' -- describe workload "$TMP/garbage.csv"

# --- real traces (skipped without ../shared/data) ---
if [ -f "$SHARED/traces/mooncake/conversation_trace.jsonl" ]; then
  expect mooncake 0 '' -- describe workload "$SHARED/traces/mooncake/conversation_trace.jsonl" --json
  python3 -c "import json,sys; j=json.load(open('$TMP/out')); sys.exit(0 if j['requests']==12031 and 0<j['prefix_reuse_ratio']<1 else 1)" \
    && ok || bad "mooncake figures"
  expect azure 0 '' -- describe workload "$SHARED/traces/azure2023/AzureLLMInferenceTrace_code.csv" --first 100 --rate 2
else
  echo "skipped: real traces (../shared/data absent)"
fi

finish
