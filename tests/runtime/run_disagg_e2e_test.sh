#!/usr/bin/env bash
# End-to-end tests of dynamo-run serving a DISAGGREGATED plan on loopback: prefill workers compute
# the prompt and send the first token, decode workers pull the KV over UCX and continue the
# stream. Checks: curl (streaming and not, a one-token answer that needs no transfer), 200
# requests from dynamo-load open loop and 200 closed loop with every token, the KV-transfer
# metrics (one pull per request with more than one token, bytes = prompt x model bytes/token x
# scale), kill -9 of a prefill worker and of a decode worker mid-stream (every stream completes),
# refused transfers (--kv-refuse: every decode worker prefills itself, every request still
# completes), SIGTERM with no process left.
# Usage: run_disagg_e2e_test.sh DYNAMO_RUN DYNAMO_LOAD SOURCE_DIR
RUN=$1
LOAD=$2
SRC=$3
BIN=$RUN
source "$SRC/tests/cli/e2e_lib.sh"
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }

# Llama-3.1-8B: 32 layers x 8 KV heads x 128 x 2 (K, V) x 2 bytes = 131072 KV bytes per token.
PLAN=$TMP/plan.json
cat >"$PLAN" <<'JSON'
{ "model": "llama-3.1-8b",
  "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
  "workers": [{"role": "prefill", "replicas": 2, "tp": 1, "max_num_seqs": 64,
               "max_num_batched_tokens": 4096, "block_size": 16},
              {"role": "decode", "replicas": 2, "tp": 1, "max_num_seqs": 128,
               "max_num_batched_tokens": 4096, "block_size": 16}],
  "router": {"policy": "kv"} }
JSON
SCALE=0.0625  # 8 KiB per prompt token

source "$SRC/tests/runtime/run_lib.sh"
trap 'kill -KILL $SERVER_PID 2>/dev/null; rm -rf "$TMP"' EXIT
# metric NAME_WITH_LABELS : its value (0 when absent)
metric() {
  curl -s "$URL/metrics" | python3 -c "
import sys
want = sys.argv[1]
for line in sys.stdin:
    if line.startswith(want + ' '): print(line.split()[-1]); break
else: print(0)" "$1"
}
# load_ok NAME FILE N : dynamo-load's JSON summary says N completed, none failed or short
load_ok() {
  python3 -c "import json,sys; j=json.load(open('$2')); sys.exit(0 if j['completed']==$3 and j['failed']==0 and j['incomplete_outputs']==0 else 1)" \
    && ok || bad "$1: $(head -c 400 "$2")"
}

start_server "$TMP/run" --seed 3 --kv-bytes-scale $SCALE
M='model="llama-3.1-8b"'

# --- the API through prefill + decode ---
curl -s "$URL/health" >"$TMP/body"
python3 -c "import json,sys; j=json.load(open('$TMP/body')); r=sorted(i['role'] for i in j['instances']); sys.exit(0 if r==['decode','decode','prefill','prefill'] else 1)" \
  && ok || bad "health instances: $(head -c 400 "$TMP/body")"
curl -s -o "$TMP/body" -H 'Content-Type: application/json' \
  -d '{"model":"llama-3.1-8b","prompt":"one two three four five","max_tokens":9}' "$URL/v1/completions"
python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if j['usage']['completion_tokens']==9 and len(j['choices'][0]['text'].split())==9 else 1)" \
  && ok || bad "completion: $(head -c 400 "$TMP/body")"
# The answer does not depend on where the tokens were made: the same text again.
cp "$TMP/body" "$TMP/first.json"
curl -s -o "$TMP/body" -H 'Content-Type: application/json' \
  -d '{"model":"llama-3.1-8b","prompt":"one two three four five","max_tokens":9}' "$URL/v1/completions"
python3 -c "import json,sys; a=json.load(open('$TMP/first.json')); b=json.load(open('$TMP/body')); sys.exit(0 if a['choices'][0]['text']==b['choices'][0]['text'] else 1)" \
  && ok || bad "answers differ between runs"
curl -sN -H 'Content-Type: application/json' \
  -d '{"model":"llama-3.1-8b","prompt":"a b c d","max_tokens":12,"stream":true}' "$URL/v1/completions" >"$TMP/sse"
python3 - "$TMP/sse" <<'PY' && ok || bad "SSE through prefill + decode: $(head -c 600 "$TMP/sse")"
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert lines[-1] == "data: [DONE]"
chunks = [json.loads(l[6:]) for l in lines[:-1]]
assert len([c for c in chunks if c["choices"]]) == 12
assert chunks[-1]["usage"]["completion_tokens"] == 12
PY
# One token: the prefill worker's token is the whole answer; its KV is freed, never moved.
curl -s -o "$TMP/body" -H 'Content-Type: application/json' \
  -d '{"model":"llama-3.1-8b","prompt":"x y","max_tokens":1}' "$URL/v1/completions"
python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if j['usage']['completion_tokens']==1 else 1)" \
  && ok || bad "one-token answer: $(head -c 400 "$TMP/body")"
[ "$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"ok\"}")" = 3 ] && ok \
  || bad "3 KV pulls expected after 3 multi-token answers: $(curl -s "$URL/metrics" | grep kv_transfer)"

# --- 200 requests open loop, 200 closed loop (256-token prompts, 24-token answers) ---
LOADARGS=(--url "$URL" --requests 200 --isl 256 --osl 24 --seed 4 --no-progress --json)
"$LOAD" "${LOADARGS[@]}" --rate 40 >"$TMP/load.json" 2>"$TMP/load.err" \
  || bad "open-loop load: exit $? $(tail -n 3 "$TMP/load.err")"
load_ok open_loop "$TMP/load.json" 200
"$LOAD" "${LOADARGS[@]}" --concurrency 16 >"$TMP/load.json" 2>"$TMP/load.err" \
  || bad "closed-loop load: exit $? $(tail -n 3 "$TMP/load.err")"
load_ok closed_loop "$TMP/load.json" 200
pulls=$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"ok\"}")
fallbacks=$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"fallback\"}")
bytes=$(metric "dynamo_frontend_kv_transfer_bytes_total{$M}")
[ "$pulls" = 403 ] && [ "$fallbacks" = 0 ] && ok || bad "KV pulls: $pulls ok, $fallbacks fallbacks; expected 403 and 0"
# Each pull moves the prompt tokens the decode worker did not hold x 131072 x SCALE bytes: at
# most 403 x 256 x 8192, and the 256-token prompts alone are 400 x 256 x 8192.
python3 -c "import sys; b=float('$bytes'); sys.exit(0 if 0 < b <= 403*256*8192 else 1)" \
  && ok || bad "KV bytes moved: $bytes"

# --- kill -9 of a prefill worker, then of a decode worker, while 60 streams run ---
for role in prefill decode; do
  "$LOAD" --url "$URL" --requests 60 --isl 128 --osl 300 --concurrency 60 --seed 9 --no-progress --json \
    >"$TMP/kill.json" 2>"$TMP/kill.err" &
  LOAD_PID=$!
  sleep 1
  VICTIM=$(python3 -c "
import json, glob
regs = [json.load(open(f)) for f in sorted(glob.glob('$TMP/run/workers/*.json'))]
print([r for r in regs if r['role'] == '$role'][0]['pid'])")
  kill -KILL "$VICTIM" && ok || bad "could not kill the $role worker $VICTIM"
  wait "$LOAD_PID" || bad "streams across a killed $role worker: exit $? $(tail -n 3 "$TMP/kill.err")"
  load_ok "kill_$role" "$TMP/kill.json" 60
done
contains worker_left "$TMP/server.err" "left"

# --- SIGTERM: drains, exits 0, no worker process left ---
WORKERS=$(workers_of "$TMP/run")
stop_server
[ "$SERVER_RC" -eq 0 ] && ok || bad "SIGTERM: exit $SERVER_RC: $(tail -n 3 "$TMP/server.err")"
sleep 0.2
left=""
for p in $WORKERS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
[ -n "$WORKERS" ] && [ -z "$left" ] && ok || bad "workers still running after shutdown:$left (of $WORKERS)"
python3 -c "
import csv, sys
rows = list(csv.DictReader(open('$TMP/run/routing.csv')))
roles = {r['role'] for r in rows}
sys.exit(0 if roles == {'prefill', 'decode'} else 1)" && ok || bad "routing.csv roles: $(head -n 3 "$TMP/run/routing.csv")"

# --- every pull refused: decode workers prefill themselves; nothing is lost ---
start_server "$TMP/run2" --kv-refuse --kv-bytes-scale $SCALE
"$LOAD" --url "$URL" --requests 40 --isl 256 --osl 16 --rate 40 --seed 5 --no-progress --json \
  >"$TMP/load.json" 2>"$TMP/load.err" || bad "refused transfers: exit $? $(tail -n 3 "$TMP/load.err")"
load_ok refused_transfers "$TMP/load.json" 40
[ "$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"fallback\"}")" = 40 ] \
  && [ "$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"ok\"}")" = 0 ] && ok \
  || bad "fallbacks: $(curl -s "$URL/metrics" | grep kv_transfers_total)"
curl -s "$URL/health" >"$TMP/body"
python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if j['inflight']==0 else 1)" \
  && ok || bad "inflight after refused transfers: $(head -c 300 "$TMP/body")"
stop_server
[ "$SERVER_RC" -eq 0 ] && ok || bad "SIGTERM after refused transfers: exit $SERVER_RC"
contains fallback_stats "$TMP/server.out" "40 KV transfer fallback(s)"

# --- transfers without polling (--kv-poll-us 0, passed on to every worker): the fd alone ---
start_server "$TMP/run3" --kv-poll-us 0 --kv-bytes-scale $SCALE
polling=""
for p in $(workers_of "$TMP/run3"); do
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--kv-poll-us 0 " || polling="$polling $p"
done
[ -z "$polling" ] && ok || bad "workers without --kv-poll-us 0:$polling"
"$LOAD" --url "$URL" --requests 40 --isl 256 --osl 16 --rate 40 --seed 6 --no-progress --json \
  >"$TMP/load.json" 2>"$TMP/load.err" || bad "fd-only transfers: exit $? $(tail -n 3 "$TMP/load.err")"
load_ok fd_only_transfers "$TMP/load.json" 40
[ "$(metric "dynamo_frontend_kv_transfers_total{$M,result=\"ok\"}")" = 40 ] && ok \
  || bad "fd-only pulls: $(curl -s "$URL/metrics" | grep kv_transfers_total)"
stop_server
[ "$SERVER_RC" -eq 0 ] && ok || bad "SIGTERM after fd-only transfers: exit $SERVER_RC"

# --- plans dynamo-run refuses ---
python3 - "$TMP/plan.json" "$TMP/cond.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["disagg"] = {"conditional": True}
json.dump(p, open(sys.argv[2], "w"))
PY
expect conditional_refused 1 '' -- --plan "$TMP/cond.json" --port 0
contains conditional_message "$TMP/err" "conditional disaggregation"
finish
