#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "engine/model_file.hpp"
#include "engine/weights.hpp"
#include "pxdgen/error.hpp"

using namespace pxdgen;

namespace {
std::vector<uint8_t> small_file(StorageType type = StorageType::f32) {
  ModelFileWriter w({{"family", "test"}, {"hparams", {{"x", 1}}}});
  const std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f};
  const std::vector<float> b = {0.5f};
  w.add("a", {2, 3}, a.data(), type);
  w.add("b.scalar", {1}, b.data(), type);
  return w.bytes();
}
}  // namespace

TEST_CASE("model file: round trip of header, shapes and values") {
  for (StorageType type : {StorageType::f32, StorageType::f16}) {
    auto file = ModelFile::from_bytes(small_file(type), "mem");
    CHECK(file->header()["family"] == "test");
    REQUIRE(file->tensors().size() == 2);
    const TensorEntry* a = file->find("a");
    REQUIRE(a != nullptr);
    CHECK(a->shape == std::vector<int64_t>{2, 3});
    CHECK(a->offset % ModelFile::kAlignment == 0);
    CHECK(file->find("b.scalar")->offset % ModelFile::kAlignment == 0);
    CHECK(a->type == type);
    const float expected[] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f};
    for (int i = 0; i < 6; ++i) {
      float v;
      if (type == StorageType::f32) {
        std::memcpy(&v, file->data(*a) + 4 * i, 4);
        CHECK(v == expected[i]);
      } else {
        uint16_t h;
        std::memcpy(&h, file->data(*a) + 2 * i, 2);
        CHECK(half_to_float(h) == doctest::Approx(expected[i]).epsilon(1e-3));
      }
    }
    CHECK(file->sha256().size() == 64);
  }
}

TEST_CASE("half precision conversion is exact where half can represent the value") {
  for (float v : {0.0f, -0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, 1025.0f})
    CHECK(half_to_float(float_to_half(v)) == v);
  CHECK(std::isinf(half_to_float(float_to_half(1e6f))));
  CHECK(std::isnan(half_to_float(float_to_half(NAN))));
  // Round to nearest even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  CHECK(half_to_float(float_to_half(1.0f + 0.00048828125f)) == 1.0f);
  CHECK(half_to_float(float_to_half(1.0f + 3 * 0.00048828125f)) == 1.0f + 4 * 0.00048828125f);
  // Every half value survives a round trip through float.
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(f)) CHECK(float_to_half(f) == h);
  }
}

TEST_CASE("model file: every truncation is rejected with an error, never a crash") {
  const std::vector<uint8_t> good = small_file();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<uint8_t> bad(good.begin(), good.begin() + static_cast<long>(cut));
    CHECK_THROWS_AS(ModelFile::from_bytes(bad, "cut"), Error);
  }
}

TEST_CASE("model file: corrupt bytes are caught") {
  const std::vector<uint8_t> good = small_file();
  SUBCASE("bad magic") {
    auto bad = good;
    bad[0] = 'Q';
    CHECK_THROWS_WITH_AS(ModelFile::from_bytes(bad, "m"), doctest::Contains("bad magic"), Error);
  }
  SUBCASE("wrong version") {
    auto bad = good;
    bad[8] = 99;
    CHECK_THROWS_WITH_AS(ModelFile::from_bytes(bad, "m"), doctest::Contains("version 99"), Error);
  }
  SUBCASE("flipped data byte fails the checksum") {
    auto bad = good;
    auto file = ModelFile::from_bytes(good, "m");
    const size_t at = good.size() - file->header()["data_size"].get<size_t>() + file->find("a")->offset;
    bad[at] ^= 0x40;
    CHECK_THROWS_WITH_AS(ModelFile::from_bytes(bad, "m"), doctest::Contains("checksum"), Error);
  }
  SUBCASE("trailing garbage") {
    auto bad = good;
    bad.push_back(0);
    CHECK_THROWS_AS(ModelFile::from_bytes(bad, "m"), Error);
  }
  SUBCASE("header size larger than the file") {
    auto bad = good;
    const uint64_t huge = ~0ull;
    std::memcpy(bad.data() + 16, &huge, 8);
    CHECK_THROWS_AS(ModelFile::from_bytes(bad, "m"), Error);
  }
}

namespace {
/// A file image whose header is `header` verbatim (tensors and data as given).
std::vector<uint8_t> with_header(const std::string& header, size_t data_size) {
  const uint8_t magic[8] = {'P', 'X', 'D', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::vector<uint8_t> out(magic, magic + 8);
  const uint32_t version = 1, reserved = 0;
  const uint64_t size = header.size();
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&version), reinterpret_cast<const uint8_t*>(&version) + 4);
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&reserved), reinterpret_cast<const uint8_t*>(&reserved) + 4);
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&size), reinterpret_cast<const uint8_t*>(&size) + 8);
  out.insert(out.end(), header.begin(), header.end());
  out.resize((out.size() + 63) / 64 * 64 + data_size, 0);
  return out;
}
}  // namespace

TEST_CASE("model file: inconsistent tensor tables are rejected") {
  const char* cases[] = {
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[-4],"offset":0,"size":16,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[1000000000000],"offset":0,"size":4000000000000,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[4],"offset":64,"size":16,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[4],"offset":8,"size":16,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[4],"offset":0,"size":12,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"i8","shape":[4],"offset":0,"size":4,"crc32":0}]})",
      R"({"family":"t","data_size":128,"tensors":[{"name":"a","dtype":"f32","shape":[32],"offset":0,"size":128,"crc32":0},{"name":"b","dtype":"f32","shape":[4],"offset":64,"size":16,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[4],"offset":0,"size":16,"crc32":0},{"name":"a","dtype":"f32","shape":[4],"offset":0,"size":16,"crc32":0}]})",
      R"({"family":"t","data_size":64,"tensors":"none"})",
      R"({"data_size":64,"tensors":[]})",
      R"([1,2,3])",
      R"({"family":"t","data_size":64,"tensors":[{"name":"a","dtype":"f32","shape":[4],"offset":0,"size":16,"crc32":123}]})",
      R"({"family":"t","data_size":64,"tens)",
  };
  for (const char* header : cases) {
    CAPTURE(header);
    CHECK_THROWS_AS(ModelFile::from_bytes(with_header(header, 64), "m"), Error);
  }
}

TEST_CASE("model file: open() reports missing files and directories") {
  CHECK_THROWS_WITH_AS(ModelFile::open("/nonexistent/model.pxdg"), doctest::Contains("cannot open"), Error);
  CHECK_THROWS_WITH_AS(ModelFile::open("/tmp"), doctest::Contains("not a regular file"), Error);
}

TEST_CASE("weights holding NaN or Inf are refused, naming the tensor and the value") {
  for (StorageType type : {StorageType::f32, StorageType::f16})
    for (float bad : {NAN, INFINITY, -INFINITY})
      for (size_t at : {size_t{0}, size_t{37}, size_t{999}}) {
        const std::vector<float> fine(4, 0.25f);
        std::vector<float> values(1000, 0.25f);
        values[at] = bad;
        ModelFileWriter w({{"family", "test"}, {"hparams", {{"x", 1}}}});
        w.add("fine", {4}, fine.data(), type);
        w.add("layer.weight", {10, 100}, values.data(), type);
        Weights weights(ModelFile::from_bytes(w.bytes(), "mem"));
        CHECK(weights.get("fine").data != nullptr);
        CHECK_THROWS_WITH_AS(weights.get("layer.weight"),
                             ("tensor 'layer.weight' holds NaN or Inf (value " + std::to_string(at) + ")").c_str(),
                             Error);
      }
  // The largest finite values pass.
  const std::vector<float> extremes = {3.4028235e38f, -3.4028235e38f, 1e-45f, -0.0f};
  ModelFileWriter w({{"family", "test"}, {"hparams", {{"x", 1}}}});
  w.add("extremes", {4}, extremes.data(), StorageType::f32);
  Weights weights(ModelFile::from_bytes(w.bytes(), "mem"));
  CHECK(weights.get("extremes").data[0] == 3.4028235e38f);
}
