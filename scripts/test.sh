#!/usr/bin/env bash
# Builds pxdgen and runs every test: unit tests, PyTorch parity (fixtures made with
# Debian's python3-torch), command-line checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 3600 "$@"
