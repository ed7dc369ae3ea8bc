#!/usr/bin/env bash
# Load test, not part of the default test run (about 10 minutes on two cores):
#  1. `pxdgen generate` of 2000 events with 2 threads on a small IEA-GAN (the ch = 4 model
#     of the PyTorch fixtures), printing resident memory (VmRSS, VmHWM from /proc) after
#     the warm-up and at the end; fails if it grew by more than 32 MiB in between, which
#     would be a leak (or a cache without bound) of over 16 kB per event.
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

bash scripts/install_deps.sh >/dev/null
bash scripts/install_robustness_deps.sh >/dev/null
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPXDGEN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target pxdgen_cli >/dev/null
pxdgen=$build/pxdgen work=$build/soak
mkdir -p "$work"
/usr/bin/python3 tests/reference/make_all_fixtures.py --out "$build/fixtures" --only ieagan_production_ch4 >/dev/null
"$pxdgen" convert "$build/fixtures/ieagan_production_ch4/model.pth" -o "$work/model.pxdg" >/dev/null

memory() {  # memory PID: "VmRSS VmHWM" in kB
  awk '/^VmRSS:/ {rss = $2} /^VmHWM:/ {hwm = $2} END {print rss, hwm}' "/proc/$1/status" 2>/dev/null || true
}

echo "soak: $events events, 2 threads"
start=$SECONDS
rm -f "$work/soak.h5"
"$pxdgen" generate -m "$work/model.pxdg" -n "$events" --seed 1 --threads 2 --verbose -o "$work/soak.h5" \
  2>"$work/soak.log" &
pid=$!
first="" last=""
while kill -0 "$pid" 2>/dev/null; do
  sample=$(memory "$pid")
  if [ -n "$sample" ]; then
    last=$sample
    if [ -z "$first" ] && [ "$(grep -c '^event ' "$work/soak.log" || true)" -ge "$warmup" ]; then
      first=$sample
    fi
  fi
  sleep 0.5
done
wait "$pid"
seconds=$((SECONDS - start))
read -r rss_start hwm_start <<<"$first"
read -r rss_end hwm_end <<<"$last"
echo "soak: $events events in $seconds s; after $warmup events VmRSS ${rss_start} kB (VmHWM ${hwm_start} kB)," \
  "at the end VmRSS ${rss_end} kB (VmHWM ${hwm_end} kB)"
growth=$((rss_end - rss_start))
if [ "$growth" -gt $((32 * 1024)) ]; then
  echo "soak: FAIL: resident memory grew by $growth kB over the run"
  exit 1
fi

echo "soak: valgrind memcheck on convert and a 2-event run"
start=$SECONDS
for args in "convert $build/fixtures/ieagan_production_ch4/model.pth -o $work/valgrind.pxdg" \
            "generate -m $work/model.pxdg -n 2 --seed 3 --threads 2 -q -o $work/valgrind.h5"; do
  # shellcheck disable=SC2086  # the arguments are split on purpose
  if ! valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
      --log-file="$work/valgrind.log" "$pxdgen" $args >/dev/null; then
    cat "$work/valgrind.log"
    echo "soak: FAIL: valgrind found errors in: pxdgen $args"
    exit 1
  fi
  grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable" "$work/valgrind.log" |
    sed "s/^==[0-9]*== */  ${args%% *}: /"
done
echo "soak: valgrind clean in $((SECONDS - start)) s"
