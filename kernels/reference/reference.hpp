#pragma once
/// @file reference.hpp
/// Plain, obviously-correct float32 kernels. They define what every fast kernel must
/// compute and are the oracle of the tests. Tensors are dense, channel-major (C, H, W)
/// per image; weights are in PyTorch layout.

#include <cstddef>

namespace pxdgen::kernels::ref {

/// out(OC, OH, OW) = bias + conv(in(C, H, W), weight(OC, C, KH, KW)), zero padding `pad`,
/// OH = (H + 2 pad - KH) / stride + 1. `bias` may be null.
void conv2d_f32(const float* in, int channels, int height, int width, const float* weight,
                const float* bias, int out_channels, int kernel_h, int kernel_w, int stride,
                int pad, float* out);

/// PyTorch ConvTranspose2d: weight(C, OC, KH, KW), OH = (H - 1) stride - 2 pad + KH + out_pad.
void conv_transpose2d_f32(const float* in, int channels, int height, int width,
                          const float* weight, const float* bias, int out_channels,
                          int kernel_h, int kernel_w, int stride, int pad, int output_pad,
                          float* out);

/// y(rows, out) = x(rows, in) weight(out, in)^T + bias. `bias` may be null.
void linear_f32(const float* x, int rows, int in, const float* weight, const float* bias,
                int out, float* y);

/// y[c][i] = x[c][i] * scale[c] + shift[c], then max(0, .) if `relu`. y may alias x.
void scale_shift_f32(const float* x, int channels, size_t plane, const float* scale,
                     const float* shift, bool relu, float* y);

/// y = max(0, x) (leaky: x < 0 ? slope x), elementwise; y may alias x.
void relu_f32(const float* x, size_t n, float slope, float* y);

/// y(C, 2H, 2W)[c][i][j] = x[c][i/2][j/2].
void upsample2x_nearest_f32(const float* x, int channels, int height, int width, float* y);

/// y(C, H/2, W/2) = max over 2x2 windows.
void maxpool2x2_f32(const float* x, int channels, int height, int width, float* y);

/// y[i] += x[i].
void add_f32(const float* x, size_t n, float* y);

/// Row-wise LayerNorm over `dim` with affine weight and bias; y may alias x.
void layernorm_f32(const float* x, int rows, int dim, const float* weight, const float* bias,
                   float eps, float* y);

/// Row-wise softmax in place.
void softmax_rows_f32(float* x, int rows, int cols);

/// y = tanh(x), elementwise; y may alias x.
void tanh_f32(const float* x, size_t n, float* y);

}  // namespace pxdgen::kernels::ref
