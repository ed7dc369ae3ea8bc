#pragma once
/// @file zip_archive.hpp
/// Read-only view of a zip archive held in memory, enough for the containers torch.save
/// writes: entries stored without compression are handed out as views into the buffer,
/// never copied. Zip64 archives are understood; compressed or encrypted entries are
/// listed but cannot be read (pxdgen carries no inflate).

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace pxdgen::converter {

/// One file of the archive, as its central directory describes it.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;  ///< 0 = stored; anything else is compressed
  uint16_t flags = 0;   ///< general purpose bit flags (bit 0: encrypted)
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

/// Bytes of one entry, pointing into the archive's buffer.
struct ZipView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

/// Parses the central directory on construction and throws pxdgen::Error if the archive
/// is malformed. The buffer is borrowed: it must outlive the archive and every view.
class ZipArchive {
 public:
  /// `name` identifies the archive in error messages (usually its path).
  ZipArchive(const uint8_t* data, size_t size, std::string name);

  const std::string& name() const { return name_; }
  /// Entries in central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  /// The entry with exactly this name, or nullptr.
  const ZipEntry* find(const std::string& entry_name) const;

  /// Contents of a stored entry. Throws pxdgen::Error for compressed or encrypted entries,
  /// a local header that disagrees with the directory, data outside the buffer, or (when
  /// `verify_crc`) a CRC-32 mismatch.
  ZipView read(const ZipEntry& entry, bool verify_crc = false) const;
  /// Same, by name; a missing entry is an error.
  ZipView read(const std::string& entry_name, bool verify_crc = false) const;

 private:
  const uint8_t* data_;
  size_t size_;
  std::string name_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

/// True when the bytes start like a zip archive (a local header or an empty archive's
/// end record), so callers can pick a reader before committing to one.
bool looks_like_zip(const uint8_t* data, size_t size);

}  // namespace pxdgen::converter
