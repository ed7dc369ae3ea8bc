#include "weights_converter/convert.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "engine/model.hpp"
#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"
#include "weights_converter/spectral_norm.hpp"

namespace pxdgen::converter {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::json read_json(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + what + " '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + " '" + path + "' is not valid JSON: " + e.what());
  }
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
using TensorMap = std::map<std::string, Tensor>;

/// Replaces every spectrally normalized weight by W / sigma and drops the SN state.
std::vector<std::string> fold_spectral_norm(TensorMap& tensors, double eps) {
  std::vector<std::string> folded;
  std::vector<std::string> names;
  for (const auto& kv : tensors) names.push_back(kv.first);
  for (const std::string& name : names) {
    std::string prefix;
    double sigma = 0;
    Tensor weight;
    if (ends_with(name, ".u0")) {  // BigGAN style: weight, u0, sv0
      prefix = name.substr(0, name.size() - 3);
      auto w = tensors.find(prefix + ".weight");
      if (w == tensors.end()) throw Error("'" + name + "' has no matching '" + prefix + ".weight'");
      const Tensor& u0 = tensors.at(name);
      const int64_t rows = w->second.shape.empty() ? 1 : w->second.shape[0];
      const int64_t cols = rows ? static_cast<int64_t>(w->second.values.size()) / rows : 0;
      if (static_cast<int64_t>(u0.values.size()) != rows)
        throw Error("'" + name + "' has " + std::to_string(u0.values.size()) + " values, expected " +
                    std::to_string(rows) + " (the output size of " + prefix + ")");
      sigma = biggan_sigma(w->second.values.data(), rows, cols, u0.values.data(), eps);
      weight = std::move(w->second);
      tensors.erase(prefix + ".sv0");
      tensors.erase(name);
    } else if (ends_with(name, ".weight_orig")) {  // torch.nn.utils.spectral_norm
      prefix = name.substr(0, name.size() - 12);
      auto u = tensors.find(prefix + ".weight_u");
      auto v = tensors.find(prefix + ".weight_v");
      if (u == tensors.end() || v == tensors.end())
        throw Error("'" + name + "' has no matching weight_u / weight_v");
      Tensor& w = tensors.at(name);
      const int64_t rows = w.shape.empty() ? 1 : w.shape[0];
      const int64_t cols = rows ? static_cast<int64_t>(w.values.size()) / rows : 0;
      if (static_cast<int64_t>(u->second.values.size()) != rows ||
          static_cast<int64_t>(v->second.values.size()) != cols)
        throw Error("spectral-norm vectors of '" + prefix + "' do not match its weight");
      sigma = torch_sigma(w.values.data(), rows, cols, u->second.values.data(), v->second.values.data());
      weight = std::move(w);
      tensors.erase(u);
      tensors.erase(v);
      tensors.erase(name);
    } else {
      continue;
    }
    if (!(std::abs(sigma) > 1e-12) || !std::isfinite(sigma))
      throw Error("spectral norm of '" + prefix + "' is " + std::to_string(sigma) + "; cannot fold");
    for (float& x : weight.values) x = static_cast<float>(x / sigma);
    tensors[prefix + ".weight"] = std::move(weight);
    folded.push_back(prefix);
  }
  // Any leftover logged singular values belong to layers folded above or are unused.
  for (auto it = tensors.begin(); it != tensors.end();)
    it = ends_with(it->first, ".sv0") ? tensors.erase(it) : std::next(it);
  return folded;
}

bool has(const TensorMap& t, const std::string& name) { return t.count(name) != 0; }

/// The shape of tensor `name`, which must be present with `rank` dimensions. Recognition
/// reads shapes the checkpoint chose: a missing key or another rank is the file's error,
/// not an out-of-range lookup.
const std::vector<int64_t>& shape_of(const TensorMap& t, const std::string& name, size_t rank) {
  const auto it = t.find(name);
  if (it == t.end()) throw Error("checkpoint has no tensor '" + name + "', which its other keys call for");
  if (it->second.shape.size() != rank)
    throw Error("tensor '" + name + "' has " + std::to_string(it->second.shape.size()) + " dimensions, expected " +
                std::to_string(rank));
  return it->second.shape;
}

/// Family, variant and hyperparameters from key names and shapes, checked against the
/// training config where one is given.
void recognize(const TensorMap& t, const nlohmann::json& config, ConvertResult& result) {
  if (config.contains("layers")) {
    result.family = "sequential";
    result.hparams = {{"dim_z", config.at("dim_z")}, {"layers", config.at("layers")}};
    return;
  }
  if (has(t, "shared.weight") && has(t, "blocks.0.0.conv1.weight")) {
    result.family = "biggan_deep";
    if (has(t, "linear0.weight")) result.variant = "pegan";
    else if (has(t, "RR_G.norm.weight")) result.variant = has(t, "linear_f.weight") ? "ieagan_research" : "ieagan_production";
    else result.variant = "biggan";
    int blocks = 0;
    while (has(t, "blocks." + std::to_string(blocks) + ".0.conv1.weight")) ++blocks;
    const int stages = 6;
    if (blocks % stages != 0)
      throw Error("checkpoint has " + std::to_string(blocks) + " residual blocks, not a multiple of the 6 stages of a 256 x 768 generator");
    const int depth = blocks / stages;
    if (config.contains("G_depth") && config["G_depth"].get<int>() != depth)
      throw Error("config says G_depth " + config["G_depth"].dump() + " but the checkpoint has depth " + std::to_string(depth));
    const auto& linear = shape_of(t, "linear.weight", 2);
    if (linear[0] % (16 * 48) != 0)
      throw Error("tensor 'linear.weight' does not have the shape (16 ch x 4 x 12, dim)");
    const int64_t ch = linear[0] / (16 * 48);
    if (config.contains("G_ch") && config["G_ch"].get<int64_t>() != ch)
      throw Error("config says G_ch " + config["G_ch"].dump() + " but the checkpoint has ch " + std::to_string(ch));
    int64_t y_dim = shape_of(t, "shared.weight", 2)[1];
    if (result.variant == "pegan") y_dim = shape_of(t, "linear1.weight", 2)[0];
    if (result.variant == "ieagan_research") y_dim = shape_of(t, "linear_f.weight", 2)[0];
    const int64_t dim_z = linear[1] - y_dim;
    if (dim_z <= 0) throw Error("tensor 'linear.weight' leaves no room for z");
    if (config.contains("dim_z") && config["dim_z"].get<int64_t>() != dim_z)
      throw Error("config says dim_z " + config["dim_z"].dump() + " but the checkpoint has " + std::to_string(dim_z));
    std::vector<int> attention;
    for (int s = 0; s < stages; ++s)
      if (has(t, "blocks." + std::to_string(depth * s + depth - 1) + ".1.gamma")) attention.push_back(s);
    if (config.contains("G_attn")) {
      std::vector<int> listed;
      const std::string text = config["G_attn"].get<std::string>();
      size_t at = 0;
      while (at < text.size()) {
        const size_t end = text.find('_', at);
        const int key = std::stoi(text.substr(at, end - at));
        if (key != 0)
          for (int s = 0; s < stages; ++s)
            if (8 << s == key) listed.push_back(s);
        at = end == std::string::npos ? text.size() : end + 1;
      }
      if (listed != attention)
        throw Error("config G_attn '" + text + "' does not match the attention layers in the checkpoint");
    }
    result.hparams = {{"variant", result.variant}, {"ch", ch}, {"depth", depth}, {"dim_z", dim_z},
                      {"stages", stages}, {"bottom_height", 4}, {"bottom_width", 12},
                      {"attention_stages", attention}};
    if (result.variant == "ieagan_research")
      result.hparams["dim_rdof"] = shape_of(t, "linear_f.weight", 2)[1] - shape_of(t, "shared.weight", 2)[1];
    return;
  }
  if (has(t, "fc.weight") && has(t, "features.0.weight")) {
    result.family = "wgan_convnet";
    result.hparams = {{"dim_z", shape_of(t, "fc.weight", 2)[1]}};
    return;
  }
  if (has(t, "fc.weight") && has(t, "blocks.0.conv1.weight")) {
    result.family = "wgan_resnet";
    result.hparams = {{"dim_z", shape_of(t, "fc.weight", 2)[1]}};
    return;
  }
  std::string keys;
  int n = 0;
  for (const auto& kv : t) {
    if (n++ == 6) { keys += ", ..."; break; }
    keys += (keys.empty() ? "" : ", ") + kv.first;
  }
  throw Error("unknown model: the keys (" + keys + ") match no supported generator family "
              "(BigGAN-deep/IEA-GAN/ContraGAN/PE-GAN, WGAN ConvNet, WGAN ResNet); for a plain layer "
              "stack pass its layer list with --config");
}

std::vector<float> read_prior(const std::string& path) {
  const nlohmann::json j = read_json(path, "prior table");
  const nlohmann::json& list = j.is_object() ? j.at("occupancy") : j;
  std::vector<double> values;
  try {
    values = list.get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    throw Error("prior table '" + path + "' must hold 40 numbers (a list, or {\"occupancy\": [...]})");
  }
  if (values.size() != kSensors) throw Error("prior table '" + path + "' has " + std::to_string(values.size()) + " values, expected 40");
  double norm = 0;
  for (double v : values) {
    if (!std::isfinite(v) || v < 0) throw Error("prior table '" + path + "' holds a negative or non-finite value");
    norm += v * v;
  }
  norm = std::max(std::sqrt(norm), 1e-12);
  std::vector<float> out;
  for (double v : values) out.push_back(static_cast<float>(v / norm));
  return out;
}

}  // namespace

ConvertResult convert_state_dict(const TorchStateDict& state, const ConvertOptions& options,
                                 const std::string& source_name, const std::string& source_sha256) {
  const nlohmann::json config = options.config_path.empty() ? nlohmann::json::object()
                                                            : read_json(options.config_path, "config");
  if (!config.is_object()) throw Error("config '" + options.config_path + "' must be a JSON object");
  TensorMap tensors;
  ConvertResult result;
  for (const auto& [name, t] : state.tensors) {
    if (ends_with(name, ".num_batches_tracked")) {
      result.dropped.push_back(name);
      continue;
    }
    for (float v : t.values)
      if (!std::isfinite(v)) throw Error("checkpoint tensor '" + name + "' holds NaN or Inf");
    tensors[name] = Tensor{t.shape, t.values};
  }
  const double eps = config.value("SN_eps", 1e-6);
  result.folded = fold_spectral_norm(tensors, eps);
  recognize(tensors, config, result);
  if (result.variant == "pegan") {
    if (options.prior_path.empty())
      throw Error("this is a PE-GAN generator: its per-sensor prior table is not in the checkpoint; pass it with --prior");
    tensors["prior"] = Tensor{{kSensors}, read_prior(options.prior_path)};
  }

  nlohmann::json output = {{"cut", -0.26}, {"min_charge", 1}};
  if (result.family == "wgan_convnet" || result.family == "wgan_resnet") output["cut"] = nullptr;
  if (result.family == "sequential" && config.value("output_transform", std::string("wgan")) != "ieagan")
    output["cut"] = nullptr;
  nlohmann::json header = {
      {"family", result.family},
      {"hparams", result.hparams},
      {"output", output},
      {"provenance",
       {{"source", source_name}, {"source_sha256", source_sha256}, {"state_dict", state.path},
        {"converter", std::string("pxdgen ") + PXDGEN_VERSION}, {"sn_eps", eps},
        {"spectral_norm_folded", result.folded.size()}}}};

  // A first pass over everything tells which tensors the engine uses and which are missing.
  ModelFileWriter survey_writer(header);
  for (const auto& [name, t] : tensors) survey_writer.add(name, t.shape, t.values.data(), StorageType::f32);
  {
    auto file = ModelFile::from_bytes(survey_writer.bytes(), source_name);
    Weights weights(file);
    weights.set_survey_mode(true);
    std::string failure;
    try {
      build_network(weights, header, Backend::reference);
    } catch (const Error& e) {
      failure = e.what();
    }
    if (!weights.missing().empty()) {
      std::string list;
      for (const auto& m : weights.missing()) list += "\n  " + m;
      throw Error("checkpoint is missing " + std::to_string(weights.missing().size()) + " tensor(s) of a " +
                  result.family + (result.variant.empty() ? "" : " (" + result.variant + ")") + " generator:" + list);
    }
    if (!failure.empty()) throw Error(failure);
    for (const auto& name : weights.unused()) {
      result.dropped.push_back(name);
      tensors.erase(name);
    }
  }
  ModelFileWriter writer(header);
  for (const auto& [name, t] : tensors) writer.add(name, t.shape, t.values.data(), options.storage);
  result.file = writer.bytes();
  // The final image must load as it will in production.
  Model::from_bytes(result.file, source_name);
  return result;
}

ConvertResult convert_checkpoint(const std::string& input, const std::string& output,
                                 const ConvertOptions& options) {
  const TorchStateDict state = read_torch_checkpoint(input, options.key);
  const std::string name = input.substr(input.find_last_of('/') == std::string::npos ? 0 : input.find_last_of('/') + 1);
  ConvertResult result = convert_state_dict(state, options, name, sha256_file_hex(input));
  write_file_atomically(output, result.file);
  return result;
}

}  // namespace pxdgen::converter
