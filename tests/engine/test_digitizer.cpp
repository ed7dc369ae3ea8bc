#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/digitizer.hpp"
#include "engine/random.hpp"

using namespace pxdgen;

TEST_CASE("production transform of the IEA-GAN family") {
  const OutputTransform t = OutputTransform::ieagan();
  CHECK(charge_from_tanh(-1.0f, t) == 0);
  CHECK(charge_from_tanh(-0.26f, t) == 0);  // the cut keeps x > -0.26 only
  CHECK(charge_from_tanh(1.0f, t) == 255);
  CHECK(charge_from_tanh(0.0f, t) == 15);    // 256^0.5 - 1
  // Just above the cut: 256^0.37 - 1 = 6.78 -> 6 ADU.
  CHECK(charge_from_tanh(-0.2599f, t) == 6);
  // A higher threshold keeps only charges from min_charge on.
  OutputTransform seven = t;
  seven.min_charge = 7;
  CHECK(charge_from_tanh(-0.2599f, seven) == 0);
  CHECK(charge_from_tanh(0.0f, seven) == 15);
}

TEST_CASE("production transform of the WGAN models has no cut") {
  const OutputTransform t = OutputTransform::wgan();
  CHECK(charge_from_tanh(-0.5f, t) == 3);   // 256^0.25 - 1
  CHECK(charge_from_tanh(-0.76f, t) == 0);  // 256^0.12 - 1 < 1
  CHECK(charge_from_tanh(-0.74f, t) == 1);
}

TEST_CASE("sparse digitizing from logits gives exactly the digits of the dense path") {
  std::vector<float> logits(kImageRows * kImageCols), image(logits.size());
  standard_normals(11, 0, 0, LatentStream::z, logits.data(), static_cast<int>(logits.size()));
  // Pile values up around the cut and the 1-ADU edge, where rounding could differ.
  for (size_t i = 0; i < logits.size(); i += 3) logits[i] = std::atanh(-0.26f) + 1e-6f * logits[i];
  for (size_t i = 1; i < logits.size(); i += 7) logits[i] = std::atanh(-0.75f) + 1e-6f * logits[i];
  for (size_t i = 0; i < logits.size(); ++i) image[i] = std::tanh(logits[i]);
  for (const OutputTransform& t : {OutputTransform::ieagan(), OutputTransform::wgan(),
                                   OutputTransform{true, 0.3f, 20}, OutputTransform{false, 0.0f, 7}}) {
    std::vector<Digit> dense, sparse;
    digitize_tanh(image.data(), 4, t, dense);
    digitize_logits(logits.data(), 4, t, sparse);
    CHECK(dense.size() > 1000);
    CHECK(dense == sparse);
    for (const Digit& d : dense) {
      CHECK(d.charge >= t.min_charge);
      CHECK(d.ucell < kUCells);
      CHECK(d.sensor == 4);
    }
  }
}

TEST_CASE("rows 3..252 of the network image become ucell 0..249") {
  std::vector<float> image(kImageRows * kImageCols, -1.0f);
  image[2 * kImageCols + 5] = 1.0f;    // cropped
  image[3 * kImageCols + 6] = 1.0f;    // ucell 0
  image[252 * kImageCols + 7] = 1.0f;  // ucell 249
  image[253 * kImageCols + 8] = 1.0f;  // cropped
  std::vector<Digit> digits;
  digitize_tanh(image.data(), 39, OutputTransform::ieagan(), digits);
  REQUIRE(digits.size() == 2);
  CHECK(digits[0] == Digit{39, 0, 6, 255});
  CHECK(digits[1] == Digit{39, 249, 7, 255});
}

TEST_CASE("transform parameters are validated") {
  CHECK_THROWS_AS(validate(OutputTransform{true, 1.5f, 1}), Error);
  CHECK_THROWS_AS(validate(OutputTransform{true, NAN, 1}), Error);
  CHECK_THROWS_AS(validate(OutputTransform{false, 0.0f, 0}), Error);
  CHECK_THROWS_AS(validate(OutputTransform{false, 0.0f, 256}), Error);
  CHECK_NOTHROW(validate(OutputTransform::ieagan()));
}

TEST_CASE("sensor ids follow the PXD order") {
  CHECK(sensor_id(0).layer == 1);
  CHECK(sensor_id(1).sensor == 2);
  CHECK(sensor_id(15).ladder == 8);
  CHECK(sensor_id(16).layer == 2);
  CHECK(sensor_id(39).ladder == 12);
  CHECK(sensor_id(39).sensor == 2);
  for (int i = 0; i < kSensors; ++i) CHECK(sensor_index(sensor_id(i)) == i);
  CHECK_THROWS_AS(sensor_id(40), Error);
  CHECK_THROWS_AS(sensor_index({1, 9, 1}), Error);
  CHECK_THROWS_AS(sensor_index({3, 1, 1}), Error);
}
