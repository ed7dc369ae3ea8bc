#pragma once
/// @file conv2d.hpp
/// The fused convolution every generator's hot path is made of:
///   out (+)= bias + conv_KxK( [up2]( act(in) ) ) + [up2](residual),  zero padding K/2, stride 1,
/// where act(x) = max(0, x * in_scale[c] + in_shift[c]) when in_scale is given (a folded
/// batch norm and ReLU), identity otherwise, and up2 is an optional nearest 2x upsampling.
/// The padding zeros are added after act and up2, as in PyTorch.
/// Tensors are planar float32: in (C, H, W), out (OC, OH, OW) with OH = H or 2H; the planes of
/// each may lie further apart than their size, so that a convolution reads and writes bands
/// of rows of taller tensors. Rows just above and below `in` may be real rows (a halo) that
/// the convolution reads instead of the zero padding: a band then gives exactly the rows the
/// whole tensor would.

#include <cstddef>

#include "kernels/tensor_memory.hpp"

namespace pxdgen::kernels {

/// A layer's weights transformed once, at load, for the algorithm the fast kernel takes on
/// the layer's shape, so that its calls skip the transform: the Winograd weights of a layer
/// that runs by Winograd. A call whose ISA, algorithm or channels differ from those it was
/// made for ignores it. The networks choose which layers keep them (Conv2d::prepare): done
/// on every call, the transform took a fifth of a WGAN ConvNet event (its 5x5 kernels of the
/// upsampled input, summed into four phase kernels each); kept for every 3x3 layer of the
/// IEA-GAN, they add 8 MB to the event's peak memory (123 -> 131 MB) and take the 64- and
/// 128-channel 3x3 layers from 601-611 to 556-568 ms an event (layer profile, Zen 4).
struct PreparedView {
  const float* data = nullptr;
  size_t floats = 0;
  int transform = 0;  ///< which transform and register blocking made `data`; 0: none
};

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
  /// Floats from one channel's plane to the next, of `in`, of `residual` and of `out`; 0: their
  /// planes are packed. Larger strides let a convolution run on a band of rows of a taller
  /// tensor.
  size_t in_channel_stride = 0;
  size_t residual_channel_stride = 0;
  size_t out_channel_stride = 0;
  /// Rows of `in` above its first row and below its last that hold data (at in - width and
  /// on, and at in + height x width and on, in each plane): the convolution reads them where
  /// it would read zero padding; rows beyond them are padding. Two a side cover a 5x5.
  int halo_above = 0, halo_below = 0;
  /// From conv2d_prepare_f32 for this layer's weights, or empty: transform on each call.
  PreparedView prepared;
};

/// Floats between the planes of `in`.
inline size_t in_channel_stride(const Conv2dArgs& a) {
  return a.in_channel_stride != 0 ? a.in_channel_stride : static_cast<size_t>(a.height) * a.width;
}

/// Whether input row iy (of the small input where upsampled) is zero padding rather than data.
inline bool row_is_padding(const Conv2dArgs& a, int iy) { return iy < -a.halo_above || iy >= a.height + a.halo_below; }

/// Floats of one output plane, OH x OW.
inline size_t out_plane_floats(const Conv2dArgs& a) {
  return static_cast<size_t>(a.height) * a.width * (a.upsample2x ? 4 : 1);
}

/// Floats between the planes of `out`.
inline size_t out_channel_stride(const Conv2dArgs& a) {
  return a.out_channel_stride != 0 ? a.out_channel_stride : out_plane_floats(a);
}

/// Floats between the planes of `residual`.
inline size_t residual_channel_stride(const Conv2dArgs& a) {
  if (a.residual_channel_stride != 0) return a.residual_channel_stride;
  return a.residual_upsample2x ? out_plane_floats(a) / 4 : out_plane_floats(a);
}

/// A 1x1 convolution whose output feeds only a KxK convolution to a few channels (the last
/// block of a BigGAN-deep generator and its output layer), computed without storing the 1x1's
/// output x: for the band of rows `first` reads (H rows),
///   x = the fused 1x1 of `first` (activation, bias, residual; its out fields are unused),
///   out += bias (rows 0 .. H) + the terms of conv_KxK(act(x)) that read rows of this band,
/// on output rows -rows_above .. H + rows_below (the others are dropped), with K/2 zero
/// columns at each side. Starting from zeros, the calls for bands that tile an image add up
/// to the KxK convolution of the whole 1x1 output: each row of x is made and read once, and
/// no band needs the rows around it.
struct Conv1x1ThenKxkArgs {
  Conv2dArgs first;                 ///< kernel 1, no upsampling
  const float* scale = nullptr;     ///< act(x): per channel of x, or null: none
  const float* shift = nullptr;
  const float* weight = nullptr;    ///< (out_channels, first.out_channels, kernel, kernel)
  const float* bias = nullptr;      ///< (out_channels), or null
  int out_channels = 0;
  int kernel = 3;                   ///< odd
  float* out = nullptr;             ///< row 0 of the band in out's plane 0
  size_t out_channel_stride = 0;    ///< floats between out's planes (needed for several)
  int rows_above = 0, rows_below = 0;  ///< output rows beside the band, up to kernel / 2 each
};

/// The KxK layer of `chain` as a fused convolution of its band of the 1x1's output, stored at
/// x (packed planes), into out: for running the two layers apart, as the tests and
/// benchmarks compare them.
inline Conv2dArgs kxk_layer_of(const Conv1x1ThenKxkArgs& chain, const float* x, float* out) {
  Conv2dArgs a;
  a.in = x;
  a.channels = chain.first.out_channels;
  a.height = chain.first.height;
  a.width = chain.first.width;
  a.in_scale = chain.scale;
  a.in_shift = chain.shift;
  a.weight = chain.weight;
  a.bias = chain.bias;
  a.out_channels = chain.out_channels;
  a.kernel = chain.kernel;
  a.out = out;
  return a;
}

/// Plain loops: the oracle.
void conv2d_fused_f32_ref(const Conv2dArgs& args);
void conv1x1_then_kxk_f32_ref(const Conv1x1ThenKxkArgs& args);

/// The fastest implementations this CPU runs (chosen once, from CPUID).
void conv2d_fused_f32(const Conv2dArgs& args);
void conv1x1_then_kxk_f32(const Conv1x1ThenKxkArgs& args);

/// The weights of the layer `shape` describes (all but its in, out and residual pointers),
/// transformed for the algorithm conv2d_fused_f32 takes on that shape into memory from
/// `arena`, or empty where there is nothing to keep. (A network's layers share one arena: on
/// one Zen 5 core, loading the IEA-GAN took 68-71 ms (one run of 97) against 122-138 ms with a
/// buffer of its own for each layer on small pages and 87-94 ms with those buffers on huge
/// pages, which took 10 MB more peak memory, their 1 to 2.4 MB rounded up to whole 2 MiB
/// pages: 129-130 MB, 128 MB and 138-139 MB; 3 alternations of `pxdgen bench -m`.)
PreparedView conv2d_prepare_f32(const Conv2dArgs& shape, TensorArena& arena);

/// Name of the implementation conv2d_fused_f32 uses here ("avx512f", "avx2", "ref").
const char* conv2d_fused_f32_isa();

}  // namespace pxdgen::kernels
