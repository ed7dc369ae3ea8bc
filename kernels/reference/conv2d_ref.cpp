#include <algorithm>
#include <vector>

#include "kernels/reference/reference.hpp"

namespace pxdgen::kernels::ref {

void conv2d_f32(const float* in, int channels, int height, int width, const float* weight,
                const float* bias, int out_channels, int kernel_h, int kernel_w, int stride,
                int pad, float* out) {
  const int oh = (height + 2 * pad - kernel_h) / stride + 1;
  const int ow = (width + 2 * pad - kernel_w) / stride + 1;
  const size_t plane = static_cast<size_t>(oh) * ow;
  // Double accumulation: the oracle should be the more accurate side, so that a fast
  // kernel's distance to it is the fast kernel's own error.
  std::vector<double> acc(plane);
  for (int oc = 0; oc < out_channels; ++oc) {
    double* o = acc.data();
    std::fill(o, o + plane, bias ? bias[oc] : 0.0);
    for (int c = 0; c < channels; ++c) {
      const float* x = in + static_cast<size_t>(c) * height * width;
      for (int ky = 0; ky < kernel_h; ++ky) {
        for (int kx = 0; kx < kernel_w; ++kx) {
          const float w = weight[((static_cast<size_t>(oc) * channels + c) * kernel_h + ky) * kernel_w + kx];
          // Output columns whose input column lies inside the image.
          const int x_lo = std::max(0, (pad - kx + stride - 1) / stride);
          const int last = width - 1 + pad - kx;
          const int x_hi = last < 0 ? 0 : std::min(ow, last / stride + 1);
          for (int y = 0; y < oh; ++y) {
            const int iy = y * stride - pad + ky;
            if (iy < 0 || iy >= height) continue;
            const float* row = x + static_cast<size_t>(iy) * width;
            double* orow = o + static_cast<size_t>(y) * ow;
            for (int xo = x_lo; xo < x_hi; ++xo) orow[xo] += static_cast<double>(w) * row[xo * stride - pad + kx];
          }
        }
      }
    }
    std::copy(o, o + plane, out + oc * plane);
  }
}

void conv_transpose2d_f32(const float* in, int channels, int height, int width,
                          const float* weight, const float* bias, int out_channels,
                          int kernel_h, int kernel_w, int stride, int pad, int output_pad,
                          float* out) {
  const int oh = (height - 1) * stride - 2 * pad + kernel_h + output_pad;
  const int ow = (width - 1) * stride - 2 * pad + kernel_w + output_pad;
  const size_t plane = static_cast<size_t>(oh) * ow;
  std::vector<double> acc(static_cast<size_t>(out_channels) * plane);  // as in conv2d_f32
  for (int oc = 0; oc < out_channels; ++oc)
    std::fill(acc.begin() + oc * plane, acc.begin() + (oc + 1) * plane, bias ? bias[oc] : 0.0);
  // Scatter form: input pixel (y, x) adds weight * value at (y s - p + ky, x s - p + kx).
  for (int c = 0; c < channels; ++c) {
    const float* xin = in + static_cast<size_t>(c) * height * width;
    for (int oc = 0; oc < out_channels; ++oc) {
      double* o = acc.data() + oc * plane;
      for (int ky = 0; ky < kernel_h; ++ky) {
        for (int kx = 0; kx < kernel_w; ++kx) {
          const float w = weight[((static_cast<size_t>(c) * out_channels + oc) * kernel_h + ky) * kernel_w + kx];
          for (int y = 0; y < height; ++y) {
            const int oy = y * stride - pad + ky;
            if (oy < 0 || oy >= oh) continue;
            for (int x = 0; x < width; ++x) {
              const int ox = x * stride - pad + kx;
              if (ox < 0 || ox >= ow) continue;
              o[static_cast<size_t>(oy) * ow + ox] += static_cast<double>(w) * xin[static_cast<size_t>(y) * width + x];
            }
          }
        }
      }
    }
  }
  std::copy(acc.begin(), acc.end(), out);
}

}  // namespace pxdgen::kernels::ref
