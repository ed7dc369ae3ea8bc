#!/usr/bin/env bash
# Load test (about 12 minutes on two cores: 5 for the events, 6 for valgrind, plus the
# build and the PyTorch fixture the first time):
#  1. `pxdgen generate` of 2000 events with 2 threads on a small IEA-GAN (the ch = 4 model
#     of the PyTorch fixtures) into HDF5, printing resident memory (VmRSS from /proc) after
#     the warm-up, halfway and at the end. Digit counts are heavy-tailed (this run: mean
#     ~190k an event, largest ~700k) and the digit buffers of the engine and the caller keep
#     the size of the largest event so far (up to 40 bytes a digit: they grow by doubling),
#     so memory may rise when a larger event comes; the HDF5 writer's buffer has a fixed
#     size. A leak or an unbounded cache rises anyway.
#     It fails if VmRSS grew over the second half by more than 8 MiB plus 40 bytes for each
#     digit by which the largest event grew in that half.
#  2. valgrind memcheck on a short run of the CLI (convert, then generate 2 events):
#     fails on any memory error or definite leak.
# The build is RelWithDebInfo (production optimization, symbols for the reports) in
# $PXDGEN_SOAK_BUILD (default build-soak).
# usage: scripts/soak.sh [EVENTS (default 2000)]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-2000}
build=${PXDGEN_SOAK_BUILD:-build-soak}
warmup=20

bash scripts/install_deps.sh --robustness >/dev/null
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPXDGEN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target pxdgen_cli >/dev/null
pxdgen=$build/pxdgen work=$build/soak
mkdir -p "$work"
/usr/bin/python3 tests/reference/make_all_fixtures.py --out "$build/fixtures" --only ieagan_production_ch4 >/dev/null
checkpoint=$build/fixtures/ieagan_production_ch4/model.pth
"$pxdgen" convert "$checkpoint" -o "$work/model.pxdg" >/dev/null

# largest LOG: the most digits of one event so far in a --verbose log.
largest() { awk -F'[ :]+' '/^event / && $3 > m {m = $3} END {print m + 0}' "$1"; }

# watch LOG ARGS...: runs `pxdgen generate ARGS --verbose`, sampling /proc every half
# second; sets rss_warm (after $warmup events), rss_half and largest_half (after half of
# them), rss_end, hwm_end and largest_end; memory in kB.
watch() {
  local log=$1
  shift
  "$pxdgen" generate "$@" --verbose 2>"$log" &
  local pid=$! sample done_events
  rss_warm="" rss_half=""
  while kill -0 "$pid" 2>/dev/null; do
    sample=$(awk '/^VmRSS:/ {rss = $2} /^VmHWM:/ {hwm = $2} END {print rss, hwm}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$sample" ]; then
      read -r rss_end hwm_end <<<"$sample"
      done_events=$(grep -c '^event ' "$log" || true)
      [ -z "$rss_warm" ] && [ "$done_events" -ge "$warmup" ] && rss_warm=$rss_end
      if [ -z "$rss_half" ] && [ "$done_events" -ge $((events / 2)) ]; then
        rss_half=$rss_end
        largest_half=$(largest "$log")
      fi
    fi
    sleep 0.5
  done
  wait "$pid"
  largest_end=$(largest "$log")
}

start=$SECONDS
watch "$work/soak.log" -m "$work/model.pxdg" -n "$events" --seed 1 --threads 2 -o "$work/soak.h5"
echo "soak: $events events, 2 threads, in $((SECONDS - start)) s: VmRSS ${rss_warm} kB after $warmup events," \
  "${rss_half} kB after $((events / 2)), ${rss_end} kB at the end (VmHWM ${hwm_end} kB);" \
  "largest event ${largest_half} digits in the first half, ${largest_end} in all"
rm -f "$work/soak.h5"
allowed=$((8 * 1024 + 40 * (largest_end - largest_half) / 1024))
if [ $((rss_end - rss_half)) -gt "$allowed" ]; then
  echo "soak: FAIL: resident memory grew by $((rss_end - rss_half)) kB over the second half of the run" \
    "(allowed: $allowed kB)"
  exit 1
fi

echo "soak: valgrind memcheck on convert and a 2-event run"
start=$SECONDS
for args in "convert $checkpoint -o $work/valgrind.pxdg" \
            "generate -m $work/model.pxdg -n 2 --seed 3 --threads 2 -q -o $work/valgrind.h5"; do
  # shellcheck disable=SC2086  # the arguments are split on purpose
  if ! valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
      --log-file="$work/valgrind.log" "$pxdgen" $args >/dev/null; then
    cat "$work/valgrind.log"
    echo "soak: FAIL: valgrind found errors in: pxdgen $args"
    exit 1
  fi
  grep -E "ERROR SUMMARY|(definitely|indirectly|possibly) lost:|still reachable:" "$work/valgrind.log" |
    sed "s/^==[0-9]*== */  ${args%% *}: /"
done
echo "soak: valgrind clean in $((SECONDS - start)) s"
