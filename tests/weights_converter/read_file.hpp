#pragma once
// Test support: whole files as bytes.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace pxdgen::test {

/// The bytes of `path`; empty if it cannot be read.
inline std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> data;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return data;
  uint8_t buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
  std::fclose(f);
  return data;
}

}  // namespace pxdgen::test
