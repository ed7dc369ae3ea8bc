#include <algorithm>
#include <cmath>

#include "kernels/reference/reference.hpp"

namespace pxdgen::kernels::ref {

void scale_shift_f32(const float* x, int channels, size_t plane, const float* scale,
                     const float* shift, bool relu, float* y) {
  for (int c = 0; c < channels; ++c) {
    const float s = scale[c], t = shift[c];
    const float* xc = x + c * plane;
    float* yc = y + c * plane;
    for (size_t i = 0; i < plane; ++i) {
      const float v = xc[i] * s + t;
      yc[i] = relu ? std::max(v, 0.0f) : v;
    }
  }
}

void relu_f32(const float* x, size_t n, float slope, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? x[i] * slope : x[i];
}

void upsample2x_nearest_f32(const float* x, int channels, int height, int width, float* y) {
  const int w2 = 2 * width;
  for (int c = 0; c < channels; ++c) {
    for (int i = 0; i < 2 * height; ++i) {
      const float* row = x + (static_cast<size_t>(c) * height + i / 2) * width;
      float* out = y + (static_cast<size_t>(c) * 2 * height + i) * w2;
      for (int j = 0; j < w2; ++j) out[j] = row[j / 2];
    }
  }
}

void maxpool2x2_f32(const float* x, int channels, int height, int width, float* y) {
  const int h2 = height / 2, w2 = width / 2;
  for (int c = 0; c < channels; ++c)
    for (int i = 0; i < h2; ++i)
      for (int j = 0; j < w2; ++j) {
        const float* p = x + (static_cast<size_t>(c) * height + 2 * i) * width + 2 * j;
        y[(static_cast<size_t>(c) * h2 + i) * w2 + j] =
            std::max(std::max(p[0], p[1]), std::max(p[width], p[width + 1]));
      }
}

void add_f32(const float* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] += x[i];
}

void layernorm_f32(const float* x, int rows, int dim, const float* weight, const float* bias,
                   float eps, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * dim;
    float* yr = y + static_cast<size_t>(r) * dim;
    double mean = 0, var = 0;
    for (int i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= dim;  // biased, as LayerNorm
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int i = 0; i < dim; ++i)
      yr[i] = static_cast<float>((xr[i] - mean) * inv * weight[i] + bias[i]);
  }
}

void softmax_rows_f32(float* x, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    float* xr = x + static_cast<size_t>(r) * cols;
    const float m = *std::max_element(xr, xr + cols);
    double sum = 0;
    for (int i = 0; i < cols; ++i) {
      xr[i] = std::exp(xr[i] - m);
      sum += xr[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int i = 0; i < cols; ++i) xr[i] *= inv;
  }
}

void tanh_f32(const float* x, size_t n, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

}  // namespace pxdgen::kernels::ref
