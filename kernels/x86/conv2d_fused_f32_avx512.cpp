// The fused convolution on AVX-512F (16 lanes). This unit alone is built with -mavx512f.
#if !defined(__AVX512F__)
#error "conv2d_fused_f32_avx512.cpp must be compiled with -mavx512f"
#endif

#include "kernels/x86/simd_avx512.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"

namespace pxdgen::kernels::x86 {

void conv2d_fused_f32_avx512(const Conv2dArgs& args) { conv2d_fused_tiled<SimdAvx512>(args); }

void conv2d_3x3_f32_avx512(const Conv2dArgs& args, Conv3x3Algorithm algorithm) {
  if (args.kernel != 3 || args.upsample2x) return conv2d_fused_tiled<SimdAvx512>(args);
  if (args.residual != nullptr) return conv2d_3x3_f32_avx512(residual_added_first<SimdAvx512>(args), algorithm);
  if (algorithm == Conv3x3Algorithm::winograd_f2x3) return conv_winograd<SimdAvx512>(args, WinogradTile::f2x3);
  if (algorithm == Conv3x3Algorithm::winograd_f4x3) return conv_winograd<SimdAvx512>(args, WinogradTile::f4x3);
  conv_kxk_direct<SimdAvx512, 3>(args);
}

}  // namespace pxdgen::kernels::x86
