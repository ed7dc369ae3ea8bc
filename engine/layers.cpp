#include "engine/layers.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "engine/layer_profile.hpp"
#include "kernels/linear.hpp"
#include "kernels/reference/reference.hpp"
#include "pxdgen/error.hpp"

namespace pxdgen {

namespace {
const float* optional_bias(Weights& weights, const std::string& prefix, int out) {
  const std::string name = prefix + ".bias";
  return weights.has(name) ? weights.get(name, {out}).data : nullptr;
}

/// run(), timed into the layer profile as name() while profiling is on.
template <class Name, class Run>
void profiled(const Name& name, double flop, const Run& run) {
  if (!profile::on()) return run();
  const auto start = std::chrono::steady_clock::now();
  run();
  profile::record(name(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), flop);
}

/// "conv3x3 32->32 64x192 up2 +skip-up2": kernel, channels, input size, then what is fused.
std::string conv_name(int kernel, int in, int out, int height, int width, bool upsample2x, const char* residual) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "conv%dx%d %d->%d %dx%d%s%s", kernel, kernel, in, out, height, width,
                upsample2x ? " up2" : "", residual);
  return buf;
}

/// What a convolution adds to its output, for its name: " +=", " +skip", " +skip-up2" or "".
const char* residual_name(const Residual& residual) {
  if (residual.data == nullptr) return residual.in_output ? " +=" : "";
  return residual.upsample2x ? " +skip-up2" : " +skip";
}
}  // namespace

Conv2d Conv2d::load(Weights& weights, const std::string& prefix, int in, int out, int kernel,
                    int stride, int pad) {
  Conv2d c;
  c.weight = weights.get(prefix + ".weight", {out, in, kernel, kernel});
  c.out = static_cast<int>(c.weight.dim(0));
  c.in = static_cast<int>(c.weight.dim(1));
  c.kernel = kernel;
  c.stride = stride;
  c.pad = pad;
  c.bias = optional_bias(weights, prefix, c.out);
  return c;
}

void Conv2d::forward(const float* x, int height, int width, float* y) const {
  profiled([&] { return conv_name(kernel, in, out, height, width, false, stride != 1 ? " strided" : ""); },
           2 * macs(height, width), [&] {
             kernels::ref::conv2d_f32(x, in, height, width, weight.data, bias, out, kernel, kernel, stride, pad, y);
           });
}

kernels::Conv2dArgs Conv2d::shape_args(int height, int width, bool upsample2x) const {
  kernels::Conv2dArgs a;
  a.channels = in;
  a.height = height;
  a.width = width;
  a.upsample2x = upsample2x;
  a.weight = weight.data;
  a.bias = bias;
  a.out_channels = out;
  a.kernel = kernel;
  a.prepared = prepared;
  return a;
}

kernels::Conv2dArgs Conv2d::args(const float* x, int height, int width, float* y, const ConvInput& input,
                                 const Residual& residual, size_t y_channel_stride) const {
  kernels::Conv2dArgs a = shape_args(height, width, input.upsample2x);
  a.in = x;
  a.in_scale = input.scale;
  a.in_shift = input.shift;
  a.out = y;
  a.residual = residual.data;
  a.residual_upsample2x = residual.upsample2x;
  a.in_channel_stride = input.channel_stride;
  a.halo_above = input.halo_above;
  a.halo_below = input.halo_below;
  a.residual_channel_stride = residual.channel_stride;
  a.out_channel_stride = y_channel_stride;
  a.accumulate = residual.in_output;
  return a;
}

void Conv2d::forward(const KernelTable& k, const float* x, int height, int width, float* y,
                     const ConvInput& input, const Residual& residual, size_t y_channel_stride) const {
  const kernels::Conv2dArgs a = args(x, height, width, y, input, residual, y_channel_stride);
  const int f = input.upsample2x ? 2 : 1;
  profiled([&] { return conv_name(kernel, in, out, height, width, input.upsample2x, residual_name(residual)); },
           2 * macs(f * height, f * width), [&] { k.conv2d_fused(a); });
}

void Conv2d::forward_into(const KernelTable& k, const float* x, int height, int width, const ConvInput& input,
                          const Residual& residual, const Conv2d& next, const ConvInput& next_input, float* y,
                          size_t y_channel_stride, int rows_above, int rows_below) const {
  if (kernel != 1 || input.upsample2x || !next.is_same_padding() || next.in != out || next_input.upsample2x)
    throw std::logic_error("forward_into: a 1x1 into a same-padded convolution of its output");
  kernels::Conv1x1ThenKxkArgs a;
  a.first = args(x, height, width, nullptr, input, residual, 0);
  a.scale = next_input.scale;
  a.shift = next_input.shift;
  a.weight = next.weight.data;
  a.bias = next.bias;
  a.out_channels = next.out;
  a.kernel = next.kernel;
  a.out = y;
  a.out_channel_stride = y_channel_stride;
  a.rows_above = rows_above;
  a.rows_below = rows_below;
  profiled(
      [&] {
        return conv_name(kernel, in, out, height, width, false, residual_name(residual)) + " into " +
               conv_name(next.kernel, next.in, next.out, height, width, false, "");
      },
      2 * (macs(height, width) + next.macs(height, width)), [&] { k.conv1x1_then_kxk(a); });
}

void Conv2d::prepare(const KernelTable& k, kernels::TensorArena& arena, int height, int width, bool upsample2x) {
  prepared = k.conv2d_prepare(shape_args(height, width, upsample2x), arena);
}

const KernelTable& kernel_table(Backend backend) {
  static const KernelTable reference{kernels::conv2d_fused_f32_ref, kernels::conv1x1_then_kxk_f32_ref,
                                      [](const kernels::Conv2dArgs&, kernels::TensorArena&) { return kernels::PreparedView{}; },
                                      kernels::ref::linear_f32};
  static const KernelTable fast{kernels::conv2d_fused_f32, kernels::conv1x1_then_kxk_f32, kernels::conv2d_prepare_f32,
                                kernels::linear_f32};
  return backend == Backend::reference ? reference : fast;
}

double Conv2d::macs(int height, int width) const {
  return static_cast<double>(out_size(height)) * out_size(width) * in * out * kernel * kernel;
}

ConvTranspose2d ConvTranspose2d::load(Weights& weights, const std::string& prefix, int in,
                                      int out, int kernel, int stride, int pad, int output_pad) {
  ConvTranspose2d c;
  c.weight = weights.get(prefix + ".weight", {in, out, kernel, kernel});
  c.in = static_cast<int>(c.weight.dim(0));
  c.out = static_cast<int>(c.weight.dim(1));
  c.kernel = kernel;
  c.stride = stride;
  c.pad = pad;
  c.output_pad = output_pad;
  c.bias = optional_bias(weights, prefix, c.out);
  return c;
}

void ConvTranspose2d::forward(const float* x, int height, int width, float* y) const {
  profiled(
      [&] {
        char buf[96];
        std::snprintf(buf, sizeof buf, "convtranspose%dx%d %d->%d %dx%d stride %d", kernel, kernel, in, out, height,
                      width, stride);
        return std::string(buf);
      },
      2 * macs(height, width), [&] {
        kernels::ref::conv_transpose2d_f32(x, in, height, width, weight.data, bias, out, kernel, kernel, stride, pad,
                                           output_pad, y);
      });
}

double ConvTranspose2d::macs(int height, int width) const {
  return static_cast<double>(height) * width * in * out * kernel * kernel;
}

Linear Linear::load(Weights& weights, const std::string& prefix, int in, int out) {
  Linear l;
  l.weight = weights.get(prefix + ".weight", {out, in});
  l.out = static_cast<int>(l.weight.dim(0));
  l.in = static_cast<int>(l.weight.dim(1));
  l.bias = optional_bias(weights, prefix, l.out);
  return l;
}

void Linear::forward(const KernelTable& k, const float* x, int rows, float* y, int threads) const {
  // Outputs in slices of at least kSliceOutputs, a few per thread so that they even out.
  constexpr int kSliceOutputs = 256;
  const int slices = threads > 1 ? std::min(4 * threads, out / kSliceOutputs) : 1;
  const auto run = [&] {
    if (slices <= 1) return k.linear(x, rows, in, weight.data, bias, out, y);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int s = 0; s < slices; ++s) {
      const int o0 = static_cast<int>(static_cast<int64_t>(out) * s / slices);
      const int n = static_cast<int>(static_cast<int64_t>(out) * (s + 1) / slices) - o0;
      std::vector<float> part(static_cast<size_t>(rows) * n);
      k.linear(x, rows, in, weight.data + static_cast<size_t>(o0) * in, bias != nullptr ? bias + o0 : nullptr, n,
               part.data());
      for (int r = 0; r < rows; ++r)
        std::copy_n(part.data() + static_cast<size_t>(r) * n, n, y + static_cast<size_t>(r) * out + o0);
    }
  };
  profiled(
      [&] {
        char buf[64];
        std::snprintf(buf, sizeof buf, "linear %dx%d->%d", rows, in, out);
        return std::string(buf);
      },
      2.0 * rows * macs(), run);
}

BatchNorm BatchNorm::load(Weights& weights, const std::string& prefix, int channels,
                          bool biggan_names, float eps) {
  const WeightView gain = weights.get(prefix + (biggan_names ? ".gain" : ".weight"), {channels});
  const WeightView bias = weights.get(prefix + ".bias", {channels});
  const WeightView mean =
      weights.get(prefix + (biggan_names ? ".stored_mean" : ".running_mean"), {channels});
  const WeightView var =
      weights.get(prefix + (biggan_names ? ".stored_var" : ".running_var"), {channels});
  const std::string counter = prefix + ".num_batches_tracked";
  if (weights.has(counter)) weights.get(counter);
  BatchNorm bn;
  bn.scale.resize(channels);
  bn.shift.resize(channels);
  for (int c = 0; c < channels; ++c) {
    if (var.data[c] < 0) throw Error("tensor '" + prefix + "' has a negative variance");
    const float inv = 1.0f / std::sqrt(var.data[c] + eps);
    bn.scale[c] = gain.data[c] * inv;
    bn.shift[c] = bias.data[c] - mean.data[c] * gain.data[c] * inv;
  }
  return bn;
}

void BatchNorm::forward(const float* x, size_t plane, bool relu, float* y) const {
  kernels::ref::scale_shift_f32(x, channels(), plane, scale.data(), shift.data(), relu, y);
}

LayerNorm LayerNorm::load(Weights& weights, const std::string& prefix, int dim) {
  LayerNorm n;
  n.weight = weights.get(prefix + ".weight", {dim}).data;
  n.bias = weights.get(prefix + ".bias", {dim}).data;
  n.dim = dim;
  return n;
}

void LayerNorm::forward(const float* x, int rows, float* y) const {
  kernels::ref::layernorm_f32(x, rows, dim, weight, bias, 1e-5f, y);
}

}  // namespace pxdgen
