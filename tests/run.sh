#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs unit and integration tests (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
cd build
ctest --output-on-failure --timeout 1500 "$@"
