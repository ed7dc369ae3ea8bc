#include "engine/model_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"

namespace pxdgen {
namespace {

// PNG-style magic: a text-mode transfer or truncation to 7 bits breaks it visibly.
constexpr uint8_t kMagic[8] = {'P', 'X', 'D', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
constexpr size_t kPreambleSize = 24;  // magic, version, reserved, header size
constexpr uint64_t kMaxHeaderSize = 64ull << 20;
constexpr int kMaxRank = 8;

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

template <typename T>
T load_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void store_le(std::vector<uint8_t>& out, T value) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

/// A non-negative integer of the header, at most `limit`. nlohmann's get<>() would convert
/// a float or a negative number silently (an out-of-range float with undefined behaviour),
/// so the JSON type is checked first.
uint64_t header_uint(const nlohmann::json& value, const std::string& what, uint64_t limit) {
  if (!value.is_number_unsigned() || value.get<uint64_t>() > limit)
    throw Error(what + " must be an integer in 0.." + std::to_string(limit) + ", not " + value.dump());
  return value.get<uint64_t>();
}

StorageType parse_storage_type(const std::string& name, const std::string& where) {
  if (name == "f32") return StorageType::f32;
  if (name == "f16") return StorageType::f16;
  throw Error(where + ": unknown dtype '" + name + "' (expected f32 or f16)");
}

}  // namespace

const char* storage_type_name(StorageType type) { return type == StorageType::f16 ? "f16" : "f32"; }
size_t storage_type_size(StorageType type) { return type == StorageType::f16 ? 2 : 4; }

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

ModelFile::~ModelFile() {
  if (mapping_ != nullptr) munmap(mapping_, size_);
}

std::shared_ptr<const ModelFile> ModelFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open model file '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("model file '" + path + "' is not a regular file");
  }
  std::shared_ptr<ModelFile> file(new ModelFile());
  file->name_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ < kPreambleSize) {
    ::close(fd);
    throw Error("model file '" + path + "' is too short (" + std::to_string(file->size_) +
                " bytes) to be a pxdgen model");
  }
  void* mapping = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping == MAP_FAILED) throw Error("cannot map model file '" + path + "'");
  file->mapping_ = mapping;
  file->bytes_ = static_cast<const uint8_t*>(mapping);
  file->parse();
  return file;
}

std::shared_ptr<const ModelFile> ModelFile::from_bytes(std::vector<uint8_t> bytes,
                                                       const std::string& name) {
  std::shared_ptr<ModelFile> file(new ModelFile());
  file->name_ = name;
  file->owned_ = std::move(bytes);
  file->bytes_ = file->owned_.data();
  file->size_ = file->owned_.size();
  file->parse();
  return file;
}

const TensorEntry* ModelFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void ModelFile::parse() {
  const std::string where = "model file '" + name_ + "'";
  if (size_ < kPreambleSize || std::memcmp(bytes_, kMagic, sizeof kMagic) != 0)
    throw Error(where + " is not a pxdgen model (bad magic); convert checkpoints with "
                "'pxdgen convert'");
  const uint32_t version = load_le<uint32_t>(bytes_ + 8);
  if (version != kVersion)
    throw Error(where + " has format version " + std::to_string(version) +
                ", this pxdgen reads version " + std::to_string(kVersion));
  const uint64_t header_size = load_le<uint64_t>(bytes_ + 16);
  if (header_size == 0 || header_size > kMaxHeaderSize || header_size > size_ - kPreambleSize)
    throw Error(where + " is truncated or corrupt: header size " + std::to_string(header_size) +
                " does not fit in " + std::to_string(size_) + " bytes");
  const char* text = reinterpret_cast<const char*>(bytes_ + kPreambleSize);
  try {
    header_ = nlohmann::json::parse(text, text + header_size);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + " has a corrupt JSON header: " + e.what());
  }
  const uint64_t data_start = align_up(kPreambleSize + header_size, kAlignment);
  try {
    if (!header_.is_object()) throw Error("header is not a JSON object");
    const uint64_t data_size = header_uint(header_.at("data_size"), "\"data_size\"", std::numeric_limits<uint64_t>::max());
    if (data_start > size_ || size_ - data_start != data_size)
      throw Error("file is " + std::to_string(size_) + " bytes but the header says " +
                  std::to_string(data_start + data_size) + " (truncated or padded)");
    data_ = bytes_ + data_start;
    if (!header_.contains("family") || !header_["family"].is_string())
      throw Error("header has no \"family\"");
    const auto& table = header_.at("tensors");
    if (!table.is_array()) throw Error("\"tensors\" is not an array");
    tensors_.reserve(table.size());
    for (const auto& item : table) {
      TensorEntry e;
      e.name = item.at("name").get<std::string>();
      const std::string tw = "tensor '" + e.name + "'";
      e.type = parse_storage_type(item.at("dtype").get<std::string>(), tw);
      const auto& shape = item.at("shape");
      if (!shape.is_array() || shape.size() > kMaxRank) throw Error(tw + ": bad shape");
      uint64_t numel = 1;
      for (const auto& d : shape) {
        if (!d.is_number_integer()) throw Error(tw + ": dimension " + d.dump() + " is not an integer");
        const int64_t dim = d.is_number_unsigned() && d.get<uint64_t>() > data_size ? -1 : d.get<int64_t>();
        if (dim <= 0 || static_cast<uint64_t>(dim) > data_size)
          throw Error(tw + ": dimension " + d.dump() + " out of range");
        numel *= static_cast<uint64_t>(dim);
        if (numel > data_size) throw Error(tw + ": shape larger than the data section");
        e.shape.push_back(dim);
      }
      e.offset = header_uint(item.at("offset"), tw + ": offset", std::numeric_limits<uint64_t>::max());
      e.size = header_uint(item.at("size"), tw + ": size", std::numeric_limits<uint64_t>::max());
      e.crc32 = static_cast<uint32_t>(header_uint(item.at("crc32"), tw + ": crc32", std::numeric_limits<uint32_t>::max()));
      if (e.size != numel * storage_type_size(e.type))
        throw Error(tw + ": size " + std::to_string(e.size) + " does not match its shape");
      if (e.offset % kAlignment != 0) throw Error(tw + ": offset is not 64-byte aligned");
      if (e.offset > data_size || e.size > data_size - e.offset)
        throw Error(tw + ": data lies past the end of the file");
      if (index_.count(e.name)) throw Error(tw + " appears twice");
      index_[e.name] = tensors_.size();
      tensors_.push_back(std::move(e));
    }
    std::vector<const TensorEntry*> by_offset;
    for (const auto& e : tensors_) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorEntry* a, const TensorEntry* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
      if (by_offset[i - 1]->offset + by_offset[i - 1]->size > by_offset[i]->offset)
        throw Error("tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                    "' overlap");
    for (const auto& e : tensors_)
      if (crc32(data_ + e.offset, e.size) != e.crc32)
        throw Error("tensor '" + e.name + "' fails its checksum (the file is corrupt)");
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + " has an inconsistent header: " + e.what());
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

const std::string& ModelFile::sha256() const {
  std::call_once(sha256_once_, [this] { sha256_ = sha256_hex(bytes_, size_); });
  return sha256_;
}

ModelFileWriter::ModelFileWriter(nlohmann::json header) : header_(std::move(header)) {}

void ModelFileWriter::add(const std::string& name, const std::vector<int64_t>& shape,
                          const float* values, StorageType type) {
  Pending p;
  p.entry.name = name;
  p.entry.type = type;
  p.entry.shape = shape;
  const int64_t n = p.entry.numel();
  p.bytes.resize(static_cast<size_t>(n) * storage_type_size(type));
  if (type == StorageType::f32) {
    std::memcpy(p.bytes.data(), values, p.bytes.size());
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t h = float_to_half(values[i]);
      std::memcpy(p.bytes.data() + 2 * i, &h, 2);
    }
  }
  p.entry.size = p.bytes.size();
  p.entry.crc32 = crc32(p.bytes.data(), p.bytes.size());
  tensors_.push_back(std::move(p));
}

std::vector<uint8_t> ModelFileWriter::bytes() const {
  nlohmann::json header = header_;
  nlohmann::json table = nlohmann::json::array();
  uint64_t offset = 0;
  for (const auto& p : tensors_) {
    table.push_back({{"name", p.entry.name},
                     {"dtype", storage_type_name(p.entry.type)},
                     {"shape", p.entry.shape},
                     {"offset", offset},
                     {"size", p.entry.size},
                     {"crc32", p.entry.crc32}});
    offset = align_up(offset + p.entry.size, ModelFile::kAlignment);
  }
  header["tensors"] = table;
  header["data_size"] = offset;
  const std::string text = header.dump(1);
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  store_le<uint32_t>(out, ModelFile::kVersion);
  store_le<uint32_t>(out, 0);
  store_le<uint64_t>(out, text.size());
  out.insert(out.end(), text.begin(), text.end());
  out.resize(align_up(out.size(), ModelFile::kAlignment), 0);
  const size_t data_start = out.size();
  out.resize(data_start + offset, 0);
  uint64_t at = 0;
  for (const auto& p : tensors_) {
    std::memcpy(out.data() + data_start + at, p.bytes.data(), p.bytes.size());
    at = align_up(at + p.entry.size, ModelFile::kAlignment);
  }
  return out;
}

void ModelFileWriter::write(const std::string& path) const { write_file_atomically(path, bytes()); }

void write_file_atomically(const std::string& path, const std::vector<uint8_t>& image) {
  const std::string temp = path + ".partial";
  FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) throw Error("cannot write '" + temp + "': " + std::strerror(errno));
  const bool ok = std::fwrite(image.data(), 1, image.size(), f) == image.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(temp.c_str());
    throw Error("cannot write '" + path + "' (disk full?)");
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw Error("cannot rename '" + temp + "' to '" + path + "': " + reason);
  }
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xFFu;
  uint32_t mantissa = x & 0x7FFFFFu;
  if (exponent == 0xFF) return static_cast<uint16_t>(sign | 0x7C00u | (mantissa ? 0x200u : 0));
  int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: correct
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t value) {
  const uint32_t sign = static_cast<uint32_t>(value & 0x8000u) << 16;
  const uint32_t exponent = (value >> 10) & 0x1Fu;
  uint32_t mantissa = value & 0x3FFu;
  uint32_t x;
  if (exponent == 0) {
    if (mantissa == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3FFu) << 13);
    }
  } else if (exponent == 31) {
    x = sign | 0x7F800000u | (mantissa << 13);
  } else {
    x = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace pxdgen
