#pragma once
/// @file builtin_model.hpp
/// Models made from a seed instead of a file: the library's embedded default and small
/// models for tests and benchmarks.

#include <cstdint>
#include <string>
#include <vector>

namespace pxdgen {

/// A BigGAN-deep family generator with random weights, spectral norm already folded.
struct RandomBigGanSpec {
  std::string variant = "ieagan_production";  ///< ieagan_production, ieagan_research, biggan
  int ch = 32;
  int depth = 2;
  int dim_z = 128;
  int shared_dim = 128;
  std::vector<int> attention_stages;  ///< non-local attention after these stages
  uint64_t seed = 20261123;
  /// Bias of the final convolution: sets how sparse the random output is.
  float output_bias = -0.48f;
  bool fp16 = false;
};

/// The complete .pxdg file image of such a model.
std::vector<uint8_t> make_random_biggan(const RandomBigGanSpec& spec);

}  // namespace pxdgen
