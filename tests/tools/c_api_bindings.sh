#!/usr/bin/env bash
# The C API from C and from Python (ctypes) gives exactly the digits of the CLI for the
# same model, seed and events.
# usage: c_api_bindings.sh PXDGEN C_EXAMPLE LIBPXDGEN_C PYTHON CHECKPOINT WORKDIR
set -euo pipefail
pxdgen=$1 c_example=$2 library=$3 python=$4 checkpoint=$5 work=$6
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work"
"$pxdgen" convert "$checkpoint" -o "$work/model.pxdg" >/dev/null
"$pxdgen" generate -m "$work/model.pxdg" -n 3 --first-event 5 --seed 11 -q -o "$work/cli.csv"
"$python" "$here/../../examples/python/pxdgen_ctypes.py" --library "$library" --model "$work/model.pxdg" \
  --seed 11 --first-event 5 --events 3 --csv "$work/ctypes.csv"
cmp "$work/cli.csv" "$work/ctypes.csv"
echo "ctypes: $(($(wc -l <"$work/cli.csv") - 1)) digits identical to the CLI's"

# The C example's per-layer count of event 5 must match the CLI's digits of event 5.
line=$("$c_example" "$work/model.pxdg" 11 5)
echo "$line"
want=$(awk -F, '$1 == 5 { n++ } END { print n + 0 }' "$work/cli.csv")
grep -q ": $want digits" <<<"$line" || { echo "FAIL: C example reports other digits than the CLI ($want)"; exit 1; }

# A bad model path reaches C as a status and a message, not a crash.
if "$c_example" "$work/missing.pxdg" 2>"$work/err.txt"; then echo "FAIL: missing model accepted"; exit 1; fi
grep -q "cannot open" "$work/err.txt" || { echo "FAIL: unclear message: $(cat "$work/err.txt")"; exit 1; }
