#include "kernels/tensor_memory.hpp"

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

void free_tensor_memory(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  if (on_huge_pages(bytes))
    ::operator delete(p, std::align_val_t(kHugePageBytes));
  else
    ::operator delete(p, std::align_val_t(64));
}

}  // namespace pxdgen::kernels
