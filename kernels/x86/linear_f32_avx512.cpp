// The fully connected layer on AVX-512F (8 doubles a vector). This unit alone is built with
// -mavx512f. On one Zen 5 core (full-width AVX-512), bench_linear, medians of 3 in 2 runs:
// 40 x 256 -> 24576 8.7 ms against the AVX2 unit's 13.5, -> 512 0.135 against 0.255 ms; the
// linear layers of an IEA-GAN event (pxdgen bench --layers) 14.5 against 21.5-22.0 ms.
#if !defined(__AVX512F__)
#error "linear_f32_avx512.cpp must be compiled with -mavx512f"
#endif

#include "kernels/x86/linear_blocked.hpp"

namespace pxdgen::kernels::x86 {

namespace {

// The zero-masked forms with every lane selected are the same instructions; the plain ones
// (and GCC 12's _mm512_castpd512_pd256) start from _mm512_undefined_pd, which it then warns
// is used uninitialized.
__m256d low_half(__m512d v) { return _mm512_maskz_extractf64x4_pd(0xf, v, 0); }
__m256d high_half(__m512d v) { return _mm512_maskz_extractf64x4_pd(0xf, v, 1); }
__m512d widen(const float* p) { return _mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p)); }

struct DotAvx512 {
  /// Four rows at a time: six were level, three 1.1x the time on the small layers; the
  /// 40 sensors' groups of 12 rows leave no row to run alone.
  static constexpr int kRows = 4;

  /// y[r] for R rows, each output the same sum as linear_f32_avx2's, bit for bit: per row,
  /// one accumulator takes floats i..i+7 of each 16 (the AVX2 unit's first two accumulators
  /// in its halves) and one i+8..i+15 (its last two); an 8-float tail goes to the first.
  template <int R>
  static void rows(const double* xd, int in, const float* w, double bias, float* y, int y_stride) {
    const int vec_end = in / 8 * 8;
    __m512d acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_pd();
    int i = 0;
    for (; i + 16 <= vec_end; i += 16) {
      const __m512d lo = widen(w + i), hi = widen(w + i + 8);
      for (int r = 0; r < R; ++r) {
        const double* xr = xd + static_cast<size_t>(r) * in + i;
        acc[r][0] = _mm512_fmadd_pd(lo, _mm512_loadu_pd(xr), acc[r][0]);
        acc[r][1] = _mm512_fmadd_pd(hi, _mm512_loadu_pd(xr + 8), acc[r][1]);
      }
    }
    if (i < vec_end) {
      const __m512d lo = widen(w + i);
      for (int r = 0; r < R; ++r)
        acc[r][0] = _mm512_fmadd_pd(lo, _mm512_loadu_pd(xd + static_cast<size_t>(r) * in + i), acc[r][0]);
      i += 8;
    }
    for (int r = 0; r < R; ++r) {
      const __m256d first = _mm256_add_pd(low_half(acc[r][0]), high_half(acc[r][0]));
      const __m256d second = _mm256_add_pd(low_half(acc[r][1]), high_half(acc[r][1]));
      y[static_cast<size_t>(r) * y_stride] =
          finish_sum(bias, _mm256_add_pd(first, second), w, xd + static_cast<size_t>(r) * in, i, in);
    }
  }
};

}  // namespace

void linear_f32_avx512(const float* x, int rows, int in, const float* weight, const float* bias, int out, float* y) {
  linear_blocked<DotAvx512>(x, rows, in, weight, bias, out, y);
}

}  // namespace pxdgen::kernels::x86
