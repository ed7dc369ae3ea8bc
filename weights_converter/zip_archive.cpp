#include "weights_converter/zip_archive.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"

namespace pxdgen::converter {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

constexpr size_t kEndSize = 22;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kMaxCommentSize = 0xFFFF;

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint64_t le64(const uint8_t* p) { return uint64_t{le32(p)} | (uint64_t{le32(p + 4)} << 32); }

/// Whether [offset, offset + length) lies inside [0, limit), without overflowing.
bool fits(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

const char* method_name(uint16_t method) {
  switch (method) {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "an unknown method";
  }
}

}  // namespace

bool looks_like_zip(const uint8_t* data, size_t size) {
  return size >= 4 && (le32(data) == kLocalHeaderSig || le32(data) == kEndSig);
}

ZipArchive::ZipArchive(const uint8_t* data, size_t size, std::string name)
    : data_(data), size_(size), name_(std::move(name)) {
  const auto fail = [&](const std::string& what) -> Error {
    return Error("'" + name_ + "' is not a readable zip archive: " + what);
  };
  if (data_ == nullptr || size_ < kEndSize) throw fail("too short to hold an end-of-central-directory record");

  // The end record sits after the central directory and is followed only by an archive
  // comment of up to 64 KiB, so it is searched for backwards. A record whose comment
  // length reaches exactly to the end of the file is preferred over one that merely fits,
  // because a comment may itself contain the signature bytes.
  const size_t last = size_ - kEndSize;
  const size_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
  size_t end_pos = SIZE_MAX, loose_pos = SIZE_MAX;
  for (size_t pos = last + 1; pos-- > first;) {
    if (le32(data_ + pos) != kEndSig) continue;
    const size_t comment = le16(data_ + pos + 20);
    if (pos + kEndSize + comment == size_) {
      end_pos = pos;
      break;
    }
    if (loose_pos == SIZE_MAX && pos + kEndSize + comment <= size_) loose_pos = pos;
  }
  if (end_pos == SIZE_MAX) end_pos = loose_pos;
  if (end_pos == SIZE_MAX) throw fail("no end-of-central-directory record (truncated file?)");

  const uint8_t* end = data_ + end_pos;
  uint64_t disk = le16(end + 4), cd_disk = le16(end + 6);
  uint64_t disk_entries = le16(end + 8), total_entries = le16(end + 10);
  uint64_t cd_size = le32(end + 12), cd_offset = le32(end + 16);
  // Everything the directory may occupy lies before this point.
  uint64_t directory_limit = end_pos;

  if (end_pos >= kZip64LocatorSize && le32(data_ + end_pos - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* locator = data_ + end_pos - kZip64LocatorSize;
    const uint32_t record_disk = le32(locator + 4);
    const uint64_t record_pos = le64(locator + 8);
    if (record_disk != 0) throw fail("multi-volume archives are not supported");
    if (!fits(record_pos, kZip64EndSize, end_pos - kZip64LocatorSize))
      throw fail("zip64 end record offset " + std::to_string(record_pos) + " is outside the file");
    const uint8_t* record = data_ + record_pos;
    if (le32(record) != kZip64EndSig) throw fail("zip64 end record signature is missing");
    disk = le32(record + 16);
    cd_disk = le32(record + 20);
    disk_entries = le64(record + 24);
    total_entries = le64(record + 32);
    cd_size = le64(record + 40);
    cd_offset = le64(record + 48);
    directory_limit = record_pos;
  } else if (total_entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    throw fail("the end record points to zip64 data but the zip64 locator is missing");
  }

  if (disk != 0 || cd_disk != 0 || disk_entries != total_entries)
    throw fail("multi-volume archives are not supported");
  if (!fits(cd_offset, cd_size, directory_limit))
    throw fail("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
               " bytes) lies outside the file");
  if (total_entries > cd_size / kCentralHeaderSize)
    throw fail("central directory claims " + std::to_string(total_entries) + " entries but has room for at most " +
               std::to_string(cd_size / kCentralHeaderSize));

  entries_.reserve(static_cast<size_t>(total_entries));
  const uint8_t* p = data_ + cd_offset;
  const uint8_t* const cd_end = p + cd_size;
  for (uint64_t i = 0; i < total_entries; ++i) {
    const std::string which = "central directory entry " + std::to_string(i);
    if (static_cast<size_t>(cd_end - p) < kCentralHeaderSize || le32(p) != kCentralHeaderSig)
      throw fail(which + " is missing or damaged");
    ZipEntry e;
    e.flags = le16(p + 8);
    e.method = le16(p + 10);
    e.crc32 = le32(p + 16);
    e.compressed_size = le32(p + 20);
    e.uncompressed_size = le32(p + 24);
    const size_t name_len = le16(p + 28), extra_len = le16(p + 30), comment_len = le16(p + 32);
    uint64_t start_disk = le16(p + 34);
    e.local_header_offset = le32(p + 42);
    const size_t record_len = kCentralHeaderSize + name_len + extra_len + comment_len;
    if (static_cast<size_t>(cd_end - p) < record_len) throw fail(which + " runs past the end of the directory");
    e.name.assign(reinterpret_cast<const char*>(p + kCentralHeaderSize), name_len);

    // Fields too large for their 32-bit slots are saturated and moved, in a fixed order,
    // into the zip64 extra field; only the saturated ones are present there.
    const bool need_usize = e.uncompressed_size == 0xFFFFFFFF, need_csize = e.compressed_size == 0xFFFFFFFF;
    const bool need_offset = e.local_header_offset == 0xFFFFFFFF, need_disk = start_disk == 0xFFFF;
    if (need_usize || need_csize || need_offset || need_disk) {
      const uint8_t* x = p + kCentralHeaderSize + name_len;
      const uint8_t* const x_end = x + extra_len;
      bool found = false;
      while (x_end - x >= 4) {
        const uint16_t id = le16(x), len = le16(x + 2);
        if (x_end - x - 4 < len) throw fail(which + " ('" + e.name + "') has a damaged extra field");
        if (id == 0x0001) {
          const uint8_t* f = x + 4;
          const uint8_t* const f_end = f + len;
          const auto take = [&](uint64_t& out, size_t width) {
            if (static_cast<size_t>(f_end - f) < width) throw fail(which + " ('" + e.name + "') has a short zip64 field");
            out = width == 8 ? le64(f) : le32(f);
            f += width;
          };
          if (need_usize) take(e.uncompressed_size, 8);
          if (need_csize) take(e.compressed_size, 8);
          if (need_offset) take(e.local_header_offset, 8);
          if (need_disk) take(start_disk, 4);
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) throw fail(which + " ('" + e.name + "') needs a zip64 extra field but has none");
    }
    if (start_disk != 0) throw fail("multi-volume archives are not supported");
    if (!fits(e.local_header_offset, kLocalHeaderSize, cd_offset))
      throw fail("entry '" + e.name + "' has its local header outside the file");
    index_.emplace(e.name, entries_.size());
    entries_.push_back(std::move(e));
    p += record_len;
  }
}

const ZipEntry* ZipArchive::find(const std::string& entry_name) const {
  const auto it = index_.find(entry_name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

ZipView ZipArchive::read(const std::string& entry_name, bool verify_crc) const {
  const ZipEntry* e = find(entry_name);
  if (e == nullptr) throw Error("'" + name_ + "' has no entry '" + entry_name + "'");
  return read(*e, verify_crc);
}

ZipView ZipArchive::read(const ZipEntry& e, bool verify_crc) const {
  const std::string where = "entry '" + e.name + "' of '" + name_ + "'";
  if ((e.flags & 1u) != 0) throw Error(where + " is encrypted");
  if (e.method != 0)
    throw Error(where + " is compressed (" + method_name(e.method) +
                "); only uncompressed entries can be read, as torch.save writes them: re-save the file with torch.save");
  if (e.compressed_size != e.uncompressed_size)
    throw Error(where + " is stored uncompressed but its sizes disagree (" + std::to_string(e.compressed_size) +
                " vs " + std::to_string(e.uncompressed_size) + ")");
  // The directory was checked to place the header before itself; recheck against the
  // buffer for entries built by hand.
  if (!fits(e.local_header_offset, kLocalHeaderSize, size_)) throw Error(where + ": local header outside the file");
  const uint8_t* local = data_ + e.local_header_offset;
  if (le32(local) != kLocalHeaderSig) throw Error(where + ": local header signature is missing");
  if (le16(local + 8) != e.method) throw Error(where + ": local header disagrees with the directory on the method");
  // The local extra field may differ in length from the central one (writers pad it to
  // align the data), so the data offset comes from the local lengths.
  const uint64_t name_len = le16(local + 26), extra_len = le16(local + 28);
  const uint64_t data_offset = e.local_header_offset + kLocalHeaderSize + name_len + extra_len;
  if (!fits(e.local_header_offset + kLocalHeaderSize, name_len, size_) ||
      std::string(reinterpret_cast<const char*>(local + kLocalHeaderSize), name_len) != e.name)
    throw Error(where + ": local header names a different file");
  if (!fits(data_offset, e.compressed_size, size_))
    throw Error(where + ": its " + std::to_string(e.compressed_size) + " bytes run past the end of the file (truncated?)");
  ZipView view{data_ + data_offset, static_cast<size_t>(e.compressed_size)};
  if (verify_crc) {
    const uint32_t actual = pxdgen::crc32(view.data, view.size);
    if (actual != e.crc32) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "CRC-32 is %08x, the directory says %08x", actual, e.crc32);
      throw Error(where + " is corrupt: " + buf);
    }
  }
  return view;
}

}  // namespace pxdgen::converter
