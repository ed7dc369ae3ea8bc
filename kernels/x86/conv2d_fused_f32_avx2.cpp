// The fused convolution on AVX2 + FMA (8 lanes). This unit alone is built with -mavx2 -mfma.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "conv2d_fused_f32_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include "kernels/x86/simd_avx2.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"

namespace pxdgen::kernels::x86 {

void conv2d_fused_f32_avx2(const Conv2dArgs& args) { conv2d_fused_tiled<SimdAvx2>(args); }

void conv1x1_then_kxk_f32_avx2(const Conv1x1ThenKxkArgs& args) { conv1x1_then_kxk_tiled<SimdAvx2>(args); }

size_t conv2d_prepared_floats_avx2(const Conv2dArgs& shape) { return prepared_floats<SimdAvx2>(shape); }

int conv2d_prepare_f32_avx2(const Conv2dArgs& shape, float* dst) { return prepare_weights<SimdAvx2>(shape, dst); }

void conv2d_forced_f32_avx2(const Conv2dArgs& args, ConvAlgorithm algorithm) { conv_forced<SimdAvx2>(args, algorithm); }

}  // namespace pxdgen::kernels::x86
