// The fully connected layer on AVX2 + FMA. This unit alone is built with -mavx2 -mfma.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "linear_f32_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include "kernels/x86/linear_blocked.hpp"

namespace pxdgen::kernels::x86 {

namespace {

struct DotAvx2 {
  /// Three rows at a time: two or four took 1.04x and 1.02x the time on Zen 1.
  static constexpr int kRows = 3;

  /// y[r] for R rows: each weight vector is widened once for the R rows. Per row, four
  /// accumulators take floats i..i+3, ..i+7, ..i+11, ..i+15 of each 16 (an 8-float tail goes
  /// to the first two), summed as (a0 + a1) + (a2 + a3) onto the bias, then the last in % 8
  /// products: the same sums for any R.
  template <int R>
  static void rows(const double* xd, int in, const float* w, double bias, float* y, int y_stride) {
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
    for (int r = 0; r < R; ++r)
      y[static_cast<size_t>(r) * y_stride] =
          finish_sum(bias, _mm256_add_pd(_mm256_add_pd(acc[r][0], acc[r][1]), _mm256_add_pd(acc[r][2], acc[r][3])), w,
                     xd + static_cast<size_t>(r) * in, i, in);
  }
};

}  // namespace

void linear_f32_avx2(const float* x, int rows, int in, const float* weight, const float* bias, int out, float* y) {
  linear_blocked<DotAvx2>(x, rows, in, weight, bias, out, y);
}

}  // namespace pxdgen::kernels::x86
