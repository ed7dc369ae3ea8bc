#pragma once
/// @file model_file.hpp
/// The .pxdg model file: magic, version, a JSON header (family, hyperparameters, output
/// transform, provenance, tensor table) and 64-byte aligned tensor data. docs/FORMAT.md
/// is the specification; this is its only reader and writer.

#include <cstdint>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pxdgen {

/// Storage type of a tensor in the file.
enum class StorageType { f32, f16 };

const char* storage_type_name(StorageType type);
size_t storage_type_size(StorageType type);

/// One entry of the tensor table.
struct TensorEntry {
  std::string name;
  StorageType type = StorageType::f32;
  std::vector<int64_t> shape;  ///< PyTorch dim order
  uint64_t offset = 0;         ///< from the start of the data section, a multiple of 64
  uint64_t size = 0;           ///< bytes
  uint32_t crc32 = 0;
  int64_t numel() const;
};

/// A model file opened for reading: the file is memory-mapped (or held in memory) and
/// fully validated on open, so everything handed out afterwards is in bounds.
class ModelFile {
 public:
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kAlignment = 64;

  /// Maps and validates the file. Throws pxdgen::Error naming what is wrong.
  static std::shared_ptr<const ModelFile> open(const std::string& path);
  /// Validates a file image already in memory (the embedded model, fuzzing).
  static std::shared_ptr<const ModelFile> from_bytes(std::vector<uint8_t> bytes,
                                                     const std::string& name);
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  const nlohmann::json& header() const { return header_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const TensorEntry* find(const std::string& name) const;
  /// Raw bytes of a tensor's data (storage type as in its entry).
  const uint8_t* data(const TensorEntry& entry) const { return data_ + entry.offset; }
  /// SHA-256 of the whole file, as hex. Computed on first use: it identifies the file
  /// in provenance records but costs several times the rest of a load.
  const std::string& sha256() const;
  const std::string& name() const { return name_; }
  uint64_t file_size() const { return size_; }

 private:
  ModelFile() = default;
  void parse();

  std::string name_;
  std::vector<uint8_t> owned_;      // when built from memory
  void* mapping_ = nullptr;         // when mapped
  const uint8_t* bytes_ = nullptr;  // whole file
  uint64_t size_ = 0;
  const uint8_t* data_ = nullptr;   // data section
  nlohmann::json header_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t> index_;
  mutable std::once_flag sha256_once_;
  mutable std::string sha256_;
};

/// Builds a model file: add tensors (float32 values, stored as `type`), set the header
/// fields, then write. The writer adds the tensor table and data size itself.
class ModelFileWriter {
 public:
  /// `header` holds everything but "tensors" and "data_size".
  explicit ModelFileWriter(nlohmann::json header);
  void add(const std::string& name, const std::vector<int64_t>& shape, const float* values,
           StorageType type);
  /// The complete file image.
  std::vector<uint8_t> bytes() const;
  /// Writes to a temporary file beside `path` and renames it into place, so a failed
  /// conversion never leaves a file that looks complete.
  void write(const std::string& path) const;

 private:
  nlohmann::json header_;
  struct Pending {
    TensorEntry entry;
    std::vector<uint8_t> bytes;
  };
  std::vector<Pending> tensors_;
};

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so a
/// failure never leaves a file that looks complete. Throws pxdgen::Error.
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);

/// IEEE half <-> float, round to nearest even.
uint16_t float_to_half(float value);
float half_to_float(uint16_t value);

}  // namespace pxdgen
