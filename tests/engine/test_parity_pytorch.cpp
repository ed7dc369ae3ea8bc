// The engine against PyTorch: every fixture folder made by
// tests/reference/make_all_fixtures.py is converted with the C++ converter, run on the
// same latents, and compared with PyTorch's tanh output and digits.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/digitizer.hpp"
#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/npy.hpp"
#include "weights_converter/convert.hpp"

using namespace pxdgen;
namespace fs = std::filesystem;

namespace {

struct Comparison {
  double max_abs = 0;
  double digit_share = 1;
  size_t digits_expected = 0, digits_ours = 0;
};

/// Share of identical digits: |A and B| / |A or B| over (sensor, ucell, vcell, charge).
double identical_share(const std::vector<Digit>& a, const std::vector<Digit>& b) {
  auto key = [](const Digit& d) { return std::make_tuple(d.sensor, d.ucell, d.vcell, d.charge); };
  std::set<std::tuple<int, int, int, int>> sa, sb;
  for (const Digit& d : a) sa.insert(key(d));
  for (const Digit& d : b) sb.insert(key(d));
  size_t both = 0;
  for (const auto& k : sa) both += sb.count(k);
  const size_t either = sa.size() + sb.size() - both;
  return either == 0 ? 1.0 : static_cast<double>(both) / either;
}

Comparison run_case(const fs::path& dir, Backend backend) {
  const nlohmann::json meta = nlohmann::json::parse(std::ifstream(dir / "meta.json"));
  converter::ConvertOptions options;
  if (fs::exists(dir / "config.json")) options.config_path = (dir / "config.json").string();
  if (fs::exists(dir / "prior.json")) options.prior_path = (dir / "prior.json").string();
  const fs::path model_path = dir / "model.pxdg";
  converter::convert_checkpoint((dir / "model.pth").string(), model_path.string(), options);
  const Model model = Model::load(model_path.string());

  GeneratorOptions gen;
  gen.backend = backend;
  gen.threads = 2;
  gen.sensors = meta.at("sensors").get<std::vector<int>>();
  Generator generator(model, gen);

  const npy::Array z = npy::read((dir / "z.npy").string());
  const npy::Array expected = npy::read((dir / "expected.npy").string());
  npy::Array r;
  if (fs::exists(dir / "r.npy")) r = npy::read((dir / "r.npy").string());
  const size_t events = static_cast<size_t>(z.shape.at(0));
  const size_t sensors = gen.sensors.size();
  const size_t plane = static_cast<size_t>(kImageRows) * kImageCols;
  REQUIRE(expected.values.size() == events * sensors * plane);
  const size_t z_size = static_cast<size_t>(kSensors) * model.info().dim_z;
  const size_t r_size = static_cast<size_t>(kSensors) * model.info().dim_rdof;

  Comparison c;
  std::vector<Digit> ours_all, theirs_all;  // sensor + 40 event: events kept apart
  std::vector<float> images(sensors * plane);
  for (size_t e = 0; e < events; ++e) {
    std::vector<Digit> ours;
    generator.generate(z.values.data() + e * z_size, r_size ? r.values.data() + e * r_size : nullptr, &ours,
                       images.data());
    const float* want = expected.values.data() + e * sensors * plane;
    for (size_t i = 0; i < images.size(); ++i)
      c.max_abs = std::max(c.max_abs, std::abs(static_cast<double>(images[i]) - want[i]));
    for (Digit d : ours) {
      d.sensor = static_cast<uint16_t>(d.sensor + 40 * e);  // keep events apart in the sets
      ours_all.push_back(d);
    }
  }
  for (size_t e = 0; e < events; ++e)
    for (size_t k = 0; k < sensors; ++k) {
      std::vector<Digit> d;
      digitize_tanh(expected.values.data() + (e * sensors + k) * plane, gen.sensors[k], generator.transform(), d);
      for (Digit x : d) {
        x.sensor = static_cast<uint16_t>(x.sensor + 40 * e);
        theirs_all.push_back(x);
      }
    }
  c.digits_expected = theirs_all.size();
  c.digits_ours = ours_all.size();
  c.digit_share = identical_share(ours_all, theirs_all);
  fs::remove(model_path);
  return c;
}

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  const fs::path root = PXDGEN_FIXTURE_DIR;
  if (fs::is_directory(root))
    for (const auto& entry : fs::directory_iterator(root))
      if (fs::exists(entry.path() / "meta.json") && fs::exists(entry.path() / "expected.npy"))
        dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

TEST_SUITE("parity") {
  TEST_CASE("every generator family matches PyTorch (tanh output within 1e-4, >= 99.99 % identical digits)") {
    const auto dirs = fixture_dirs();
    REQUIRE_MESSAGE(dirs.size() >= 8, "fixtures missing in " PXDGEN_FIXTURE_DIR
                                      "; run tests/reference/make_all_fixtures.py (ctest does)");
    for (const fs::path& dir : dirs) {
      for (Backend backend : {Backend::reference, Backend::fast}) {
        const std::string name = dir.filename().string() + (backend == Backend::reference ? " [reference]" : " [fast]");
        CAPTURE(name);
        const Comparison c = run_case(dir, backend);
        MESSAGE(name << ": max |tanh - torch| = " << c.max_abs << ", identical digits "
                     << 100.0 * c.digit_share << " % (" << c.digits_ours << " ours, " << c.digits_expected
                     << " torch)");
        CHECK(c.max_abs <= 1e-4);
        CHECK(c.digit_share >= 0.9999);
        CHECK(c.digits_expected > 0);
      }
    }
  }
}
