#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: the machine, the FMA peak of one core, every hot convolution
# shape beside oneDNN, whole events of the built-in model (time, load, memory), and
# PyTorch against pxdgen on the same checkpoints and latents. All figures come from this
# one run, so the ratios compare like with like on a shared machine.
# usage: scripts/benchmarks.sh [--quick]   (--quick: shorter runs, for trying the script)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/build.sh
out=build/benchmarks
mkdir -p "$out"
min_time=0.5
events=3
[ $quick -eq 1 ] && { min_time=0.05; events=1; }

# The engine runs one sensor per core, so kernels are measured on one core.
one_core=(taskset -c 0)
command -v taskset >/dev/null || one_core=()

echo "benchmarks: peak"
"${one_core[@]}" build/bench/pxdgen_bench_peak --benchmark_min_time="$min_time" --benchmark_format=json \
  >"$out/peak.json"
echo "benchmarks: convolutions (ours beside oneDNN)"
"${one_core[@]}" build/bench/pxdgen_bench_conv2d --benchmark_min_time="$min_time" --benchmark_format=json \
  --benchmark_filter='/(avx2|avx512f|onednn|onednn-bn-relu)$' >"$out/conv2d.json"
echo "benchmarks: whole events of the built-in model"
"${one_core[@]}" build/pxdgen bench -n "$events" --threads 1 --json >"$out/model_1thread.json"
build/pxdgen bench -n "$events" --threads "$(nproc)" --json >"$out/model_all_threads.json"
echo "benchmarks: PyTorch and pxdgen on the same checkpoints and latents"
compare_args=(--threads 1 --events 1 --json "$out/compare_pytorch.json")
[ $quick -eq 1 ] && compare_args+=(--ch 4)
"${one_core[@]}" /usr/bin/python3 bench/compare_pytorch.py --pxdgen build/pxdgen "${compare_args[@]}"

python3 bench/render_benchmarks.py --dir "$out" --command "bash scripts/benchmarks.sh${1:+ $1}" -o BENCHMARKS.md
echo "benchmarks: wrote BENCHMARKS.md"
