// The arithmetic peak of one core: independent chains of vector FMAs, enough of them to
// cover the FMA latency on every x86 core of the last decade. The roofline of
// BENCHMARKS.md divides each kernel's GFLOP/s by this measured figure, not by a data-sheet
// number, because shared and virtual machines run below their nominal clock.

#include <benchmark/benchmark.h>

#include <immintrin.h>

namespace {

constexpr int kChains = 12;
constexpr int kSteps = 1 << 16;
// Read at run time, so the compiler cannot fold the chains into constants.
volatile float g_seed = 1.0f;

__attribute__((target("avx2,fma"))) float fma_chains_avx2() {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(g_seed + static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(g_seed * 0.999999f), b = _mm256_set1_ps(g_seed * 1e-7f);
  for (int s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  return _mm256_cvtss_f32(sum);
}

__attribute__((target("avx512f"))) float fma_chains_avx512() {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(g_seed + static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(g_seed * 0.999999f), b = _mm512_set1_ps(g_seed * 1e-7f);
  for (int s = 0; s < kSteps; ++s)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

template <float (*Fn)(), int Lanes>
void peak_fma(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Fn());
  const double flops = 2.0 * Lanes * kChains * kSteps;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

}  // namespace

int main(int argc, char** argv) {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    benchmark::RegisterBenchmark("peak/fma/avx2", peak_fma<fma_chains_avx2, 8>);
  if (__builtin_cpu_supports("avx512f"))
    benchmark::RegisterBenchmark("peak/fma/avx512f", peak_fma<fma_chains_avx512, 16>);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
