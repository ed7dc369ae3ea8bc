#pragma once
/// @file npy.hpp
/// NumPy .npy files (format 1.0-3.0) of little-endian float32, for latents and dense
/// images exchanged with Python.

#include <cstdint>
#include <string>
#include <vector>

namespace pxdgen::npy {

/// A float32 array in C order.
struct Array {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// Reads a C-order '<f4' array (a '<f8' array is converted to float32). Throws
/// pxdgen::Error with a clear message for anything else: bad magic, Fortran order,
/// other dtypes, a header that lies about the size, truncated data.
Array read(const std::string& path);
Array read_bytes(const uint8_t* data, size_t size, const std::string& name);

/// Streams a float32 array to disk in pieces, so a (E,40,256,768) image file never has to
/// sit in memory. The file is written under a temporary name and renamed by finish();
/// destroying an unfinished writer removes the temporary file.
class Writer {
 public:
  Writer(const std::string& path, const std::vector<int64_t>& shape);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  void append(const float* values, size_t count);
  /// Checks that exactly product(shape) values were written, then renames into place.
  void finish();

 private:
  std::string path_, temp_path_;
  void* file_ = nullptr;  // FILE*
  uint64_t expected_ = 0, written_ = 0;
};

/// Writes a whole array at once (through Writer).
void write(const std::string& path, const Array& array);

}  // namespace pxdgen::npy
