#!/usr/bin/env bash
# The main job: build, then generate events with the embedded default model and print
# a summary. Extra arguments go to `pxdgen generate` (e.g. -n 10 --threads 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/pxdgen info
./build/pxdgen generate -n 2 --seed 1 --threads "$(nproc)" -o events.csv "$@"
echo "digits written to events.csv (event,sensor,layer,ladder,sensor_number,ucell,vcell,charge)"
