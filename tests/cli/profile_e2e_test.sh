#!/usr/bin/env bash
# End-to-end tests of the dynamo-profile CLI: exit codes, exact error texts, JSON outputs,
# a tiny CPU profile that resumes, an import, queries in every mode.
# Usage: profile_e2e_test.sh DYNAMO_PROFILE SOURCE_DIR SHARED_DATA_DIR
set -uo pipefail
PROF=$1
SRC=$2
SHARED=$3
BIN=$PROF
source "$(dirname "$0")/e2e_lib.sh"

# --- analytic mode ---
expect analytic_gemm 0 '' -- query --gpu h200_sxm --op gemm --m 4096 --n 4096 --k 4096 --json
check analytic_gemm_json "j['source'] == 'analytic' and j['latency_us'] > 0"
expect analytic_decode 0 '' -- query --gpu h100_sxm --op attn_decode --batch 64 --kv-len 4096 --heads 8 --kv-heads 1 --json
check analytic_decode_json "j['source'] == 'analytic'"
expect analytic_ar 0 '' -- query --gpu h200_sxm --op allreduce --gpus 8 --bytes 1048576 --json
check analytic_ar_json "j['source'] == 'analytic' and j['latency_us'] > 1"

# --- bad input ---
expect missing_m 1 'error: --m: required for this --op and must be >= 1' -- query --gpu h200_sxm --op gemm --n 4 --k 4
expect bad_op 1 "error: --op: 'conv' unknown; use gemm, attn_context, attn_decode, allreduce, allgather, reducescatter or alltoall" -- query --gpu h200_sxm --op conv
expect bad_dtype 1 "error: --dtype: unknown dtype 'fp9'; use one of fp32, bf16, fp16, fp8, fp4" -- query --gpu h200_sxm --op gemm --m 1 --n 1 --k 1 --dtype fp9
expect bad_gpu 1 '' -- query --gpu h900 --op gemm --m 1 --n 1 --k 1
expect no_db 1 "error: $TMP/none.sqlite: performance database not found; create one with \`dynamo-profile run\` or \`dynamo-profile import-aiconfigurator\`" -- query "$TMP/none.sqlite" --op gemm --m 1 --n 1 --k 1
head -c 5000 /dev/urandom >"$TMP/garbage.sqlite"
expect garbage_db 1 '' -- query "$TMP/garbage.sqlite" --op gemm --m 1 --n 1 --k 1
contains garbage_db "$TMP/err" "not a SQLite database"
expect kv_less_than_q 1 'error: attn_context bf16 kv=bf16 batch=1 q=512 kv_len=100 heads=8/8 hd=128: kv_len: 100 is less than q_len 512; kv_len counts the cached prefix plus the chunk' -- query --gpu h200_sxm --op attn_context --q-len 512 --kv-len 100 --heads 8
expect no_fit 1 'error: llama-3.1-70b does not fit on h100_sxm with tp 1, pp 1: weights 131.4 GiB + activations 2.2 GiB + runtime 1.0 GiB leave no KV-cache room in the 71.7 GiB budget (gpu_memory_utilization 0.90 of 79.6 GiB); use tp >= 2 or fp8 weights' -- estimate --gpu h100_sxm --model llama-3.1-70b --tp 1
expect bad_prefill 1 "error: --prefill: '10x' is not Q or Q:KV (tokens)" -- estimate --gpu h100_sxm --model llama-3.1-8b --prefill 10x
expect upgrade_missing 1 "error: $TMP/none.sqlite: no such database" -- upgrade "$TMP/none.sqlite"
expect usage 2 '' -- query --gpu h200_sxm
expect estimate_json 0 '' -- estimate --gpu h100_sxm --model llama-3.1-8b --prefill 512,128:2048 --decode 16 --json
check estimate_json_keys "j['step_ms'] > 0 and j['source'] == 'analytic' and j['memory']['kv_blocks'] > 0"

# --- import: a tiny table set ---
mkdir -p "$TMP/aic"
printf 'kernel_source,gemm_dtype,m,n,k,latency\nx,bfloat16,16,4096,4096,0.0125\nx,bfloat16,64,4096,4096,0.02\n' >"$TMP/aic/gemm_perf_vllm_0.14.0.csv"
expect import_bad_gpu 1 '' -- import-aiconfigurator "$TMP/aic" --gpu h900 --out "$TMP/imp.sqlite"
[ ! -e "$TMP/imp.sqlite" ] && ok || bad "import_bad_gpu left a file"
expect import 0 '' -- import-aiconfigurator "$TMP/aic" --gpu h200_sxm --out "$TMP/imp.sqlite"
expect query_measured 0 '' -- query "$TMP/imp.sqlite" --op gemm --m 16 --n 4096 --k 4096 --json
check query_measured_json "j['source'] == 'measured' and abs(j['latency_us'] - 12.5) < 1e-9"
expect query_interp 0 '' -- query "$TMP/imp.sqlite" --op gemm --m 32 --n 4096 --k 4096 --json
check query_interp_json "j['source'] == 'interpolated' and 12.5 < j['latency_us'] < 20"
expect query_extrap 0 '' -- query "$TMP/imp.sqlite" --op gemm --m 8192 --n 4096 --k 4096 --json
check query_extrap_json "j['source'] == 'extrapolated'"
expect query_gpu_conflict 1 '' -- query "$TMP/imp.sqlite" --gpu h100_sxm --op gemm --m 1 --n 1 --k 1
expect show_json 0 '' -- show "$TMP/imp.sqlite" --json
check show_json_rows "j['devices'][0]['tables']['gemm']['rows'] == 2 and j['schema_version'] >= 1"
expect show_bad_device 1 '' -- show "$TMP/imp.sqlite" --device nope

# --- a tiny CPU profile, interrupted by --max-points, then resumed ---
expect cpu_partial 0 '' -- run --backend cpu --models qwen2.5-0.5b --tp 1 --quick --max-gflop 0.02 --repetitions 3 --warmup 0 --max-points 3 --no-progress --out "$TMP/cpu.sqlite"
contains cpu_partial "$TMP/out" "3 measured now, 0 already"
expect cpu_resume 0 '' -- run --backend cpu --models qwen2.5-0.5b --tp 1 --quick --max-gflop 0.02 --repetitions 3 --warmup 0 --no-progress --out "$TMP/cpu.sqlite"
contains cpu_resume "$TMP/out" "3 already in the database"
expect cpu_query 0 '' -- query "$TMP/cpu.sqlite" --op gemm --dtype fp32 --m 8 --n 896 --k 896 --json
check cpu_query_json "j['source'] in ('measured', 'interpolated', 'extrapolated') and j['latency_us'] > 0"
expect cpu_bad_model 1 "error: unknown model 'nope'; bundled: deepseek-v3, gpt-oss-120b, llama-3.1-70b, llama-3.1-8b, mistral-7b, mixtral-8x7b, qwen2.5-0.5b, qwen2.5-7b, qwen3-235b-a22b, qwen3-32b; or give a path to a JSON file" -- run --backend cpu --models nope --out "$TMP/x.sqlite"

# --- the CUDA backend without a GPU: a clear error, never a crash ---
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  expect cuda_no_gpu 1 '' -- run --backend cuda --models llama-3.1-8b --quick --out "$TMP/cuda.sqlite"
  grep -Eq "no CUDA device|no CUDA backend" "$TMP/err" && ok || bad "cuda_no_gpu text: $(cat "$TMP/err")"
fi

# --- real tables (skipped without ../shared/data) ---
if [ -d "$SHARED/perf-reference/aiconfigurator/h200_sxm" ]; then
  expect import_h200 0 '' -- import-aiconfigurator "$SHARED/perf-reference/aiconfigurator/h200_sxm" --gpu h200_sxm --out "$TMP/h200.sqlite"
  contains import_h200 "$TMP/out" "imported 93025 rows"
  expect h200_query 0 '' -- query "$TMP/h200.sqlite" --op attn_context --batch 1 --q-len 512 --kv-len 4096 --heads 32 --kv-heads 8 --json
  check h200_query_json "j['source'] == 'extrapolated' and 20 < j['latency_us'] < 1000"
else
  echo "skipped: AIConfigurator tables (../shared/data absent)"
fi

finish
