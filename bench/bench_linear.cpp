// The fully connected layer on the shapes of the IEA-GAN's conditioning step (the 40 sensors'
// 256-wide conditioning vectors to the first feature map and to a batch norm's gains), per
// implementation: the reference loops and each x86 ISA this CPU has. Run single-threaded
// (taskset -c N). GFLOP/s counts 2 rows in out; both accumulate in double.

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/linear.hpp"
#include "kernels/reference/reference.hpp"

#if defined(__x86_64__) || defined(__i386__)
#define PXDGEN_BENCH_X86 1
#include "kernels/x86/entry_points.hpp"
#endif

namespace k = pxdgen::kernels;

namespace {

struct Shape {
  int rows, in, out;
};

// linear (256 -> 512 x 4 x 12), then the gains of 512-, 128- and 32-channel batch norms.
const Shape kShapes[] = {{40, 256, 24576}, {40, 256, 512}, {40, 256, 128}, {40, 256, 32}};

using LinearFn = void (*)(const float*, int, int, const float*, const float*, int, float*);

void run(benchmark::State& state, Shape s, LinearFn fn) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.rows) * s.in), w(static_cast<size_t>(s.out) * s.in), b(s.out),
      y(static_cast<size_t>(s.rows) * s.out);
  for (float& v : x) v = dist(rng);
  for (float& v : w) v = dist(rng);
  for (float& v : b) v = dist(rng);
  for (auto _ : state) {
    fn(x.data(), s.rows, s.in, w.data(), b.data(), s.out, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2e-9 * s.rows * s.in * s.out, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  for (const Shape& s : kShapes) {
    const std::string base = "linear/" + std::to_string(s.rows) + "x" + std::to_string(s.in) + "->" + std::to_string(s.out);
    benchmark::RegisterBenchmark((base + "/ref").c_str(), [s](benchmark::State& st) { run(st, s, k::ref::linear_f32); })
        ->Unit(benchmark::kMicrosecond);
#if defined(PXDGEN_BENCH_X86)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      benchmark::RegisterBenchmark((base + "/avx2").c_str(), [s](benchmark::State& st) { run(st, s, k::x86::linear_f32_avx2); })
          ->Unit(benchmark::kMicrosecond);
    if (__builtin_cpu_supports("avx512f"))
      benchmark::RegisterBenchmark((base + "/avx512f").c_str(), [s](benchmark::State& st) { run(st, s, k::x86::linear_f32_avx512); })
          ->Unit(benchmark::kMicrosecond);
#endif
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
