#!/usr/bin/env bash
# Executes notebooks/sweep_analysis.ipynb on the results of a small sweep; fails on any cell
# error (the last cell asserts that the file is consistent).
# Usage: notebook_test.sh DYNAMO_SIM VENV_PYTHON SOURCE_DIR
# Exits 77 (skipped) without the test virtual environment (scripts/test_tools.sh makes it).
# NOTEBOOK_RESULTS=path/to/results.sqlite runs the notebook on that file instead of sweeping.
set -uo pipefail
SIM=$1
PY=$2
SRC=$3
if [ ! -x "$PY" ]; then
  echo "skipped: $PY not found; run scripts/test_tools.sh"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

RESULTS=${NOTEBOOK_RESULTS:-}
if [ -z "$RESULTS" ]; then
  if ! "$SIM" sweep --model llama-3.1-8b --gpu h200_sxm --gpus 2 --isl 512 --osl 64 \
    --ttft-ms 500 --itl-ms 40 --requests 200 --seed 3 --out "$TMP/sweep" --no-progress \
    >"$TMP/sweep.log" 2>&1; then
    echo "FAIL dynamo-sim sweep:"
    cat "$TMP/sweep.log"
    exit 1
  fi
  RESULTS=$TMP/sweep/results.sqlite
fi

# The kernel's scratch files (IPython, matplotlib, Jupyter runtime) stay in $TMP.
export HOME=$TMP/home MPLCONFIGDIR=$TMP/mpl JUPYTER_RUNTIME_DIR=$TMP/runtime
export SWEEP_RESULTS=$RESULTS
if ! "$PY" -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=120 \
  --output-dir "$TMP" "$SRC/notebooks/sweep_analysis.ipynb" >"$TMP/nbconvert.log" 2>&1; then
  echo "FAIL notebooks/sweep_analysis.ipynb on $RESULTS:"
  cat "$TMP/nbconvert.log"
  exit 1
fi
# The last cell prints its verdict.
if ! grep -q '"ok: ' "$TMP/sweep_analysis.ipynb"; then
  echo "FAIL the last cell did not report ok"
  exit 1
fi
echo "ok: notebooks/sweep_analysis.ipynb ran on $RESULTS"
