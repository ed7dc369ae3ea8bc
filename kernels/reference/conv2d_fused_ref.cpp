#include <algorithm>
#include <vector>

#include "kernels/conv2d.hpp"
#include "kernels/reference/reference.hpp"

namespace pxdgen::kernels {
namespace {

/// `count` planes of `plane` floats, `stride` floats apart in src, packed.
std::vector<float> packed_planes(const float* src, int count, size_t plane, size_t stride) {
  std::vector<float> v(static_cast<size_t>(count) * plane);
  for (int c = 0; c < count; ++c) std::copy_n(src + c * stride, plane, v.begin() + static_cast<ptrdiff_t>(c * plane));
  return v;
}

}  // namespace

void conv2d_fused_f32_ref(const Conv2dArgs& a) {
  // The halo rows join the input, which is convolved whole; the output rows of the halo are
  // then dropped.
  const int above = a.halo_above, below = a.halo_below;
  const int tall = above + a.height + below;
  const size_t plane = static_cast<size_t>(tall) * a.width;
  std::vector<float> act = packed_planes(a.in - static_cast<ptrdiff_t>(above) * a.width, a.channels, plane,
                                         in_channel_stride(a));
  if (a.in_scale != nullptr) ref::scale_shift_f32(act.data(), a.channels, plane, a.in_scale, a.in_shift, true, act.data());
  const int f = a.upsample2x ? 2 : 1;
  int h = tall, w = a.width;
  if (a.upsample2x) {
    std::vector<float> up(act.size() * 4);
    ref::upsample2x_nearest_f32(act.data(), a.channels, h, w, up.data());
    act.swap(up);
    h *= 2;
    w *= 2;
  }
  std::vector<float> full(static_cast<size_t>(a.out_channels) * h * w);
  ref::conv2d_f32(act.data(), a.channels, h, w, a.weight, a.bias, a.out_channels, a.kernel, a.kernel, 1,
                  a.kernel / 2, full.data());
  const int oh = f * a.height;
  const size_t out_plane = static_cast<size_t>(oh) * w, out_size = a.out_channels * out_plane;
  std::vector<float> out(out_size);
  for (int oc = 0; oc < a.out_channels; ++oc)
    std::copy_n(full.begin() + static_cast<ptrdiff_t>(oc * static_cast<size_t>(h) * w + static_cast<size_t>(f * above) * w),
                out_plane, out.begin() + static_cast<ptrdiff_t>(oc * out_plane));
  if (a.residual != nullptr) {
    const int rh = a.residual_upsample2x ? oh / 2 : oh, rw = a.residual_upsample2x ? w / 2 : w;
    std::vector<float> residual = packed_planes(a.residual, a.out_channels, static_cast<size_t>(rh) * rw,
                                                residual_channel_stride(a));
    if (a.residual_upsample2x) {
      std::vector<float> up(out_size);
      ref::upsample2x_nearest_f32(residual.data(), a.out_channels, rh, rw, up.data());
      residual.swap(up);
    }
    ref::add_f32(residual.data(), out_size, out.data());
  }
  const size_t stride = out_channel_stride(a);
  for (int oc = 0; oc < a.out_channels; ++oc) {
    const float* src = out.data() + oc * out_plane;
    float* dst = a.out + oc * stride;
    if (a.accumulate)
      ref::add_f32(src, out_plane, dst);
    else
      std::copy_n(src, out_plane, dst);
  }
}

void conv1x1_then_kxk_f32_ref(const Conv1x1ThenKxkArgs& a) {
  const Conv2dArgs& f = a.first;
  const int h = f.height, w = f.width, channels = f.out_channels, k = a.kernel, pad = k / 2;
  if (h <= 0 || w <= 0 || a.out_channels <= 0) return;
  const size_t plane = static_cast<size_t>(h) * w;
  std::vector<float> x(static_cast<size_t>(channels) * plane);
  Conv2dArgs first = f;
  first.out = x.data();
  first.accumulate = false;
  first.out_channel_stride = 0;
  conv2d_fused_f32_ref(first);
  if (a.scale != nullptr) ref::scale_shift_f32(x.data(), channels, plane, a.scale, a.shift, true, x.data());
  const size_t out_stride = a.out_channel_stride != 0 ? a.out_channel_stride : plane;
  for (int o = 0; o < a.out_channels; ++o)
    for (int r = -a.rows_above; r < h + a.rows_below; ++r) {
      float* row = a.out + o * out_stride + static_cast<ptrdiff_t>(r) * w;
      for (int col = 0; col < w; ++col) {
        double sum = r >= 0 && r < h && a.bias != nullptr ? a.bias[o] : 0.0;  // as in conv2d_f32
        for (int c = 0; c < channels; ++c)
          for (int ky = 0; ky < k; ++ky) {
            const int y = r + ky - pad;
            if (y < 0 || y >= h) continue;  // a row of another band
            for (int kx = 0; kx < k; ++kx) {
              const int xx = col + kx - pad;
              if (xx < 0 || xx >= w) continue;
              sum += static_cast<double>(a.weight[((static_cast<size_t>(o) * channels + c) * k + ky) * k + kx]) *
                     x[c * plane + static_cast<size_t>(y) * w + xx];
            }
          }
        row[col] += static_cast<float>(sum);
      }
    }
}

}  // namespace pxdgen::kernels
