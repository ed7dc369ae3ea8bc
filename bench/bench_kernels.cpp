// Per-layer benchmarks on the hot shapes of the production IEA-GAN (ch = 32): the 3x3
// convolutions on the hidden channels at the three largest resolutions.

#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/reference/reference.hpp"

namespace {

void conv3x3_reference(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  const int height = static_cast<int>(state.range(1)), width = 3 * height;
  std::vector<float> in(static_cast<size_t>(channels) * height * width, 0.5f);
  std::vector<float> out(in.size());
  std::vector<float> weight(static_cast<size_t>(channels) * channels * 9, 0.01f), bias(channels, 0.0f);
  for (auto _ : state) {
    pxdgen::kernels::ref::conv2d_f32(in.data(), channels, height, width, weight.data(), bias.data(), channels,
                                     3, 3, 1, 1, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 2.0 * channels * channels * 9 * height * width;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

// {hidden channels, height}: stage 3 (64 x 192), stage 4 (128 x 384), stage 5 (256 x 768).
BENCHMARK(conv3x3_reference)->Args({64, 64})->Args({32, 128})->Args({16, 256})->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
