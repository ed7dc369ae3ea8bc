#pragma once
/// @file simd_avx2.hpp
/// 8-lane float vectors for the shared x86 kernel bodies. Include only from a translation
/// unit compiled with -mavx2 -mfma: every function here is inline and uses those ISAs.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace pxdgen::kernels::x86 {

struct SimdAvx2 {
  using vec = __m256;
  static constexpr int lanes = 8;
  // Tile shapes (see conv2d_fused_tiled.hpp); 16 ymm registers hold the accumulators, the
  // input vectors of one tap and one broadcast weight.
  static constexpr int wide_oc = 6, wide_vecs = 2;      // 12 + 2 + 1
  static constexpr int short_oc = 4, short_vecs = 3;    // 12 + 3 + 1, rows of 17..24
  static constexpr int up_oc = 2, up_vecs = 2;          // 2 phases x 4 + 3 x 2 + 1
  static constexpr int pointwise_oc = 4, pointwise_vecs = 3;  // 12 + 3 + 1
  // No registers left to activate the 1x1's input in its tiles (see conv_pointwise).
  static constexpr bool pointwise_activates_in_tile = false;
  static constexpr int gemm_oc = 6, gemm_vecs = 2;      // 12 + 2 + 1
  static constexpr int gemm_deep_vecs = 2, gemm_deep_channels = 0;  // one GEMM tile for all
  static constexpr int by_oc_tiles = 6, by_oc_vecs = 2;  // 12 + 2 + 1
  // Transformed input and products of one Winograd band: half of a Zen 3 core's 512 KiB L2.
  static constexpr size_t winograd_band_bytes = 256 * 1024;
  static constexpr int winograd_up2_min_channels = 16;  // see winograd_tile_for

  static vec zero() { return _mm256_setzero_ps(); }
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  /// Non-temporal store (p aligned to a vector), past the caches; fence() orders such stores.
  static void stream(float* p, vec v) { _mm256_stream_ps(p, v); }
  static void fence() { _mm_sfence(); }
  static vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
  static vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
  static vec max(vec a, vec b) { return _mm256_max_ps(a, b); }

  /// First n lanes (0 < n <= lanes) from memory; the others read as zero and the bytes
  /// past p + n are not touched, so a row's last partial vector never faults.
  static vec load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_partial(float* p, vec v, int n) { _mm256_maskstore_ps(p, mask(n), v); }

  /// p0 p0 p1 p1 p2 p2 p3 p3: half a vector of a row, nearest-upsampled 2x along it.
  static vec load_each_twice(const float* p) {
    return _mm256_permutevar_ps(_mm256_broadcast_ps(reinterpret_cast<const __m128*>(p)),
                                _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
  }

  /// lo0 lo0 lo1 lo1 hi0 hi0 hi1 hi1: each half of a vector from a row of its own.
  static vec load_halves_each_twice(const float* lo, const float* hi) {
    const __m128 both = _mm_castpd_ps(
        _mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double*>(lo)), reinterpret_cast<const double*>(hi)));
    return _mm256_permutevar_ps(_mm256_set_m128(both, both), _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
  }

  /// lo = e0 o0 e1 o1 e2 o2 e3 o3, hi = e4 o4 ... e7 o7: two column phases back to a row.
  static void interleave(vec even, vec odd, vec& lo, vec& hi) {
    const vec a = _mm256_unpacklo_ps(even, odd);  // e0 o0 e1 o1 | e4 o4 e5 o5
    const vec b = _mm256_unpackhi_ps(even, odd);  // e2 o2 e3 o3 | e6 o6 e7 o7
    lo = _mm256_permute2f128_ps(a, b, 0x20);
    hi = _mm256_permute2f128_ps(a, b, 0x31);
  }

  /// The inverse of interleave: even = lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6, odd the others.
  static void deinterleave(vec lo, vec hi, vec& even, vec& odd) {
    // shuffle_ps works per 128-bit half (l0 l2 h0 h2 | l4 l6 h4 h6); permute4x64 orders the
    // 64-bit pairs back to l0 l2 l4 l6 h0 h2 h4 h6.
    const __m256 e = _mm256_shuffle_ps(lo, hi, 0x88), o = _mm256_shuffle_ps(lo, hi, 0xDD);
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
  }

  /// phase[j][i] = p[4 i + j]: four column phases of 4 lanes consecutive floats. An in-lane
  /// 4 x 4 transpose of groups loaded half a vector apart, with no lane-crossing shuffle (two
  /// rounds of deinterleave through a buffer took 1.04-1.09x the time of 16 -> 16 F(4x4, 3x3)
  /// on Zen 1).
  static void split4(const float* p, vec (&phase)[4]) {
    const auto pair = [p](int i) {
      return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + i)), _mm_loadu_ps(p + 16 + i), 1);
    };
    const vec a = pair(0), b = pair(4), c = pair(8), d = pair(12);
    const vec ab_lo = _mm256_unpacklo_ps(a, b), ab_hi = _mm256_unpackhi_ps(a, b);  // a0 b0 a1 b1 | a2 b2 a3 b3
    const vec cd_lo = _mm256_unpacklo_ps(c, d), cd_hi = _mm256_unpackhi_ps(c, d);
    phase[0] = _mm256_shuffle_ps(ab_lo, cd_lo, 0x44);
    phase[1] = _mm256_shuffle_ps(ab_lo, cd_lo, 0xEE);
    phase[2] = _mm256_shuffle_ps(ab_hi, cd_hi, 0x44);
    phase[3] = _mm256_shuffle_ps(ab_hi, cd_hi, 0xEE);
  }

 private:
  static __m256i mask(int n) {
    alignas(64) static constexpr int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 8 - n));
  }
};

}  // namespace pxdgen::kernels::x86
