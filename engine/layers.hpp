#pragma once
/// @file layers.hpp
/// The layers the generator families are built from: weights looked up and shape-checked
/// at model load, forward passes through the kernels.

#include <string>
#include <vector>

#include "engine/weights.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/tensor_memory.hpp"
#include "pxdgen/pxdgen.hpp"

namespace pxdgen {

/// Grow-only scratch buffers of one thread: sized by the first event, reused after.
class Workspace {
 public:
  /// Buffer `slot` with room for at least n floats (contents not preserved on growth).
  float* get(size_t slot, size_t n) {
    if (slot >= buffers_.size()) buffers_.resize(slot + 1);
    if (buffers_[slot].size() < n) buffers_[slot].resize(n);
    return buffers_[slot].data();
  }

 private:
  std::vector<std::vector<float, kernels::TensorAllocator<float>>> buffers_;
};

/// The kernels a backend runs: the reference backend the oracle loops, the fast backend
/// the best ISA of this CPU. Networks are written once against this table.
struct KernelTable {
  void (*conv2d_fused)(const kernels::Conv2dArgs&);
  void (*conv1x1_then_kxk)(const kernels::Conv1x1ThenKxkArgs&);
  kernels::PreparedView (*conv2d_prepare)(const kernels::Conv2dArgs&, kernels::TensorArena&);
  void (*linear)(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                 float* y);
};
const KernelTable& kernel_table(Backend backend);

/// What runs on a convolution's input before it: a folded batch norm with ReLU, and/or
/// a nearest 2x upsampling (both fused into the convolution's input loads); and where x is a
/// band of rows of a taller tensor, how its planes lie and which rows around it hold data.
struct ConvInput {
  const float* scale = nullptr;  ///< per channel; null: no activation
  const float* shift = nullptr;
  bool upsample2x = false;
  size_t channel_stride = 0;  ///< floats between x's planes; 0: packed
  /// Rows above and below x that the convolution reads instead of zero padding (see
  /// kernels::Conv2dArgs::halo_above).
  int halo_above = 0, halo_below = 0;
};

/// What a convolution's output gets added: a residual block's skip, at the output size or at
/// half of it, nearest-upsampled (added inside the convolution, see kernels/conv2d.hpp).
struct Residual {
  const float* data = nullptr;  ///< (out, H', W') planes; null: none
  bool upsample2x = false;
  size_t channel_stride = 0;  ///< floats between its planes; 0: packed
  /// The skip already fills the output (a block that writes over its input): the
  /// convolution adds to the output instead of overwriting it, and `data` stays null.
  bool in_output = false;

  static Residual already_in_output() {
    Residual r;
    r.in_output = true;
    return r;
  }
};

/// Conv2d in PyTorch layout, bias optional.
struct Conv2d {
  WeightView weight;
  const float* bias = nullptr;
  int in = 0, out = 0, kernel = 0, stride = 1, pad = 0;

  /// Loads `prefix.weight` (out, in, k, k) and, if present, `prefix.bias` (out).
  /// in/out of -1 accept any size.
  static Conv2d load(Weights& weights, const std::string& prefix, int in, int out, int kernel,
                     int stride, int pad);
  int out_size(int size) const { return (size + 2 * pad - kernel) / stride + 1; }
  /// Any stride and padding, reference loops.
  void forward(const float* x, int height, int width, float* y) const;
  /// "Same" convolution (stride 1, padding k/2) through the backend's fused kernel:
  /// y = conv(input transform of x) + residual, x being (in, height, width) before upsampling,
  /// y's planes y_channel_stride floats apart (0: packed).
  void forward(const KernelTable& k, const float* x, int height, int width, float* y,
               const ConvInput& input = {}, const Residual& residual = {}, size_t y_channel_stride = 0) const;
  /// This 1x1 convolution of a band of rows (x, input and residual as for forward) feeding
  /// only `next`, a "same" KxK convolution of few outputs, through next_input's activation:
  /// adds next's output terms that read this band to y, row 0 of the band in next's output
  /// (planes y_channel_stride apart, rows_above and rows_below rows beside the band; see
  /// kernels::Conv1x1ThenKxkArgs). This layer's output is never stored.
  void forward_into(const KernelTable& k, const float* x, int height, int width, const ConvInput& input,
                    const Residual& residual, const Conv2d& next, const ConvInput& next_input, float* y,
                    size_t y_channel_stride, int rows_above, int rows_below) const;
  bool is_same_padding() const { return stride == 1 && kernel % 2 == 1 && pad == kernel / 2; }
  double macs(int height, int width) const;
  /// Lets the backend transform the weights once for the shape the layer always runs at (an
  /// input of height x width, upsampled or not), rather than on every call, into memory from
  /// `arena`, which the network keeps as long as this layer (kernels::conv2d_prepare_f32); a
  /// no-op where it keeps nothing.
  void prepare(const KernelTable& k, kernels::TensorArena& arena, int height, int width, bool upsample2x);

  kernels::PreparedView prepared;

 private:
  /// The kernel's arguments but for the tensors: channels, sizes, weights.
  kernels::Conv2dArgs shape_args(int height, int width, bool upsample2x) const;
  /// The kernel's arguments for forward's.
  kernels::Conv2dArgs args(const float* x, int height, int width, float* y, const ConvInput& input,
                           const Residual& residual, size_t y_channel_stride) const;
};

/// ConvTranspose2d in PyTorch layout (in, out, k, k), bias optional.
struct ConvTranspose2d {
  WeightView weight;
  const float* bias = nullptr;
  int in = 0, out = 0, kernel = 0, stride = 1, pad = 0, output_pad = 0;

  static ConvTranspose2d load(Weights& weights, const std::string& prefix, int in, int out,
                              int kernel, int stride, int pad, int output_pad);
  int out_size(int size) const { return (size - 1) * stride - 2 * pad + kernel + output_pad; }
  void forward(const float* x, int height, int width, float* y) const;
  double macs(int height, int width) const;
};

/// Linear in PyTorch layout (out, in), bias optional.
struct Linear {
  WeightView weight;
  const float* bias = nullptr;
  int in = 0, out = 0;

  static Linear load(Weights& weights, const std::string& prefix, int in, int out);
  /// y (rows, out) = x (rows, in) W^T + b; with threads > 1, a wide layer's outputs are
  /// shared among that many OpenMP threads.
  void forward(const KernelTable& k, const float* x, int rows, float* y, int threads = 1) const;
  double macs() const { return static_cast<double>(in) * out; }
};

/// Eval-mode BatchNorm2d folded into a per-channel scale and shift.
struct BatchNorm {
  std::vector<float> scale, shift;
  /// Loads `prefix.{weight,bias,running_mean,running_var}` (torch.nn.BatchNorm2d) or,
  /// with `biggan_names`, `prefix.{gain,bias,stored_mean,stored_var}`.
  static BatchNorm load(Weights& weights, const std::string& prefix, int channels,
                        bool biggan_names, float eps = 1e-5f);
  int channels() const { return static_cast<int>(scale.size()); }
  void forward(const float* x, size_t plane, bool relu, float* y) const;
};

/// LayerNorm with affine weight and bias.
struct LayerNorm {
  const float* weight = nullptr;
  const float* bias = nullptr;
  int dim = 0;
  static LayerNorm load(Weights& weights, const std::string& prefix, int dim);
  void forward(const float* x, int rows, float* y) const;
};

}  // namespace pxdgen
