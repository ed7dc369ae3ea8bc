#pragma once
/// @file linear_blocked.hpp
/// The fully connected layer's loop over outputs and rows, shared by its ISA units
/// (linear_f32_avx2.cpp, linear_f32_avx512.cpp); each gives the dot products of a few rows
/// with one weight row. Include it only from those units: it is built with their ISA flags.

#include <immintrin.h>

#include <cstddef>

#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {

// Internal to each ISA unit, without the standard library's templates: one definition shared
// by all would be compiled with one unit's flags and could run on a CPU without them.
namespace {

inline int at_least(int a, int b) { return a > b ? a : b; }
inline int at_most(int a, int b) { return a < b ? a : b; }

/// One output of one row, from its four accumulated lanes (`lanes`, lane j holding the
/// products of inputs j, j + 4, ... below `from`): bias + ((l0 + l2) + (l1 + l3)), then the
/// products of inputs from .. in one by one. Both units end every sum here, so they agree
/// bit for bit.
inline float finish_sum(double bias, __m256d lanes, const float* w, const double* xr, int from, int in) {
  const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(lanes), _mm256_extractf128_pd(lanes, 1));
  double sum = bias + _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
  for (int t = from; t < in; ++t) sum += static_cast<double>(w[t]) * xr[t];
  return static_cast<float>(sum);
}

/// y = x weight^T + bias with Dot::rows<R>(xd, in, w, bias, y, y_stride) writing output o
/// of R rows (y_stride apart) from the rows widened to double (xd, `in` apart), for
/// R = Dot::kRows and R = 1.
///
/// Double accumulation, like the reference: the class-conditional gains this layer feeds
/// scale every activation of a sensor (float sums moved digits near the 255 ADU cap). The
/// input rows are widened to double once, so the loop converts only the weights, each for
/// kRows rows at a time. (Widening both operands of every product, the 40 x 256 -> 24576
/// layer of the IEA-GAN took 2.3x the time on Zen 1, bound by the conversions.)
template <class Dot>
void linear_blocked(const float* x, int rows, int in, const float* weight, const float* bias, int out, float* y) {
  constexpr int kRows = Dot::kRows;
  constexpr int kBlockWeightBytes = 256 * 1024, kGroupInputBytes = 24 * 1024;
  double* xd = static_cast<double*>(kernel_scratch(static_cast<size_t>(rows) * in * sizeof(double)));
  for (size_t i = 0; i < static_cast<size_t>(rows) * in; ++i) xd[i] = x[i];
  // Outputs in blocks whose weights stay in L2 while every input row reads them, so a batch
  // (the 40 sensors) reads the weights from memory once; within a block, rows in groups whose
  // widened inputs stay in L1 while the block's outputs read them. (Against every output
  // reading all 40 rows' 80 KB from L2, bench_linear on one Zen 4 core, 3 alternating runs:
  // 40 x 256 -> 24576 16.3 ms against 21.4-23.3 (one run 23.5), -> 512 0.31 against
  // 0.41-0.49 ms, -> 128 80 against 107 us; each output the same sum as before, bit for bit.)
  const int row_floats = at_least(1, in);
  const int block_outputs = at_least(1, kBlockWeightBytes / static_cast<int>(sizeof(float)) / row_floats);
  const int group_rows = at_least(kRows, kGroupInputBytes / static_cast<int>(sizeof(double)) / row_floats / kRows * kRows);
  for (int o0 = 0; o0 < out; o0 += block_outputs) {
    const int o1 = at_most(out, o0 + block_outputs);
    for (int r0 = 0; r0 < rows; r0 += group_rows) {
      const int r1 = at_most(rows, r0 + group_rows);
      for (int o = o0; o < o1; ++o) {
        const float* w = weight + static_cast<size_t>(o) * in;
        const double b = bias != nullptr ? bias[o] : 0.0;
        int r = r0;
        for (; r + kRows <= r1; r += kRows)
          Dot::template rows<kRows>(xd + static_cast<size_t>(r) * in, in, w, b, y + static_cast<size_t>(r) * out + o, out);
        for (; r < r1; ++r)
          Dot::template rows<1>(xd + static_cast<size_t>(r) * in, in, w, b, y + static_cast<size_t>(r) * out + o, out);
      }
    }
  }
}

}  // namespace

}  // namespace pxdgen::kernels::x86
