# Helpers shared by the CLI end-to-end tests (sourced). The caller sets BIN to the binary
# under test. Counts passes and failures; `finish` prints them and sets the exit status.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() {
  echo "FAIL $*"
  failed=$((failed + 1))
}

# expect NAME CODE EXPECTED_ERROR_LINE -- ARGS...
# Runs "$BIN" ARGS; checks the exit code and the first stderr line starting with "error", or
# the first stderr line when none does (usage errors) (EXPECTED '' skips that check). stdout and stderr stay in $TMP/out and $TMP/err.
expect() {
  local name=$1 code=$2 want=$3
  shift 4
  "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  local err
  err=$(grep -a -m1 '^error' "$TMP/err")
  [ -n "$err" ] || err=$(head -n 1 "$TMP/err")
  if [ "$rc" -ne "$code" ]; then
    bad "$name: exit $rc, expected $code; stderr: $(head -n 3 "$TMP/err")"
  elif [ -n "$want" ] && [ "$err" != "$want" ]; then
    bad "$name: stderr"
    echo "   got: $err"
    echo "  want: $want"
  else
    ok
  fi
}

# check NAME PYTHON_EXPRESSION : true with j = the last stdout parsed as JSON.
check() {
  local name=$1 expr=$2
  if python3 -c "import json,sys; j=json.load(open('$TMP/out')); sys.exit(0 if ($expr) else 1)"; then
    ok
  else
    bad "$name: $expr; stdout: $(head -c 400 "$TMP/out")"
  fi
}

# json_has NAME KEY... : the last stdout is a JSON object with these keys.
json_has() {
  local name=$1
  shift
  local keys
  keys=$(printf "'%s'," "$@")
  check "$name" "all(k in j for k in [$keys])"
}

# contains NAME FILE TEXT : FILE contains TEXT (fixed string).
contains() {
  if grep -qF -- "$3" "$2"; then ok; else bad "$1: '$3' not in $(head -c 400 "$2")"; fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
