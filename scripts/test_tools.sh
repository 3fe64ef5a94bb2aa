#!/usr/bin/env bash
# Test tooling (never a product dependency): a Python virtual environment in .venv-test with
# Jupyter (to execute notebooks/sweep_analysis.ipynb), matplotlib, PyYAML, jsonschema (to
# validate emitted manifests against the CRD schemas in ../shared/data/crds) and
# kubernetes-validate (plain Kubernetes manifests against the Kubernetes OpenAPI schemas).
# Idempotent: a second run installs nothing. Needs python3-venv (installed by setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-test}
REQUIREMENTS=(nbconvert nbclient ipykernel matplotlib pyyaml jsonschema kubernetes-validate)
STAMP="$VENV/.installed"
WANT="${REQUIREMENTS[*]}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then exit 0; fi
echo "test tools: installing ${REQUIREMENTS[*]} into $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
echo "$WANT" > "$STAMP"
