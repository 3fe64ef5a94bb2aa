# Helpers shared by the dynamo-run end-to-end tests (sourced after tests/cli/e2e_lib.sh). The
# caller sets RUN (the dynamo-run binary) and PLAN (the plan file).

SERVER_PID=
# start_server RUN_DIR [ARGS...]: dynamo-run on a free port; sets SERVER_PID, PORT and URL.
start_server() {
  local dir=$1
  shift
  rm -rf "$dir"
  "$RUN" --plan "$PLAN" --port 0 --run-dir "$dir" "$@" >"$TMP/server.out" 2>"$TMP/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    grep -q "serving" "$TMP/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if ! grep -q "serving" "$TMP/server.out"; then
    bad "server did not start: $(cat "$TMP/server.err")"
    finish
    exit 1
  fi
  PORT=$(python3 -c "import json; print(json.load(open('$dir/frontend.json'))['port'])")
  URL="http://127.0.0.1:$PORT"
}
# stop_server: SIGTERM, then SERVER_RC = its exit status.
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID"
  SERVER_RC=$?
}
# workers_of RUN_DIR: the pids of the worker processes started for that run directory.
workers_of() { pgrep -f -- "--run-dir $1" | grep -v "^$SERVER_PID\$" || true; }
