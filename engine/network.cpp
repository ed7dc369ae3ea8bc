#include "engine/network.hpp"

namespace pxdgen {

int checked_int(const nlohmann::json& value, const std::string& what, int lo, int hi) {
  // is_number_integer excludes floats: converting an out-of-range float to int is undefined.
  const bool in_range = value.is_number_integer() &&
                        !(value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(hi)) &&
                        value.get<int64_t>() >= lo && value.get<int64_t>() <= hi;
  if (!in_range)
    throw Error("\"" + what + "\" must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                ", not " + value.dump());
  return static_cast<int>(value.get<int64_t>());
}

int header_int(const nlohmann::json& object, const char* key, int lo, int hi, std::optional<int> fallback) {
  const auto it = object.find(key);
  if (it != object.end()) return checked_int(*it, key, lo, hi);
  if (fallback) return *fallback;
  throw Error(std::string("header has no \"") + key + "\"");
}

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
