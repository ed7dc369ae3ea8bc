#pragma once
/// @file network.hpp
/// A generator network: the engine graph built from a model file. Every family computes
/// an event in two steps: conditioning over all 40 sensors (embeddings, the relational
/// module), then an independent image synthesis per sensor, which is where the
/// arithmetic is and what runs in parallel.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/layers.hpp"
#include "pxdgen/pxdgen.hpp"

namespace pxdgen {

class Network {
 public:
  virtual ~Network() = default;
  virtual int dim_z() const = 0;
  /// Extra per-sensor random inputs (4 for the IEA-GAN research variant).
  virtual int dim_rdof() const { return 0; }
  /// Length of the per-sensor vector that condition() hands to synthesize().
  virtual int cond_dim() const = 0;
  virtual double macs_per_sensor() const = 0;
  virtual std::string variant() const { return ""; }

  /// z: 40 x dim_z, rdof: 40 x dim_rdof (null if 0) -> cond: 40 x cond_dim, on up to
  /// `threads` OpenMP threads.
  virtual void condition(const float* z, const float* rdof, float* cond, int threads) const = 0;
  /// One sensor's pre-tanh image (256 x 768) from its conditioning vector.
  virtual void synthesize(int sensor, const float* cond, Workspace& ws,
                          float* logits) const = 0;
};

/// A generator without class conditioning: a sensor's image depends on its own z only,
/// so the conditioning step just hands each sensor its z.
class UnconditionalNetwork : public Network {
 public:
  int dim_z() const override { return dim_z_; }
  int cond_dim() const override { return dim_z_; }
  double macs_per_sensor() const override { return macs_; }
  void condition(const float* z, const float*, float* cond, int) const override {
    std::copy(z, z + static_cast<size_t>(kSensors) * dim_z_, cond);
  }

 protected:
  int dim_z_ = 0;
  double macs_ = 0;
};

/// Largest width (channels, features, latent dims, strides, padding) a header may state.
/// Far beyond any PXD generator; it keeps the int arithmetic on shapes exact.
constexpr int kMaxHeaderWidth = 1 << 24;

/// A header value that must be an integer in [lo, hi]. Header values come from a file and
/// size loops and buffers, so each is checked before any arithmetic: a float, a string or
/// an integer out of range is an Error naming `what`.
int checked_int(const nlohmann::json& value, const std::string& what, int lo, int hi);
/// The same for `key` of a header object; `fallback` when absent (absent without a
/// fallback is an error).
int header_int(const nlohmann::json& object, const char* key, int lo, int hi,
               std::optional<int> fallback = std::nullopt);

/// Builds the network the header's "family" names. Throws pxdgen::Error for an unknown
/// family or tensors that do not fit it.
std::unique_ptr<Network> build_network(Weights& weights, const nlohmann::json& header,
                                       Backend backend);

std::unique_ptr<Network> build_biggan_deep(Weights& weights, const nlohmann::json& hparams,
                                           Backend backend);
std::unique_ptr<Network> build_wgan_convnet(Weights& weights, const nlohmann::json& hparams,
                                            Backend backend);
std::unique_ptr<Network> build_wgan_resnet(Weights& weights, const nlohmann::json& hparams,
                                           Backend backend);
std::unique_ptr<Network> build_sequential(Weights& weights, const nlohmann::json& hparams,
                                          Backend backend);

}  // namespace pxdgen
