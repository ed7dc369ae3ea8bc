#!/usr/bin/env bash
# End to end at full width: a random full-size IEA-GAN checkpoint (ch = 32, all 40
# sensors) made by PyTorch, converted by `pxdgen convert`, run by
# `pxdgen generate --latents`, compared with PyTorch's output.
# usage: cli_parity.sh PXDGEN PYTHON WORKDIR
set -euo pipefail
pxdgen=$1 python=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
if [ ! -f "$work/expected_f64.npy" ]; then
  "$python" "$here/../reference/make_fixture.py" --family ieagan_production --ch 32 --events 1 --seed 42 --out "$work"
fi
"$pxdgen" convert "$work/model.pth" -o "$work/model.pxdg" --config "$work/config.json"
"$pxdgen" info "$work/model.pxdg"
"$pxdgen" generate -m "$work/model.pxdg" --latents "$work/z.npy" --dense-out "$work/ours.npy" \
  -o "$work/ours.csv" --threads 2
"$python" "$here/compare_dense.py" "$work/expected.npy" "$work/expected_f64.npy" "$work/ours.npy" "$work/ours.csv" -0.26
rm -f "$work/ours.npy"
