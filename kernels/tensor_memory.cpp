#include "kernels/tensor_memory.hpp"

#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pxdgen::kernels {

bool on_huge_pages(size_t bytes) { return bytes >= kHugePageThreshold; }

void* allocate_tensor_memory(size_t bytes) {
  if (!on_huge_pages(bytes)) return ::operator new(bytes, std::align_val_t(64));
  const size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* p = ::operator new(rounded, std::align_val_t(kHugePageBytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: where transparent huge pages are off, the memory stays on small pages and
  // works as well.
  madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

TensorArena::~TensorArena() {
  while (last_ != nullptr) {
    Block* previous = last_->previous;
    free_tensor_memory(last_, last_->bytes);
    last_ = previous;
  }
}

float* TensorArena::take_floats(size_t floats) {
  constexpr size_t kAlign = 64;
  static_assert(sizeof(Block) <= kAlign, "a block's header fits the alignment of its first piece");
  const size_t bytes = (floats * sizeof(float) + kAlign - 1) / kAlign * kAlign;
  if (last_ == nullptr || last_->bytes - last_->used < bytes) {
    const size_t block_bytes = bytes + kAlign > kBlockBytes ? bytes + kAlign : kBlockBytes;
    last_ = new (allocate_tensor_memory(block_bytes)) Block{last_, block_bytes, kAlign};
  }
  char* piece = reinterpret_cast<char*>(last_) + last_->used;
  last_->used += bytes;
  std::memset(piece, 0, bytes);
  return reinterpret_cast<float*>(piece);
}

void free_tensor_memory(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (on_huge_pages(bytes))
    ::operator delete(p, std::align_val_t(kHugePageBytes));
  else
    ::operator delete(p, std::align_val_t(64));
}

}  // namespace pxdgen::kernels
