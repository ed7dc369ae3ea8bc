#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz into build-fuzz/ (clang, ASan + UBSan) and
# runs each for a bounded time, starting from its committed seed corpus. Prints the
# executions and crashes of every target; exits non-zero if any target crashed, leaked,
# hung or ran out of memory (the input is kept in build-fuzz/artifacts/<target>/).
# New inputs found go to build-fuzz/corpus/<target>, never into the committed corpus.
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#        targets: checkpoint model_file npy (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(checkpoint model_file npy)

bash scripts/install_deps.sh --robustness >/dev/null
# -O1 with line tables: stack traces name lines, and the instrumented build stays quick.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DPXDGEN_FUZZ=ON -DPXDGEN_BUILD_TESTS=OFF \
  -DPXDGEN_BUILD_BENCHMARKS=OFF -DPXDGEN_BUILD_CLI=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" >/dev/null
if ! cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >build-fuzz/build.log 2>&1; then
  tail -40 build-fuzz/build.log
  exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1
failed=0
printf '%-12s %12s %8s  %s\n' target executions crashes "new corpus entries"
for target in "${targets[@]}"; do
  work=build-fuzz/corpus/$target artifacts=build-fuzz/artifacts/$target log=build-fuzz/fuzz_$target.log
  rm -rf "$artifacts" && mkdir -p "$work" "$artifacts"
  before=$(find "$work" -type f | wc -l)
  set +e
  # One input may take at most 30 s and 2 GiB: more is a hang or a memory bomb.
  "build-fuzz/tests/fuzz/fuzz_$target" "$work" "tests/fuzz/corpus/$target" \
    -dict="tests/fuzz/$target.dict" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
  status=$?
  set -e
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f | wc -l)
  added=$(( $(find "$work" -type f | wc -l) - before ))
  printf '%-12s %12s %8s  %s\n' "$target" "${executions:-?}" "$crashes" "$added"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "--- fuzz_$target failed (exit $status); the end of $log:"
    tail -40 "$log"
    echo "--- reproduce with: build-fuzz/tests/fuzz/fuzz_$target $artifacts/<file>"
  fi
done
exit "$failed"
