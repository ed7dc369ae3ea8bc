// The fused convolution on AVX-512F (16 lanes). This unit alone is built with -mavx512f.
#if !defined(__AVX512F__)
#error "conv2d_fused_f32_avx512.cpp must be compiled with -mavx512f"
#endif

#include "kernels/x86/simd_avx512.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"

namespace pxdgen::kernels::x86 {

void conv2d_fused_f32_avx512(const Conv2dArgs& args) { conv2d_fused_tiled<SimdAvx512>(args); }

void conv1x1_then_kxk_f32_avx512(const Conv1x1ThenKxkArgs& args) { conv1x1_then_kxk_tiled<SimdAvx512>(args); }

size_t conv2d_prepared_floats_avx512(const Conv2dArgs& shape) { return prepared_floats<SimdAvx512>(shape); }

int conv2d_prepare_f32_avx512(const Conv2dArgs& shape, float* dst) { return prepare_weights<SimdAvx512>(shape, dst); }

void conv2d_forced_f32_avx512(const Conv2dArgs& args, ConvAlgorithm algorithm) { conv_forced<SimdAvx512>(args, algorithm); }

}  // namespace pxdgen::kernels::x86
