#pragma once
/// @file model.hpp
/// What a loaded Model holds: the validated file, its weights and the engine graph.

#include <memory>
#include <mutex>

#include "engine/model_file.hpp"
#include "engine/network.hpp"
#include "engine/weights.hpp"

namespace pxdgen::detail {

struct ModelImpl {
  std::shared_ptr<const ModelFile> file;
  ModelInfo info;
  /// Built at load for every backend, so a bad model fails at load, not mid-run.
  std::unique_ptr<Weights> weights;
  std::unique_ptr<Network> reference;
  std::unique_ptr<Network> fast;

  const Network& network(Backend backend) const {
    return backend == Backend::reference ? *reference : *fast;
  }
};

/// Builds the ModelImpl of a validated file.
std::shared_ptr<const ModelImpl> make_model(std::shared_ptr<const ModelFile> file);

/// The output transform a header asks for ("output": {"cut": x or null, "min_charge": n}).
OutputTransform transform_from_header(const nlohmann::json& header);

}  // namespace pxdgen::detail
