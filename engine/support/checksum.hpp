#pragma once
/// @file checksum.hpp
/// Checksums used by the model format and for provenance.

#include <cstddef>
#include <cstdint>
#include <string>

namespace pxdgen {

/// CRC-32 (IEEE 802.3, the zip/zlib polynomial). `crc` continues a previous value.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

/// SHA-256 of a byte range, as 64 lowercase hex digits.
std::string sha256_hex(const void* data, size_t size);

/// sha256_hex without the CPU's SHA instructions, which sha256_hex uses where the CPU has them:
/// the portable definition the tests hold them to.
std::string sha256_hex_portable(const void* data, size_t size);

/// SHA-256 of a whole file, as 64 lowercase hex digits. Throws pxdgen::Error if unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace pxdgen
