#pragma once
// The archive torch.save writes around a pickle, for the checkpoint fuzz target and the
// corpus replay test: the CRC-32 the reader checks on data.pkl would otherwise reject
// nearly every mutation of a pickle before the pickle machine saw it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/support/checksum.hpp"

namespace pxdgen::fuzz {

inline void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
inline void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

/// A zip archive of stored (uncompressed) entries, as torch.save writes them.
class StoredZip {
 public:
  void add(const std::string& name, const uint8_t* data, size_t size) {
    Entry e{name, pxdgen::crc32(data, size), static_cast<uint32_t>(size), static_cast<uint32_t>(bytes_.size())};
    put32(bytes_, 0x04034b50);
    put16(bytes_, 20);  // version needed
    put16(bytes_, 0);   // flags
    put16(bytes_, 0);   // method: stored
    put32(bytes_, 0);   // time, date
    put32(bytes_, e.crc);
    put32(bytes_, e.size);
    put32(bytes_, e.size);
    put16(bytes_, static_cast<uint32_t>(name.size()));
    put16(bytes_, 0);  // extra length
    bytes_.insert(bytes_.end(), name.begin(), name.end());
    bytes_.insert(bytes_.end(), data, data + size);
    entries_.push_back(e);
  }

  std::vector<uint8_t> finish() {
    const uint32_t directory = static_cast<uint32_t>(bytes_.size());
    for (const Entry& e : entries_) {
      put32(bytes_, 0x02014b50);
      put16(bytes_, 20);  // made by
      put16(bytes_, 20);  // needed
      put16(bytes_, 0);
      put16(bytes_, 0);
      put32(bytes_, 0);
      put32(bytes_, e.crc);
      put32(bytes_, e.size);
      put32(bytes_, e.size);
      put16(bytes_, static_cast<uint32_t>(e.name.size()));
      put16(bytes_, 0);  // extra
      put16(bytes_, 0);  // comment
      put16(bytes_, 0);  // disk
      put16(bytes_, 0);  // internal attributes
      put32(bytes_, 0);  // external attributes
      put32(bytes_, e.offset);
      bytes_.insert(bytes_.end(), e.name.begin(), e.name.end());
    }
    const uint32_t directory_size = static_cast<uint32_t>(bytes_.size()) - directory;
    put32(bytes_, 0x06054b50);
    put32(bytes_, 0);  // disks
    put16(bytes_, static_cast<uint32_t>(entries_.size()));
    put16(bytes_, static_cast<uint32_t>(entries_.size()));
    put32(bytes_, directory_size);
    put32(bytes_, directory);
    put16(bytes_, 0);  // comment
    return std::move(bytes_);
  }

 private:
  struct Entry {
    std::string name;
    uint32_t crc, size, offset;
  };
  std::vector<uint8_t> bytes_;
  std::vector<Entry> entries_;
};

/// The archive of a checkpoint whose data.pkl is `pickle`: storages "0" to "15", each
/// 1 KiB of varied bytes (enough for the tensors of the test checkpoints).
inline std::vector<uint8_t> checkpoint_around(const uint8_t* pickle, size_t size) {
  static const std::vector<uint8_t> storage = [] {
    std::vector<uint8_t> s(1024);
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i * 37 + 11);
    return s;
  }();
  StoredZip zip;
  zip.add("archive/data.pkl", pickle, size);
  for (int k = 0; k < 16; ++k) zip.add("archive/data/" + std::to_string(k), storage.data(), storage.size());
  static const std::string order = "little";
  zip.add("archive/byteorder", reinterpret_cast<const uint8_t*>(order.data()), order.size());
  return zip.finish();
}

}  // namespace pxdgen::fuzz
