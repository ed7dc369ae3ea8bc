#!/usr/bin/env bash
# The README's walk-through, end to end: convert a checkpoint, generate 100 events to
# HDF5 (and the same run to CSV), read the HDF5 file with h5py, compute the statistics,
# render the pictures.
# usage: user_workflow.sh PXDGEN PYTHON CHECKPOINT WORKDIR
set -euo pipefail
pxdgen=$1 python=$2 checkpoint=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
"$pxdgen" convert "$checkpoint" -o "$work/model.pxdg"
"$pxdgen" info "$work/model.pxdg" >/dev/null
"$pxdgen" generate -m "$work/model.pxdg" -n 100 --seed 7 --threads 2 -q -o "$work/events.h5"
"$pxdgen" generate -m "$work/model.pxdg" -n 100 --seed 7 --threads 2 -q -o "$work/events.csv"
"$python" "$here/test_hdf5_output.py" "$work/events.h5" --csv "$work/events.csv" --expect-events 100
"$pxdgen" stats "$work/events.h5" -o "$work/stats.json"
"$python" - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["events"] == 100, s["events"]
print("stats.json: 100 events, keys:", ", ".join(sorted(s)))
PY
"$pxdgen" plot "$work/stats.json" -o "$work/plots" --events "$work/events.h5" --event 0
count=$(find "$work/plots" -name '*.png' -size +10k | wc -l)
echo "plots: $count PNG files"
[ "$count" -ge 5 ] || { echo "FAIL: expected at least 5 PNGs"; ls -l "$work/plots"; exit 1; }
# Where an event's time goes: the layer profile of `pxdgen bench --layers`.
"$pxdgen" bench -m "$work/model.pxdg" -n 1 --layers --json >"$work/bench.json"
"$python" - "$work/bench.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
layers = b["layers"]
assert layers and all(l["calls"] > 0 and l["seconds"] > 0 and l["flop"] > 0 for l in layers), layers
assert [l["seconds"] for l in layers] == sorted((l["seconds"] for l in layers), reverse=True)
total = sum(l["seconds"] for l in layers)
assert 0 < total <= b["seconds_per_event"]["max"] * b["threads"] * 1.01, (total, b["seconds_per_event"])
print(f"bench --layers: {len(layers)} layer kinds, {total:.3f} s of a {b['seconds_per_event']['median']:.3f} s event")
PY
