// The checksums of loading a model and of a run's provenance, over a buffer the size of the
// production IEA-GAN model file: CRC-32 (each tensor's, checked at every load) and SHA-256
// (the file's, written with every run), the latter by the CPU's SHA instructions where it has
// them and portably. Run single-threaded (taskset -c N); bytes/s in the counters.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/support/checksum.hpp"

namespace {

/// 47 MB of varied bytes, made once.
const std::vector<uint8_t>& model_sized_buffer() {
  static const std::vector<uint8_t> bytes = [] {
    std::vector<uint8_t> b(47u << 20);
    uint32_t x = 1;
    for (uint8_t& v : b) {
      x = x * 1664525u + 1013904223u;
      v = static_cast<uint8_t>(x >> 24);
    }
    return b;
  }();
  return bytes;
}

void crc32(benchmark::State& state) {
  const std::vector<uint8_t>& b = model_sized_buffer();
  for (auto _ : state) benchmark::DoNotOptimize(pxdgen::crc32(b.data(), b.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(b.size()));
}

template <std::string (*Hash)(const void*, size_t)>
void sha256(benchmark::State& state) {
  const std::vector<uint8_t>& b = model_sized_buffer();
  for (auto _ : state) benchmark::DoNotOptimize(Hash(b.data(), b.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(b.size()));
}

BENCHMARK(crc32)->Name("checksum/crc32")->Unit(benchmark::kMillisecond);
BENCHMARK(sha256<pxdgen::sha256_hex>)->Name("checksum/sha256")->Unit(benchmark::kMillisecond);
BENCHMARK(sha256<pxdgen::sha256_hex_portable>)->Name("checksum/sha256-portable")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
