// Whole events of the built-in full-size IEA-GAN (201 GMAC per event of 40 sensors).

#include <benchmark/benchmark.h>

#include "pxdgen/pxdgen.hpp"

namespace {

void event(benchmark::State& state, pxdgen::Backend backend) {
  const pxdgen::Model model = pxdgen::Model::builtin();
  pxdgen::Generator generator(model, {backend, static_cast<int>(state.range(0)), {}, {}});
  uint64_t k = 0;
  for (auto _ : state) benchmark::DoNotOptimize(generator.event(1, k++));
  state.counters["GFLOP/s"] = benchmark::Counter(2e9 * model.info().gmac_per_event,
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK_CAPTURE(event, fast, pxdgen::Backend::fast)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK_MAIN();
