#pragma once
/// @file simd_avx512.hpp
/// 16-lane float vectors for the shared x86 kernel bodies. Include only from a translation
/// unit compiled with -mavx512f: every function here is inline and uses that ISA.

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized
// reports at every inlined use; the value is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstddef>

namespace pxdgen::kernels::x86 {

struct SimdAvx512 {
  using vec = __m512;
  static constexpr int lanes = 16;
  // Tile shapes (see conv2d_fused_tiled.hpp): accumulators + input vectors of one tap + one
  // broadcast weight, of 32 zmm registers. The direct KxK tiles take at most 8 output
  // channels: each reads its weights through its own pointer, and more run out of
  // general-purpose registers. The wide and short tiles are not tuned on an AVX-512 machine
  // (few IEA-GAN layers run by them there). The upsampling tile of 6 x 2 took 0.88-0.95x the
  // time of 4 x 2 on every upsampled shape of bench_conv2d, 2 x 4 and 4 x 3 1.05-1.3x.
  // The 1x1 tile (an AVX-512 Xeon, one core): 6 x 4 took 0.85-0.98x the time of 8 x 2 on the
  // IEA-GAN's 1x1 shapes, and 0.985x over a whole event (6 pairs); 4 x 4 sat between them,
  // 8 x 3 and 12 x 2 no better than 8 x 2.
  static constexpr int wide_oc = 8, wide_vecs = 2;      // 16 + 2 + 1
  static constexpr int short_oc = 6, short_vecs = 3;    // 18 + 3 + 1, rows of 33..48
  static constexpr int up_oc = 6, up_vecs = 2;          // 2 phases x 12 + 3 x 2 + 1
  static constexpr int pointwise_oc = 6, pointwise_vecs = 4;  // 24 + 4 + 1
  // The first block's tiles activate the 1x1's input (24 + 4 + 1 + scale, shift, zero).
  static constexpr bool pointwise_activates_in_tile = true;
  // The Winograd GEMM (measured on an AVX-512 Xeon, one core, bench_conv2d): 8 x 3 took 0.71-0.77x
  // the time of 8 x 2 on the IEA-GAN's 64-channel 3x3 layers and 0.90-0.95x on the 16- and
  // 32-channel ones, but 1.26-1.6x on 128 channels and up (the WGAN ConvNet's 256 and 512),
  // which keep 8 x 2 where a band's tiles do not fill 8 x 3 better (see conv_winograd).
  // 12 x 2, 14 x 2 and 16 x 1 sat between the two.
  static constexpr int gemm_oc = 8, gemm_vecs = 3;      // 24 + 3 + 1
  static constexpr int gemm_deep_vecs = 2, gemm_deep_channels = 128;
  // The GEMM over output channels, for planes of few tiles (conv_winograd_by_oc).
  static constexpr int by_oc_tiles = 12, by_oc_vecs = 2;  // 24 + 2 + 1
  // Transformed input and products of one Winograd band: half of a 2 MiB L2. Against 256 KiB,
  // the 64-channel 32x96 layer took 0.69x the time with 8 x 3 tiles, whose 48 columns the
  // 24 tiles of one band row left half empty, and 128 -> 128 at 16x48 0.65x.
  static constexpr size_t winograd_band_bytes = 1024 * 1024;
  static constexpr int winograd_up2_min_channels = 32;  // see winograd_tile_for

  static vec zero() { return _mm512_setzero_ps(); }
  static vec set1(float x) { return _mm512_set1_ps(x); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  /// Non-temporal store (p aligned to a vector), past the caches; fence() orders such stores.
  static void stream(float* p, vec v) { _mm512_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
  static vec max(vec a, vec b) { return _mm512_max_ps(a, b); }

  /// First n lanes (0 < n <= lanes); masked-off lanes read as zero and do not fault.
  static vec load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_partial(float* p, vec v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }

  /// p0 p0 p1 p1 ... p7 p7: half a vector of a row, nearest-upsampled 2x along it.
  static vec load_each_twice(const float* p) {
    return _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
                                 _mm512_castps256_ps512(_mm256_loadu_ps(p)));
  }

  /// lo0 lo0 ... lo3 lo3 hi0 hi0 ... hi3 hi3: each half of a vector from a row of its own.
  static vec load_halves_each_twice(const float* lo, const float* hi) {
    const __m256 both = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
    return _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
                                 _mm512_castps256_ps512(both));
  }

  /// lo = e0 o0 ... e7 o7, hi = e8 o8 ... e15 o15.
  static void interleave(vec even, vec odd, vec& lo, vec& hi) {
    // Index bit 4 selects the second source of permutex2var.
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    lo = _mm512_permutex2var_ps(even, lo_idx, odd);
    hi = _mm512_permutex2var_ps(even, hi_idx, odd);
  }

  /// The inverse of interleave: even = lo0 lo2 ... lo14 hi0 hi2 ... hi14, odd the others.
  static void deinterleave(vec lo, vec hi, vec& even, vec& odd) {
    const __m512i even_idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd_idx = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    even = _mm512_permutex2var_ps(lo, even_idx, hi);
    odd = _mm512_permutex2var_ps(lo, odd_idx, hi);
  }

  /// phase[j][i] = p[4 i + j]: four column phases of 4 lanes consecutive floats, by two rounds
  /// of deinterleave.
  static void split4(const float* p, vec (&phase)[4]) {
    vec e0, o0, e1, o1;
    deinterleave(load(p), load(p + lanes), e0, o0);
    deinterleave(load(p + 2 * lanes), load(p + 3 * lanes), e1, o1);
    deinterleave(e0, e1, phase[0], phase[2]);
    deinterleave(o0, o1, phase[1], phase[3]);
  }

 private:
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
};

}  // namespace pxdgen::kernels::x86
