#include "engine/digitizer.hpp"

#include <cmath>
#include <string>

namespace pxdgen {

int charge_from_tanh(float x, const OutputTransform& t) {
  if (t.has_cut && !(x > t.cut)) x = -1.0f;
  float a = 0.5f * x + 0.5f;
  a = std::fmin(std::fmax(a, 0.0f), 1.0f);
  float adu = std::pow(256.0f, a) - 1.0f;
  adu = std::fmin(std::fmax(adu, 0.0f), 255.0f);
  const int charge = static_cast<int>(adu);  // truncation toward zero, as uint8 conversion
  return charge >= t.min_charge ? charge : 0;
}

void digitize_tanh(const float* image, int sensor, const OutputTransform& t,
                   std::vector<Digit>& digits) {
  for (int u = 0; u < kUCells; ++u) {
    const float* row = image + static_cast<size_t>(u + kCroppedRows) * kImageCols;
    for (int v = 0; v < kVCells; ++v) {
      const int charge = charge_from_tanh(row[v], t);
      if (charge > 0)
        digits.push_back({static_cast<uint16_t>(sensor), static_cast<uint16_t>(u),
                          static_cast<uint16_t>(v), static_cast<uint16_t>(charge)});
    }
  }
}

namespace {
/// A pre-tanh value below which no pixel can fire, with a safety margin for the
/// rounding of tanh, pow and the cut comparison.
float logit_floor(const OutputTransform& t) {
  // charge >= min_charge needs 256^a >= min_charge + 1.
  const double a = std::log(static_cast<double>(t.min_charge) + 1.0) / std::log(256.0);
  double x = 2.0 * a - 1.0;
  if (t.has_cut) x = std::max(x, static_cast<double>(t.cut));
  if (x <= -1.0) return -INFINITY;
  if (x >= 1.0) return INFINITY;
  return static_cast<float>(std::atanh(x) - 1e-3);
}
}  // namespace

void digitize_logits(const float* logits, int sensor, const OutputTransform& t,
                     std::vector<Digit>& digits) {
  const float floor = logit_floor(t);
  for (int u = 0; u < kUCells; ++u) {
    const float* row = logits + static_cast<size_t>(u + kCroppedRows) * kImageCols;
    for (int v = 0; v < kVCells; ++v) {
      if (!(row[v] >= floor)) continue;
      const int charge = charge_from_tanh(std::tanh(row[v]), t);
      if (charge > 0)
        digits.push_back({static_cast<uint16_t>(sensor), static_cast<uint16_t>(u),
                          static_cast<uint16_t>(v), static_cast<uint16_t>(charge)});
    }
  }
}

void validate(const OutputTransform& t) {
  if (t.has_cut && !(t.cut >= -1.0f && t.cut <= 1.0f))
    throw Error("threshold cut must lie in [-1, 1], got " + std::to_string(t.cut));
  if (t.min_charge < 1 || t.min_charge > 255)
    throw Error("minimum charge must lie in 1..255 ADU, got " + std::to_string(t.min_charge));
}

}  // namespace pxdgen
