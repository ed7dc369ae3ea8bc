// The fully connected layer on AVX2 + FMA. This unit alone is built with -mavx2 -mfma.
// AVX2 serves AVX-512 CPUs too: the layer is about 1 % of an IEA-GAN event.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "linear_f32_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstddef>

#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {

namespace {

double horizontal_sum(__m256d v) {
  const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
}

/// y[r][o] for R rows of x already widened to double (xd, `in` apart): each weight vector is
/// widened once for the R rows. Per row, four accumulators take floats i..i+3, ..i+7, ..i+11,
/// ..i+15 of each 16 (an 8-float tail goes to the first two), summed as (a0 + a1) + (a2 + a3)
/// onto the bias, then the last in % 8 products: the same sums for any R.
template <int R>
void dot_rows(const double* xd, int in, const float* w, double bias, float* y, int y_stride) {
  const int vec_end = in / 8 * 8;
  __m256d acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_pd();
  int i = 0;
  for (; i + 16 <= vec_end; i += 16)
    for (int u = 0; u < 2; ++u) {
      const __m256 wv = _mm256_loadu_ps(w + i + 8 * u);
      const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(wv)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1));
      for (int r = 0; r < R; ++r) {
        const double* xr = xd + static_cast<size_t>(r) * in + i + 8 * u;
        acc[r][2 * u] = _mm256_fmadd_pd(lo, _mm256_loadu_pd(xr), acc[r][2 * u]);
        acc[r][2 * u + 1] = _mm256_fmadd_pd(hi, _mm256_loadu_pd(xr + 4), acc[r][2 * u + 1]);
      }
    }
  if (i < vec_end) {
    const __m256 wv = _mm256_loadu_ps(w + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(wv)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1));
    for (int r = 0; r < R; ++r) {
      const double* xr = xd + static_cast<size_t>(r) * in + i;
      acc[r][0] = _mm256_fmadd_pd(lo, _mm256_loadu_pd(xr), acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(hi, _mm256_loadu_pd(xr + 4), acc[r][1]);
    }
    i += 8;
  }
  for (int r = 0; r < R; ++r) {
    const double* xr = xd + static_cast<size_t>(r) * in;
    double sum = bias + horizontal_sum(_mm256_add_pd(_mm256_add_pd(acc[r][0], acc[r][1]), _mm256_add_pd(acc[r][2], acc[r][3])));
    for (int t = i; t < in; ++t) sum += static_cast<double>(w[t]) * xr[t];
    y[static_cast<size_t>(r) * y_stride] = static_cast<float>(sum);
  }
}

}  // namespace

void linear_f32_avx2(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                     float* y) {
  // Double accumulation, like the reference: the class-conditional gains this layer feeds
  // scale every activation of a sensor (float sums moved digits near the 255 ADU cap). The
  // input rows are widened to double once, so the loop converts only the weights, each for
  // three rows at a time. (Widening both operands of every product, the 40 x 256 -> 24576
  // layer of the IEA-GAN took 2.3x the time on Zen 1, bound by the conversions; two or four
  // rows at a time, 1.04x and 1.02x.)
  constexpr int kRows = 3;
  constexpr int kBlockWeightBytes = 256 * 1024, kGroupInputBytes = 24 * 1024;
  double* xd = static_cast<double*>(kernel_scratch(static_cast<size_t>(rows) * in * sizeof(double)));
  for (size_t i = 0; i < static_cast<size_t>(rows) * in; ++i) xd[i] = x[i];
  // Outputs in blocks whose weights stay in L2 while every input row reads them, so a batch
  // (the 40 sensors) reads the weights from memory once; within a block, rows in groups whose
  // widened inputs stay in L1 while the block's outputs read them. (Against every output
  // reading all 40 rows' 80 KB from L2, bench_linear on one Zen 4 core, 3 alternating runs:
  // 40 x 256 -> 24576 16.3 ms against 21.4-23.3 (one run 23.5), -> 512 0.31 against
  // 0.41-0.49 ms, -> 128 80 against 107 us; each output the same sum as before, bit for bit.)
  const int row_floats = std::max(1, in);
  const int block_outputs = std::max(1, kBlockWeightBytes / static_cast<int>(sizeof(float)) / row_floats);
  const int group_rows = std::max(kRows, kGroupInputBytes / static_cast<int>(sizeof(double)) / row_floats / kRows * kRows);
  for (int o0 = 0; o0 < out; o0 += block_outputs) {
    const int o1 = std::min(out, o0 + block_outputs);
    for (int r0 = 0; r0 < rows; r0 += group_rows) {
      const int r1 = std::min(rows, r0 + group_rows);
      for (int o = o0; o < o1; ++o) {
        const float* w = weight + static_cast<size_t>(o) * in;
        const double b = bias != nullptr ? bias[o] : 0.0;
        int r = r0;
        for (; r + kRows <= r1; r += kRows)
          dot_rows<kRows>(xd + static_cast<size_t>(r) * in, in, w, b, y + static_cast<size_t>(r) * out + o, out);
        for (; r < r1; ++r)
          dot_rows<1>(xd + static_cast<size_t>(r) * in, in, w, b, y + static_cast<size_t>(r) * out + o, out);
      }
    }
  }
}

}  // namespace pxdgen::kernels::x86
