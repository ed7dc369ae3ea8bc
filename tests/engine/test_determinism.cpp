// Event k of seed s must be the same event however it is produced: any thread count, any
// order or batching of events, a run started at k or one that reaches it, one generator or
// several sharing a model on different threads. test_generator.cpp checks the basic case
// on the reference backend; these cover the fast backend and the ways a production
// job splits its work. The suite is named so that the TSan build can run it alone.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/builtin_model.hpp"
#include "pxdgen/pxdgen.hpp"

using namespace pxdgen;

namespace {

/// The smallest IEA-GAN with every kind of layer (ch = 2, depth 1, attention): a tenth of
/// a second an event. Its random weights make a few sensors fire and leave most empty.
const Model& small_model() {
  static const Model model = [] {
    RandomBigGanSpec spec;
    spec.ch = 2;
    spec.depth = 1;
    spec.attention_stages = {1};
    spec.output_bias = -1.1f;
    spec.seed = 99;
    return Model::from_bytes(make_random_biggan(spec), "small");
  }();
  return model;
}

/// Most cases run six sensors only (a sensor's image does not depend on which others are
/// generated), which keeps the suite quick under the sanitizers; these are the ones the
/// model fires most, so the comparisons are never between empty events.
const std::vector<int> kSomeSensors = {0, 12, 16, 31, 35, 39};

GeneratorOptions fast(int threads, std::vector<int> sensors = kSomeSensors) {
  return {Backend::fast, threads, {}, std::move(sensors)};
}

/// The images of an event, bit for bit, and its digits.
struct Event {
  std::vector<float> images;
  std::vector<Digit> digits;
};

Event run(Generator& g, uint64_t seed, uint64_t event) {
  const ModelInfo& info = g.model().info();
  std::vector<float> z(static_cast<size_t>(kSensors) * info.dim_z);
  std::vector<float> r(static_cast<size_t>(kSensors) * std::max(info.dim_rdof, 1));
  g.draw_latents(seed, event, z.data(), r.data());
  Event e;
  e.images.resize(g.sensors().size() * kImageRows * kImageCols);
  g.generate(z.data(), r.data(), &e.digits, e.images.data());
  return e;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_SUITE("determinism") {

TEST_CASE("event k of seed s is bit-identical with 1, 2 and 8 threads on the fast backend") {
  // Whole events: 40 sensors spread over up to 8 threads in any order.
  Generator one(small_model(), fast(1, {})), two(small_model(), fast(2, {})), eight(small_model(), fast(8, {}));
  const std::pair<uint64_t, uint64_t> cases[] = {{0, 0}, {0xFFFFFFFFFFFFFFFFull, (uint64_t{1} << 32) + 1}};
  size_t digits = 0;
  for (const auto& seed_event : cases) {
    const uint64_t seed = seed_event.first, event = seed_event.second;
    CAPTURE(seed);
    CAPTURE(event);
    const Event a = run(one, seed, event);
    const Event b = run(two, seed, event);
    const Event c = run(eight, seed, event);
    CHECK(bitwise_equal(a.images, b.images));
    CHECK(bitwise_equal(a.images, c.images));
    CHECK(a.digits == b.digits);
    CHECK(a.digits == c.digits);
    digits += a.digits.size();
  }
  CHECK(digits > 0);
  CHECK(eight.event(0, 0) == run(one, 0, 0).digits);  // workspaces reused
}

TEST_CASE("latents depend on seed, event and sensor only, all 64 bits of each") {
  Generator a(small_model(), fast(1)), b(small_model(), fast(3));
  const int dim_z = small_model().info().dim_z;
  const size_t n = static_cast<size_t>(kSensors) * dim_z;
  std::vector<float> x(n), y(n);
  a.draw_latents(7, 5, x.data(), nullptr);
  b.draw_latents(1, 1, y.data(), nullptr);  // another draw in between changes nothing
  b.draw_latents(7, 5, y.data(), nullptr);
  CHECK(bitwise_equal(x, y));
  // Seeds or events that differ only in their high 32 bits are different streams.
  b.draw_latents(7 + (uint64_t{1} << 32), 5, y.data(), nullptr);
  CHECK_FALSE(bitwise_equal(x, y));
  b.draw_latents(7, 5 + (uint64_t{1} << 32), y.data(), nullptr);
  CHECK_FALSE(bitwise_equal(x, y));
  // Sensors do not share latents.
  CHECK_FALSE(std::equal(x.begin(), x.begin() + dim_z, x.begin() + dim_z));
}

TEST_CASE("any order or batching of events gives the same digits") {
  const uint64_t seed = 11;
  const int n = 6;
  // Reference: a fresh generator for every event, as a job that spreads events over
  // processes would produce them.
  std::vector<std::vector<Digit>> fresh(n);
  size_t digits = 0;
  for (int e = 0; e < n; ++e) {
    fresh[e] = Generator(small_model(), fast(1)).event(seed, e);
    digits += fresh[e].size();
  }
  CHECK(digits > 0);

  Generator forward(small_model(), fast(2));
  for (int e = 0; e < n; ++e) CHECK(forward.event(seed, e) == fresh[e]);
  Generator backward(small_model(), fast(2));
  for (int e = n; e-- > 0;) CHECK(backward.event(seed, e) == fresh[e]);
  // Interleaved with another seed's events, and with repeats.
  Generator mixed(small_model(), fast(3));
  const int order[] = {5, 0, 5, 2, 3, 1, 4, 0};
  for (int e : order) {
    if (e % 2 == 0) mixed.event(seed + 1, e);
    CHECK(mixed.event(seed, e) == fresh[e]);
  }
}

TEST_CASE("a run started at event k equals the run that reaches it") {
  const uint64_t seed = 3, first = 4, count = 2;
  Generator whole(small_model(), fast(2));
  std::vector<std::vector<Digit>> from_zero;
  for (uint64_t e = 0; e < first + count; ++e) from_zero.push_back(whole.event(seed, e));
  Generator continued(small_model(), fast(1));
  for (uint64_t e = first; e < first + count; ++e) {
    CHECK(from_zero[e].size() > 0);
    CHECK(continued.event(seed, e) == from_zero[e]);
  }
}

TEST_CASE("fast and reference backends agree within tolerance over several events") {
  Generator fast_gen(small_model(), fast(2));
  Generator reference(small_model(), {Backend::reference, 2, {}, kSomeSensors});
  double worst = 0;
  size_t digits = 0, differing = 0;
  for (uint64_t event : {0, 3}) {
    const Event a = run(fast_gen, 3, event), b = run(reference, 3, event);
    for (size_t i = 0; i < a.images.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(a.images[i]) - b.images[i]));
    // A digit can only change where a pixel sits on the cut or a charge boundary, so
    // the two digit lists differ in a handful of entries at most.
    std::vector<Digit> only_one;
    const auto key = [](const Digit& d) { return std::make_tuple(d.sensor, d.ucell, d.vcell, d.charge); };
    const auto less = [&](const Digit& x, const Digit& y) { return key(x) < key(y); };
    std::set_symmetric_difference(a.digits.begin(), a.digits.end(), b.digits.begin(), b.digits.end(),
                                  std::back_inserter(only_one), less);
    digits += b.digits.size();
    differing += only_one.size();
  }
  MESSAGE("fast vs reference over 2 events: max |tanh difference| " << worst << ", " << differing
                                                                    << " of " << digits << " digits differ");
  CHECK(digits > 0);
  CHECK(worst <= 1e-4);
  CHECK(differing <= 2 + digits / 1000);
}

TEST_CASE("generators on several threads sharing one model give the same events as one") {
  // The production layout: one Model, one Generator per worker thread, each generator
  // itself running OpenMP threads over the sensors of an event.
  const uint64_t seed = 21;
  const int workers = 3, per_worker = 2;
  std::vector<std::vector<Digit>> expected(workers * per_worker);
  Generator serial(small_model(), fast(1));
  size_t digits = 0;
  for (int e = 0; e < workers * per_worker; ++e) {
    expected[e] = serial.event(seed, e);
    digits += expected[e].size();
  }
  CHECK(digits > 0);

  std::vector<std::vector<Digit>> got(workers * per_worker);
  std::vector<Model> copies(workers, small_model());
  std::vector<std::string> failures(workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        // Each worker gets its events interleaved with the others' (w, w + workers, ...).
        Generator g(copies[w], fast(2));
        for (int i = 0; i < per_worker; ++i) got[w + i * workers] = g.event(seed, w + i * workers);
      } catch (const std::exception& e) {
        failures[w] = e.what();  // doctest's checks are not to be called from other threads
      }
    });
  for (auto& t : threads) t.join();
  for (const std::string& failure : failures) CHECK(failure == "");
  for (int e = 0; e < workers * per_worker; ++e) {
    CAPTURE(e);
    CHECK(got[e] == expected[e]);
  }
}

}  // TEST_SUITE
