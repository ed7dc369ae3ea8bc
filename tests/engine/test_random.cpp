#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/random.hpp"

using namespace pxdgen;

TEST_CASE("Philox4x32-10 matches the published known-answer vectors") {
  using A4 = std::array<uint32_t, 4>;
  CHECK(philox4x32({0, 0, 0, 0}, {0, 0}) == A4{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
        A4{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
        A4{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("latent normals are a pure function of (seed, event, sensor, stream)") {
  std::vector<float> a(128), b(128), c(128), d(128);
  standard_normals(7, 3, 5, LatentStream::z, a.data(), 128);
  standard_normals(7, 3, 5, LatentStream::z, b.data(), 128);
  CHECK(a == b);
  standard_normals(7, 3, 6, LatentStream::z, c.data(), 128);
  CHECK(a != c);
  standard_normals(7, 3, 5, LatentStream::rdof, d.data(), 128);
  CHECK(a != d);
  // A prefix does not depend on how many values are asked for.
  std::vector<float> e(5);
  standard_normals(7, 3, 5, LatentStream::z, e.data(), 5);
  for (int i = 0; i < 5; ++i) CHECK(e[i] == a[i]);
}

TEST_CASE("latent normals have mean 0 and variance 1") {
  const int n = 200000;
  std::vector<float> v(n);
  standard_normals(1, 2, 3, LatentStream::z, v.data(), n);
  double mean = 0, var = 0;
  int beyond3 = 0;
  for (float x : v) {
    mean += x;
    var += x * x;
    beyond3 += std::abs(x) > 3;
  }
  mean /= n;
  var = var / n - mean * mean;
  MESSAGE("mean " << mean << ", variance " << var);
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(var - 1) < 0.01);
  CHECK(beyond3 == doctest::Approx(n * 0.0027).epsilon(0.15));
}
