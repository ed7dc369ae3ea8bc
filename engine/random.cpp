#include "engine/random.hpp"

#include <cmath>

namespace pxdgen {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

void standard_normals(uint64_t seed, uint64_t event, uint32_t sensor, LatentStream stream,
                      float* out, int n) {
  const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  constexpr double kTwoPi = 6.283185307179586;
  constexpr double kScale = 1.0 / 4294967296.0;
  for (int i = 0; i < n; i += 4) {
    const uint32_t block = static_cast<uint32_t>(i / 4);
    const auto bits = philox4x32({block, (static_cast<uint32_t>(stream) << 16) | sensor,
                                  static_cast<uint32_t>(event), static_cast<uint32_t>(event >> 32)},
                                 key);
    for (int pair = 0; pair < 2; ++pair) {
      // u1 in (0, 1] keeps the logarithm finite.
      const double u1 = (static_cast<double>(bits[2 * pair]) + 1.0) * kScale;
      const double u2 = static_cast<double>(bits[2 * pair + 1]) * kScale;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      if (i + 2 * pair < n) out[i + 2 * pair] = static_cast<float>(radius * std::cos(kTwoPi * u2));
      if (i + 2 * pair + 1 < n) out[i + 2 * pair + 1] = static_cast<float>(radius * std::sin(kTwoPi * u2));
    }
  }
}

}  // namespace pxdgen
