#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "engine/model_file.hpp"
#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/npy.hpp"
#include "weights_converter/convert.hpp"

using namespace pxdgen;
namespace fs = std::filesystem;

namespace {
double max_difference(const ModelFile& file, const std::string& name, const npy::Array& expected) {
  const TensorEntry* entry = file.find(name);
  REQUIRE(entry != nullptr);
  REQUIRE(entry->shape == expected.shape);
  const float* values = reinterpret_cast<const float*>(file.data(*entry));
  double worst = 0;
  for (size_t i = 0; i < expected.values.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(values[i]) - expected.values[i]));
  return worst;
}
}  // namespace

TEST_SUITE("parity_convert") {
  TEST_CASE("spectral norm is folded as PyTorch computes it, in both storage styles") {
    const fs::path dir = fs::path(PXDGEN_FIXTURE_DIR) / "spectral_norm";
    REQUIRE_MESSAGE(fs::exists(dir / "model.pth"), "run tests/reference/make_all_fixtures.py first");
    converter::ConvertOptions options;
    options.config_path = (dir / "layers.json").string();
    const auto result = converter::convert_checkpoint((dir / "model.pth").string(), (dir / "model.pxdg").string(), options);
    CHECK(result.family == "sequential");
    CHECK(result.folded.size() == 2);
    const auto file = ModelFile::open((dir / "model.pxdg").string());
    const double biggan = max_difference(*file, "0.weight", npy::read((dir / "folded0.npy").string()));
    const double torch = max_difference(*file, "5.weight", npy::read((dir / "folded5.npy").string()));
    MESSAGE("folded weight vs PyTorch: BigGAN-style (u0) max |diff| = " << biggan
            << ", torch.nn.utils.spectral_norm max |diff| = " << torch);
    CHECK(biggan < 1e-6);
    CHECK(torch < 1e-6);
    CHECK(file->find("0.u0") == nullptr);
    CHECK(file->find("5.weight_u") == nullptr);
    // The stack runs: the converted model is a complete generator.
    Generator g(Model::load((dir / "model.pxdg").string()), {Backend::reference, 1, {}, {0}});
    CHECK_NOTHROW(g.event(0, 0));
  }

  TEST_CASE("conversion errors name what is wrong") {
    const fs::path dir = fs::path(PXDGEN_FIXTURE_DIR) / "spectral_norm";
    REQUIRE(fs::exists(dir / "model.pth"));
    converter::ConvertOptions options;  // no layer list: a plain stack is not recognizable
    CHECK_THROWS_WITH_AS(converter::convert_checkpoint((dir / "model.pth").string(), (dir / "x.pxdg").string(), options),
                         doctest::Contains("unknown model"), Error);
    CHECK_FALSE(fs::exists(dir / "x.pxdg"));
    CHECK_FALSE(fs::exists(dir / "x.pxdg.partial"));
    const fs::path pegan = fs::path(PXDGEN_FIXTURE_DIR) / "pegan_ch4_attention_bf16";
    if (fs::exists(pegan / "model.pth")) {
      CHECK_THROWS_WITH_AS(converter::convert_checkpoint((pegan / "model.pth").string(), (dir / "x.pxdg").string(), {}),
                           doctest::Contains("--prior"), Error);
    }
    options.config_path = (dir / "missing.json").string();
    CHECK_THROWS_WITH_AS(converter::convert_checkpoint((dir / "model.pth").string(), (dir / "x.pxdg").string(), options),
                         doctest::Contains("cannot open"), Error);
  }
}
