#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/builtin_model.hpp"
#include "pxdgen/pxdgen.h"
#include "pxdgen/pxdgen.hpp"

namespace fs = std::filesystem;

namespace {
/// A small IEA-GAN model written to a file, as a C caller would find it.
const std::string& small_model_path() {
  static const std::string path = [] {
    pxdgen::RandomBigGanSpec spec;
    spec.ch = 4;
    spec.output_bias = -0.5f;
    const std::vector<uint8_t> bytes = pxdgen::make_random_biggan(spec);
    const fs::path p = fs::temp_directory_path() / "pxdgen_test_c_api.pxdg";
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return p.string();
  }();
  return path;
}

/// A generator of the small model with `options` (the model freed: the generator keeps it).
pxdgen_generator* small_generator(const pxdgen_generator_options& options) {
  pxdgen_model* model = nullptr;
  REQUIRE(pxdgen_model_load(small_model_path().c_str(), &model) == PXDGEN_OK);
  pxdgen_generator* generator = nullptr;
  REQUIRE(pxdgen_generator_create(model, &options, &generator) == PXDGEN_OK);
  pxdgen_model_free(model);
  return generator;
}
}  // namespace

TEST_CASE("C API: the digits of an event equal the C++ API's") {
  pxdgen_model* model = nullptr;
  REQUIRE(pxdgen_model_load(small_model_path().c_str(), &model) == PXDGEN_OK);
  pxdgen_model_info info;
  REQUIRE(pxdgen_model_get_info(model, &info) == PXDGEN_OK);
  CHECK(std::string(info.family) == "biggan_deep");
  CHECK(std::string(info.variant) == "ieagan_production");
  CHECK(info.dim_z == 128);
  CHECK(std::strlen(info.sha256) == 64);

  pxdgen_generator_options options;
  pxdgen_generator_options_init(&options);
  options.threads = 2;
  pxdgen_generator* generator = nullptr;
  REQUIRE(pxdgen_generator_create(model, &options, &generator) == PXDGEN_OK);
  pxdgen_model_free(model);  // the generator keeps the model alive

  pxdgen::Generator cpp(pxdgen::Model::load(small_model_path()));
  for (uint64_t event : {0, 7}) {
    const pxdgen_digit* digits = nullptr;
    size_t count = 0;
    REQUIRE(pxdgen_generator_event(generator, 3, event, &digits, &count) == PXDGEN_OK);
    const std::vector<pxdgen::Digit> expected = cpp.event(3, event);
    REQUIRE(count == expected.size());
    CHECK(count > 0);
    CHECK(std::memcmp(digits, expected.data(), count * sizeof(pxdgen_digit)) == 0);
  }

  // From latents, with the dense images too.
  std::vector<float> z(pxdgen::kSensors * 128), images(pxdgen::kSensors * pxdgen::kImageRows * pxdgen::kImageCols);
  REQUIRE(pxdgen_generator_draw_latents(generator, 3, 7, z.data(), nullptr) == PXDGEN_OK);
  const pxdgen_digit* digits = nullptr;
  size_t count = 0;
  REQUIRE(pxdgen_generator_generate(generator, z.data(), nullptr, &digits, &count, images.data()) == PXDGEN_OK);
  const std::vector<pxdgen::Digit> expected = cpp.event(3, 7);
  REQUIRE(count == expected.size());
  CHECK(std::memcmp(digits, expected.data(), count * sizeof(pxdgen_digit)) == 0);
  CHECK(images[0] >= -1.0f);
  CHECK(images[0] <= 1.0f);
  pxdgen_generator_free(generator);
}

TEST_CASE("C API: events in a batch are the C++ API's events") {
  pxdgen_generator_options options;
  pxdgen_generator_options_init(&options);
  options.threads = 3;
  pxdgen_generator* generator = small_generator(options);
  CHECK(pxdgen_generator_events_per_batch(generator) == 3);
  CHECK(pxdgen_generator_events_per_batch(nullptr) == 1);
  const pxdgen_digit* digits = nullptr;
  size_t offsets[4] = {};
  REQUIRE(pxdgen_generator_events(generator, 3, 5, 3, &digits, offsets) == PXDGEN_OK);
  pxdgen::Generator cpp(pxdgen::Model::load(small_model_path()));
  for (int e = 0; e < 3; ++e) {
    CAPTURE(e);
    const std::vector<pxdgen::Digit> expected = cpp.event(3, 5 + e);
    REQUIRE(offsets[e + 1] - offsets[e] == expected.size());
    CHECK(std::memcmp(digits + offsets[e], expected.data(), expected.size() * sizeof(pxdgen_digit)) == 0);
  }
  CHECK(pxdgen_generator_events(generator, 3, 5, 0, &digits, offsets) == PXDGEN_ERROR_ARGUMENT);
  CHECK(std::string(pxdgen_last_error()).find("count") != std::string::npos);
  CHECK(pxdgen_generator_events(generator, 3, 5, 1, &digits, nullptr) == PXDGEN_ERROR_ARGUMENT);
  pxdgen_generator_free(generator);
}

TEST_CASE("C API: failures come back as status codes with a message") {
  pxdgen_model* model = reinterpret_cast<pxdgen_model*>(1);
  CHECK(pxdgen_model_load("/nonexistent/model.pxdg", &model) == PXDGEN_ERROR_INPUT);
  CHECK(model == nullptr);
  CHECK(std::string(pxdgen_last_error()).find("cannot open") != std::string::npos);

  CHECK(pxdgen_model_load(nullptr, &model) == PXDGEN_ERROR_ARGUMENT);
  CHECK(std::string(pxdgen_last_error()).find("path is null") != std::string::npos);
  CHECK(pxdgen_generator_create(nullptr, nullptr, nullptr) == PXDGEN_ERROR_ARGUMENT);

  REQUIRE(pxdgen_model_load(small_model_path().c_str(), &model) == PXDGEN_OK);
  pxdgen_generator_options options;
  pxdgen_generator_options_init(&options);
  options.threads = 0;
  pxdgen_generator* generator = nullptr;
  CHECK(pxdgen_generator_create(model, &options, &generator) == PXDGEN_ERROR_ARGUMENT);
  CHECK(std::string(pxdgen_last_error()).find("threads") != std::string::npos);
  options.threads = 1;
  options.override_transform = 1;
  options.min_charge = 0;
  CHECK(pxdgen_generator_create(model, &options, &generator) == PXDGEN_ERROR_INPUT);
  CHECK(std::string(pxdgen_last_error()).find("minimum charge") != std::string::npos);
  CHECK(generator == nullptr);

  pxdgen_generator_options_init(&options);
  REQUIRE(pxdgen_generator_create(model, &options, &generator) == PXDGEN_OK);
  std::vector<float> z(pxdgen::kSensors * 128, std::nanf(""));
  CHECK(pxdgen_generator_generate(generator, z.data(), nullptr, nullptr, nullptr, nullptr) == PXDGEN_ERROR_INPUT);
  CHECK(std::string(pxdgen_last_error()).find("NaN") != std::string::npos);
  const pxdgen_digit* digits = nullptr;
  CHECK(pxdgen_generator_generate(generator, z.data(), nullptr, &digits, nullptr, nullptr) == PXDGEN_ERROR_ARGUMENT);
  pxdgen_generator_free(generator);
  pxdgen_model_free(model);
  pxdgen_model_free(nullptr);
  pxdgen_generator_free(nullptr);

  int layer = 0, ladder = 0, sensor = 0;
  CHECK(pxdgen_sensor_id(40, &layer, &ladder, &sensor) == PXDGEN_ERROR_ARGUMENT);
  REQUIRE(pxdgen_sensor_id(39, &layer, &ladder, &sensor) == PXDGEN_OK);
  CHECK(layer == 2);
  CHECK(ladder == 12);
  CHECK(sensor == 2);
}

TEST_CASE("C API: the layer profile is the C++ API's, entry by entry") {
  pxdgen_generator_options options;
  pxdgen_generator_options_init(&options);
  options.backend = PXDGEN_BACKEND_REFERENCE;
  pxdgen_generator* generator = small_generator(options);
  const pxdgen_digit* digits = nullptr;
  size_t count = 0;

  pxdgen_set_layer_profiling(1);
  REQUIRE(pxdgen_generator_event(generator, 3, 4, &digits, &count) == PXDGEN_OK);
  pxdgen_set_layer_profiling(0);
  const pxdgen_layer_time* layers = nullptr;
  size_t n = 0;
  REQUIRE(pxdgen_layer_profile(&layers, &n) == PXDGEN_OK);
  const std::vector<pxdgen::LayerTime> cpp = pxdgen::layer_profile();
  REQUIRE(n == cpp.size());
  REQUIRE(n > 0);
  int64_t calls = 0;
  for (size_t i = 0; i < n; ++i) {
    CHECK(std::string(layers[i].layer) == cpp[i].layer);
    CHECK(layers[i].calls == cpp[i].calls);
    CHECK(layers[i].seconds == cpp[i].seconds);
    CHECK(layers[i].flop == cpp[i].flop);
    calls += layers[i].calls;
  }
  // 12 blocks of 4 convolutions and the output layer per sensor, plus the linears.
  CHECK(calls > pxdgen::kSensors * (4 * 12 + 1));

  pxdgen_set_layer_profiling(1);  // starts empty
  REQUIRE(pxdgen_layer_profile(&layers, &n) == PXDGEN_OK);
  CHECK(n == 0);
  pxdgen_set_layer_profiling(0);
  CHECK(pxdgen_layer_profile(nullptr, &n) == PXDGEN_ERROR_ARGUMENT);
  CHECK(std::string(pxdgen_last_error()).find("layers is null") != std::string::npos);
  CHECK(pxdgen_layer_profile(&layers, nullptr) == PXDGEN_ERROR_ARGUMENT);
  pxdgen_generator_free(generator);
}
