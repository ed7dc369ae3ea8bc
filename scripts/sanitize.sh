#!/usr/bin/env bash
# Builds pxdgen with clang's sanitizers and runs the tests that give them work:
#   build-asan/  ASan + UBSan (any undefined behaviour is fatal): the unit suite without
#                the PyTorch parity cases, then tests/tools/cli_errors.sh on the CLI.
#   build-tsan/  TSan: the determinism suite, whose cases run one generator with 1 to 8
#                OpenMP threads and several generators sharing one model on std::threads
#                (the production layout). OpenMP is LLVM's libomp with its Archer tool,
#                which tells TSan about OpenMP's barriers: without Archer, or with GCC's
#                libgomp, TSan reports races between the iterations of a parallel loop
#                and the code after it that are not there.
# Builds use -O1 with line tables: readable stack traces at a bounded build time.
# usage: scripts/sanitize.sh [address] [thread]     (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(address thread)

bash scripts/install_deps.sh --robustness >/dev/null

build() {  # build MODE DIR
  CC=clang CXX=clang++ cmake -S . -B "$2" -DPXDGEN_SANITIZE="$1" -DPXDGEN_BUILD_BENCHMARKS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG" >/dev/null
  if ! cmake --build "$2" -j "$(nproc)" --target pxdgen_tests pxdgen_cli >"$2/build.log" 2>&1; then
    tail -40 "$2/build.log"
    return 1
  fi
}

# A sanitizer report must never pass for an expected failure: cli_errors.sh expects exit
# codes 1 and 2, so reports exit with their own code.
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:exitcode=86
# libomp keeps small per-thread blocks of its worker threads past exit: not ours to fix.
mkdir -p build-asan
printf 'leak:libomp.so\n' >build-asan/lsan.supp
export LSAN_OPTIONS=exitcode=86:suppressions=$PWD/build-asan/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86

for mode in "${modes[@]}"; do
  case "$mode" in
    address)
      start=$SECONDS
      build address build-asan
      echo "sanitize: ASan + UBSan build took $((SECONDS - start)) s"
      start=$SECONDS
      build-asan/tests/pxdgen_tests --test-suite-exclude='parity*'
      bash tests/tools/cli_errors.sh build-asan/pxdgen build-asan/cli_errors
      echo "sanitize: ASan + UBSan: unit suite and cli_errors clean in $((SECONDS - start)) s"
      ;;
    thread)
      start=$SECONDS
      build thread build-tsan
      echo "sanitize: TSan build took $((SECONDS - start)) s"
      start=$SECONDS
      archer="$(dirname "$(readlink -f "$(command -v clang)")")/../lib/libarcher.so"
      [ -f "$archer" ] || { echo "sanitize: libarcher.so not found beside clang"; exit 1; }
      log=build-tsan/determinism.log
      # Archer says so when it is active; without it a report could be OpenMP's own barrier.
      if ! OMP_TOOL_LIBRARIES="$archer" ARCHER_OPTIONS=verbose=1 \
          TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:exitcode=66" \
          build-tsan/tests/pxdgen_tests --test-suite=determinism >"$log" 2>&1; then
        cat "$log"
        exit 1
      fi
      grep -q "Archer detected OpenMP application with TSan" "$log" || { cat "$log"; echo "sanitize: Archer did not load"; exit 1; }
      tail -3 "$log"
      echo "sanitize: TSan: determinism suite clean in $((SECONDS - start)) s"
      ;;
    *)
      echo "usage: scripts/sanitize.sh [address] [thread]" >&2
      exit 2
      ;;
  esac
done
