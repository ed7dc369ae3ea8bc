#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/random.hpp"
#include "kernels/reference/reference.hpp"

using namespace pxdgen;
namespace ref = pxdgen::kernels::ref;

namespace {
std::vector<float> randn(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  standard_normals(seed, 0, 0, LatentStream::z, v.data(), static_cast<int>(n));
  return v;
}

/// conv2d written as the textbook sum, one output at a time.
float conv_at(const std::vector<float>& x, int c_in, int h, int w, const std::vector<float>& wt, int k,
              int stride, int pad, int oc, int oy, int ox) {
  double s = 0;
  for (int c = 0; c < c_in; ++c)
    for (int ky = 0; ky < k; ++ky)
      for (int kx = 0; kx < k; ++kx) {
        const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        s += static_cast<double>(wt[((oc * c_in + c) * k + ky) * k + kx]) * x[(c * h + iy) * w + ix];
      }
  return static_cast<float>(s);
}
}  // namespace

TEST_CASE("reference conv2d equals the textbook sum for every kernel, stride and padding") {
  const int c_in = 3, c_out = 4, h = 9, w = 11;
  const auto x = randn(c_in * h * w, 1);
  for (int k : {1, 2, 3, 5})
    for (int stride : {1, 2})
      for (int pad = 0; pad <= k / 2 + 1; ++pad) {
        const auto wt = randn(c_out * c_in * k * k, 2 + k);
        const auto bias = randn(c_out, 3);
        const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        std::vector<float> y(c_out * oh * ow);
        ref::conv2d_f32(x.data(), c_in, h, w, wt.data(), bias.data(), c_out, k, k, stride, pad, y.data());
        double worst = 0;
        for (int oc = 0; oc < c_out; ++oc)
          for (int oy = 0; oy < oh; ++oy)
            for (int ox = 0; ox < ow; ++ox)
              worst = std::max(worst, std::abs(static_cast<double>(y[(oc * oh + oy) * ow + ox]) -
                                               (bias[oc] + conv_at(x, c_in, h, w, wt, k, stride, pad, oc, oy, ox))));
        CAPTURE(k);
        CAPTURE(stride);
        CAPTURE(pad);
        CHECK(worst < 1e-5);
      }
}

TEST_CASE("reference transposed convolution is the adjoint of conv2d") {
  // <conv(x), y> == <x, conv_transpose(y)> for the same weights and no bias, whenever
  // the transposed output size matches the conv input size.
  const int c_in = 3, c_out = 5, h = 8, w = 10;
  for (int k : {2, 3, 4, 5})
    for (int stride : {1, 2})
      for (int pad = 0; pad < k; ++pad) {
        const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        if (oh <= 0 || ow <= 0) continue;
        const int out_pad_h = h - ((oh - 1) * stride - 2 * pad + k);
        const int out_pad_w = w - ((ow - 1) * stride - 2 * pad + k);
        if (out_pad_h != out_pad_w || out_pad_h < 0 || out_pad_h >= stride) continue;
        const auto x = randn(c_in * h * w, 10);
        const auto y = randn(c_out * oh * ow, 11);
        const auto wt = randn(c_out * c_in * k * k, 12);  // conv: (out, in, k, k) = transposed: (in', out', k, k)
        std::vector<float> cx(c_out * oh * ow), ty(c_in * h * w);
        ref::conv2d_f32(x.data(), c_in, h, w, wt.data(), nullptr, c_out, k, k, stride, pad, cx.data());
        ref::conv_transpose2d_f32(y.data(), c_out, oh, ow, wt.data(), nullptr, c_in, k, k, stride, pad, out_pad_h, ty.data());
        double lhs = 0, rhs = 0;
        for (size_t i = 0; i < cx.size(); ++i) lhs += static_cast<double>(cx[i]) * y[i];
        for (size_t i = 0; i < ty.size(); ++i) rhs += static_cast<double>(ty[i]) * x[i];
        CAPTURE(k);
        CAPTURE(stride);
        CAPTURE(pad);
        CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
      }
}

TEST_CASE("reference linear, upsample, maxpool, layernorm, softmax") {
  const float x[] = {1, 2, 3, 4, 5, 6};  // 2 rows x 3
  const float wt[] = {1, 0, -1, 0.5f, 0.5f, 0.5f};  // 2 out x 3 in
  const float b[] = {0.25f, -1};
  float y[4];
  ref::linear_f32(x, 2, 3, wt, b, 2, y);
  CHECK(y[0] == doctest::Approx(-1.75));
  CHECK(y[1] == doctest::Approx(2));
  CHECK(y[2] == doctest::Approx(-1.75));
  CHECK(y[3] == doctest::Approx(6.5));

  const float img[] = {1, 2, 3, 4, 5, 6};  // 1 x 2 x 3
  float up[24];
  ref::upsample2x_nearest_f32(img, 1, 2, 3, up);
  const float up_expected[] = {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6};
  for (int i = 0; i < 24; ++i) CHECK(up[i] == up_expected[i]);
  float pooled[6];
  ref::maxpool2x2_f32(up, 1, 4, 6, pooled);
  for (int i = 0; i < 6; ++i) CHECK(pooled[i] == img[i]);

  const float ones[] = {1, 1, 1}, zeros[] = {0, 0, 0};
  float n[6];
  ref::layernorm_f32(x, 2, 3, ones, zeros, 1e-5f, n);
  CHECK(n[0] == doctest::Approx(-1.2247).epsilon(1e-3));
  CHECK(n[1] == doctest::Approx(0).scale(1));
  CHECK(n[5] == doctest::Approx(1.2247).epsilon(1e-3));

  float s[] = {0, 0, 1000, 1000};
  ref::softmax_rows_f32(s, 2, 2);
  CHECK(s[0] == doctest::Approx(0.5));
  CHECK(s[3] == doctest::Approx(0.5));
}
