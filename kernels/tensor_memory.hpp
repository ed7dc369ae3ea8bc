#pragma once
/// @file tensor_memory.hpp
/// Memory for activations and kernel scratch: 64-byte aligned, and where a buffer is large,
/// on 2 MiB pages on Linux (transparent huge pages, asked for with madvise).
///
/// A pass over a whole tensor walks as many streams as the tensor has planes (64 planes of
/// 192 KiB for 64 channels at 128 x 384), which on 4 KiB pages touch more pages than the
/// TLBs hold. One Zen 4 core, against 64-byte aligned buffers on small pages: the built-in
/// IEA-GAN, 12 alternating runs of `pxdgen bench -n 1` each, 2.092 s an event at the fastest
/// (median 2.134 s) against 2.144 s (2.170 s), the 2 MiB alignment without the advice
/// measuring the same; bench_conv2d, min of 6 runs in 3 alternations, the 1x1 16 -> 32 at
/// 256x768 (its 25 MB output stored past the caches) 2.56-2.64 ms against 2.76-2.89 ms (2.74-
/// 2.94 aligned without the advice) and 16 -> 64 at 128x384 adding onto its output 1.19-1.22
/// ms against 1.28-1.48. Peak memory of that event 6-8 MB more (134-136 MB against 128 MB).

#include <cstddef>
#include <new>

namespace pxdgen::kernels {

/// Buffers from this size up start on a 2 MiB boundary, are rounded up to whole 2 MiB pages
/// and advised for huge pages: less than half of what they occupy is left unused.
constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kHugePageThreshold = kHugePageBytes / 2;

/// Whether a buffer of `bytes` goes on huge pages (and on a 2 MiB boundary).
bool on_huge_pages(size_t bytes);

/// At least `bytes` of uninitialized memory, 64-byte aligned (huge pages as above). Throws
/// std::bad_alloc. Free with free_tensor_memory and the same `bytes`.
void* allocate_tensor_memory(size_t bytes);
void free_tensor_memory(void* p, size_t bytes) noexcept;

/// Memory cut in pieces from blocks of tensor memory that live as long as the arena: for what a
/// network writes once, at load, and keeps (its prepared weights). Touching fresh 4 KiB pages
/// can cost more than filling them: on one Zen 5 core, first writes to 16 MB took 50 ms on
/// small pages and 1.3 ms on huge ones. One block of huge pages for all of a network's pieces
/// faults a few 2 MiB pages in where pieces of their own would each round up to whole ones.
class TensorArena {
 public:
  TensorArena() = default;
  TensorArena(const TensorArena&) = delete;
  TensorArena& operator=(const TensorArena&) = delete;
  ~TensorArena();

  /// `floats` zeroed floats, 64-byte aligned.
  float* take_floats(size_t floats);

 private:
  /// Blocks from this size (larger for a larger piece); the untouched end of the last one
  /// stays virtual.
  static constexpr size_t kBlockBytes = size_t{16} << 20;
  /// A block's header, at its start; its pieces follow it.
  struct Block {
    Block* previous;
    size_t bytes, used;
  };
  Block* last_ = nullptr;
};

/// std::vector's allocator for tensors: std::vector<float, TensorAllocator<float>>.
template <class T>
struct TensorAllocator {
  using value_type = T;
  TensorAllocator() = default;
  template <class U>
  TensorAllocator(const TensorAllocator<U>&) {}
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(allocate_tensor_memory(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { free_tensor_memory(p, n * sizeof(T)); }
  bool operator==(const TensorAllocator&) const { return true; }
  bool operator!=(const TensorAllocator&) const { return false; }
};

}  // namespace pxdgen::kernels
