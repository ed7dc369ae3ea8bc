#pragma once
/// @file conv2d.hpp
/// The fused convolution every generator's hot path is made of:
///   out (+)= bias + conv_KxK( [up2]( act(in) ) ) + [up2](residual),  zero padding K/2, stride 1,
/// where act(x) = max(0, x * in_scale[c] + in_shift[c]) when in_scale is given (a folded
/// batch norm and ReLU), identity otherwise, and up2 is an optional nearest 2x upsampling.
/// The padding zeros are added after act and up2, as in PyTorch.
/// Tensors are planar float32: in (C, H, W), out (OC, OH, OW) with OH = H or 2H; out's planes
/// are packed, in's and the residual's may lie further apart.

#include <cstddef>

namespace pxdgen::kernels {

struct Conv2dArgs {
  const float* in = nullptr;
  int channels = 0, height = 0, width = 0;  ///< of `in`
  const float* in_scale = nullptr;          ///< per input channel, or null: no activation
  const float* in_shift = nullptr;          ///< per input channel (with in_scale)
  bool upsample2x = false;
  const float* weight = nullptr;            ///< (out_channels, channels, kernel, kernel)
  const float* bias = nullptr;              ///< (out_channels), or null
  int out_channels = 0;
  int kernel = 3;                           ///< odd: 1, 3, 5
  float* out = nullptr;
  bool accumulate = false;                  ///< add to out instead of overwriting it
  /// Added to the output, or null: (out_channels, OH, OW), or with residual_upsample2x
  /// (out_channels, OH / 2, OW / 2) read nearest-upsampled (OH and OW even). A residual block's skip, added
  /// while the output is in cache rather than in a pass of its own.
  const float* residual = nullptr;
  bool residual_upsample2x = false;
  /// Floats from one channel's plane to the next, of `in` and of `residual`; 0: their planes
  /// are packed. Larger strides let a convolution run on a band of rows of a taller tensor.
  size_t in_channel_stride = 0;
  size_t residual_channel_stride = 0;
};

/// Floats between the planes of `in`.
inline size_t in_channel_stride(const Conv2dArgs& a) {
  return a.in_channel_stride != 0 ? a.in_channel_stride : static_cast<size_t>(a.height) * a.width;
}

/// Floats between the planes of `residual`.
inline size_t residual_channel_stride(const Conv2dArgs& a) {
  if (a.residual_channel_stride != 0) return a.residual_channel_stride;
  const size_t out_plane = static_cast<size_t>(a.height) * a.width * (a.upsample2x ? 4 : 1);
  return a.residual_upsample2x ? out_plane / 4 : out_plane;
}

/// Plain loops: the oracle.
void conv2d_fused_f32_ref(const Conv2dArgs& args);

/// The fastest implementation this CPU runs (chosen once, from CPUID).
void conv2d_fused_f32(const Conv2dArgs& args);

/// Name of the implementation conv2d_fused_f32 uses here ("avx512f", "avx2", "ref").
const char* conv2d_fused_f32_isa();

}  // namespace pxdgen::kernels
