#include "kernels/reference/reference.hpp"

namespace pxdgen::kernels::ref {

void linear_f32(const float* x, int rows, int in, const float* weight, const float* bias,
                int out, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * in;
    for (int o = 0; o < out; ++o) {
      const float* w = weight + static_cast<size_t>(o) * in;
      // Double accumulation: the oracle should be the more accurate side.
      double acc = bias ? bias[o] : 0.0;
      for (int i = 0; i < in; ++i) acc += static_cast<double>(w[i]) * xr[i];
      y[static_cast<size_t>(r) * out + o] = static_cast<float>(acc);
    }
  }
}

}  // namespace pxdgen::kernels::ref
