#include "weights_converter/spectral_norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pxdgen::converter {

namespace {
void normalize(std::vector<double>& x, double eps) {
  double norm = 0;
  for (double v : x) norm += v * v;
  norm = std::max(std::sqrt(norm), eps);
  for (double& v : x) v /= norm;
}
}  // namespace

double biggan_sigma(const float* w, int64_t rows, int64_t cols, const float* u0, double eps) {
  std::vector<double> v(cols, 0.0), u(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) v[c] += static_cast<double>(u0[r]) * w[r * cols + c];
  normalize(v, eps);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += v[c] * w[r * cols + c];
    u[r] = s;
  }
  // sigma = (v W^T) . u, with u = normalize(v W^T).
  std::vector<double> wv = u;
  normalize(u, eps);
  double sigma = 0;
  for (int64_t r = 0; r < rows; ++r) sigma += wv[r] * u[r];
  return sigma;
}

double torch_sigma(const float* w, int64_t rows, int64_t cols, const float* u, const float* v) {
  double sigma = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(w[r * cols + c]) * v[c];
    sigma += u[r] * s;
  }
  return sigma;
}

}  // namespace pxdgen::converter
