#!/usr/bin/env bash
# Installs the Debian packages the build needs (only the missing ones, quietly), then configures
# and builds into build/. Idempotent: a second run installs nothing and rebuilds only what changed.
#   scripts/setup.sh            install + configure + build
#   scripts/setup.sh --deps     install only
# Environment: BUILD_DIR (default build), BUILD_TYPE (default RelWithDebInfo), CI=true turns
# warnings into errors, EXTRA_CMAKE_ARGS are passed to cmake, BUILD_TARGET builds one target
# (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev libboost-graph-dev libsqlite3-dev libcli11-dev nlohmann-json3-dev libxxhash-dev
  libucx-dev ucx-utils libgtest-dev libgmock-dev libbenchmark-dev python3-venv curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "${1:-}" = "--deps" ] && exit 0

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
WERROR=OFF
[ "${CI:-}" = "true" ] && WERROR=ON
# Configure every time (cheap once cached) so BUILD_TYPE, CI and EXTRA_CMAKE_ARGS always apply.
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DDYNAMO_WERROR="$WERROR" \
  ${EXTRA_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" ${BUILD_TARGET:+--target "$BUILD_TARGET"} | grep -Ev '^\[[0-9]+/[0-9]+\] ' || true
test "${PIPESTATUS[0]}" -eq 0
