#pragma once
/// @file conv2d_winograd_f2x3.hpp
/// The plain 3x3 fused convolution (stride 1, zero padding 1, no upsampling) by Winograd
/// F(2x2, 3x3), over the same vector traits V as conv2d_fused_tiled.hpp (which includes this
/// file at its end and calls it for the shapes where it measured faster than the direct tiles).
///
/// Each 2x2 output tile comes from a 4x4 input patch d: Y = A^T [(G g G^T) . (B^T d B)] A, so
/// a tile costs 16 multiplies per (input, output channel) pair instead of 36. Per call:
///  - weights: U = G g G^T for every (output, input) channel pair, stored per transform point
///    xi (16 of them) as [xi][output block][channel][block lane], the GEMM's broadcast order;
///  - in bands of tile rows (sized so the band's transformed input and products stay near L2):
///    input transform V = B^T d B of act(in) into [xi][channel][tile], the band's tiles
///    flattened row after row, so the vector dimension runs along the tiles of a row;
///    16 GEMMs M[xi] = U[xi] (OC x C) V[xi] (C x tiles) with register tiles of wide_oc output
///    channels x wide_vecs vectors of tiles; output transform A^T M A plus bias, stored or
///    added, the even and odd output columns interleaved back into the row.
/// The input rows are activated once per channel and split into even and odd columns, so the
/// four columns of the tiles of one vector are four unaligned loads (patch columns 2tx .. 2tx+3
/// of the padded row are even[tx], odd[tx], even[tx + 1], odd[tx + 1]).
///
/// The transforms only add and halve (the weight transform) exactly representable values, so
/// the rounding is that of a few more float32 additions per output than the direct sum.
///
/// Internal linkage and no standard-library templates, for the reasons given in
/// conv2d_fused_tiled.hpp.

#include <cstddef>

#include "kernels/conv2d.hpp"
#include "kernels/x86/conv2d_fused_tiled.hpp"
#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {
namespace {

constexpr int kWinogradPoints = 16;  ///< transformed 4x4 patch

/// Floats between the 16 points' planes of at least n floats: an odd number of cache lines,
/// so the 16 streams that each transform reads or writes fall into different L1 sets. (With
/// the planes a multiple of 4 KiB apart, as for 128 x 128 channels, they all share a set and
/// the weight transform alone took longer than the direct convolution.)
inline size_t point_stride_for(size_t n) {
  size_t lines = (n + 15) / 16;
  if (lines % 2 == 0) ++lines;
  return lines * 16;
}

/// U[xi] = (G g G^T)[xi] for every output channel oc and input channel c, at
/// u + xi * per_point + oc0 * C + c * m + (oc - oc0) for oc in the block of m channels at oc0.
/// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <int M>
void winograd_f2x3_weights(const Conv2dArgs& a, float* u, size_t per_point) {
  const int C = a.channels;
  const OcBlocks blocks(a.out_channels, M);
  // Channel-major within a block, so each of the 16 points' runs is written in order.
  for (int b = 0; b < blocks.count; ++b) {
    const int oc0 = blocks.first(b), m = blocks.size(b);
    for (int c = 0; c < C; ++c) {
      float* dst = u + static_cast<size_t>(oc0) * C + static_cast<size_t>(c) * m;
      for (int i = 0; i < m; ++i) {
        const float* g = a.weight + (static_cast<size_t>(oc0 + i) * C + c) * 9;
        float gg[4][3];  // G g
        for (int j = 0; j < 3; ++j) {
          gg[0][j] = g[j];
          gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          gg[3][j] = g[6 + j];
        }
        for (int r = 0; r < 4; ++r) {
          const float row[4] = {gg[r][0], 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]),
                                0.5f * (gg[r][0] - gg[r][1] + gg[r][2]), gg[r][2]};
          for (int j = 0; j < 4; ++j) dst[(r * 4 + j) * per_point + i] = row[j];
        }
      }
    }
  }
}

/// M output channels x N vectors of tiles of one transform point: m[oc][t] = sum_c u[c][oc] v[c][t].
template <class V, int M, int N>
void winograd_gemm_tile(const float* u, const float* v, size_t v_stride, int channels, float* m, size_t m_stride) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  vec acc[M][N];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) acc[i][n] = V::zero();
#pragma GCC unroll 2
  for (int c = 0; c < channels; ++c, v += v_stride, u += M) {
    vec x[N];
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) x[n] = V::load(v + n * L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const vec w = V::broadcast(u + i);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) acc[i][n] = V::fmadd(w, x[n], acc[i][n]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) V::store(m + i * m_stride + n * L, acc[i][n]);
}

using WinogradGemmFn = void (*)(const float*, const float*, size_t, int, float*, size_t);

/// winograd_gemm_tile<V, m, N> for m <= M.
template <class V, int M, int N>
WinogradGemmFn winograd_gemm_fn(int m) {
  if constexpr (M > 1) {
    if (m < M) return winograd_gemm_fn<V, M - 1, N>(m);
  }
  return &winograd_gemm_tile<V, M, N>;
}

/// The four patch rows of a tile row as even and odd columns of the activated, zero-padded
/// input rows: a ring of 4 slots, padded row q (input row q - 1) in slot q % 4.
template <class V>
struct WinogradRows {
  const Conv2dArgs& a;
  int half;        ///< floats per even (odd) half row, a multiple of lanes
  float* padded;   ///< 2 half: one activated row, with its zero column at 0 and zeros past W
  float* ring;     ///< 4 slots x (even, odd)

  const float* even(int q) const { return ring + static_cast<size_t>(q & 3) * 2 * half; }
  const float* odd(int q) const { return even(q) + half; }

  void fill(int c, int q) const {
    constexpr int L = V::lanes;
    float* e = ring + static_cast<size_t>(q & 3) * 2 * half;
    float* o = e + half;
    const int iy = q - 1;
    if (iy < 0 || iy >= a.height) {
      zero_floats(e, 2 * static_cast<size_t>(half));
      return;
    }
    const size_t plane = static_cast<size_t>(a.height) * a.width;
    activate_row<V>(padded + 1, a.in + c * plane + static_cast<size_t>(iy) * a.width, a.width, a, c);
    for (int k = 0; k < half; k += L) {
      typename V::vec ev, ov;
      V::deinterleave(V::load(padded + 2 * k), V::load(padded + 2 * k + L), ev, ov);
      V::store(e + k, ev);
      V::store(o + k, ov);
    }
  }
};

/// v[xi][c][t] = (B^T d B)[xi] for the tiles of tile rows r0 .. r0 + rn - 1, t = (r - r0) tw + tx,
/// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Writes whole vectors: a row's last one runs
/// into the next row's tiles (written after it) or the row slack of at least one vector.
template <class V>
void winograd_f2x3_input(const WinogradRows<V>& rows, int r0, int rn, int tw, float* v, size_t v_stride,
                         size_t point_stride) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  const int C = rows.a.channels;
  for (int c = 0; c < C; ++c) {
    // Tile row r reads padded rows 2r .. 2r + 3; the next one shares two of them.
    for (int q = 2 * r0; q < 2 * r0 + 2; ++q) rows.fill(c, q);
    for (int r = r0; r < r0 + rn; ++r) {
      rows.fill(c, 2 * r + 2);
      rows.fill(c, 2 * r + 3);
      const float* e[4];
      const float* o[4];
      for (int j = 0; j < 4; ++j) {
        e[j] = rows.even(2 * r + j);
        o[j] = rows.odd(2 * r + j);
      }
      float* dst = v + c * v_stride + static_cast<size_t>(r - r0) * tw;
      for (int tx = 0; tx < tw; tx += L) {
        vec t[4][4];  // B^T d: columns transformed per row first
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
  }
}

/// out rows 2 r0 .. of every output channel (+)= bias + A^T M A, A^T = [1 1 1 0; 0 1 -1 -1].
template <class V>
void winograd_f2x3_output(const Conv2dArgs& a, int r0, int rn, int tw, const float* mt, size_t m_stride,
                          size_t point_stride) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  const int H = a.height, W = a.width, OC = a.out_channels;
  const size_t out_plane = static_cast<size_t>(H) * W;
  const bool accumulate = a.accumulate;  // a local: the stores below may alias a for the compiler
  for (int oc = 0; oc < OC; ++oc) {
    const vec bias = V::set1(a.bias != nullptr ? a.bias[oc] : 0.0f);
    for (int r = r0; r < r0 + rn; ++r) {
      const float* src = mt + oc * m_stride + static_cast<size_t>(r - r0) * tw;
      float* out0 = a.out + oc * out_plane + static_cast<size_t>(2 * r) * W;
      const bool second_row = 2 * r + 1 < H;
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
        const vec y00 = V::add(V::add(V::add(s[0], s[1]), s[2]), bias);
        const vec y01 = V::add(V::sub(V::sub(s[1], s[2]), s[3]), bias);
        const int valid = imin(2 * L, W - 2 * tx);
        vec lo, hi;
        V::interleave(y00, y01, lo, hi);
        store_vec<V>(out0 + 2 * tx, lo, imin(valid, L), accumulate);
        store_vec<V>(out0 + 2 * tx + L, hi, valid - L, accumulate);
        if (second_row) {
          const vec y10 = V::add(V::add(V::add(d[0], d[1]), d[2]), bias);
          const vec y11 = V::add(V::sub(V::sub(d[1], d[2]), d[3]), bias);
          V::interleave(y10, y11, lo, hi);
          store_vec<V>(out0 + W + 2 * tx, lo, imin(valid, L), accumulate);
          store_vec<V>(out0 + W + 2 * tx + L, hi, valid - L, accumulate);
        }
      }
    }
  }
}

/// Where F(2x2, 3x3) beats the direct tiles. Measured on AVX2 (Zen 3, one core) over the
/// IEA-GAN plain 3x3 shapes: 1.1x to 1.6x faster from 16 to 128 channels on images of 8x24
/// (48 tiles) and up; 0.95x at 4x12 (12 tiles), where the per-call weight transform and the
/// GEMM's tiles rounded up to whole register tiles are not repaid; 0.6x for one output
/// channel (32 -> 1), where the GEMM has no output block to fill.
/// Fewer than 16 channels were not measured.
inline bool winograd_f2x3_pays(const Conv2dArgs& a) {
  const long tiles = static_cast<long>(div_up(a.height, 2)) * div_up(a.width, 2);
  return a.kernel == 3 && !a.upsample2x && a.channels >= 16 && a.out_channels >= 16 && tiles >= 32;
}

/// The plain 3x3 fused convolution by F(2x2, 3x3) (see the file comment).
template <class V>
void conv_winograd_f2x3(const Conv2dArgs& a) {
  constexpr int L = V::lanes, M = V::wide_oc, N = V::wide_vecs, step = N * L;
  // Transformed input and products of one band: 64 bytes per tile and channel (in or out).
  // Near half of L2, so the GEMMs find the transform's output there.
  constexpr size_t kBandBytes = 256 * 1024;
  const int C = a.channels, OC = a.out_channels, H = a.height, W = a.width;
  if (OC <= 0 || H <= 0 || W <= 0) return;
  const int th = div_up(H, 2), tw = div_up(W, 2);
  const size_t row_bytes = static_cast<size_t>(kWinogradPoints) * sizeof(float) * (C + OC) * tw;
  const int band_rows = imin(th, imax(1, static_cast<int>(kBandBytes / row_bytes)));
  // Tiles per point and channel: the GEMM's whole vectors, plus a vector of slack for the
  // transforms' row overrun.
  const size_t tiles = static_cast<size_t>(band_rows) * tw;
  const size_t stride = static_cast<size_t>(round_up(static_cast<int>(tiles), step)) + L;
  const int half = round_up(tw, L) + L;

  const size_t u_point = point_stride_for(static_cast<size_t>(OC) * C);
  const size_t v_point = point_stride_for(static_cast<size_t>(C) * stride);
  const size_t m_point = point_stride_for(static_cast<size_t>(OC) * stride);

  ScratchLayout layout;
  const size_t u_at = layout.add(kWinogradPoints * u_point * sizeof(float));
  const size_t v_at = layout.add(kWinogradPoints * v_point * sizeof(float));
  const size_t m_at = layout.add(kWinogradPoints * m_point * sizeof(float));
  const size_t padded_at = layout.add(static_cast<size_t>(2) * half * sizeof(float));
  const size_t ring_at = layout.add(static_cast<size_t>(8) * half * sizeof(float));
  char* scratch = static_cast<char*>(conv2d_scratch(layout.bytes));
  float* u = reinterpret_cast<float*>(scratch + u_at);
  float* v = reinterpret_cast<float*>(scratch + v_at);
  float* mt = reinterpret_cast<float*>(scratch + m_at);
  float* padded = reinterpret_cast<float*>(scratch + padded_at);
  const WinogradRows<V> rows{a, half, padded, reinterpret_cast<float*>(scratch + ring_at)};
  zero_floats(padded, static_cast<size_t>(2) * half);
  winograd_f2x3_weights<M>(a, u, u_point);

  const OcBlocks blocks(OC, M);
  for (int r0 = 0; r0 < th; r0 += band_rows) {
    const int rn = imin(band_rows, th - r0);
    const int band_tiles = rn * tw;
    const int gemm_tiles = round_up(band_tiles, step);
    // The columns past the tiles feed only products that are never stored; zeros keep them
    // from holding NaNs or denormals left in the scratch buffer.
    for (int xi = 0; xi < kWinogradPoints; ++xi)
      for (int c = 0; c < C; ++c) zero_floats(v + xi * v_point + c * stride + band_tiles, stride - band_tiles);
    winograd_f2x3_input<V>(rows, r0, rn, tw, v, stride, v_point);
    for (int xi = 0; xi < kWinogradPoints; ++xi) {
      const float* uxi = u + xi * u_point;
      const float* vxi = v + xi * v_point;
      float* mxi = mt + xi * m_point;
      for (int t0 = 0; t0 < gemm_tiles; t0 += step)
        for (int b = 0; b < blocks.count; ++b) {
          const int oc0 = blocks.first(b);
          winograd_gemm_fn<V, M, N>(blocks.size(b))(uxi + static_cast<size_t>(oc0) * C, vxi + t0, stride, C,
                                                    mxi + oc0 * stride + t0, stride);
        }
    }
    winograd_f2x3_output<V>(a, r0, rn, tw, mt, stride, m_point);
  }
}

}  // namespace
}  // namespace pxdgen::kernels::x86
