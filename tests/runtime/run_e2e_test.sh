#!/usr/bin/env bash
# End-to-end tests of dynamo-run on loopback: the OpenAI API with curl (streaming and not, every
# error shape), 200 requests from dynamo-load (open and closed loop, streaming), the faults of
# issue 7 (kill -9 of a worker mid-stream, a client that disconnects, malformed and enormous
# bodies, a slow-loris client) and a clean SIGTERM that leaves no process behind.
# Usage: run_e2e_test.sh DYNAMO_RUN DYNAMO_LOAD SOURCE_DIR
RUN=$1
LOAD=$2
SRC=$3
BIN=$RUN
source "$SRC/tests/cli/e2e_lib.sh"
command -v curl >/dev/null || { echo "curl not installed: skipped"; exit 77; }

PLAN=$TMP/plan.json
cat >"$PLAN" <<'JSON'
{ "model": "llama-3.1-8b",
  "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
  "workers": [{"role": "agg", "replicas": 3, "tp": 1, "max_num_seqs": 64,
               "max_num_batched_tokens": 4096, "block_size": 16}],
  "router": {"policy": "kv"} }
JSON

source "$SRC/tests/runtime/run_lib.sh"
trap 'kill -KILL $SERVER_PID 2>/dev/null; rm -rf "$TMP"' EXIT

# http NAME CODE METHOD PATH [BODY] : the status code and the body in $TMP/body
http() {
  local name=$1 code=$2 method=$3 path=$4 body=${5:-}
  local got
  if [ -n "$body" ]; then
    got=$(curl -s -o "$TMP/body" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
      --data-binary "$body" "$URL$path")
  else
    got=$(curl -s -o "$TMP/body" -w '%{http_code}' -X "$method" "$URL$path")
  fi
  if [ "$got" = "$code" ]; then ok; else bad "$name: HTTP $got, expected $code: $(head -c 300 "$TMP/body")"; fi
}
# body_check NAME PYTHON_EXPRESSION : j = $TMP/body as JSON
body_check() {
  if python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if ($2) else 1)"; then
    ok
  else
    bad "$1: $2; body: $(head -c 300 "$TMP/body")"
  fi
}

start_server "$TMP/run" --seed 5
contains seed_printed "$TMP/server.out" "seed: 5"

# --- the API ---
http models 200 GET /v1/models
body_check models_body "j['object']=='list' and j['data'][0]['id']=='llama-3.1-8b'"
http health 200 GET /health
body_check health_body "j['status']=='healthy' and len(j['instances'])==3"
http completion 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"hello there world","max_tokens":7}'
body_check completion_body "j['object']=='text_completion' and j['usage']=={'prompt_tokens':3,'completion_tokens':7,'total_tokens':10} and j['choices'][0]['finish_reason']=='length' and len(j['choices'][0]['text'].split())==7"
cp "$TMP/body" "$TMP/first.json"
http completion_again 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"hello there world","max_tokens":7}'
python3 -c "import json,sys; a=json.load(open('$TMP/first.json')); b=json.load(open('$TMP/body')); sys.exit(0 if a['choices'][0]['text']==b['choices'][0]['text'] else 1)" \
  && ok || bad "the mock engine's tokens are not deterministic"
http chat 200 POST /v1/chat/completions '{"model":"llama-3.1-8b","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5}'
body_check chat_body "j['object']=='chat.completion' and j['choices'][0]['message']['role']=='assistant' and j['usage']['completion_tokens']==5"
http token_prompt 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":[1000,1001,1002,1003],"max_tokens":3}'
body_check token_prompt_body "j['usage']['prompt_tokens']==4"

# Streaming: one data line per token, usage on the last content chunk, then [DONE].
curl -sN -H 'Content-Type: application/json' -d '{"model":"llama-3.1-8b","prompt":"a b c d","max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}' \
  "$URL/v1/completions" >"$TMP/sse"
python3 - "$TMP/sse" <<'PY' && ok || bad "SSE stream: $(head -c 600 "$TMP/sse")"
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert all(l.startswith("data: ") for l in lines), lines[:3]
assert lines[-1] == "data: [DONE]"
chunks = [json.loads(l[6:]) for l in lines[:-1]]
content = [c for c in chunks if c["choices"]]
assert len(content) == 12, len(content)
assert content[-1]["choices"][0]["finish_reason"] == "length"
assert content[-1]["usage"]["completion_tokens"] == 12
assert all(c["choices"][0]["finish_reason"] is None for c in content[:-1])
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 4
PY
curl -sN -H 'Content-Type: application/json' -d '{"model":"llama-3.1-8b","messages":[{"role":"user","content":"x"}],"max_tokens":4,"stream":true}' \
  "$URL/v1/chat/completions" >"$TMP/sse_chat"
python3 - "$TMP/sse_chat" <<'PY' && ok || bad "chat SSE stream: $(head -c 600 "$TMP/sse_chat")"
import json, sys
lines = [l for l in open(sys.argv[1]).read().split("\n") if l]
assert lines[-1] == "data: [DONE]"
chunks = [json.loads(l[6:]) for l in lines[:-1]]
assert chunks[0]["object"] == "chat.completion.chunk"
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 4
assert "usage" in chunks[-1]
PY

# --- bad requests: OpenAI-shaped errors naming the field ---
http bad_json 400 POST /v1/completions '{"model": "llama-3.1-8b", "prompt": '
body_check bad_json_body "j['error']['code']==400 and 'JSON' in j['error']['message']"
http bad_type 400 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"x","max_tokens":"ten"}'
body_check bad_type_body "j['error']['param']=='max_tokens' and 'integer' in j['error']['message']"
http bad_model 404 POST /v1/completions '{"model":"gpt-5","prompt":"x"}'
body_check bad_model_body "'gpt-5' in j['error']['message'] and 'llama-3.1-8b' in j['error']['message']"
http no_messages 400 POST /v1/chat/completions '{"model":"llama-3.1-8b","messages":[]}'
http wrong_method 405 GET /v1/completions
http no_route 404 GET /v2/nothing
python3 -c "print('{\"model\":\"llama-3.1-8b\",\"prompt\":\"' + 'x '*700000 + '\"}')" >"$TMP/huge.json"
got=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/huge.json" "$URL/v1/completions")
[ "$got" = 413 ] && ok || bad "enormous body: HTTP $got, expected 413"
http too_long 400 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"x","max_tokens":100000000}'
http still_serving 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"x","max_tokens":2}'

# --- 200 requests from the load generator: open loop, then closed loop ---
LOADARGS=(--url "$URL" --requests 200 --isl 256 --osl 32 --seed 4 --no-progress --json)
"$LOAD" "${LOADARGS[@]}" --rate 40 >"$TMP/load.json" 2>"$TMP/load.err" && ok \
  || bad "open-loop load: exit $? $(tail -n 3 "$TMP/load.err")"
python3 -c "import json,sys; j=json.load(open('$TMP/load.json')); sys.exit(0 if j['completed']==200 and j['failed']==0 and j['incomplete_outputs']==0 else 1)" \
  && ok || bad "open-loop load: $(head -c 400 "$TMP/load.json")"
"$LOAD" "${LOADARGS[@]}" --concurrency 16 >"$TMP/load.json" 2>"$TMP/load.err" && ok \
  || bad "closed-loop load: exit $? $(tail -n 3 "$TMP/load.err")"
curl -s "$URL/metrics" >"$TMP/metrics"
for m in dynamo_frontend_time_to_first_token_seconds_bucket dynamo_frontend_inter_token_latency_seconds_count \
         dynamo_frontend_request_duration_seconds_sum dynamo_frontend_requests_total \
         dynamo_frontend_inflight_requests dynamo_frontend_queued_requests \
         dynamo_frontend_input_tokens_total dynamo_frontend_output_tokens_total; do
  contains "metric_$m" "$TMP/metrics" "$m"
done
python3 - "$TMP/metrics" <<'PY' && ok || bad "metrics values: $(grep -E 'requests_total|output_tokens_total' "$TMP/metrics")"
import sys
vals = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip(): continue
    name, v = line.rsplit(" ", 1)
    vals[name] = float(v)
ok = sum(v for k, v in vals.items() if k.startswith("dynamo_frontend_requests_total") and 'status="success"' in k)
assert ok >= 400 + 6, ok
assert vals['dynamo_frontend_inflight_requests{model="llama-3.1-8b"}'] == 0
PY

# --- faults ---
# kill -9 of a worker while 60 long streams run: every stream completes with every token.
"$LOAD" --url "$URL" --requests 60 --isl 128 --osl 400 --concurrency 60 --seed 9 --no-progress --json \
  >"$TMP/kill.json" 2>"$TMP/kill.err" &
LOAD_PID=$!
sleep 1.5
VICTIM=$(python3 -c "import json,glob; print(json.load(open(sorted(glob.glob('$TMP/run/workers/*.json'))[0]))['pid'])")
kill -KILL "$VICTIM" && ok || bad "could not kill worker $VICTIM"
wait "$LOAD_PID" && ok || bad "streams across a killed worker: exit $? $(head -c 400 "$TMP/kill.json") $(tail -n 3 "$TMP/kill.err")"
python3 -c "import json,sys; j=json.load(open('$TMP/kill.json')); sys.exit(0 if j['completed']==60 and j['incomplete_outputs']==0 else 1)" \
  && ok || bad "kill -9: $(head -c 400 "$TMP/kill.json")"
curl -s "$URL/metrics" | grep -q '^dynamo_frontend_model_migration_total{model="llama-3.1-8b"} [1-9]' \
  && ok || bad "no migration counted after kill -9"
contains worker_left "$TMP/server.err" "left"

# A client that disconnects mid-stream: its request is cancelled, the worker frees its KV.
curl -sN --max-time 0.5 -H 'Content-Type: application/json' \
  -d '{"model":"llama-3.1-8b","prompt":"a b c","max_tokens":5000,"stream":true}' "$URL/v1/completions" >/dev/null
for _ in $(seq 1 50); do
  http health_after_cancel 200 GET /health >/dev/null
  python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if j['inflight']==0 and all(i['running']==0 for i in j['instances']) else 1)" && break
  sleep 0.1
done
body_check cancelled_and_freed "j['inflight']==0 and all(i['running']==0 and i['waiting']==0 for i in j['instances'])"
curl -s "$URL/metrics" | grep -q '^dynamo_frontend_disconnected_clients{model="llama-3.1-8b"} [1-9]' \
  && ok || bad "the disconnect was not counted"

# A slow-loris client (half a request head, then silence) does not block others.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\n' >&3
http during_slowloris 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"x","max_tokens":2}'
exec 3>&-

# --- SIGTERM: drains, exits 0, no worker process left ---
WORKERS=$(workers_of "$TMP/run")
stop_server
[ "$SERVER_RC" -eq 0 ] && ok || bad "SIGTERM: exit $SERVER_RC: $(tail -n 3 "$TMP/server.err")"
sleep 0.2
left=""
for p in $WORKERS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
[ -n "$WORKERS" ] && [ -z "$left" ] && ok || bad "workers still running after shutdown:$left (of $WORKERS)"
[ -s "$TMP/run/routing.csv" ] && ok || bad "no routing.csv"
contains stats "$TMP/server.out" "requests accepted"

# --- Kubernetes-style discovery: no shared directory, workers register over HTTP ---
"$RUN" frontend --plan "$TMP/plan.json" --port 0 >"$TMP/fe.out" 2>"$TMP/fe.err" &
FE_PID=$!
for _ in $(seq 1 100); do grep -q "listening" "$TMP/fe.out" 2>/dev/null && break; sleep 0.05; done
FE_PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$TMP/fe.out" | head -n 1)
contains fe_http_registration "$TMP/fe.out" "workers register over HTTP"
K8S_WORKERS=
for r in 0 1 2; do
  POD_IP=127.0.0.1 "$RUN" worker --plan "$TMP/plan.json" --pool 0 --replica $r --frontend "127.0.0.1:$FE_PORT" \
    >/dev/null 2>"$TMP/w$r.err" &
  K8S_WORKERS="$K8S_WORKERS $!"
done
URL="http://127.0.0.1:$FE_PORT"
for _ in $(seq 1 100); do
  curl -s "$URL/health" >"$TMP/body" 2>/dev/null
  python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if j['status']=='healthy' else 1)" 2>/dev/null && break
  sleep 0.05
done
body_check http_registered "j['status']=='healthy' and len(j['instances'])==3"
http http_registered_serves 200 POST /v1/completions '{"model":"llama-3.1-8b","prompt":"k8s","max_tokens":4}'
# A worker that drains deregisters: the frontend drops it at once (no heartbeat timeout).
first=$(echo $K8S_WORKERS | cut -d' ' -f1)
kill -TERM "$first"
wait "$first" && ok || bad "a registered worker did not exit 0 after SIGTERM"
for _ in $(seq 1 40); do
  curl -s "$URL/health" >"$TMP/body"
  python3 -c "import json,sys; j=json.load(open('$TMP/body')); sys.exit(0 if len(j['instances'])==2 else 1)" && break
  sleep 0.05
done
body_check deregistered "len(j['instances'])==2"
kill -TERM "$FE_PID"
wait "$FE_PID" && ok || bad "frontend alone: SIGTERM exit $?"
for p in $K8S_WORKERS; do wait "$p" 2>/dev/null; done
left=""
for p in $K8S_WORKERS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
[ -z "$left" ] && ok || bad "registered workers still running after the frontend drained:$left"
expect unreachable_frontend 1 '' -- worker --plan "$TMP/plan.json" --pool 0 --frontend 127.0.0.1:1 --frontend-timeout-s 0.3
contains unreachable_message "$TMP/err" "the frontend at 127.0.0.1:1 has not taken a registration"
expect worker_needs_discovery 1 'error: dynamo-run worker: give --run-dir DIR (local: register through files) or --frontend HOST:PORT (Kubernetes: register with the frontend over HTTP), not both' \
  -- worker --plan "$TMP/plan.json" --pool 0

# --- bad input to dynamo-run ---
expect no_plan 2 '' --
expect bad_plan 1 '' -- --plan "$TMP/nothing.json"
expect bad_engine 1 'error: --engine native: this build runs the mock engine only (the step-latency model'"'"'s timing, deterministic tokens); use --engine mock' \
  -- --plan "$TMP/plan.json" --engine native
expect bad_scale 1 '' -- --plan "$TMP/plan.json" --time-scale 0
python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1]); import sys; sys.stdout.flush(); time.sleep(30)" >"$TMP/busy" &
BUSY=$!
for _ in $(seq 1 100); do [ -s "$TMP/busy" ] && break; sleep 0.05; done
expect port_in_use 1 '' -- --plan "$TMP/plan.json" --port "$(cat "$TMP/busy")" --run-dir "$TMP/run2"
contains port_message "$TMP/err" "$(cat "$TMP/busy")"
kill "$BUSY"
finish
