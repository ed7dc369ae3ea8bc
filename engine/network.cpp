#include "engine/network.hpp"

namespace pxdgen {

std::unique_ptr<Network> build_network(Weights& weights, const nlohmann::json& header,
                                       Backend backend) {
  const std::string family = header.at("family").get<std::string>();
  const nlohmann::json hparams = header.value("hparams", nlohmann::json::object());
  std::unique_ptr<Network> network;
  try {
    if (family == "biggan_deep") network = build_biggan_deep(weights, hparams, backend);
    else if (family == "wgan_convnet") network = build_wgan_convnet(weights, hparams, backend);
    else if (family == "wgan_resnet") network = build_wgan_resnet(weights, hparams, backend);
    else if (family == "sequential") network = build_sequential(weights, hparams, backend);
    else
      throw Error("unknown model family '" + family +
                  "' (known: biggan_deep, wgan_convnet, wgan_resnet, sequential)");
  } catch (const nlohmann::json::exception& e) {
    throw Error("model hyperparameters of family '" + family + "' are invalid: " + e.what());
  }
  return network;
}

}  // namespace pxdgen
