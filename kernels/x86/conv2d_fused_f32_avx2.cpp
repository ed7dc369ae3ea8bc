// The fused convolution on AVX2 + FMA (8 lanes). This unit alone is built with -mavx2 -mfma.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "conv2d_fused_f32_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include "kernels/x86/simd_avx2.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"

namespace pxdgen::kernels::x86 {

void conv2d_fused_f32_avx2(const Conv2dArgs& args) { conv2d_fused_tiled<SimdAvx2>(args); }

void conv2d_3x3_f32_avx2(const Conv2dArgs& args, Conv3x3Algorithm algorithm) {
  if (args.kernel != 3 || args.upsample2x) return conv2d_fused_tiled<SimdAvx2>(args);
  if (args.residual != nullptr) return conv2d_3x3_f32_avx2(residual_added_first<SimdAvx2>(args), algorithm);
  if (algorithm == Conv3x3Algorithm::winograd_f2x3) return conv_winograd<SimdAvx2>(args, WinogradTile::f2x3);
  if (algorithm == Conv3x3Algorithm::winograd_f4x3) return conv_winograd<SimdAvx2>(args, WinogradTile::f4x3);
  conv_kxk_direct<SimdAvx2, 3>(args);
}

}  // namespace pxdgen::kernels::x86
