#include <doctest/doctest.h>

#include <cmath>

#include "engine/builtin_model.hpp"
#include "pxdgen/pxdgen.hpp"

using namespace pxdgen;

namespace {
const Model& small_model() {
  static const Model model = [] {
    RandomBigGanSpec spec;
    spec.ch = 4;
    spec.attention_stages = {2};
    spec.output_bias = -0.5f;
    return Model::from_bytes(make_random_biggan(spec), "small");
  }();
  return model;
}

std::vector<float> images_of(Generator& g, uint64_t seed, uint64_t event) {
  const ModelInfo& info = g.model().info();
  std::vector<float> z(kSensors * info.dim_z), r(kSensors * std::max(info.dim_rdof, 1));
  g.draw_latents(seed, event, z.data(), r.data());
  std::vector<float> images(g.sensors().size() * kImageRows * kImageCols);
  g.generate(z.data(), r.data(), nullptr, images.data());
  return images;
}
}  // namespace

TEST_CASE("a small IEA-GAN model loads and describes itself") {
  const ModelInfo& info = small_model().info();
  CHECK(info.family == "biggan_deep");
  CHECK(info.variant == "ieagan_production");
  CHECK(info.dim_z == 128);
  CHECK(info.dim_rdof == 0);
  CHECK(info.gmac_per_event > 0);
  CHECK(info.transform.has_cut);
  CHECK(info.transform.cut == doctest::Approx(-0.26));
}

TEST_CASE("event k of seed s does not depend on threads, generator or order") {
  Generator one(small_model(), {Backend::reference, 1, {}, {}});
  Generator two(small_model(), {Backend::reference, 2, {}, {}});
  Generator three(small_model(), {Backend::reference, 3, {}, {}});
  const auto a = one.event(5, 17);
  CHECK(a.size() > 0);
  CHECK(two.event(5, 16) != a);  // another event differs
  CHECK(two.event(5, 17) == a);
  CHECK(three.event(5, 17) == a);
  CHECK(one.event(5, 17) == a);  // workspaces reused
  CHECK(one.event(6, 17) != a);  // another seed differs
  for (size_t i = 1; i < a.size(); ++i) {
    const auto key = [](const Digit& d) { return (d.sensor * 1000 + d.ucell) * 1000 + d.vcell; };
    CHECK(key(a[i - 1]) < key(a[i]));
  }
  MESSAGE("digits in a ch=4 random event: " << a.size());
}

TEST_CASE("a subset of sensors gives the same images as the full event") {
  Generator full(small_model(), {Backend::reference, 2, {}, {}});
  Generator part(small_model(), {Backend::reference, 1, {}, {39, 0, 21}});
  const auto all = images_of(full, 3, 4);
  const auto some = images_of(part, 3, 4);
  const size_t plane = kImageRows * kImageCols;
  const int order[] = {39, 0, 21};
  for (int k = 0; k < 3; ++k)
    CHECK(std::equal(some.begin() + k * plane, some.begin() + (k + 1) * plane, all.begin() + order[k] * plane));
  const auto digits = part.event(3, 4);
  for (size_t i = 1; i < digits.size(); ++i) CHECK(digits[i - 1].sensor <= digits[i].sensor);
}

TEST_CASE("fast and reference backends agree") {
  Generator fast(small_model(), {Backend::fast, 2, {}, {}});
  Generator reference(small_model(), {Backend::reference, 1, {}, {}});
  const auto a = images_of(fast, 1, 2), b = images_of(reference, 1, 2);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  MESSAGE("fast vs reference, max |tanh difference| = " << worst);
  CHECK(worst <= 1e-4);
}

TEST_CASE("every variant of the random BigGAN-deep family runs; fp16 storage stays close") {
  for (const char* variant : {"ieagan_research", "biggan"}) {
    RandomBigGanSpec spec;
    spec.ch = 4;
    spec.variant = variant;
    const Model model = Model::from_bytes(make_random_biggan(spec), variant);
    Generator g(model, {Backend::reference, 2, {}, {0, 39}});
    CHECK(model.info().dim_rdof == (std::string(variant) == "ieagan_research" ? 4 : 0));
    const auto images = images_of(g, 0, 0);
    for (float v : images) REQUIRE(std::isfinite(v));
  }
  RandomBigGanSpec spec;
  spec.ch = 4;
  const Model f32 = Model::from_bytes(make_random_biggan(spec), "f32");
  spec.fp16 = true;
  const Model f16 = Model::from_bytes(make_random_biggan(spec), "f16");
  Generator a(f32, {Backend::reference, 2, {}, {5}}), b(f16, {Backend::reference, 2, {}, {5}});
  const auto x = images_of(a, 0, 0), y = images_of(b, 0, 0);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
  MESSAGE("fp16 vs fp32 weights, max |tanh difference| = " << worst);
  CHECK(worst > 0);
  CHECK(worst < 0.05);
}

TEST_CASE("generator options and inputs are checked") {
  CHECK_THROWS_AS(Generator(small_model(), {Backend::fast, 0, {}, {}}), Error);
  CHECK_THROWS_AS(Generator(small_model(), {Backend::fast, 1, {}, {40}}), Error);
  CHECK_THROWS_AS(Generator(small_model(), {Backend::fast, 1, {}, {3, 3}}), Error);
  CHECK_THROWS_AS(Generator(small_model(), {Backend::fast, 1, OutputTransform{true, 2.0f, 1}, {}}), Error);
  Generator g(small_model(), {Backend::fast, 1, {}, {0}});
  std::vector<float> z(kSensors * 128, 0.0f);
  z[7] = NAN;
  std::vector<Digit> digits;
  CHECK_THROWS_WITH_AS(g.generate(z.data(), nullptr, &digits, nullptr), doctest::Contains("NaN"), Error);
}

TEST_CASE("events in a batch are the events one at a time") {
  // Three threads do not divide the 40 sensors: three events at a time make whole rounds.
  Generator one(small_model(), {Backend::fast, 1, {}, {}});
  Generator three(small_model(), {Backend::fast, 3, {}, {}});
  CHECK(one.events_per_batch() == 1);
  CHECK(three.events_per_batch() == 3);
  const auto batch = three.events(7, 10, 3);
  REQUIRE(batch.size() == 3);
  for (int e = 0; e < 3; ++e) {
    CAPTURE(e);
    CHECK(batch[e].size() > 0);
    CHECK(batch[e] == one.event(7, 10 + e));
  }
  CHECK(batch[0] != batch[1]);
  // A batch of one, and caller-given latents in a batch.
  CHECK(three.events(7, 11, 1)[0] == batch[1]);
  const int nz = kSensors * small_model().info().dim_z;
  std::vector<float> z(2 * nz);
  three.draw_latents(7, 12, z.data(), nullptr);
  three.draw_latents(7, 10, z.data() + nz, nullptr);
  std::vector<std::vector<Digit>> given;
  three.generate_batch(2, z.data(), nullptr, &given);
  REQUIRE(given.size() == 2);
  CHECK(given[0] == batch[2]);
  CHECK(given[1] == batch[0]);
  CHECK_THROWS_AS(three.events(7, 0, 0), Error);
  z[nz + 5] = NAN;  // the second event's latents
  CHECK_THROWS_WITH_AS(three.generate_batch(2, z.data(), nullptr, &given), doctest::Contains("NaN"), Error);
}

TEST_CASE("a batch makes whole rounds of the threads, up to 4 events") {
  const auto batch_of = [](int threads, std::vector<int> sensors) {
    return Generator(small_model(), {Backend::reference, threads, {}, sensors}).events_per_batch();
  };
  CHECK(batch_of(2, {}) == 1);
  CHECK(batch_of(8, {}) == 1);
  CHECK(batch_of(16, {}) == 2);  // 80 sensors: 5 rounds
  CHECK(batch_of(12, {}) == 3);
  CHECK(batch_of(7, {}) == 4);   // none makes whole rounds
  CHECK(batch_of(2, {0, 5, 9}) == 2);
}
