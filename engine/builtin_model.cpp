#include "engine/builtin_model.hpp"

#include <algorithm>
#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <mutex>

#include "engine/model.hpp"
#include "engine/random.hpp"

namespace pxdgen {
namespace {

/// Fills tensors with seeded values; spectral-normalized weights are scaled so that
/// their largest singular value is about 1, as after spectral norm in a trained model.
class RandomTensors {
 public:
  RandomTensors(ModelFileWriter& writer, uint64_t seed, bool fp16)
      : writer_(writer), seed_(seed), type_(fp16 ? StorageType::f16 : StorageType::f32) {}

  /// Uniform values of standard deviation `stddev` around `mean`.
  void uniform(const std::string& name, const std::vector<int64_t>& shape, float stddev,
               float mean = 0.0f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    const float half_width = stddev * std::sqrt(3.0f);
    for (int64_t i = 0; i < n; i += 4) {
      const auto bits = philox4x32({static_cast<uint32_t>(i / 4), static_cast<uint32_t>(i >> 34), counter_, 0x5EEDu},
                                   {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
      for (int j = 0; j < 4 && i + j < n; ++j)
        values[i + j] = mean + half_width * (static_cast<float>(bits[j] >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
    ++counter_;
    writer_.add(name, shape, values.data(), type_);
  }

  /// A weight whose (rows, cols) view has spectral norm near 1: for a random matrix it
  /// is about stddev (sqrt(rows) + sqrt(cols)).
  void spectral(const std::string& name, const std::vector<int64_t>& shape) {
    int64_t cols = 1;
    for (size_t i = 1; i < shape.size(); ++i) cols *= shape[i];
    uniform(name, shape, 1.0f / static_cast<float>(std::sqrt(shape[0]) + std::sqrt(cols)));
  }

  void constant(const std::string& name, const std::vector<int64_t>& shape, float value) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> values(static_cast<size_t>(n), value);
    writer_.add(name, shape, values.data(), type_);
  }

 private:
  ModelFileWriter& writer_;
  uint64_t seed_;
  StorageType type_;
  uint32_t counter_ = 0;
};

}  // namespace

std::vector<uint8_t> make_random_biggan(const RandomBigGanSpec& spec) {
  const int stages = 6;
  const int in_mult[stages] = {16, 16, 8, 8, 4, 2};
  const int out_mult[stages] = {16, 8, 8, 4, 2, 1};
  nlohmann::json header = {
      {"family", "biggan_deep"},
      {"hparams",
       {{"variant", spec.variant}, {"ch", spec.ch}, {"depth", spec.depth}, {"dim_z", spec.dim_z},
        {"stages", stages}, {"bottom_height", 4}, {"bottom_width", 12},
        {"attention_stages", spec.attention_stages}}},
      {"output", {{"cut", -0.26}, {"min_charge", 1}}},
      {"provenance",
       {{"source", "random weights"}, {"seed", spec.seed}, {"converter", std::string("pxdgen ") + PXDGEN_VERSION},
        {"note", "random initialization: not a physics model"}}}};
  ModelFileWriter writer(header);
  RandomTensors r(writer, spec.seed, spec.fp16);
  const bool rrm = spec.variant == "ieagan_production" || spec.variant == "ieagan_research";
  const int y_dim = spec.shared_dim, cond = y_dim + spec.dim_z;
  r.uniform("shared.weight", {40, spec.shared_dim}, 1.0f);
  if (spec.variant == "ieagan_research") {
    r.spectral("linear_f.weight", {y_dim, spec.shared_dim + 4});
    r.uniform("linear_f.bias", {y_dim}, 0.02f);
  }
  if (rrm) {
    const std::string p = "RR_G.layers.0.";
    const float s = 1.0f / std::sqrt(static_cast<float>(y_dim));
    r.uniform(p + "self_attn.qkv_proj.weight", {3 * y_dim, y_dim}, s);
    r.uniform(p + "self_attn.qkv_proj.bias", {3 * y_dim}, 0.02f);
    r.uniform(p + "self_attn.o_proj.weight", {y_dim, y_dim}, s);
    r.uniform(p + "self_attn.o_proj.bias", {y_dim}, 0.02f);
    r.uniform(p + "linear_net.0.weight", {y_dim, y_dim}, s);
    r.uniform(p + "linear_net.0.bias", {y_dim}, 0.02f);
    r.uniform(p + "linear_net.3.weight", {y_dim, y_dim}, s);
    r.uniform(p + "linear_net.3.bias", {y_dim}, 0.02f);
    for (const std::string& norm : {p + "norm1", p + "norm2", std::string("RR_G.norm")}) {
      r.uniform(norm + ".weight", {y_dim}, 0.1f, 1.0f);
      r.uniform(norm + ".bias", {y_dim}, 0.1f);
    }
  }
  const int c0 = spec.ch * in_mult[0];
  r.spectral("linear.weight", {c0 * 4 * 12, cond});
  r.uniform("linear.bias", {c0 * 4 * 12}, 0.02f);
  auto ccbn = [&](const std::string& p, int channels) {
    r.spectral(p + ".gain.weight", {channels, cond});
    r.spectral(p + ".bias.weight", {channels, cond});
    r.uniform(p + ".stored_mean", {channels}, 0.1f);
    r.uniform(p + ".stored_var", {channels}, 0.2f, 1.0f);
  };
  for (int s = 0; s < stages; ++s)
    for (int b = 0; b < spec.depth; ++b) {
      const int k = spec.depth * s + b;
      const int in = spec.ch * in_mult[s];
      const int out = b == spec.depth - 1 ? spec.ch * out_mult[s] : in;
      const int hidden = in / 4;
      const std::string p = "blocks." + std::to_string(k) + ".0.";
      r.spectral(p + "conv1.weight", {hidden, in, 1, 1});
      r.uniform(p + "conv1.bias", {hidden}, 0.02f);
      r.spectral(p + "conv2.weight", {hidden, hidden, 3, 3});
      r.uniform(p + "conv2.bias", {hidden}, 0.02f);
      r.spectral(p + "conv3.weight", {hidden, hidden, 3, 3});
      r.uniform(p + "conv3.bias", {hidden}, 0.02f);
      r.spectral(p + "conv4.weight", {out, hidden, 1, 1});
      r.uniform(p + "conv4.bias", {out}, 0.02f);
      ccbn(p + "bn1", in);
      ccbn(p + "bn2", hidden);
      ccbn(p + "bn3", hidden);
      ccbn(p + "bn4", hidden);
      const bool attend = b == spec.depth - 1 &&
          std::find(spec.attention_stages.begin(), spec.attention_stages.end(), s) != spec.attention_stages.end();
      if (attend) {
        const std::string a = "blocks." + std::to_string(k) + ".1.";
        r.spectral(a + "theta.weight", {out / 8, out, 1, 1});
        r.spectral(a + "phi.weight", {out / 8, out, 1, 1});
        r.spectral(a + "g.weight", {out / 2, out, 1, 1});
        r.spectral(a + "o.weight", {out, out / 2, 1, 1});
        r.constant(a + "gamma", {1}, 0.5f);
      }
    }
  const int last = spec.ch * out_mult[stages - 1];
  r.uniform("output_layer.0.gain", {last}, 0.1f, 1.0f);
  r.uniform("output_layer.0.bias", {last}, 0.1f);
  r.uniform("output_layer.0.stored_mean", {last}, 0.1f);
  r.uniform("output_layer.0.stored_var", {last}, 0.2f, 1.0f);
  r.spectral("output_layer.2.weight", {1, last, 3, 3});
  r.constant("output_layer.2.bias", {1}, spec.output_bias);
  return writer.bytes();
}

Model Model::builtin() {
  static std::once_flag once;
  static std::shared_ptr<const detail::ModelImpl> impl;
  std::call_once(once, [] {
    RandomBigGanSpec spec;
    impl = detail::make_model(ModelFile::from_bytes(make_random_biggan(spec), "<builtin>"));
#if defined(__GLIBC__)
    // Drawing the weights leaves freed heap between live blocks, which glibc keeps unless
    // asked: without this, pxdgen bench's peak memory with the built-in model was 140-142 MB
    // instead of 134-136 (one Zen 5 core).
    malloc_trim(0);
#endif
  });
  return Model(impl);
}

}  // namespace pxdgen
