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
