#pragma once
/// @file convert.hpp
/// PyTorch checkpoint -> .pxdg: recognize the family from key names, infer the
/// hyperparameters from shapes, fold spectral norm, check every tensor against the engine.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_file.hpp"
#include "weights_converter/torch_checkpoint.hpp"

namespace pxdgen::converter {

struct ConvertOptions {
  /// Training config JSON (published IEA-GAN keys: G_ch, G_depth, dim_z, G_attn, SN_eps,
  /// ...), or for a plain layer stack its layer list. Empty: none.
  std::string config_path;
  /// PE-GAN's per-sensor prior: JSON {"occupancy": [40 values]} or a list of 40 values.
  std::string prior_path;
  /// Dotted key of the state dict inside the checkpoint ("G_ema"); empty: found.
  std::string key;
  StorageType storage = StorageType::f32;
};

struct ConvertResult {
  std::string family, variant;
  nlohmann::json hparams;
  std::vector<std::string> folded;   ///< layers whose spectral norm was folded
  std::vector<std::string> dropped;  ///< checkpoint keys not needed by the engine
  std::vector<uint8_t> file;         ///< the .pxdg image
};

/// Converts a state dict already read. `source_name` and `source_sha256` go into the
/// provenance. Throws pxdgen::Error listing every missing tensor or shape mismatch.
ConvertResult convert_state_dict(const TorchStateDict& state, const ConvertOptions& options,
                                 const std::string& source_name, const std::string& source_sha256);

/// Reads `input`, converts, and writes `output` atomically (temporary name, then rename).
ConvertResult convert_checkpoint(const std::string& input, const std::string& output,
                                 const ConvertOptions& options);

}  // namespace pxdgen::converter
