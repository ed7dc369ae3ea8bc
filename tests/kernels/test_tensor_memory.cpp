// The memory the engine gives activations and kernel scratch: aligned as the kernels need it,
// large buffers on a 2 MiB boundary, every byte writable and read back.

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "kernels/tensor_memory.hpp"

namespace k = pxdgen::kernels;

TEST_CASE("tensor memory: alignment and use of small and large buffers") {
  const size_t sizes[] = {1, 63, 64, 4096, k::kHugePageThreshold - 4, k::kHugePageThreshold,
                          k::kHugePageBytes + 1, 3 * k::kHugePageBytes + 12345};
  for (size_t bytes : sizes) {
    CAPTURE(bytes);
    auto* p = static_cast<unsigned char*>(k::allocate_tensor_memory(bytes));
    REQUIRE(p != nullptr);
    const uintptr_t at = reinterpret_cast<uintptr_t>(p);
    CHECK(at % 64 == 0);
    CHECK(k::on_huge_pages(bytes) == (bytes >= k::kHugePageThreshold));
    if (k::on_huge_pages(bytes)) CHECK(at % k::kHugePageBytes == 0);
    for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 31u + 7u);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; ++i) wrong += p[i] != static_cast<unsigned char>(i * 31u + 7u);
    CHECK(wrong == 0);
    k::free_tensor_memory(p, bytes);
  }
  k::free_tensor_memory(nullptr, 100);  // as delete does
}

TEST_CASE("tensor memory: a vector grows across the huge-page threshold and keeps its values") {
  std::vector<float, k::TensorAllocator<float>> v;
  const size_t large = k::kHugePageThreshold / sizeof(float) * 3;
  for (size_t n : {size_t{10}, size_t{1000}, large, large * 2}) {
    const size_t old = v.size();
    v.resize(n, 1.5f);
    CHECK(reinterpret_cast<uintptr_t>(v.data()) % 64 == 0);
    size_t wrong = 0;
    for (size_t i = 0; i < old; ++i) wrong += v[i] != static_cast<float>(i);
    CHECK(wrong == 0);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  }
  CHECK(k::on_huge_pages(v.capacity() * sizeof(float)));
  CHECK(reinterpret_cast<uintptr_t>(v.data()) % k::kHugePageBytes == 0);
  CHECK_THROWS_AS(k::TensorAllocator<float>().allocate(static_cast<size_t>(-1) / 2), std::bad_array_new_length);
}

TEST_CASE("tensor memory: an arena's pieces are aligned, zeroed and apart, across its blocks") {
  // Pieces of a few floats to several MiB (one larger than a block of its own), each filled
  // with its own value after all were taken: any overlap shows as another piece's value.
  const size_t sizes[] = {1, 15, 16, 1000, (size_t{3} << 20) / sizeof(float), 7, (size_t{20} << 20) / sizeof(float),
                          (size_t{9} << 20) / sizeof(float), 33};
  std::vector<float*> pieces;
  {
    k::TensorArena arena;
    for (size_t floats : sizes) {
      CAPTURE(floats);
      float* p = arena.take_floats(floats);
      REQUIRE(p != nullptr);
      CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
      size_t nonzero = 0;
      for (size_t i = 0; i < floats; ++i) nonzero += p[i] != 0.0f;
      CHECK(nonzero == 0);
      pieces.push_back(p);
    }
    for (size_t j = 0; j < pieces.size(); ++j)
      for (size_t i = 0; i < sizes[j]; ++i) pieces[j][i] = static_cast<float>(j + 1);
    for (size_t j = 0; j < pieces.size(); ++j) {
      CAPTURE(j);
      size_t wrong = 0;
      for (size_t i = 0; i < sizes[j]; ++i) wrong += pieces[j][i] != static_cast<float>(j + 1);
      CHECK(wrong == 0);
    }
  }  // the arena frees its blocks here (ASan in CI checks that it frees each once)
}
