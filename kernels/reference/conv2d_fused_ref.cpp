#include <algorithm>
#include <vector>

#include "kernels/conv2d.hpp"
#include "kernels/reference/reference.hpp"

namespace pxdgen::kernels {

void conv2d_fused_f32_ref(const Conv2dArgs& a) {
  const size_t plane = static_cast<size_t>(a.height) * a.width;
  std::vector<float> act(static_cast<size_t>(a.channels) * plane);
  for (int c = 0; c < a.channels; ++c)
    std::copy_n(a.in + c * in_channel_stride(a), plane, act.begin() + static_cast<ptrdiff_t>(c * plane));
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
    const size_t residual_plane = static_cast<size_t>(rh) * rw;
    std::vector<float> residual(a.out_channels * residual_plane);
    for (int oc = 0; oc < a.out_channels; ++oc)
      std::copy_n(a.residual + oc * residual_channel_stride(a), residual_plane,
                  residual.begin() + static_cast<ptrdiff_t>(oc * residual_plane));
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
