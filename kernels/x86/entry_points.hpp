#pragma once
/// @file entry_points.hpp
/// The per-ISA entry points of the fused convolution (kernels/conv2d.hpp) and the linear
/// layer (kernels/linear.hpp). Call one only on a CPU that has its ISA: kernels/dispatch.cpp
/// checks CPUID.

#include <cstddef>

#include "kernels/conv2d.hpp"

namespace pxdgen::kernels::x86 {

/// AVX2 + FMA, 8 lanes (kernels/x86/conv2d_fused_f32_avx2.cpp).
void conv2d_fused_f32_avx2(const Conv2dArgs& args);

/// AVX-512F, 16 lanes (kernels/x86/conv2d_fused_f32_avx512.cpp).
void conv2d_fused_f32_avx512(const Conv2dArgs& args);

/// conv1x1_then_kxk_f32 (kernels/conv2d.hpp) for each ISA.
void conv1x1_then_kxk_f32_avx2(const Conv1x1ThenKxkArgs& args);
void conv1x1_then_kxk_f32_avx512(const Conv1x1ThenKxkArgs& args);

/// conv2d_prepare_f32 (kernels/conv2d.hpp) for each ISA, in two steps so that the caller
/// owns the memory: the floats the prepared weights take (0: nothing to prepare), then the
/// transform into dst, which returns its PreparedView::transform.
size_t conv2d_prepared_floats_avx2(const Conv2dArgs& shape);
int conv2d_prepare_f32_avx2(const Conv2dArgs& shape, float* dst);
size_t conv2d_prepared_floats_avx512(const Conv2dArgs& shape);
int conv2d_prepare_f32_avx512(const Conv2dArgs& shape, float* dst);

/// The algorithms of the fused convolution. The entry points above choose by shape; these
/// force one, so benchmarks and tests can compare them on any shape. Winograd F(2x2, 3x3) and
/// F(4x4, 3x3) apply to the plain 3x3 convolution, winograd_up2 to the 3x3 and 5x5 ones of the
/// upsampled input (F(2x2, 2x2) and F(2x2, 3x3) per output phase), F(2x2, 5x5) to the plain
/// 5x5, winograd_f2x3_by_oc to the plain 3x3 with output channels a multiple of the lanes
/// (F(2x2, 3x3) with its GEMM vectorized over output channels, for planes of few tiles);
/// asked of another shape, they run direct.
enum class ConvAlgorithm { direct, winograd_f2x3, winograd_f4x3, winograd_up2, winograd_f2x5, winograd_f2x3_by_oc };
void conv2d_forced_f32_avx2(const Conv2dArgs& args, ConvAlgorithm algorithm);
void conv2d_forced_f32_avx512(const Conv2dArgs& args, ConvAlgorithm algorithm);

/// The linear layer (kernels/x86/linear_f32_avx2.cpp, linear_f32_avx512.cpp): the same sums,
/// bit for bit.
void linear_f32_avx2(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                     float* y);
void linear_f32_avx512(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                       float* y);

/// A 64-byte aligned buffer of at least `bytes` (kernels/tensor_memory.hpp), owned by the
/// calling thread and reused by its next call; lives in the baseline-ISA dispatch unit so no
/// standard-library code built with wider ISA flags can be shared with (and picked by the
/// linker for) other units.
void* kernel_scratch(size_t bytes);
/// The same, a second buffer: for an input staged before the kernel that takes kernel_scratch
/// runs on it (see upsampled_first in conv2d_winograd.hpp).
void* staged_input_scratch(size_t bytes);

}  // namespace pxdgen::kernels::x86
