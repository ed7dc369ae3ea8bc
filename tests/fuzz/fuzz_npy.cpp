// Fuzz target of the .npy reader. The reader has two paths, one over bytes in memory and
// one that streams a file (header first, then the data straight into the result); the
// input goes through both, and both must come to the same array or both refuse it.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "pxdgen/error.hpp"
#include "tools/pxdgen/npy.hpp"

namespace {

/// An in-memory file holding the input, reachable by path.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("npy", MFD_CLOEXEC)) {
    if (fd_ < 0) std::abort();
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { close(fd_); }
  const std::string& hold(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

bool same(const pxdgen::npy::Array& a, const pxdgen::npy::Array& b) {
  return a.shape == b.shape && a.values.size() == b.values.size() &&
         (a.values.empty() || std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static MemoryFile file;
  pxdgen::npy::Array from_memory, from_file;
  bool memory_ok = true, file_ok = true;
  try {
    from_memory = pxdgen::npy::read_bytes(data, size, "fuzz");
  } catch (const pxdgen::Error&) {
    memory_ok = false;
  }
  try {
    from_file = pxdgen::npy::read(file.hold(data, size));
  } catch (const pxdgen::Error&) {
    file_ok = false;
  }
  if (memory_ok != file_ok || (memory_ok && !same(from_memory, from_file))) {
    std::fprintf(stderr, "npy readers disagree: bytes %s, file %s\n", memory_ok ? "read" : "refused",
                 file_ok ? "read" : "refused");
    std::abort();
  }
  if (memory_ok) {
    uint64_t numel = 1;
    for (int64_t d : from_memory.shape) numel *= static_cast<uint64_t>(d);
    if (numel != from_memory.values.size()) std::abort();
  }
  return 0;
}
