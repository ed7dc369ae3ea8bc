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
  const size_t plane = static_cast<size_t>(a.height) * a.width;
  std::vector<float> act = packed_planes(a.in, a.channels, plane, in_channel_stride(a));
  if (a.in_scale != nullptr) ref::scale_shift_f32(act.data(), a.channels, plane, a.in_scale, a.in_shift, true, act.data());
  int h = a.height, w = a.width;
  if (a.upsample2x) {
    std::vector<float> up(act.size() * 4);
    ref::upsample2x_nearest_f32(act.data(), a.channels, h, w, up.data());
    act.swap(up);
    h *= 2;
    w *= 2;
  }
  const size_t out_size = static_cast<size_t>(a.out_channels) * h * w;
  std::vector<float> out(out_size);
  ref::conv2d_f32(act.data(), a.channels, h, w, a.weight, a.bias, a.out_channels, a.kernel, a.kernel, 1,
                  a.kernel / 2, out.data());
  if (a.residual != nullptr) {
    const int rh = a.residual_upsample2x ? h / 2 : h, rw = a.residual_upsample2x ? w / 2 : w;
    std::vector<float> residual = packed_planes(a.residual, a.out_channels, static_cast<size_t>(rh) * rw,
                                                residual_channel_stride(a));
    if (a.residual_upsample2x) {
      std::vector<float> up(out_size);
      ref::upsample2x_nearest_f32(residual.data(), a.out_channels, rh, rw, up.data());
      residual.swap(up);
    }
    ref::add_f32(residual.data(), out_size, out.data());
  }
  if (a.accumulate)
    ref::add_f32(out.data(), out_size, a.out);
  else
    std::copy(out.begin(), out.end(), a.out);
}

}  // namespace pxdgen::kernels
