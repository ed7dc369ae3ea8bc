#pragma once
/// @file torch_checkpoint.hpp
/// Reads the tensors of a PyTorch checkpoint as torch.save writes it (zip container,
/// torch >= 1.6) without Python: the zip directory and the pickle subset state dicts use.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pxdgen::converter {

/// Element type of a tensor's storage in the checkpoint.
enum class TorchDType { f32, f64, f16, bf16, i64, i32, i16, i8, u8, boolean };

/// Name as PyTorch spells the storage class ("FloatStorage" -> "float32").
const char* torch_dtype_name(TorchDType dtype);

/// One tensor of a state dict, copied out of its storage into contiguous row-major
/// float32 (strides and storage offset applied), whatever it was stored as.
struct TorchTensor {
  TorchDType source_dtype = TorchDType::f32;
  std::vector<int64_t> shape;  ///< PyTorch dim order; empty for a scalar
  std::vector<float> values;   ///< product(shape) values
};

/// The state dict found in a checkpoint.
struct TorchStateDict {
  /// Dotted key path of the state dict inside the pickled object ("" when the
  /// checkpoint is the state dict itself, "G" or "state_dict" when nested).
  std::string path;
  /// Tensors in file order, keyed by their state-dict names.
  std::vector<std::pair<std::string, TorchTensor>> tensors;
  /// Non-tensor entries of the state dict that were skipped (e.g. python ints).
  std::vector<std::string> skipped_keys;
};

/// Reads the state dict of the checkpoint at `path`. `key` selects a nested state dict
/// by dotted path ("G", "G_ema", "model.state_dict"); when empty, the top-level object
/// is used if it holds tensors, else the single nested dict of tensors (an ambiguous
/// choice is an error that lists the candidates). Throws pxdgen::Error with a clear
/// message for anything unreadable, including pre-1.6 (legacy tar/pickle) files.
TorchStateDict read_torch_checkpoint(const std::string& path, const std::string& key = "");

/// Same, from bytes already in memory (`name` is used in messages only).
TorchStateDict read_torch_checkpoint_bytes(const uint8_t* data, size_t size,
                                           const std::string& name,
                                           const std::string& key = "");

}  // namespace pxdgen::converter
