// The layer profile (pxdgen::set_layer_profiling, pxdgen::layer_profile): what it counts
// must add up to the model's own arithmetic.

#include <doctest/doctest.h>

#include <string>

#include "engine/builtin_model.hpp"
#include "pxdgen/pxdgen.hpp"

using namespace pxdgen;

namespace {
const Model& plain_model() {
  static const Model model = [] {
    RandomBigGanSpec spec;
    spec.ch = 4;
    spec.output_bias = -0.5f;
    return Model::from_bytes(make_random_biggan(spec), "plain");
  }();
  return model;
}

bool is_conv(const LayerTime& t) { return t.layer.rfind("conv", 0) == 0; }
}  // namespace

TEST_CASE("layer profile: off by default, and off again records nothing") {
  Generator g(plain_model(), {Backend::reference, 1, {}, {0}});
  set_layer_profiling(false);
  g.event(1, 0);
  CHECK(layer_profile().empty());
  set_layer_profiling(true);
  g.event(1, 0);
  const auto on = layer_profile();
  set_layer_profiling(false);
  g.event(1, 1);
  const auto after = layer_profile();
  REQUIRE(!on.empty());
  REQUIRE(after.size() == on.size());
  for (size_t i = 0; i < on.size(); ++i) CHECK(after[i].calls == on[i].calls);
  set_layer_profiling(true);  // starts empty
  CHECK(layer_profile().empty());
  set_layer_profiling(false);
}

TEST_CASE("layer profile: the calls and FLOPs of an event are the model's, layer by layer") {
  const ModelInfo& info = plain_model().info();
  Generator g(plain_model(), {Backend::reference, 2, {}, {}});
  set_layer_profiling(true);
  g.event(3, 4);
  set_layer_profiling(false);
  const auto profile = layer_profile();
  // 6 stages of 2 blocks of 4 convolutions, then the output layer, for every sensor.
  const int64_t blocks = 12;
  int64_t conv_calls = 0;
  double conv_flop = 0, first_linear_flop = 0, total_seconds = 0;
  for (const LayerTime& t : profile) {
    CHECK(t.calls > 0);
    CHECK(t.seconds > 0);
    total_seconds += t.seconds;
    if (is_conv(t)) {
      conv_calls += t.calls;
      conv_flop += t.flop;
    }
    // The first feature map: 4 x 12 x 16 ch from c = (y, z), once for the 40 sensors.
    if (t.layer == "linear 40x" + std::to_string(128 + info.dim_z) + "->" + std::to_string(4 * 12 * 16 * 4)) {
      CHECK(t.calls == 1);
      first_linear_flop = t.flop;
    }
  }
  CHECK(conv_calls == kSensors * (4 * blocks + 1));
  REQUIRE(first_linear_flop > 0);
  // gmac_per_event counts the convolutions and the first linear, nothing else.
  CHECK(conv_flop + first_linear_flop == doctest::Approx(2e9 * info.gmac_per_event).epsilon(1e-9));
  for (size_t i = 1; i < profile.size(); ++i) CHECK(profile[i - 1].seconds >= profile[i].seconds);
  MESSAGE("profiled layers: " << profile.size() << " kinds, " << conv_calls << " convolution calls, "
                              << total_seconds << " s in all");
}

TEST_CASE("layer profile: the fast backend's calls are timed too") {
  Generator g(plain_model(), {Backend::fast, 1, {}, {3, 7}});
  set_layer_profiling(true);
  g.event(3, 4);
  set_layer_profiling(false);
  int64_t conv_calls = 0;
  for (const LayerTime& t : layer_profile())
    if (is_conv(t)) conv_calls += t.calls;
  CHECK(conv_calls > 0);
  CHECK(conv_calls % 2 == 0);  // the same layers for both sensors
}
