#pragma once
/// @file conv2d_winograd.hpp
/// The 3x3 and 5x5 fused convolutions by Winograd, over the same vector traits V as
/// conv2d_fused_tiled.hpp (which includes this file at its end and calls it for the shapes
/// where it measured faster than the direct tiles, see winograd_tile_for):
///  - plain 3x3: F(2x2, 3x3) or F(4x4, 3x3); on planes of few tiles, F(2x2, 3x3) with the GEMM
///    vectorized over output channels (conv_winograd_by_oc);
///  - 3x3 of the 2x nearest-upsampled input: F(2x2, 2x2) on each output phase's 2-tap filters;
///  - 5x5 of the upsampled input: F(2x2, 3x3) on each phase's 3-tap filters, one input
///    transform for the four phases;
///  - plain 5x5: F(2x2, 5x5).
///
/// Each tile of outputs comes from an a x a input patch d: Y = A^T [(G g G^T) . (B^T d B)] A,
/// so a tile costs a^2 multiplies per (input, output channel) pair and weight set instead of
/// the direct sum's taps x outputs: 16 for 4 outputs (F(2x2, 3x3), 36 direct), 36 for 16
/// (F(4x4, 3x3), 144; upsampled 3x3, 64), 4 x 16 for 16 (upsampled 5x5, 144), 36 for 4
/// (F(2x2, 5x5), 100). Per call:
///  - weights (unless the layer kept them at load, see PreparedView in kernels/conv2d.hpp):
///    U = G g G^T for every (output, input) channel pair and weight set, stored per
///    transform point xi as [xi][row block][channel][block lane], the GEMM's broadcast order,
///    the GEMM's rows being the output channels of each weight set in turn;
///  - in bands of tile rows (sized so the band's transformed input and products stay near L2):
///    input transform V = B^T d B of act(in) into [xi][channel][tile], the band's tiles
///    flattened row after row, so the vector dimension runs along the tiles of a row;
///    one GEMM per point M[xi] = U[xi] (rows x C) V[xi] (C x tiles) with register tiles of
///    gemm_oc rows x gemm_vecs vectors of tiles; output transform A^T M A plus bias, stored
///    or added, the column phases interleaved back into the row.
/// The input rows are activated once per channel and split into `step` column phases (the
/// tiles' spacing on the input), so the columns of the tiles of one vector are unaligned
/// loads (patch column j of tile tx is padded column step tx + j, i.e. phase j % step at
/// tx + j / step).
///
/// Rounding: F(2x2, 3x3) only adds and halves exactly representable values, a few more float32
/// additions per output than the direct sum, as do the upsampled tiles. F(4x4, 3x3) scales by
/// up to 5 in B and 8 in A and rounds G's sixths and 24ths: its error is several times larger,
/// as is that of F(2x2, 5x5), which shares B and G's rounding (the tests bound them all).
///
/// Internal linkage and no standard-library templates, for the reasons given in
/// conv2d_fused_tiled.hpp.

#include <cstddef>

#include "kernels/conv2d.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"
#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {
namespace {

/// Floats between the transform points' planes of at least n floats: an odd number of cache
/// lines, so the streams that each transform reads or writes fall into different L1 sets.
/// (With the planes a multiple of 4 KiB apart, as for 128 x 128 channels, they all share a
/// set and the weight transform alone took longer than the direct convolution.)
inline size_t point_stride_for(size_t n) {
  size_t lines = (n + 15) / 16;
  if (lines % 2 == 0) ++lines;
  return lines * 16;
}

/// The patch rows of a tile row as Mt column phases of the activated input rows, zero-padded
/// by Pad on each side (the kernel's half width on the input the tiles read): a ring of 8
/// slots (at least a patch's rows), padded row q (input row q - Pad) in slot q % 8.
template <class V, int Mt, int Pad = 1>
struct WinogradRows {
  static_assert(Mt == 2 || Mt == 4, "column phases are split by a deinterleave or by split4");
  const Conv2dArgs& a;
  int part;       ///< floats per column phase of a row, a multiple of lanes
  float* padded;  ///< Mt part: one activated row, with Pad zero columns first and zeros past W
  float* ring;    ///< 8 slots x Mt phases

  const float* phase(int q, int p) const { return ring + (static_cast<size_t>(q & 7) * Mt + p) * part; }

  /// even[j] and odd[j]: the two column phases of padded row first + j (Mt = 2).
  template <int R>
  void phases(int first, const float* (&even)[R], const float* (&odd)[R]) const {
    static_assert(Mt == 2, "two column phases");
    for (int j = 0; j < R; ++j) {
      even[j] = phase(first + j, 0);
      odd[j] = phase(first + j, 1);
    }
  }

  /// Slot q % 8 = the Mt column phases of padded row q of channel c, through `padded`.
  /// (Splitting the blocks inside the row straight from the input and activating them in
  /// registers, without the row copy, measured the same: IEA-GAN event 1.001 on Zen 1.)
  void fill(int c, int q) const {
    constexpr int L = V::lanes;
    float* slot = ring + static_cast<size_t>(q & 7) * Mt * part;
    const int iy = q - Pad;
    if (row_is_padding(a, iy)) {
      zero_floats(slot, static_cast<size_t>(Mt) * part);
      return;
    }
    const size_t plane = in_channel_stride(a);
    const float* src = a.in + c * plane + static_cast<ptrdiff_t>(iy) * a.width;
    activate_row<V>(padded + Pad, src, a.width, a, c);
    // The same row of the next channel, a plane further on, is filled after this channel's
    // band: fetch it now, as the hardware prefetchers do not follow the jump. In an event on an
    // AVX-512 Xeon, 32 -> 32 at 128x384 and 64 -> 64 at 64x192 took 0.94x the time, the tail's
    // 16 -> 16 0.91x, the whole event 0.99x (not measured on AVX2).
    if (c + 1 < a.channels)
      for (int i = 0; i < a.width; i += 16) __builtin_prefetch(src + plane + i, 0, 2);
    for (int k = 0; k < part; k += L) {
      typename V::vec ph[Mt];  // ph[p][i] = padded[Mt (k + i) + p]
      if constexpr (Mt == 2)
        V::deinterleave(V::load(padded + 2 * k), V::load(padded + 2 * k + L), ph[0], ph[1]);
      else
        V::split4(padded + 4 * k, ph);
#pragma GCC unroll 4
      for (int p = 0; p < Mt; ++p) V::store(slot + p * part + k, ph[p]);
    }
  }
};

/// dst[(6 i + k) point_stride] = T::transform_input of column k of the R patch rows t, each
/// already transformed to 6 values: the 36 points of one vector of tiles.
template <class V, class T, int R>
void store_6x6_points(const typename V::vec (&t)[R][6], float* dst, size_t point_stride) {
  using vec = typename V::vec;
#pragma GCC unroll 6
  for (int k = 0; k < 6; ++k) {
    vec column[R], u[6];
#pragma GCC unroll 6
    for (int j = 0; j < R; ++j) column[j] = t[j][k];
    T::template transform_input<V>(column, u);
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) V::store(dst + (6 * i + k) * point_stride, u[i]);
  }
}

/// out[2 t + j] (+)= y[j][t] + bias for the lanes t of one vector: the first `valid` of the
/// 2 L columns.
template <class V>
void store_2_columns(typename V::vec y0, typename V::vec y1, typename V::vec bias, float* out, int valid,
                     bool accumulate) {
  constexpr int L = V::lanes;
  typename V::vec lo, hi;
  V::interleave(V::add(y0, bias), V::add(y1, bias), lo, hi);
  store_vec<V>(out, lo, imin(valid, L), accumulate);
  store_vec<V>(out + L, hi, valid - L, accumulate);
}

/// out[4 t + j] (+)= y[j][t] + bias for the lanes t of one vector: the first `valid` of the
/// 4 L columns (columns 2n are y0 y2 interleaved, 2n + 1 y1 y3).
template <class V>
void store_4_columns(const typename V::vec* y, typename V::vec bias, float* out, int valid, bool accumulate) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  vec even_lo, even_hi, odd_lo, odd_hi, v[4];
  V::interleave(V::add(y[0], bias), V::add(y[2], bias), even_lo, even_hi);
  V::interleave(V::add(y[1], bias), V::add(y[3], bias), odd_lo, odd_hi);
  V::interleave(even_lo, odd_lo, v[0], v[1]);
  V::interleave(even_hi, odd_hi, v[2], v[3]);
#pragma GCC unroll 4
  for (int n = 0; n < 4; ++n) store_vec<V>(out + n * L, v[n], imin(valid - n * L, L), accumulate);
}

/// The `rows` (1 to T::m) output rows at out of one tile row of T::m x T::m tiles (+)= bias +
/// the 6 x 6 products at src through T::transform_output, columns first, then rows.
template <class V, class T>
void store_6x6_point_tiles(const float* src, size_t point_stride, int tw, typename V::vec bias, float* out, int rows,
                           int width, bool accumulate) {
  static_assert(T::m == 2 || T::m == 4, "tiles of 2 or 4 columns");
  using vec = typename V::vec;
  constexpr int L = V::lanes, m = T::m;
  for (int tx = 0; tx < tw; tx += L) {
    vec s[m][6];  // A^T M: rows combined first, per column
#pragma GCC unroll 6
    for (int k = 0; k < 6; ++k) {
      const float* p = src + tx + k * point_stride;
      vec column[6], y[m];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) column[i] = V::load(p + 6 * i * point_stride);
      T::template transform_output<V>(column, y);
#pragma GCC unroll 4
      for (int i = 0; i < m; ++i) s[i][k] = y[i];
    }
    const int valid = imin(m * L, width - m * tx);
    for (int i = 0; i < rows; ++i) {
      vec y[m];
      T::template transform_output<V>(s[i], y);
      float* row = out + static_cast<size_t>(i) * width + m * tx;
      if constexpr (m == 4)
        store_4_columns<V>(y, bias, row, valid, accumulate);
      else
        store_2_columns<V>(y[0], y[1], bias, row, valid, accumulate);
    }
  }
}

/// F(2x2, 3x3): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
/// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
struct WinogradF2x3 {
  static constexpr WinogradTile tile = WinogradTile::f2x3;
  static constexpr int m = 2, step = 2, points = 16, kernel = 3, weight_sets = 1, pad = 1, patch = 4;
  static constexpr bool upsample = false;

  /// dst[xi * per_point] = (G g G^T)[xi] for one 3x3 kernel g (S: float, or a vector of the
  /// same tap of several kernels).
  template <class S>
  static void weights(const S* g, int /*set*/, S* dst, size_t per_point) {
    S gg[4][3];  // G g
    for (int j = 0; j < 3; ++j) {
      gg[0][j] = g[j];
      gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
      gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
      gg[3][j] = g[6 + j];
    }
    for (int r = 0; r < 4; ++r) {
      const S row[4] = {gg[r][0], 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]), 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]),
                        gg[r][2]};
      for (int j = 0; j < 4; ++j) dst[(r * 4 + j) * per_point] = row[j];
    }
  }

  /// dst[xi * point_stride + tx] = (B^T d B)[xi] for the tiles tx of tile row r of one channel.
  template <class V>
  static void input(const WinogradRows<V, 2>& rows, int r, int tw, float* dst, size_t point_stride) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    const float* e[4];
    const float* o[4];
    rows.phases(2 * r, e, o);
    for (int tx = 0; tx < tw; tx += L) {
      vec t[4][4];  // d B: each patch row transformed first
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const vec d0 = V::load(e[j] + tx), d1 = V::load(o[j] + tx);
        const vec d2 = V::load(e[j] + tx + 1), d3 = V::load(o[j] + tx + 1);
        t[j][0] = V::sub(d0, d2);
        t[j][1] = V::add(d1, d2);
        t[j][2] = V::sub(d2, d1);
        t[j][3] = V::sub(d1, d3);
      }
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        float* p = dst + tx + k * point_stride;
        V::store(p, V::sub(t[0][k], t[2][k]));
        V::store(p + 4 * point_stride, V::add(t[1][k], t[2][k]));
        V::store(p + 8 * point_stride, V::sub(t[2][k], t[1][k]));
        V::store(p + 12 * point_stride, V::sub(t[1][k], t[3][k]));
      }
    }
  }

  /// The `rows` (1 or 2) output rows at out of one tile row (+)= bias + A^T M A.
  template <class V>
  static void output(const float* src, size_t point_stride, size_t /*set_stride*/, int tw, typename V::vec bias,
                     float* out, int rows, int width, bool accumulate) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    for (int tx = 0; tx < tw; tx += L) {
      vec s[4], d[4];  // A^T M: rows combined first, per column
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const float* p = src + tx + k * point_stride;
        const vec m0 = V::load(p), m1 = V::load(p + 4 * point_stride);
        const vec m2 = V::load(p + 8 * point_stride), m3 = V::load(p + 12 * point_stride);
        s[k] = V::add(V::add(m0, m1), m2);
        d[k] = V::sub(V::sub(m1, m2), m3);
      }
      const int valid = imin(2 * L, width - 2 * tx);
      store_2_columns<V>(V::add(V::add(s[0], s[1]), s[2]), V::sub(V::sub(s[1], s[2]), s[3]), bias, out + 2 * tx,
                         valid, accumulate);
      if (rows > 1)
        store_2_columns<V>(V::add(V::add(d[0], d[1]), d[2]), V::sub(V::sub(d[1], d[2]), d[3]), bias,
                           out + width + 2 * tx, valid, accumulate);
    }
  }
};

/// F(2x2, 3x3) with the GEMM vectorized over output channels (conv_winograd_by_oc): the same
/// transforms, its weights as [xi][channel][output channel].
struct WinogradF2x3ByOc : WinogradF2x3 {
  static constexpr WinogradTile tile = WinogradTile::f2x3_by_oc;
};

/// F(4x4, 3x3) on the points 0, 1, -1, 2, -2 and infinity:
/// G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
/// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
/// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
struct WinogradF4x3 {
  static constexpr WinogradTile tile = WinogradTile::f4x3;
  static constexpr int m = 4, step = 4, points = 36, kernel = 3, weight_sets = 1, pad = 1, patch = 6;
  static constexpr bool upsample = false;

  /// dst[xi * per_point] = (G g G^T)[xi] for one 3x3 kernel g (S as for WinogradF2x3).
  template <class S>
  static void weights(const S* g, int /*set*/, S* dst, size_t per_point) {
    static constexpr float G[6][3] = {{1.0f / 4, 0, 0},
                                      {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                                      {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                                      {1.0f / 24, 1.0f / 12, 1.0f / 6},
                                      {1.0f / 24, -1.0f / 12, 1.0f / 6},
                                      {0, 0, 1}};
    S gg[6][3];  // G g
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 3; ++j) gg[r][j] = G[r][0] * g[j] + G[r][1] * g[3 + j] + G[r][2] * g[6 + j];
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 6; ++j) dst[(r * 6 + j) * per_point] = gg[r][0] * G[j][0] + gg[r][1] * G[j][1] + gg[r][2] * G[j][2];
  }

  /// t[0..5] = B^T d for d[0..5].
  template <class V>
  static void transform_input(const typename V::vec* d, typename V::vec* t) {
    const typename V::vec c2 = V::set1(2.0f), c4 = V::set1(4.0f), cm4 = V::set1(-4.0f), cm5 = V::set1(-5.0f);
    t[0] = V::fmadd(c4, d[0], V::fmadd(cm5, d[2], d[4]));
    t[1] = V::fmadd(cm4, V::add(d[1], d[2]), V::add(d[3], d[4]));
    t[2] = V::fmadd(c4, V::sub(d[1], d[2]), V::sub(d[4], d[3]));
    t[3] = V::fmadd(c2, V::sub(d[3], d[1]), V::sub(d[4], d[2]));
    t[4] = V::fmadd(c2, V::sub(d[1], d[3]), V::sub(d[4], d[2]));
    t[5] = V::fmadd(c4, d[1], V::fmadd(cm5, d[3], d[5]));
  }

  /// y[0..3] = A^T s for s[0..5].
  template <class V>
  static void transform_output(const typename V::vec* s, typename V::vec* y) {
    const typename V::vec sum12 = V::add(s[1], s[2]), diff12 = V::sub(s[1], s[2]);
    const typename V::vec sum34 = V::add(s[3], s[4]), diff34 = V::sub(s[3], s[4]);
    y[0] = V::add(V::add(s[0], sum12), sum34);
    y[1] = V::fmadd(V::set1(2.0f), diff34, diff12);
    y[2] = V::fmadd(V::set1(4.0f), sum34, sum12);
    y[3] = V::add(V::fmadd(V::set1(8.0f), diff34, diff12), s[5]);
  }

  template <class V>
  static void input(const WinogradRows<V, 4>& rows, int r, int tw, float* dst, size_t point_stride) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    const float* ph[6][4];
    for (int j = 0; j < 6; ++j)
      for (int p = 0; p < 4; ++p) ph[j][p] = rows.phase(4 * r + j, p);
    for (int tx = 0; tx < tw; tx += L) {
      vec t[6][6];  // d B: each patch row transformed first
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        const vec d[6] = {V::load(ph[j][0] + tx), V::load(ph[j][1] + tx),     V::load(ph[j][2] + tx),
                          V::load(ph[j][3] + tx), V::load(ph[j][0] + tx + 1), V::load(ph[j][1] + tx + 1)};
        transform_input<V>(d, t[j]);
      }
      store_6x6_points<V, WinogradF4x3>(t, dst + tx, point_stride);
    }
  }

  template <class V>
  static void output(const float* src, size_t point_stride, size_t /*set_stride*/, int tw, typename V::vec bias,
                     float* out, int rows, int width, bool accumulate) {
    store_6x6_point_tiles<V, WinogradF4x3>(src, point_stride, tw, bias, out, rows, width, accumulate);
  }
};

/// F(2x2, 5x5) on the points of F(4x4, 3x3), whose input transform B^T it shares:
/// G = [1/4 0 0 0 0; -1/6 -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6 -1/6;
///      1/24 1/12 1/6 1/3 2/3; 1/24 -1/12 1/6 -1/3 2/3; 0 0 0 0 1],
/// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]. 36 multiplies for 4 outputs (100 direct), from the 6 x 6
/// patch at input rows and columns 2t - 2 .. 2t + 3.
struct WinogradF2x5 {
  static constexpr WinogradTile tile = WinogradTile::f2x5;
  static constexpr int m = 2, step = 2, points = 36, kernel = 5, weight_sets = 1, pad = 2, patch = 6;
  static constexpr bool upsample = false;

  /// dst[xi * per_point] = (G g G^T)[xi] for one 5x5 kernel g, in double and rounded once.
  static void weights(const float* g, int /*set*/, float* dst, size_t per_point) {
    static constexpr double G[6][5] = {{1.0 / 4, 0, 0, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
                                       {0, 0, 0, 0, 1}};
    double gg[6][5];  // G g
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 5; ++j) {
        double sum = 0;
        for (int i = 0; i < 5; ++i) sum += G[r][i] * g[i * 5 + j];
        gg[r][j] = sum;
      }
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 6; ++j) {
        double sum = 0;
        for (int i = 0; i < 5; ++i) sum += gg[r][i] * G[j][i];
        dst[(r * 6 + j) * per_point] = static_cast<float>(sum);
      }
  }

  template <class V>
  static void transform_input(const typename V::vec* d, typename V::vec* t) {
    WinogradF4x3::transform_input<V>(d, t);
  }

  /// y[0..1] = A^T s for s[0..5].
  template <class V>
  static void transform_output(const typename V::vec* s, typename V::vec* y) {
    y[0] = V::add(V::add(V::add(s[0], s[1]), s[2]), V::add(s[3], s[4]));
    y[1] = V::add(V::fmadd(V::set1(2.0f), V::sub(s[3], s[4]), V::sub(s[1], s[2])), s[5]);
  }

  template <class V>
  static void input(const WinogradRows<V, 2, 2>& rows, int r, int tw, float* dst, size_t point_stride) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    const float* e[6];
    const float* o[6];
    rows.phases(2 * r, e, o);
    for (int tx = 0; tx < tw; tx += L) {
      vec t[6][6];  // d B: each patch row transformed first
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        const vec d[6] = {V::load(e[j] + tx),     V::load(o[j] + tx),     V::load(e[j] + tx + 1),
                          V::load(o[j] + tx + 1), V::load(e[j] + tx + 2), V::load(o[j] + tx + 2)};
        transform_input<V>(d, t[j]);
      }
      store_6x6_points<V, WinogradF2x5>(t, dst + tx, point_stride);
    }
  }

  template <class V>
  static void output(const float* src, size_t point_stride, size_t /*set_stride*/, int tw, typename V::vec bias,
                     float* out, int rows, int width, bool accumulate) {
    store_6x6_point_tiles<V, WinogradF2x5>(src, point_stride, tw, bias, out, rows, width, accumulate);
  }
};

/// The 3x3 convolution of the 2x nearest-upsampled input. Output row 2i + p reads small rows
/// i - 1, i (p = 0, taps g0 and g1 + g2) or i, i + 1 (p = 1, taps g0 + g1 and g2): two 2-tap
/// filters, each done by F(2, 2) (G = [1 0; 1 1; 0 1], B^T = [1 -1 0; 0 1 0; 0 -1 1],
/// A^T = [1 1 0; 0 1 1]). A tile is 4 x 4 outputs (2 x 2 small pixels, both phases each way)
/// from the 4 x 4 small patch at rows and columns 2t - 1 .. 2t + 2; per dimension the two
/// phases' 3 transformed values make 6 points, so 36 multiplies give 16 outputs (64 direct).
/// All transforms are sums and differences: the rounding is that of the direct sum.
struct WinogradUp2F2x2 {
  static constexpr WinogradTile tile = WinogradTile::up2_3x3_f2x2;
  static constexpr int m = 4, step = 2, points = 36, kernel = 3, weight_sets = 1, pad = 1, patch = 4;
  static constexpr bool upsample = true;

  /// Per dimension, the 6 transformed taps: G (g0, g1 + g2) then G (g0 + g1, g2).
  template <class S>
  static void weights(const S* g, int /*set*/, S* dst, size_t per_point) {
    S gg[6][3];  // R g, R the 6 x 3 map above
    for (int j = 0; j < 3; ++j) {
      const S g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
      gg[0][j] = g0;
      gg[1][j] = g0 + g1 + g2;
      gg[2][j] = g1 + g2;
      gg[3][j] = g0 + g1;
      gg[4][j] = g0 + g1 + g2;
      gg[5][j] = g2;
    }
    for (int r = 0; r < 6; ++r) {
      const S g0 = gg[r][0], g1 = gg[r][1], g2 = gg[r][2];
      const S row[6] = {g0, g0 + g1 + g2, g1 + g2, g0 + g1, g0 + g1 + g2, g2};
      for (int j = 0; j < 6; ++j) dst[(r * 6 + j) * per_point] = row[j];
    }
  }

  /// t[0..5] from the small patch d[0..3]: B^T (d0, d1, d2), then B^T (d1, d2, d3).
  template <class V>
  static void transform_input(const typename V::vec* d, typename V::vec* t) {
    t[0] = V::sub(d[0], d[1]);
    t[1] = d[1];
    t[2] = V::sub(d[2], d[1]);
    t[3] = V::sub(d[1], d[2]);
    t[4] = d[2];
    t[5] = V::sub(d[3], d[2]);
  }

  /// y[0..3] for outputs 4t .. 4t + 3: phases 0, 1, 0, 1 of small pixels 2t, 2t, 2t + 1, 2t + 1.
  template <class V>
  static void transform_output(const typename V::vec* s, typename V::vec* y) {
    y[0] = V::add(s[0], s[1]);
    y[1] = V::add(s[3], s[4]);
    y[2] = V::add(s[1], s[2]);
    y[3] = V::add(s[4], s[5]);
  }

  template <class V>
  static void input(const WinogradRows<V, 2>& rows, int r, int tw, float* dst, size_t point_stride) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    const float* e[4];
    const float* o[4];
    rows.phases(2 * r, e, o);
    for (int tx = 0; tx < tw; tx += L) {
      vec t[4][6];  // d B: each patch row transformed first
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const vec d[4] = {V::load(e[j] + tx), V::load(o[j] + tx), V::load(e[j] + tx + 1), V::load(o[j] + tx + 1)};
        transform_input<V>(d, t[j]);
      }
      store_6x6_points<V, WinogradUp2F2x2>(t, dst + tx, point_stride);
    }
  }

  template <class V>
  static void output(const float* src, size_t point_stride, size_t /*set_stride*/, int tw, typename V::vec bias,
                     float* out, int rows, int width, bool accumulate) {
    store_6x6_point_tiles<V, WinogradUp2F2x2>(src, point_stride, tw, bias, out, rows, width, accumulate);
  }
};

/// The 5x5 convolution of the 2x nearest-upsampled input. Output row 2i + p reads small rows
/// i - 1, i, i + 1 with taps (g0 + g1, g2 + g3, g4) (p = 0) or (g0, g1 + g2, g3 + g4) (p = 1):
/// two 3-tap filters over the same rows, each done by F(2, 3) (WinogradF2x3's matrices). A
/// tile is 4 x 4 outputs (2 x 2 small pixels, both phases each way) from the 4 x 4 small patch
/// at rows and columns 2t - 1 .. 2t + 2, whose one transform serves all four phases: 4 weight
/// sets (phase py * 2 + px) of 16 points, 64 multiplies for 16 outputs (144 direct).
struct WinogradUp2F2x3 {
  static constexpr WinogradTile tile = WinogradTile::up2_5x5_f2x3;
  static constexpr int m = 4, step = 2, points = 16, kernel = 5, weight_sets = 4, pad = 1, patch = 4;
  static constexpr bool upsample = true;

  /// G h G^T for the 3x3 phase kernel h of phase `set` of the 5x5 kernel g.
  static void weights(const float* g, int set, float* dst, size_t per_point) {
    // Kernel taps k of phase p land on small tap kTapOf[p][k].
    static constexpr int kTapOf[2][5] = {{0, 0, 1, 1, 2}, {0, 1, 1, 2, 2}};
    const int py = set / 2, px = set % 2;
    float h[9] = {};
    for (int ky = 0; ky < 5; ++ky)
      for (int kx = 0; kx < 5; ++kx) h[kTapOf[py][ky] * 3 + kTapOf[px][kx]] += g[ky * 5 + kx];
    WinogradF2x3::weights(h, 0, dst, per_point);
  }

  template <class V>
  static void input(const WinogradRows<V, 2>& rows, int r, int tw, float* dst, size_t point_stride) {
    WinogradF2x3::input<V>(rows, r, tw, dst, point_stride);
  }

  /// Phase (py, px)'s products at src + (2 py + px) set_stride; its 2 x 2 outputs (A^T M A) go
  /// to rows 2 a + py and columns 2 b + px of the tile.
  template <class V>
  static void output(const float* src, size_t point_stride, size_t set_stride, int tw, typename V::vec bias,
                     float* out, int rows, int width, bool accumulate) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    for (int tx = 0; tx < tw; tx += L) {
      vec y[2][2][2][2];  // [py][px][a][b]
#pragma GCC unroll 4
      for (int set = 0; set < 4; ++set) {
        vec s[4], d[4];  // A^T M: rows combined first, per column
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const float* p = src + set * set_stride + tx + k * point_stride;
          const vec m0 = V::load(p), m1 = V::load(p + 4 * point_stride);
          const vec m2 = V::load(p + 8 * point_stride), m3 = V::load(p + 12 * point_stride);
          s[k] = V::add(V::add(m0, m1), m2);
          d[k] = V::sub(V::sub(m1, m2), m3);
        }
        vec(&t)[2][2] = y[set / 2][set % 2];
        t[0][0] = V::add(V::add(s[0], s[1]), s[2]);
        t[0][1] = V::sub(V::sub(s[1], s[2]), s[3]);
        t[1][0] = V::add(V::add(d[0], d[1]), d[2]);
        t[1][1] = V::sub(V::sub(d[1], d[2]), d[3]);
      }
      const int valid = imin(4 * L, width - 4 * tx);
      for (int i = 0; i < rows; ++i) {
        const int a = i / 2, py = i % 2;
        const vec row[4] = {y[py][0][a][0], y[py][1][a][0], y[py][0][a][1], y[py][1][a][1]};
        store_4_columns<V>(row, bias, out + static_cast<size_t>(i) * width + 4 * tx, valid, accumulate);
      }
    }
  }
};

/// M rows x N vectors of one transform point's GEMM: m[i][n] = sum_c b[c][i] x[c][n], a row of
/// b broadcast for N vectors of x. Over the tiles (conv_winograd_gemm_vecs), b holds the
/// weights U (rows: output channels) and x the transformed input V (vectors: tiles); over the
/// output channels (conv_winograd_by_oc), b holds V (rows: tiles) and x holds U.
template <class V, int M, int N>
void winograd_gemm_tile(const float* b, size_t b_stride, const float* x, size_t x_stride, int channels, float* m,
                        size_t m_stride) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  vec acc[M][N];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) acc[i][n] = V::zero();
#pragma GCC unroll 2
  for (int c = 0; c < channels; ++c, b += b_stride, x += x_stride) {
    vec xv[N];
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) xv[n] = V::load(x + n * L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const vec w = V::broadcast(b + i);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) acc[i][n] = V::fmadd(w, xv[n], acc[i][n]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) V::store(m + i * m_stride + n * L, acc[i][n]);
}

using WinogradGemmFn = void (*)(const float*, size_t, const float*, size_t, int, float*, size_t);

/// winograd_gemm_tile<V, m, N> for m <= M.
template <class V, int M, int N>
WinogradGemmFn winograd_gemm_fn(int m) {
  if constexpr (M > 1) {
    if (m < M) return winograd_gemm_fn<V, M - 1, N>(m);
  }
  return &winograd_gemm_tile<V, M, N>;
}

/// m x m tiles of a's input plane (of each output phase, where a upsamples).
inline long winograd_tiles(const Conv2dArgs& a, int m) {
  return static_cast<long>(div_up(a.height, m)) * div_up(a.width, m);
}
/// The fewest 2 x 2 tiles on which the F(2x2, .) tiles run (see winograd_tile_for).
constexpr long kWinogradMin2x2Tiles = 32;

/// Which Winograd tile, if any, beats the direct tiles for a 3x3 shape. Measured on AVX2
/// (Zen 3, one core) over the IEA-GAN 3x3 shapes (bench_conv2d, 16 to 128 channels):
///  - F(2x2, 3x3): 1.1x to 1.7x faster than direct on images of 8x24 (48 tiles) and up; 0.98x
///    at 4x12 (12 tiles), where the per-call weight transform and the GEMM's tiles rounded up
///    to whole register tiles are not repaid; 0.4x for one output channel (32 -> 1), where the
///    GEMM has no output block to fill.
///  - F(4x4, 3x3): 1.1x to 1.5x faster than F(2x2, 3x3) on images of 16x48 (48 tiles of 4x4)
///    and up (1.5x at 64 channels and 64x192, 1.3x at 16 and 32 channels); 0.55x at 8x24 and
///    0.3x at 4x12, where its 36-point weight transform of 128 x 128 kernels dominates.
///  - upsampled 3x3, F(2x2, 2x2) per phase: 1.1x (16 channels, 128x384 input) to 1.65x (64
///    channels, 32x96) faster than the direct phase tiles from 8x24 inputs (48 tiles) up;
///    0.93x at 4x12.
///  - upsampled 5x5, F(2x2, 3x3) per phase, over the WGAN ConvNet shapes (CPU time, machine
///    busy): 1.2x (512 -> 256, 8x24 input), 1.35x (16x48), 2.0x (32x96), 1.8x (64x192) and
///    1.3x for one output channel (32 -> 1, 128x384), whose 4 weight sets still fill the GEMM
///    rows.
///  - plain 5x5, F(2x2, 5x5): 2.5x faster than direct on the WGAN ConvNet's 512 -> 512 at 8x24
///    (48 tiles) with the weights kept from load (26.4 ms against 67 ms, machine busy); per
///    call, the transform of 512 x 512 kernels costs about what it saves.
/// Fewer than 16 input channels were not measured. On Zen 4 (AVX-512), 128 -> 128 at 4x12
/// took 173 us by F(2x2, 3x3) with the weights kept from load, as long as direct (172 us):
/// the GEMM's 12 tiles fill 3/4 of one vector, and its 8 x 1 register tiles wait on their
/// broadcasts; at 8x24 the kept weights took 0.79x the time of the per-call transform. With
/// the GEMM over output channels instead (f2x3_by_oc, two runs): 75-78 us with the weights
/// kept, 141-153 us transforming them per call, against 170-172 us direct and oneDNN's
/// 99-102 us; at 8x24 (48 tiles), both transforming their weights per call, it took as long as
/// F(2x2, 3x3) over the tiles (361-367 against 346-366 us), so it runs only where that one
/// does not, from 64 output channels (the IEA-GAN's 4x12 block has 128).
/// On AVX-512 (a Xeon, one core, with the 6 x 2 phase tiles) the direct upsampled 3x3 took 0.93x
/// Winograd's time at 16 channels (128x384 input) and 1.17-1.35x at 32 to 128, so there the
/// upsampled 3x3 takes Winograd from V::winograd_up2_min_channels on.
template <class V>
WinogradTile winograd_tile_for(const Conv2dArgs& a) {
  if (a.channels < 16) return WinogradTile::none;
  const auto tiles = [&](int m) { return winograd_tiles(a, m); };
  constexpr long few = kWinogradMin2x2Tiles;
  if (a.kernel == 5 && a.upsample2x) return tiles(2) >= few ? WinogradTile::up2_5x5_f2x3 : WinogradTile::none;
  if (a.kernel == 5) return tiles(2) >= few && a.out_channels >= 16 ? WinogradTile::f2x5 : WinogradTile::none;
  if (a.kernel != 3 || a.out_channels < 16) return WinogradTile::none;
  if (a.upsample2x)
    return tiles(2) >= few && a.channels >= V::winograd_up2_min_channels ? WinogradTile::up2_3x3_f2x2
                                                                         : WinogradTile::none;
  if (tiles(4) >= 48) return WinogradTile::f4x3;
  if (tiles(2) >= few) return WinogradTile::f2x3;
  if (a.out_channels >= 64 && a.out_channels % V::lanes == 0) return WinogradTile::f2x3_by_oc;
  return WinogradTile::none;
}

/// a's convolution as a plain one of its input upsampled 2x (shape only: no input).
inline Conv2dArgs upsampled_shape(const Conv2dArgs& a) {
  Conv2dArgs b = a;
  b.upsample2x = false;
  b.height = 2 * a.height;
  b.width = 2 * a.width;
  b.in_channel_stride = 0;
  return b;
}

/// Whether a's upsampled 3x3 runs as the plain 3x3 of its input upsampled and activated into a
/// buffer first (upsampled_first): where its phases have too few tiles for Winograd but the
/// upsampled plane has enough (the IEA-GAN's 128 -> 128 from 4x12 to 8x24). Upsampling costs
/// four times the input, a few microseconds on such planes, and buys F(2x2, 3x3) at 8x24
/// instead of the direct phase tiles, whose rows of 12 fill 3/4 of a vector. On one Zen 5
/// core, medians of 3 runs in 2 alternations, 128 -> 128 from 4x12 with its weights kept:
/// AVX-512 154-155 us against 299-354 us direct (oneDNN on the upsampled input 236-251 us),
/// AVX2 277-290 us against 438-440 us.
template <class V>
bool upsamples_first(const Conv2dArgs& a) {
  if (!a.upsample2x || a.kernel != 3 || a.halo_above != 0 || a.halo_below != 0) return false;
  if (winograd_tiles(a, 2) >= kWinogradMin2x2Tiles) return false;  // its phases take Winograd or direct
  return winograd_tile_for<V>(upsampled_shape(a)) != WinogradTile::none;
}

/// a as upsamples_first runs it: its input activated and nearest-upsampled 2x into a buffer of
/// this thread (staged_input_scratch), packed planes of 2H x 2W, and read from there as is.
template <class V>
Conv2dArgs upsampled_first(const Conv2dArgs& a) {
  constexpr int L = V::lanes, half = L / 2;
  const int C = a.channels, W = a.width, W2 = 2 * W;
  const size_t in_plane = in_channel_stride(a), plane = static_cast<size_t>(2 * a.height) * W2;
  // After the planes, one activated input row (and its last half vector's slack).
  float* up = static_cast<float*>(staged_input_scratch((C * plane + round_up(W, L)) * sizeof(float)));
  float* row = up + C * plane;
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < a.height; ++y) {
      activate_row<V>(row, a.in + c * in_plane + static_cast<size_t>(y) * W, W, a, c);
      float* even = up + c * plane + static_cast<size_t>(2 * y) * W2;
      float* odd = even + W2;
      int x = 0;
      for (; x + half <= W; x += half) {
        const typename V::vec v = V::load_each_twice(row + x);
        V::store(even + 2 * x, v);
        V::store(odd + 2 * x, v);
      }
      for (; x < W; ++x) even[2 * x] = even[2 * x + 1] = odd[2 * x] = odd[2 * x + 1] = row[x];
    }
  Conv2dArgs b = upsampled_shape(a);
  b.in = up;
  b.in_scale = b.in_shift = nullptr;
  return b;
}

/// PreparedView::transform of T's weights on V: the tile and the register blocking, never 0.
template <class V, class T>
constexpr int winograd_transform_id() {
  return (static_cast<int>(T::tile) * 64 + V::gemm_oc) * 64 + V::lanes;
}

/// Floats of T's transformed weights for a's channels, the planes of its points padded.
template <class T>
size_t winograd_weight_floats(const Conv2dArgs& a) {
  return T::points * point_stride_for(static_cast<size_t>(a.out_channels) * T::weight_sets * a.channels);
}

/// U = G g G^T of every (output, input) channel pair and weight set of a's weights into u, in
/// the GEMM's order (see the file comment), point planes winograd_weight_floats / points
/// apart.
///
/// The 3x3 tiles transform a vector of pairs at a time: a layer that kept no weights from load
/// (see PreparedView) transforms them on every call, and one pair at a time that took 5 % of
/// an IEA-GAN event on an AVX-512 Xeon while the BigGAN-deep family kept none. The pairs lie in the GEMM's order one after another, so a vector
/// of consecutive pairs is one vector store per point. (The 5x5 tiles, whose networks keep
/// their weights, transform at load, one pair at a time in double precision.)
template <class V, class T>
void winograd_weights(const Conv2dArgs& a, float* u) {
  constexpr int taps = T::kernel * T::kernel;
  const int C = a.channels, OC = a.out_channels;
  // One block of every output channel gives the [channel][output channel] rows of the GEMM
  // over output channels.
  const int M = T::tile == WinogradTile::f2x3_by_oc ? OC * T::weight_sets : V::gemm_oc;
  const size_t u_point = winograd_weight_floats<T>(a) / T::points;
  const OcBlocks blocks(OC * T::weight_sets, M);
  if constexpr (T::kernel == 3 && T::weight_sets == 1) {
    using vec = typename V::vec;
    constexpr int L = V::lanes;
    alignas(64) float pairs[taps][L];  // tap t of lane l's kernel at pairs[t][l]
    size_t done = 0;                   // pairs stored, in the GEMM's order
    int filled = 0;
    const auto flush = [&] {
      vec g[taps], w[T::points];
#pragma GCC unroll 9
      for (int t = 0; t < taps; ++t) g[t] = V::load(pairs[t]);
      T::weights(g, 0, w, 1);
      for (int xi = 0; xi < T::points; ++xi) {
        float* dst = u + xi * u_point + done;
        if (filled == L)
          V::store(dst, w[xi]);
        else
          V::store_partial(dst, w[xi], filled);
      }
      done += filled;
      filled = 0;
    };
    for (int b = 0; b < blocks.count; ++b) {
      const int row0 = blocks.first(b), m = blocks.size(b);
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < m; ++i) {
          const float* g = a.weight + (static_cast<size_t>(row0 + i) * C + c) * taps;
          for (int t = 0; t < taps; ++t) pairs[t][filled] = g[t];
          if (++filled == L) flush();
        }
    }
    if (filled > 0) flush();
  } else {
    // Channel-major within a block, so each point's runs are written in order.
    for (int b = 0; b < blocks.count; ++b) {
      const int row0 = blocks.first(b), m = blocks.size(b);
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < m; ++i) {
          const int set = (row0 + i) / OC, oc = (row0 + i) % OC;
          T::weights(a.weight + (static_cast<size_t>(oc) * C + c) * taps, set,
                     u + static_cast<size_t>(row0) * C + static_cast<size_t>(c) * m + i, u_point);
        }
    }
  }
}

/// Whether a's layer runs by the weights it kept (PreparedView) for the tile T.
template <class V, class T>
bool winograd_prepared(const Conv2dArgs& a) {
  return a.prepared.transform == winograd_transform_id<V, T>() && a.prepared.floats == winograd_weight_floats<T>(a);
}

/// Transformed input and products of one band: P floats per tile and channel (in or out),
/// about V::winograd_band_bytes, so the GEMMs find the transform's output in L2. Where the
/// layer kept its weights and they outweigh the image's transformed input and products (deep
/// layers on small images: 38 MB of them for the WGAN ConvNet's 512 -> 512 5x5), the image is
/// one band and the GEMM runs each register block of weights over all its tiles while the
/// block is in L1; in bands, or block after block for each vector of tiles, every pass would
/// read them all from memory again. (Weights transformed per call were just written and are
/// partly still in cache; for those the whole-image band measured no faster over an IEA-GAN
/// event and took 4 MB more scratch.)
struct WinogradBands {
  int rows = 0;              ///< tile rows per band
  bool weights_outer = false;
};

template <class V, class T>
WinogradBands winograd_bands(const Conv2dArgs& a) {
  const int th = div_up(a.height, T::step), tw = div_up(a.width, T::step);
  const size_t row_floats = static_cast<size_t>(T::points) * (a.channels + a.out_channels * T::weight_sets) * tw;
  WinogradBands b;
  b.weights_outer = winograd_prepared<V, T>(a) && winograd_weight_floats<T>(a) >= row_floats * th;
  b.rows = b.weights_outer
               ? th
               : imin(th, imax(1, static_cast<int>(V::winograd_band_bytes / (row_floats * sizeof(float)))));
  return b;
}

/// A Winograd call's scratch: the weights U (kept from load, or transformed into the scratch
/// here), the transformed input V and the products M, and the ring of activated input rows,
/// each row split into `part`-float column phases.
template <class V, class T>
struct WinogradScratch {
  const float* u;
  float* v;
  float* m;
  WinogradRows<V, T::step, T::pad> rows;
};

template <class V, class T>
WinogradScratch<V, T> winograd_scratch(const Conv2dArgs& a, size_t v_floats, size_t m_floats, int part) {
  constexpr int S = T::step;
  const bool prepared = winograd_prepared<V, T>(a);
  ScratchLayout layout;
  const size_t u_at = layout.add(prepared ? 0 : winograd_weight_floats<T>(a) * sizeof(float));
  const size_t v_at = layout.add(v_floats * sizeof(float));
  const size_t m_at = layout.add(m_floats * sizeof(float));
  const size_t padded_at = layout.add(static_cast<size_t>(S) * part * sizeof(float));
  const size_t ring_at = layout.add(static_cast<size_t>(8) * S * part * sizeof(float));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  float* padded = reinterpret_cast<float*>(scratch + padded_at);
  zero_floats(padded, static_cast<size_t>(S) * part);
  const float* u = a.prepared.data;
  if (!prepared) {
    float* transformed = reinterpret_cast<float*>(scratch + u_at);
    winograd_weights<V, T>(a, transformed);
    u = transformed;
  }
  return {u, reinterpret_cast<float*>(scratch + v_at), reinterpret_cast<float*>(scratch + m_at),
          {a, part, padded, reinterpret_cast<float*>(scratch + ring_at)}};
}

/// V of tile rows r0 .. r0 + rn - 1 of every input channel: tile row r at v + (r - r0) tw,
/// channel c a further c stride on, points v_point apart.
template <class V, class T>
void winograd_input_rows(const WinogradRows<V, T::step, T::pad>& rows, int channels, int r0, int rn, int tw, float* v,
                         size_t stride, size_t v_point) {
  constexpr int S = T::step;
  // Tile row r reads padded rows S r .. S r + patch - 1; the next one shares patch - S.
  constexpr int shared = T::patch - S;
  for (int c = 0; c < channels; ++c) {
    for (int q = S * r0; q < S * r0 + shared; ++q) rows.fill(c, q);
    for (int r = r0; r < r0 + rn; ++r) {
      for (int q = S * r + shared; q < S * r + T::patch; ++q) rows.fill(c, q);
      T::template input<V>(rows, r, tw, v + c * stride + static_cast<size_t>(r - r0) * tw, v_point);
    }
  }
}

/// The fused convolution by Winograd with the tile T (see the file comment): tiles of
/// T::m x T::m outputs, T::step x T::step input pixels apart (T::m / 2 with T::upsample), and
/// GEMM tiles of V::gemm_oc rows x N vectors.
template <class V, class T, int N>
void conv_winograd_gemm_vecs(const Conv2dArgs& a) {
  constexpr int L = V::lanes, M = V::gemm_oc, gemm_step = N * L;
  constexpr int P = T::points, S = T::step;
  const int C = a.channels, OC = a.out_channels, H = a.height, W = a.width;
  if (OC <= 0 || H <= 0 || W <= 0) return;
  // The GEMMs' rows: each weight set's output channels, set after set.
  const int gemm_rows = OC * T::weight_sets;
  const int out_h = T::upsample ? 2 * H : H, out_w = T::upsample ? 2 * W : W;
  const int th = div_up(H, S), tw = div_up(W, S);
  const size_t u_point = winograd_weight_floats<T>(a) / P;
  const WinogradBands bands = winograd_bands<V, T>(a);
  const bool weights_outer = bands.weights_outer;
  const int band_rows = bands.rows;
  // Tiles per point and channel: the GEMM's whole vectors, plus a vector of slack for the
  // transforms' row overrun.
  const size_t tiles = static_cast<size_t>(band_rows) * tw;
  const size_t stride = static_cast<size_t>(round_up(static_cast<int>(tiles), gemm_step)) + L;
  const int part = round_up(tw, L) + L;

  const size_t v_point = point_stride_for(static_cast<size_t>(C) * stride);
  const size_t m_point = point_stride_for(static_cast<size_t>(gemm_rows) * stride);
  const WinogradScratch<V, T> work = winograd_scratch<V, T>(a, P * v_point, P * m_point, part);
  const float* u = work.u;
  float* v = work.v;
  float* mt = work.m;

  const OcBlocks blocks(gemm_rows, M);

  const size_t out_plane = out_channel_stride(a);
  const bool accumulate = a.accumulate;  // a local: the stores may alias a for the compiler
  for (int r0 = 0; r0 < th; r0 += band_rows) {
    const int rn = imin(band_rows, th - r0);
    const int band_tiles = rn * tw;
    const int gemm_tiles = round_up(band_tiles, gemm_step);
    // The columns past the tiles feed only products that are never stored; zeros keep them
    // from holding NaNs or denormals left in the scratch buffer.
    for (int xi = 0; xi < P; ++xi)
      for (int c = 0; c < C; ++c) zero_floats(v + xi * v_point + c * stride + band_tiles, stride - band_tiles);
    winograd_input_rows<V, T>(work.rows, C, r0, rn, tw, v, stride, v_point);
    for (int xi = 0; xi < P; ++xi) {
      const float* uxi = u + xi * u_point;
      const float* vxi = v + xi * v_point;
      float* mxi = mt + xi * m_point;
      const auto gemm = [&](int b, int t0) {
        const int oc0 = blocks.first(b), rows = blocks.size(b);
        // The block's weights: `rows` of them per input channel.
        winograd_gemm_fn<V, M, N>(rows)(uxi + static_cast<size_t>(oc0) * C, rows, vxi + t0, stride, C,
                                        mxi + oc0 * stride + t0, stride);
      };
      if (weights_outer) {
        for (int b = 0; b < blocks.count; ++b)
          for (int t0 = 0; t0 < gemm_tiles; t0 += gemm_step) gemm(b, t0);
      } else {
        for (int t0 = 0; t0 < gemm_tiles; t0 += gemm_step)
          for (int b = 0; b < blocks.count; ++b) gemm(b, t0);
      }
    }
    for (int oc = 0; oc < OC; ++oc) {
      const typename V::vec bias = V::set1(a.bias != nullptr ? a.bias[oc] : 0.0f);
      for (int r = r0; r < r0 + rn; ++r)
        T::template output<V>(mt + oc * stride + static_cast<size_t>(r - r0) * tw, m_point, OC * stride, tw, bias,
                              a.out + oc * out_plane + static_cast<size_t>(T::m * r) * out_w,
                              imin(T::m, out_h - T::m * r), out_w, accumulate);
    }
  }
}

/// F(2x2, 3x3) on a plane of few tiles (T = WinogradF2x3ByOc). Vectorized over the tiles, as
/// conv_winograd_gemm_vecs is, the GEMM of a 4x12 plane fills 12 of 16 lanes and broadcasts a
/// weight for every 12 products; over the output channels every lane works and each input value
/// is broadcast for by_oc_vecs vectors of them. The input transform is the usual one, over the
/// whole plane at once; the products are stored [xi][tile][output channel] and transformed
/// back a vector of output channels at a time, each lane's 2 x 2 outputs stored to its plane.
template <class V, class T>
void conv_winograd_by_oc(const Conv2dArgs& a) {
  using vec = typename V::vec;
  constexpr int L = V::lanes, P = T::points, S = T::step, NT = V::by_oc_tiles, NV = V::by_oc_vecs;
  static_assert(T::weight_sets == 1 && P == 16 && T::m == 2, "F(2x2, 3x3)");
  const int C = a.channels, OC = a.out_channels, H = a.height, W = a.width;
  const int th = div_up(H, S), tw = div_up(W, S), tiles = th * tw;
  const size_t u_point = winograd_weight_floats<T>(a) / P;
  // Every tile row's input transform writes whole vectors of tiles: a vector of slack.
  const size_t stride = static_cast<size_t>(round_up(tiles, L)) + L;
  const int part = round_up(tw, L) + L;
  const size_t v_point = point_stride_for(static_cast<size_t>(C) * stride);
  const size_t m_point = point_stride_for(static_cast<size_t>(tiles) * OC);
  const WinogradScratch<V, T> work = winograd_scratch<V, T>(a, P * v_point, P * m_point, part);
  const float* u = work.u;
  float* v = work.v;
  float* mt = work.m;

  winograd_input_rows<V, T>(work.rows, C, 0, th, tw, v, stride, v_point);
  for (int xi = 0; xi < P; ++xi)
    for (int oc0 = 0; oc0 < OC; oc0 += NV * L) {
      const bool whole = OC - oc0 >= NV * L;
      for (int t0 = 0; t0 < tiles; t0 += NT) {
        const int nt = imin(NT, tiles - t0);
        const WinogradGemmFn gemm = whole ? winograd_gemm_fn<V, NT, NV>(nt) : winograd_gemm_fn<V, NT, 1>(nt);
        gemm(v + xi * v_point + t0, stride, u + xi * u_point + oc0, static_cast<size_t>(OC), C,
             mt + xi * m_point + static_cast<size_t>(t0) * OC + oc0, static_cast<size_t>(OC));
      }
    }

  // A^T M A per tile and vector of output channels; the products of point 4 i + k at row i,
  // column k, as WinogradF2x3::output reads them.
  const size_t out_plane = out_channel_stride(a);
  for (int t = 0; t < tiles; ++t) {
    const int y0 = S * (t / tw), x0 = S * (t % tw);
    const int rows_valid = imin(2, H - y0), cols_valid = imin(2, W - x0);
    for (int oc0 = 0; oc0 < OC; oc0 += L) {
      const float* p = mt + static_cast<size_t>(t) * OC + oc0;
      vec s[4], d[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const vec m0 = V::load(p + k * m_point), m1 = V::load(p + (4 + k) * m_point);
        const vec m2 = V::load(p + (8 + k) * m_point), m3 = V::load(p + (12 + k) * m_point);
        s[k] = V::add(V::add(m0, m1), m2);
        d[k] = V::sub(V::sub(m1, m2), m3);
      }
      const vec bias = a.bias != nullptr ? V::load(a.bias + oc0) : V::zero();
      alignas(64) float y[2][2][L];
      V::store(y[0][0], V::add(V::add(V::add(s[0], s[1]), s[2]), bias));
      V::store(y[0][1], V::add(V::sub(V::sub(s[1], s[2]), s[3]), bias));
      V::store(y[1][0], V::add(V::add(V::add(d[0], d[1]), d[2]), bias));
      V::store(y[1][1], V::add(V::sub(V::sub(d[1], d[2]), d[3]), bias));
      for (int l = 0; l < L; ++l) {
        float* out = a.out + (oc0 + l) * out_plane + static_cast<size_t>(y0) * W + x0;
        for (int i = 0; i < rows_valid; ++i)
          for (int j = 0; j < cols_valid; ++j) {
            float& o = out[static_cast<size_t>(i) * W + j];
            o = a.accumulate ? o + y[i][j][l] : y[i][j][l];
          }
      }
    }
  }
}

/// The fused convolution by Winograd with the tile T: GEMM tiles of V::gemm_vecs vectors, or
/// V::gemm_deep_vecs from V::gemm_deep_channels input channels on (see simd_avx512.hpp) unless
/// a band's tiles fill gemm_vecs vectors with fewer padded columns: 128 -> 128 at 8x24 by
/// F(2x2, 3x3), one band of 48 tiles (three vectors exactly), took 0.77x the time with 8 x 3
/// tiles on an AVX-512 Xeon, while its bands of 24 tiles at 16x48 (F(4x4, 3x3)) and 8x24 up2
/// took 1.2-1.3x.
template <class V, class T>
void conv_winograd(const Conv2dArgs& a) {
  if constexpr (T::tile == WinogradTile::f2x3_by_oc) {
    conv_winograd_by_oc<V, T>(a);
  } else {
    if constexpr (V::gemm_deep_vecs != V::gemm_vecs) {
      if (a.channels >= V::gemm_deep_channels) {
        const int band_tiles = winograd_bands<V, T>(a).rows * div_up(a.width, T::step);
        const auto padded = [&](int vecs) { return round_up(band_tiles, vecs * V::lanes); };
        if (padded(V::gemm_vecs) >= padded(V::gemm_deep_vecs)) return conv_winograd_gemm_vecs<V, T, V::gemm_deep_vecs>(a);
      }
    }
    conv_winograd_gemm_vecs<V, T, V::gemm_vecs>(a);
  }
}

/// The Winograd tile a's layer runs by, none where it runs direct.
template <class V>
WinogradTile tile_to_prepare(const Conv2dArgs& a) {
  if (a.out_channels <= 0 || a.height <= 0 || a.width <= 0) return WinogradTile::none;
  return winograd_tile_for<V>(upsamples_first<V>(a) ? upsampled_shape(a) : a);
}

/// f(T{}) for the tile struct T that `tile` names; `none` where it names none. The one place
/// that maps the enum to the tiles.
template <class R, class F>
R with_winograd_tile(WinogradTile tile, R none, F&& f) {
  switch (tile) {
    case WinogradTile::f2x3: return f(WinogradF2x3{});
    case WinogradTile::f4x3: return f(WinogradF4x3{});
    case WinogradTile::up2_3x3_f2x2: return f(WinogradUp2F2x2{});
    case WinogradTile::up2_5x5_f2x3: return f(WinogradUp2F2x3{});
    case WinogradTile::f2x5: return f(WinogradF2x5{});
    case WinogradTile::f2x3_by_oc: return f(WinogradF2x3ByOc{});
    case WinogradTile::none: break;
  }
  return none;
}

/// conv2d_prepare_f32's two steps (see entry_points.hpp).
template <class V>
size_t prepared_floats(const Conv2dArgs& a) {
  return with_winograd_tile(tile_to_prepare<V>(a), size_t{0},
                            [&](auto t) { return winograd_weight_floats<decltype(t)>(a); });
}

template <class V>
int prepare_weights(const Conv2dArgs& a, float* dst) {
  return with_winograd_tile(tile_to_prepare<V>(a), 0, [&](auto t) {
    winograd_weights<V, decltype(t)>(a, dst);
    return winograd_transform_id<V, decltype(t)>();
  });
}

/// The fused convolution by the Winograd tile `tile` (not none).
template <class V>
void conv_winograd(const Conv2dArgs& a, WinogradTile tile) {
  with_winograd_tile(tile, false, [&](auto t) {
    conv_winograd<V, decltype(t)>(a);
    return true;
  });
}

}  // namespace
}  // namespace pxdgen::kernels::x86
