// The fully connected layer on AVX2 + FMA. This unit alone is built with -mavx2 -mfma.
// AVX2 serves AVX-512 CPUs too: the layer is bound by reading its weights, not by the FMAs.
#if !defined(__AVX2__) || !defined(__FMA__)
#error "linear_f32_avx2.cpp must be compiled with -mavx2 -mfma"
#endif

#include <immintrin.h>

#include <cstddef>

#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {

namespace {

double horizontal_sum(__m256d v) {
  const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
}

}  // namespace

void linear_f32_avx2(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                     float* y) {
  // Double accumulation, like the reference: the layer is bound by reading its weights, so
  // the conversions cost nothing, and the class-conditional gains it feeds scale every
  // activation of a sensor (float sums moved digits near the 255 ADU cap).
  const int vec_end = in / 8 * 8;
  // Outputs outermost: a weight row stays in L1 while every input row reads it, so a batch
  // (the 40 sensors) reads the weights from memory once.
  for (int o = 0; o < out; ++o) {
    const float* w = weight + static_cast<size_t>(o) * in;
    for (int r = 0; r < rows; ++r) {
      const float* xr = x + static_cast<size_t>(r) * in;
      // Two accumulators per half of the 8 floats hide the FMA latency.
      __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
      int i = 0;
      for (; i + 16 <= vec_end; i += 16)
        for (int u = 0; u < 2; ++u) {
          const __m256 wv = _mm256_loadu_ps(w + i + 8 * u), xv = _mm256_loadu_ps(xr + i + 8 * u);
          acc[2 * u] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(wv)),
                                       _mm256_cvtps_pd(_mm256_castps256_ps128(xv)), acc[2 * u]);
          acc[2 * u + 1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1)),
                                           _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)), acc[2 * u + 1]);
        }
      for (; i < vec_end; i += 8) {
        const __m256 wv = _mm256_loadu_ps(w + i), xv = _mm256_loadu_ps(xr + i);
        acc[0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(wv)), _mm256_cvtps_pd(_mm256_castps256_ps128(xv)),
                                 acc[0]);
        acc[1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(wv, 1)),
                                 _mm256_cvtps_pd(_mm256_extractf128_ps(xv, 1)), acc[1]);
      }
      double sum = (bias != nullptr ? bias[o] : 0.0) +
                   horizontal_sum(_mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3])));
      for (; i < in; ++i) sum += static_cast<double>(w[i]) * xr[i];
      y[static_cast<size_t>(r) * out + o] = static_cast<float>(sum);
    }
  }
}

}  // namespace pxdgen::kernels::x86
