#pragma once
/// @file conv2d_fused_tiled.hpp
/// The register-tiled body of the fused convolution (kernels/conv2d.hpp), written once over a
/// vector traits struct V (kernels/x86/simd_avx2.hpp, simd_avx512.hpp) so every ISA runs the
/// same logic. V provides the vector type and operations (vec, lanes, zero, set1, load, store,
/// broadcast, fmadd, add, sub, max, load_partial, store_partial, stream, fence, load_each_twice,
/// load_halves_each_twice, interleave, deinterleave, split4) and the tile shapes:
///   wide_oc x wide_vecs     output channels x vectors of one output row, the general tile;
///   short_oc x short_vecs   the same for rows of at most short_vecs vectors, so one tile
///                           spans the row and each weight is read once per row;
///   up_oc x up_vecs         the upsampling tile (two column phases per vector);
///   pointwise_oc x pointwise_vecs   the 1x1 tile;
///   gemm_oc x gemm_vecs     the Winograd GEMM's tile (conv2d_winograd.hpp): rows x vectors
///                           of tiles of one transform point;
///   by_oc_tiles x by_oc_vecs   the same GEMM on planes of few tiles: tiles x vectors of
///                           output channels.
///
/// A tile keeps its accumulators in registers over every (channel, ky, kx): per tap it loads
/// the input vectors once and broadcasts one weight per output channel. KxK and 1x1 tiles read
/// the weights in place (output channels a fixed stride apart); the upsampling phases use
/// weights repacked per call, block- and tap-major.
///
/// Drivers (each single-threaded and reentrant: state is on the stack or in the calling
/// thread's scratch buffer):
///  - KxK rows: a ring of activated, zero-padded input rows per channel (the band), so each
///    input row is activated once and stays in L2 while the K output rows that read it run;
///    on small images the whole padded image instead, with the blocks outermost.
///  - KxK on a 2x upsampled input: per output phase (row parity py, column parity px) the
///    nearest-upsampled KxK convolution is a (K/2 + 1)^2 convolution of the small input with
///    summed weights (3x3: 2x2, 4/9 of the multiplies; 5x5: 3x3, 9/25), and the upsampled
///    tensor never exists. Both column phases share the input loads and are interleaved into
///    the output row at the store.
///  - 1x1 without upsampling: a GEMM over the flattened plane in column slices that fit L1,
///    each slice activated once (on AVX-512 by the tiles of the first output-channel block).
///  - KxK to one or two output channels: a 1x1 to the K x K taps of each input row, then
///    shifted sums of the tap rows; fed by a 1x1 (conv1x1_then_kxk, kernels/conv2d.hpp), the
///    1x1's tiles write a column slice into L1 and the taps' tiles read it there.
///  - 3x3, and 5x5 on an upsampled input, on the shapes where it pays: Winograd
///    (conv2d_winograd.hpp); on planes of few tiles, its GEMM vectorized over output channels.
/// Where one block's weights would not stay in L2 (512 channels, 5x5), the input channels are
/// split into chunks whose partial sums accumulate in the output.
///
/// Everything here has internal linkage: the header is compiled once per ISA with different
/// target flags, and a shared inline symbol could let the linker hand an AVX-512 copy to the
/// AVX2 path. For the same reason it calls no standard-library templates.

#include <cstddef>
#include <cstdint>

#include "kernels/conv2d.hpp"
#include "kernels/x86/entry_points.hpp"

namespace pxdgen::kernels::x86 {
namespace {

constexpr int kMaxTileOc = 16;

inline int imin(int a, int b) { return a < b ? a : b; }
inline int imax(int a, int b) { return a > b ? a : b; }
inline int round_up(int x, int m) { return (x + m - 1) / m * m; }
inline int div_up(int x, int m) { return (x + m - 1) / m; }

inline void zero_floats(float* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = 0.0f;
}

/// Makes p opaque to the compiler. Keeps a row pointer in one register (otherwise rows[r] +
/// x0 + const becomes base + index addressing with one index register per constant, which
/// spills in the tiles), and, being volatile, stops loads through p from being merged with
/// identical loads through an earlier copy.
template <class T>
inline void pin_pointer(T*& p) {
#if defined(__GNUC__)
  asm volatile("" : "+r"(p));
#endif
}

/// One output tile's inputs. Input rows are addressed from their padded column 0.
struct Tile {
  const float* const* rows = nullptr;  ///< rows_per_channel rows for each of `channels`
  int channels = 0;
  int rows_per_channel = 0;
  int x0 = 0;    ///< first tile column of the input rows (the output column is x0 or 2 x0)
  int tail = 0;  ///< valid lanes of the tile's last vector
  bool accumulate = false;
  const float* w = nullptr;  ///< the block's weights at the first channel
  size_t w_stride = 0;       ///< between output channels' weights when not packed
  float* out[kMaxTileOc] = {};  ///< per output channel, its output row
  float bias[kMaxTileOc] = {};
};
using TileFn = void (*)(const Tile&);

/// Adds `acc` to (accumulate) or writes it over out[0 .. n), n <= lanes.
template <class V>
inline void store_vec(float* out, const typename V::vec& value, int n, bool accumulate) {
  typename V::vec acc = value;
  if (n == V::lanes) {
    if (accumulate) acc = V::add(acc, V::load(out));
    V::store(out, acc);
  } else if (n > 0) {
    if (accumulate) acc = V::add(acc, V::load_partial(out, n));
    V::store_partial(out, acc, n);
  }
}

/// M output channels x N vectors of one output row, summed over channels x K x K taps:
/// input row ky of a channel feeds it through kernel row ky. Weights per channel
/// [ky][kx][PM] (packed, M <= PM), or with PM = 0 the PyTorch layout, output channels
/// t.w_stride apart.
template <class V, int K, int M, int N, int PM>
void conv_tile_kxk(const Tile& t) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  constexpr int tap_stride = PM > 0 ? PM : 1;
  vec acc[M][N];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    const vec b = V::set1(t.bias[m]);
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) acc[m][n] = b;
  }
  const float* w[PM > 0 ? 1 : M];
  if constexpr (PM > 0) {
    w[0] = t.w;
  } else {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) w[m] = t.w + m * t.w_stride;
  }
  const float* const* rows = t.rows;
  const int x0 = t.x0, rpc = t.rows_per_channel;
  for (int c = 0; c < t.channels; ++c, rows += rpc) {
#pragma GCC unroll 16
    for (int ky = 0; ky < K; ++ky) {
      const float* src = rows[ky] + x0;
      pin_pointer(src);
#pragma GCC unroll 8
      for (int kx = 0; kx < K; ++kx) {
        vec x[N];
#pragma GCC unroll 16
        for (int n = 0; n < N; ++n) x[n] = V::load(src + kx + n * L);
#pragma GCC unroll 16
        for (int m = 0; m < M; ++m) {
          const float* wp;
          if constexpr (PM > 0)
            wp = w[0] + m;
          else
            wp = w[m];
          const vec b = V::broadcast(wp + (ky * K + kx) * tap_stride);
#pragma GCC unroll 16
          for (int n = 0; n < N; ++n) acc[m][n] = V::fmadd(b, x[n], acc[m][n]);
        }
      }
    }
#pragma GCC unroll 16
    for (int i = 0; i < (PM > 0 ? 1 : M); ++i) w[i] += K * K * tap_stride;
  }
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    float* out = t.out[m] + x0;
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) store_vec<V>(out + n * L, acc[m][n], n == N - 1 ? t.tail : L, t.accumulate);
  }
}

/// Shape of the 2x-upsampled KxK convolution as four small convolutions. Output row 2i + p
/// reads the upsampled rows 2i + p - P .. 2i + p + P, i.e. the small rows i + floor((p - P) / 2)
/// onward: `taps` = P + 1 of them, several kernel rows summing onto one small row. Columns
/// likewise. The two phases of a direction together read `span` consecutive small rows
/// (columns), starting `pad` before row (column) i.
template <int K>
struct Up2Phases {
  static constexpr int P = K / 2;
  static constexpr int taps = P + 1;
  static constexpr int pad = (P + 1) / 2;
  /// First small offset of phase p, from the span's start.
  static constexpr int first(int p) { return (p - P >= 0 ? (p - P) / 2 : -((P - p + 1) / 2)) + pad; }
  static constexpr int span = first(1) + taps;
  /// Tap of phase p that kernel row (column) k lands on.
  static constexpr int tap_of(int p, int k) {
    const int d = p + k - P;  // upsampled offset; its small offset is floor(d / 2)
    const int small = d >= 0 ? d / 2 : -((1 - d) / 2);
    return small + pad - first(p);
  }
};

/// M output channels x N vectors of small-input columns of one output row of a KxK
/// convolution of the 2x upsampled input: both column phases at once, sharing the loads,
/// interleaved into the output row at the store. Per channel the rows are the `taps` small
/// rows of this row phase; weights per channel [row tap][px][column tap][PM].
template <class V, int K, int M, int N, int PM>
void conv_tile_up2(const Tile& t) {
  using vec = typename V::vec;
  using Ph = Up2Phases<K>;
  constexpr int L = V::lanes, T = Ph::taps, U = Ph::span;
  vec acc[2][M][N];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    const vec b = V::set1(t.bias[m]);
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) acc[0][m][n] = acc[1][m][n] = b;
  }
  const float* w = t.w;
  const float* const* rows = t.rows;
  const int x0 = t.x0, nrows = t.channels * T;
  for (int r = 0; r < nrows; ++r, w += 2 * T * PM) {
    const float* src = rows[r] + x0;
    pin_pointer(src);
    vec x[U][N];
#pragma GCC unroll 16
    for (int u = 0; u < U; ++u)
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) x[u][n] = V::load(src + n * L + u);
#pragma GCC unroll 2
    for (int px = 0; px < 2; ++px)
#pragma GCC unroll 8
      for (int s = 0; s < T; ++s)
#pragma GCC unroll 16
        for (int m = 0; m < M; ++m) {
          const vec b = V::broadcast(w + (px * T + s) * PM + m);
#pragma GCC unroll 16
          for (int n = 0; n < N; ++n) acc[px][m][n] = V::fmadd(b, x[Ph::first(px) + s][n], acc[px][m][n]);
        }
  }
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    float* out = t.out[m] + 2 * x0;
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) {
      vec lo, hi;
      V::interleave(acc[0][m][n], acc[1][m][n], lo, hi);
      const int valid = n == N - 1 ? 2 * t.tail : 2 * L;
      store_vec<V>(out + 2 * n * L, lo, imin(valid, L), t.accumulate);
      store_vec<V>(out + 2 * n * L + L, hi, valid - L, t.accumulate);
    }
  }
}

/// conv_tile_kxk<V, K, m, n, PM> for m <= M, n <= N.
template <class V, int K, int M, int N, int PM>
TileFn kxk_tile_fn(int m, int n) {
  if constexpr (M > 1) {
    if (m < M) return kxk_tile_fn<V, K, M - 1, N, PM>(m, n);
  }
  if constexpr (N > 1) {
    if (n < N) return kxk_tile_fn<V, K, M, N - 1, PM>(m, n);
  }
  return &conv_tile_kxk<V, K, M, N, PM>;
}

template <class V, int K, int M, int N, int PM>
TileFn up2_tile_fn(int m, int n) {
  if constexpr (M > 1) {
    if (m < M) return up2_tile_fn<V, K, M - 1, N, PM>(m, n);
  }
  if constexpr (N > 1) {
    if (n < N) return up2_tile_fn<V, K, M, N - 1, PM>(m, n);
  }
  return &conv_tile_up2<V, K, M, N, PM>;
}

/// Brings the input rows the next band fill reads into L2 while the current tiles run, a few
/// lines before each tile. The input arrives as one short run per channel, too many
/// interleaved streams for the hardware prefetchers, and fetching it all at fill time would
/// stall on the miss queue instead of overlapping with the arithmetic.
struct Prefetch {
  const float* base = nullptr;  ///< first channel's run
  size_t channel_stride = 0;
  int channels = 0, floats = 0;  ///< runs, and floats per run
  int c = 0, i = 0, per_step = 0;

  void start(const float* b, size_t stride, int nchannels, int nfloats) {
    base = b;
    channel_stride = stride;
    channels = nchannels;
    floats = nfloats;
    c = i = 0;
  }
  /// Spreads the lines over the next `steps` calls of step().
  void pace(int steps) {
    const long lines = static_cast<long>(channels - c) * div_up(floats, 16);
    per_step = steps > 0 ? static_cast<int>((lines + steps - 1) / steps) : 0;
  }
  void step() {
    for (int k = 0; k < per_step && c < channels; ++k) {
      __builtin_prefetch(base + c * channel_stride + i, 0, 2);
      i += 16;
      if (i >= floats) {
        i = 0;
        ++c;
      }
    }
  }
};

/// Output channels in blocks of M, the last one possibly narrower. (Evening the sizes out,
/// 16 = 6 + 5 + 5 rather than 6 + 6 + 4, measured slower: the 5-channel tile runs worse than
/// the 4-channel one.)
struct OcBlocks {
  int count, M, total;
  OcBlocks(int channels, int block) : count(div_up(channels, block)), M(block), total(channels) {}
  int first(int b) const { return b * M; }
  int size(int b) const { return imin(M, total - b * M); }
};

/// Tiles sweep_tiles runs for `width` columns.
template <class V, int M, int N>
inline int tile_count(int out_channels, int width) {
  return OcBlocks(out_channels, M).count * div_up(width, N * V::lanes);
}

/// Every output-channel block and column tile of one output row (t.rows, t.channels,
/// t.rows_per_channel set). `width` counts tile columns (input columns).
/// block_weights(b, oc0) addresses block b's weights; out_row(oc) channel oc's first row.
/// ahead.step() runs before each tile: a slice of the work that prepares the next sweep.
/// Blocks block_begin .. block_end (-1: all) only.
template <class V, int M, int N, class Ahead, class FnFor, class BlockWeights, class OutRow>
void sweep_tiles(Tile& t, const Conv2dArgs& a, int width, bool with_bias, bool accumulate, Ahead& ahead,
                 FnFor fn_for, BlockWeights block_weights, OutRow out_row, int block_begin = 0, int block_end = -1) {
  constexpr int L = V::lanes;
  constexpr int step = N * L;
  static_assert(M <= kMaxTileOc, "tile has more output channels than Tile holds");
  const int full_end = width / step * step;
  const int rem = width - full_end;
  const int rem_vecs = div_up(rem, L);
  const OcBlocks blocks(a.out_channels, M);
  t.accumulate = accumulate;
  for (int b = block_begin; b < (block_end < 0 ? blocks.count : block_end); ++b) {
    const int oc0 = blocks.first(b), m = blocks.size(b);
    t.w = block_weights(b, oc0);
    for (int i = 0; i < m; ++i) {
      t.out[i] = out_row(oc0 + i);
      t.bias[i] = with_bias && a.bias != nullptr ? a.bias[oc0 + i] : 0.0f;
    }
    const TileFn full = fn_for(m, N);
    t.tail = L;
    for (t.x0 = 0; t.x0 < full_end; t.x0 += step) {
      ahead.step();
      full(t);
    }
    if (rem > 0) {
      ahead.step();
      t.x0 = full_end;
      t.tail = rem - (rem_vecs - 1) * L;
      fn_for(m, rem_vecs)(t);
    }
  }
}

/// dst[0 .. n) = act(src[0 .. n)) for input channel c (a copy without in_scale).
template <class V>
inline void activate_row(float* dst, const float* src, int n, const Conv2dArgs& a, int c) {
  constexpr int L = V::lanes;
  int i = 0;
  if (a.in_scale == nullptr) {
    for (; i + L <= n; i += L) V::store(dst + i, V::load(src + i));
    for (; i < n; ++i) dst[i] = src[i];
    return;
  }
  const float s = a.in_scale[c], h = a.in_shift[c];
  const typename V::vec vs = V::set1(s), vh = V::set1(h), zero = V::zero();
  for (; i + L <= n; i += L) V::store(dst + i, V::max(V::fmadd(V::load(src + i), vs, vh), zero));
  for (; i < n; ++i) {
    const float y = src[i] * s + h;
    dst[i] = y > 0.0f ? y : 0.0f;
  }
}

/// out[0 .. n) (+)= columns x0 .. x0 + n of output row y of output channel oc of the residual
/// (a.residual, see kernels/conv2d.hpp), for an output out_w wide.
template <class V>
inline void add_residual_run(const Conv2dArgs& a, int out_w, int oc, int y, int x0, int n, float* out,
                             bool accumulate) {
  constexpr int L = V::lanes;
  int i = 0;
  if (!a.residual_upsample2x) {
    const float* src = a.residual + oc * residual_channel_stride(a) + static_cast<size_t>(y) * out_w + x0;
    for (; i + L <= n; i += L) {
      typename V::vec v = V::load(src + i);
      if (accumulate) v = V::add(v, V::load(out + i));
      V::store(out + i, v);
    }
    for (; i < n; ++i) out[i] = accumulate ? out[i] + src[i] : src[i];
    return;
  }
  const int small_w = out_w / 2;
  const float* src = a.residual + oc * residual_channel_stride(a) + static_cast<size_t>(y / 2) * small_w;
  if ((x0 & 1) != 0 && n > 0) {  // start the vectors on an even column, where a source value begins
    out[0] = accumulate ? out[0] + src[x0 / 2] : src[x0 / 2];
    i = 1;
  }
  for (; i + L <= n; i += L) {
    typename V::vec v = V::load_each_twice(src + (x0 + i) / 2);
    if (accumulate) v = V::add(v, V::load(out + i));
    V::store(out + i, v);
  }
  for (; i < n; ++i) out[i] = accumulate ? out[i] + src[(x0 + i) / 2] : src[(x0 + i) / 2];
}

/// Writes (or with a.accumulate adds) the residual into the whole output and returns the
/// arguments that accumulate the convolution onto it: the drivers other than the 1x1, where
/// the residual is a small share of the traffic.
template <class V>
inline Conv2dArgs residual_added_first(const Conv2dArgs& a) {
  const int out_h = a.upsample2x ? 2 * a.height : a.height, out_w = a.upsample2x ? 2 * a.width : a.width;
  const size_t out_stride = out_channel_stride(a);
  for (int oc = 0; oc < a.out_channels; ++oc)
    for (int y = 0; y < out_h; ++y)
      add_residual_run<V>(a, out_w, oc, y, 0, out_w, a.out + oc * out_stride + static_cast<size_t>(y) * out_w,
                          a.accumulate);
  Conv2dArgs rest = a;
  rest.residual = nullptr;
  rest.accumulate = true;
  return rest;
}

/// A ring of `ring` padded rows for each of input channels c0 .. c0 + channels. Padded row q
/// holds input row q - pad in slot q % ring (zeros where that row is padding, see
/// row_is_padding), with `pad` zero columns on the left and zeros from pad + width to the row
/// end, which covers the reads of a row's last partial vector.
template <class V>
struct RowBand {
  const Conv2dArgs& a;
  int c0, channels, ring, pad, stride;
  float* data;

  /// Row floats: the padded row plus one vector of slack, whole cache lines.
  static int stride_for(int width, int left, int right) { return round_up(width + left + right + V::lanes, 16); }

  float* slot(int c, int q) const { return data + (static_cast<size_t>(c) * ring + q % ring) * stride; }

  void fill(int q) const {
    const int iy = q - pad;
    const size_t plane = in_channel_stride(a);
    for (int c = 0; c < channels; ++c) {
      float* dst = slot(c, q);
      if (row_is_padding(a, iy)) {
        zero_floats(dst, stride);
        continue;
      }
      zero_floats(dst, pad);
      activate_row<V>(dst + pad, a.in + (c0 + c) * plane + static_cast<ptrdiff_t>(iy) * a.width, a.width, a, c0 + c);
      zero_floats(dst + pad + a.width, stride - pad - a.width);
    }
  }
};

/// Starts fetching input rows first .. first + count - 1 (clipped to the image) of the band's
/// channels.
template <class V>
inline void prefetch_rows(Prefetch& pf, const RowBand<V>& band, int first, int count) {
  const Conv2dArgs& a = band.a;
  const int lo = imax(first, 0), hi = imin(first + count, a.height);
  const size_t plane = in_channel_stride(a);
  if (lo >= hi) {
    pf.start(nullptr, 0, 0, 0);
    return;
  }
  pf.start(a.in + band.c0 * plane + static_cast<size_t>(lo) * a.width, plane, band.channels, (hi - lo) * a.width);
}

/// Input channels per pass: all of them unless one block's weights (per_channel_bytes each)
/// would crowd L2, then equal chunks that fit. More passes cost an output read-modify-write.
inline int channel_chunk(int channels, size_t per_channel_bytes) {
  constexpr size_t kBlockWeightBytes = 96 * 1024;
  const int fit = imax(8, static_cast<int>(kBlockWeightBytes / per_channel_bytes));
  if (channels <= fit) return imax(channels, 1);
  return div_up(channels, div_up(channels, fit));
}

/// Carves the thread's scratch buffer into 64-byte aligned pieces.
struct ScratchLayout {
  size_t bytes = 0;
  size_t add(size_t n) {
    const size_t at = bytes;
    bytes += (n + 63) / 64 * 64;
    return at;
  }
};

/// No-op ahead work for sweeps with nothing to prepare.
struct NothingAhead {
  void step() {}
};

/// Any odd K, stride 1, no upsampling; tiles of M channels x N vectors. Weights are read in
/// place: repacking them would cost as much as the arithmetic on small images.
///
/// Large images keep a ring of K rows and run all blocks per output row, so the input
/// streams once. Where the padded image of a chunk of channels fits in L2 next to a block's
/// weights (the deep, small layers, whose weights are the bigger operand) the whole image is
/// activated once and the blocks run outermost, so each block's weights are read once per
/// chunk instead of once per output row.
template <class V, int K, int M, int N>
void conv_kxk_rows(const Conv2dArgs& a) {
  constexpr int P = K / 2, KK = K * K;
  constexpr size_t kImageBytes = 320 * 1024;
  const int C = a.channels, H = a.height, W = a.width;
  const int stride = RowBand<V>::stride_for(W, P, P);
  const int padded_rows = H + K - 1;
  const size_t image_bytes_per_channel = static_cast<size_t>(padded_rows) * stride * sizeof(float);
  int chunk = channel_chunk(C, static_cast<size_t>(M) * KK * sizeof(float));
  const int image_chunk = static_cast<int>(kImageBytes / image_bytes_per_channel);
  const bool whole = padded_rows > K && image_chunk >= imin(C, 64);
  if (whole && image_chunk < chunk) chunk = div_up(C, div_up(C, image_chunk));
  const int ring = whole ? padded_rows : K;

  ScratchLayout layout;
  const size_t band_at = layout.add(static_cast<size_t>(chunk) * ring * stride * sizeof(float));
  const size_t rows_at = layout.add(static_cast<size_t>(chunk) * ring * sizeof(float*));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  const float** rows = reinterpret_cast<const float**>(scratch + rows_at);

  const size_t out_plane = out_channel_stride(a);
  const size_t filter = static_cast<size_t>(C) * KK;
  const OcBlocks blocks(a.out_channels, M);
  Tile t;
  t.rows_per_channel = ring;
  t.w_stride = filter;
  Prefetch pf;
  NothingAhead nothing;
  const int tiles = tile_count<V, M, N>(a.out_channels, W);
  for (int c0 = 0; c0 < C || c0 == 0; c0 += chunk) {
    const int cn = imin(chunk, C - c0);
    const RowBand<V> band{a, c0, cn, ring, P, stride, reinterpret_cast<float*>(scratch + band_at)};
    t.channels = cn;
    const auto fn_for = [](int m, int n) { return kxk_tile_fn<V, K, M, N, 0>(m, n); };
    const auto weights = [&](int, int oc0) { return a.weight + oc0 * filter + static_cast<size_t>(c0) * KK; };
    if (whole) {
      for (int q = 0; q < padded_rows; ++q) band.fill(q);
      for (int c = 0; c < cn; ++c)
        for (int q = 0; q < padded_rows; ++q) rows[c * ring + q] = band.slot(c, q);
      for (int b = 0; b < blocks.count; ++b)
        for (int y = 0; y < H; ++y) {
          t.rows = rows + y;
          sweep_tiles<V, M, N>(
              t, a, W, c0 == 0, a.accumulate || c0 > 0, nothing, fn_for, weights,
              [&](int oc) { return a.out + oc * out_plane + static_cast<size_t>(y) * W; }, b, b + 1);
        }
    } else {
      t.rows = rows;
      for (int q = 0; q < K - 1; ++q) band.fill(q);
      for (int y = 0; y < H; ++y) {
        // Output row y reads padded rows y .. y + K - 1; the slot refilled held row y - 1.
        band.fill(y + K - 1);
        for (int c = 0; c < cn; ++c)
          for (int j = 0; j < K; ++j) rows[c * ring + j] = band.slot(c, y + j);
        prefetch_rows(pf, band, y + K - P, 1);
        pf.pace(tiles);
        sweep_tiles<V, M, N>(t, a, W, c0 == 0, a.accumulate || c0 > 0, pf, fn_for, weights,
                             [&](int oc) { return a.out + oc * out_plane + static_cast<size_t>(y) * W; });
      }
    }
    if (C == 0) break;
  }
}

/// KxK on the 2x nearest upsampled input, as four convolutions of the small input.
template <class V, int K, int M, int N>
void conv_up2(const Conv2dArgs& a) {
  using Ph = Up2Phases<K>;
  constexpr int T = Ph::taps, U = Ph::span;
  constexpr int PER_ROW = 2 * T * M;  // packed floats per (channel, row tap)
  const int C = a.channels, OC = a.out_channels, h = a.height, w = a.width;
  const OcBlocks blocks(OC, M);
  const int chunk = channel_chunk(C, static_cast<size_t>(2) * T * PER_ROW * sizeof(float));
  const int stride = RowBand<V>::stride_for(w, Ph::pad, U - 1 - Ph::pad);

  ScratchLayout layout;
  const size_t packed_floats = static_cast<size_t>(blocks.count) * 2 * C * T * PER_ROW;
  const size_t packed_at = layout.add(packed_floats * sizeof(float));
  const size_t band_at = layout.add(static_cast<size_t>(chunk) * U * stride * sizeof(float));
  const size_t rows_at = layout.add(static_cast<size_t>(chunk) * T * sizeof(float*));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  float* packed = reinterpret_cast<float*>(scratch + packed_at);
  const float** rows = reinterpret_cast<const float**>(scratch + rows_at);

  // [block][py][channel][row tap][px][column tap][M]: kernel taps summed onto the small taps,
  // each phase's sums in registers and every packed float stored once. (Summed in place into
  // a zeroed buffer, the 128 -> 128 layer at 4x12, which packs 16 384 kernels on every call
  // for 48 small pixels, took 1.2x the time on an AVX-512 Xeon.)
  for (int b = 0; b < blocks.count; ++b)
    for (int c = 0; c < C; ++c)
      for (int m = 0; m < M; ++m) {
        const bool lane_used = m < blocks.size(b);
        const float* k = a.weight + (static_cast<size_t>(blocks.first(b) + (lane_used ? m : 0)) * C + c) * K * K;
        for (int py = 0; py < 2; ++py) {
          float sum[T][2][T] = {};
          if (lane_used)
            for (int ky = 0; ky < K; ++ky)
              for (int px = 0; px < 2; ++px)
                for (int kx = 0; kx < K; ++kx) sum[Ph::tap_of(py, ky)][px][Ph::tap_of(px, kx)] += k[ky * K + kx];
          float* pw = packed + ((static_cast<size_t>(b) * 2 + py) * C + c) * T * PER_ROW + m;
          for (int rt = 0; rt < T; ++rt)
            for (int px = 0; px < 2; ++px)
              for (int ct = 0; ct < T; ++ct) pw[((rt * 2 + px) * T + ct) * M] = sum[rt][px][ct];
        }
      }

  const int out_width = 2 * w;
  const size_t out_plane = out_channel_stride(a);
  Tile t;
  t.rows = rows;
  t.rows_per_channel = T;
  Prefetch pf;
  const int tiles = tile_count<V, M, N>(OC, w);
  for (int c0 = 0; c0 < C || c0 == 0; c0 += chunk) {
    const int cn = imin(chunk, C - c0);
    const RowBand<V> band{a, c0, cn, U, Ph::pad, stride, reinterpret_cast<float*>(scratch + band_at)};
    t.channels = cn;
    for (int q = 0; q < U - 1; ++q) band.fill(q);
    for (int i = 0; i < h; ++i) {
      // Padded row q holds small row q - pad; rows i .. i + span - 1 serve output rows 2i, 2i + 1.
      band.fill(i + U - 1);
      // Both row phases' tiles overlap the fetch of the next small row.
      prefetch_rows(pf, band, i + U - Ph::pad, 1);
      pf.pace(2 * tiles);
      for (int py = 0; py < 2; ++py) {
        for (int c = 0; c < cn; ++c)
          for (int r = 0; r < T; ++r) rows[c * T + r] = band.slot(c, i + Ph::first(py) + r);
        const int y = 2 * i + py;
        sweep_tiles<V, M, N>(
            t, a, w, c0 == 0, a.accumulate || c0 > 0, pf,
            [](int m, int n) { return up2_tile_fn<V, K, M, N, M>(m, n); },
            [&](int b, int) { return packed + ((static_cast<size_t>(b) * 2 + py) * C + c0) * T * PER_ROW; },
            [&](int oc) { return a.out + oc * out_plane + static_cast<size_t>(y) * out_width; });
      }
    }
    if (C == 0) break;
  }
}

/// One tile of the 1x1 convolution: M output channels x N vectors of a slice of the
/// flattened plane.
struct PointwiseTile {
  const float* in = nullptr;  ///< activated input at the tile's first column, channel 0
  ptrdiff_t in_stride = 0;    ///< between channels' rows of the activated slice
  int channels = 0;
  const float* w = nullptr;   ///< weight (first output channel, channel 0), in place
  ptrdiff_t w_stride = 0;     ///< between output channels' weights
  float* out = nullptr;       ///< output at the tile's first column, first output channel
  ptrdiff_t out_stride = 0;   ///< between output channels
  const float* bias = nullptr;  ///< M values
  int tail = 0;               ///< valid lanes of the last vector
  bool accumulate = false;
  /// Residual at the tile's first output, first output channel, or null; read for whole
  /// tiles only, and with residual_up2 from one row at half resolution (the tile's columns
  /// start even and lie in one output row) unless residual_vec is given.
  const float* residual = nullptr;
  ptrdiff_t residual_stride = 0;  ///< between output channels
  bool residual_up2 = false;
  /// With residual_up2, for tiles that span output rows: vector n's residual, first output
  /// channel (each vector lies in one output row).
  const float* const* residual_vec = nullptr;
  /// The same for tiles whose vectors span output rows: half h of vector n from
  /// residual_halves[2 n + h] (each half in one output row).
  const float* const* residual_halves = nullptr;
  /// If not null, the tile stores max(0, y * out_scale[m] + out_shift[m]) of each sum y
  /// (after the residual and what it accumulates onto): the next layer's activation.
  const float* out_scale = nullptr;
  const float* out_shift = nullptr;
  /// Whole vectors are written past the caches (V::stream; the output aligned to vectors).
  bool stream = false;
  /// For pointwise_tile<V, M, N, true>: the input's channel 0 at the tile's first column,
  /// rows raw_stride apart, and its batch norm: the tile computes with max(0, x in_scale[c] +
  /// in_shift[c]) of what it reads and writes that to `activated` (where `in` points, rows
  /// in_stride apart) for the output-channel blocks after it. It prefetches the input
  /// kActivatingPrefetchChannels channels ahead of the one it reads, and over its last
  /// channels the first ones of the next N vectors: the next tile that activates.
  const float* raw = nullptr;
  ptrdiff_t raw_stride = 0;
  float* activated = nullptr;
  const float* in_scale = nullptr;
  const float* in_shift = nullptr;

  /// A tile over `channels` input rows in_stride apart, weights (OC, channels) read in place,
  /// output rows out_stride apart.
  static PointwiseTile over(int channels, ptrdiff_t in_stride, ptrdiff_t out_stride) {
    PointwiseTile t;
    t.in_stride = in_stride;
    t.channels = channels;
    t.w_stride = channels;
    t.out_stride = out_stride;
    return t;
  }
};
using PointwiseFn = void (*)(const PointwiseTile&);

/// How far ahead, in channels, a tile that activates the 1x1's input prefetches it. The
/// input's planes are mostly a multiple of 4 KiB apart (128x384 floats: 192 KiB), so the
/// lines of one column in every channel fall into the same L1 set and, from 64x192 on, the
/// same few L2 sets: a slice of input fetched far ahead evicts itself before it is read.
/// A few channels ahead keeps the lines in flight below the ways of those sets. On one Zen 5
/// core, against prefetching two slices ahead between tiles: 64 -> 16 at 128x384 0.78x the
/// time, 128 -> 32 at 64x192 0.86x, 16 -> 32 at 256x768 0.89-0.97x, the rest level; 32
/// channels ahead: no better, and worse for 16 input channels.
constexpr int kActivatingPrefetchChannels = 16;

/// pin_pointer for an integer: keeps a loop-invariant offset in a register of its own.
template <class T>
inline void pin_value(T& v) {
#if defined(__GNUC__)
  asm volatile("" : "+r"(v));
#endif
}

/// The weights are read in place, each output channel's row through one shared pointer plus
/// a fixed offset: the pointer is made opaque every channel so the compiler addresses the M
/// rows as base + offset instead of stepping M separate pointers (M more adds per channel in
/// a loop that has few slots to spare besides its M x N FMAs).
template <class V, int M, int N, bool kActivates = false>
void pointwise_tile(const PointwiseTile& t) {
  using vec = typename V::vec;
  constexpr int L = V::lanes;
  vec acc[M][N];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    const vec b = V::set1(t.bias[m]);
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) acc[m][n] = b;
  }
  ptrdiff_t w_off[M];
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    w_off[m] = m * t.w_stride;
    pin_value(w_off[m]);
  }
  const float* x = t.in;
  const float* w = t.w;
  const ptrdiff_t xs = t.in_stride;
  const float* raw = t.raw;
  const ptrdiff_t raw_stride = t.raw_stride;
  float* activated = t.activated;
  const float* scale = t.in_scale;
  const float* shift = t.in_shift;
  // Prefetched as addresses, not pointers: the lines ahead of the plane's last tile lie past
  // the input, and tiles that do not activate have no input to step from.
  const int ahead_channels = imin(kActivatingPrefetchChannels, t.channels);
  const uintptr_t ahead_step = static_cast<uintptr_t>(raw_stride) * sizeof(float);
  uintptr_t ahead = reinterpret_cast<uintptr_t>(raw) + static_cast<uintptr_t>(ahead_channels) * ahead_step;
#pragma GCC unroll 2
  for (int c = 0; c < t.channels; ++c, x += xs, ++w) {
    pin_pointer(w);
    vec xv[N];
    if constexpr (kActivates) {
      if (c == t.channels - ahead_channels) ahead = reinterpret_cast<uintptr_t>(t.raw) + N * L * sizeof(float);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) __builtin_prefetch(reinterpret_cast<const void*>(ahead + n * L * sizeof(float)), 0, 2);
      ahead += ahead_step;
      const vec s = V::broadcast(scale + c), h = V::broadcast(shift + c);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) {
        xv[n] = V::max(V::fmadd(V::load(raw + n * L), s, h), V::zero());
        V::store(activated + n * L, xv[n]);
      }
      raw += raw_stride;
      activated += xs;
    } else {
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) xv[n] = V::load(x + n * L);
    }
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      const vec b = V::broadcast(w + w_off[m]);
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) acc[m][n] = V::fmadd(b, xv[n], acc[m][n]);
    }
  }
  if (t.residual_halves != nullptr) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m)
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n)
        acc[m][n] = V::add(acc[m][n], V::load_halves_each_twice(t.residual_halves[2 * n] + m * t.residual_stride,
                                                               t.residual_halves[2 * n + 1] + m * t.residual_stride));
  } else if (t.residual_vec != nullptr) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m)
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n)
        acc[m][n] = V::add(acc[m][n], V::load_each_twice(t.residual_vec[n] + m * t.residual_stride));
  } else if (t.residual != nullptr) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      const float* r = t.residual + m * t.residual_stride;
      if (t.residual_up2) {
#pragma GCC unroll 16
        for (int n = 0; n < N; ++n) acc[m][n] = V::add(acc[m][n], V::load_each_twice(r + n * L / 2));
        continue;
      }
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) acc[m][n] = V::add(acc[m][n], V::load(r + n * L));
    }
  }
  if (t.out_scale != nullptr) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      float* out = t.out + m * t.out_stride;
      const vec s = V::set1(t.out_scale[m]), h = V::set1(t.out_shift[m]), zero = V::zero();
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) {
        const int valid = n == N - 1 ? t.tail : L;
        vec y = acc[m][n];
        if (t.accumulate) y = V::add(y, valid == L ? V::load(out + n * L) : V::load_partial(out + n * L, valid));
        y = V::max(V::fmadd(y, s, h), zero);
        if (valid == L)
          V::store(out + n * L, y);
        else
          V::store_partial(out + n * L, y, valid);
      }
    }
    return;
  }
  if (t.stream) {
#pragma GCC unroll 16
    for (int m = 0; m < M; ++m) {
      float* out = t.out + m * t.out_stride;
#pragma GCC unroll 16
      for (int n = 0; n < N; ++n) {
        if (n == N - 1 && t.tail < L)
          V::store_partial(out + n * L, acc[m][n], t.tail);
        else
          V::stream(out + n * L, acc[m][n]);
      }
    }
    return;
  }
#pragma GCC unroll 16
  for (int m = 0; m < M; ++m) {
    float* out = t.out + m * t.out_stride;
#pragma GCC unroll 16
    for (int n = 0; n < N; ++n) store_vec<V>(out + n * L, acc[m][n], n == N - 1 ? t.tail : L, t.accumulate);
  }
}

/// pointwise_tile<V, m, n, kActivates> for m <= M, n <= N.
template <class V, int M, int N, bool kActivates = false>
PointwiseFn pointwise_tile_fn(int m, int n) {
  if constexpr (M > 1) {
    if (m < M) return pointwise_tile_fn<V, M - 1, N, kActivates>(m, n);
  }
  if constexpr (N > 1) {
    if (n < N) return pointwise_tile_fn<V, M, N - 1, kActivates>(m, n);
  }
  return &pointwise_tile<V, M, N, kActivates>;
}

/// Columns per slice of a 1x1 over `plane` columns of `channels` channels with tiles `step`
/// columns wide: 32 KiB of activated input (see conv_pointwise), whole tiles, at most the
/// plane rounded up to whole vectors.
template <class V>
inline int pointwise_slice(int channels, size_t plane, int step) {
  constexpr int kSliceFloats = 8192;
  const int slice = imax(step, kSliceFloats / imax(channels, 1) / step * step);
  return static_cast<size_t>(slice) > plane ? round_up(static_cast<int>(plane), V::lanes) : slice;
}

/// Rows of buf (stride apart) = act(columns first .. first + width) of every input channel's
/// plane (first < 0 in the halo above it), zeroed up to a whole vector.
template <class V>
inline void activate_slice(float* buf, int stride, const Conv2dArgs& a, ptrdiff_t first, int width) {
  const size_t in_plane = in_channel_stride(a);
  for (int c = 0; c < a.channels; ++c) {
    float* row = buf + static_cast<size_t>(c) * stride;
    activate_row<V>(row, a.in + c * in_plane + first, width, a, c);
    zero_floats(row + width, round_up(width, V::lanes) - width);
  }
}

/// 1x1 without upsampling: out(OC, P) = W(OC, C) act(in)(C, P) over the flattened plane, in
/// slices of columns. Each slice is activated into a small buffer that stays in L1 while every
/// output-channel block sweeps it, so the input is read from memory once and the output
/// written once. Where the tile has registers to spare (V::pointwise_activates_in_tile), the
/// first block's tiles activate the slice themselves, writing the buffer as they go, so those
/// loads and stores run beside its FMAs instead of in a pass of their own: AVX-512 on one Zen 4
/// core, min of 4 alternating runs, 128 -> 32 at 64x192 and 64 -> 16 at 128x384 0.94x the
/// time, the 1x1 layers of an IEA-GAN event 699 against 718 ms (sums of per-layer minima, 3
/// alternating runs), only 16 -> 64 at 128x384 over a whole tensor slower (1.06x). AVX2's
/// 4 x 3 tile has no registers left for the batch norm: up to 1.09x the time there. The tiles
/// add a residual as they store (or, where the plane ends in a partial tile, it is written
/// into the slice's output first). The planes are often a multiple of 4 KiB apart, so read in
/// place by every block each channel's run would fall into the same L1 sets; the copy packs
/// them. The C runs a slice reads are too many interleaved streams for the hardware
/// prefetchers: tiles that activate the input prefetch it a few channels ahead of what they
/// read (kActivatingPrefetchChannels); otherwise the tiles of each slice prefetch the input
/// of a slice further on. Activating is most of what separates this kernel from oneDNN's,
/// which is given its input already activated: on one Zen 5 core, 128 -> 32 at 64x192,
/// medians of 3 in 2 alternations, leaving out the batch norm's arithmetic took 0.96x the
/// time, reading the input from the buffer rather than the tensor 0.95x, both 0.92x, and no
/// activating at all 0.88x, as fast as oneDNN. (Planes padded 16 or 32 floats off 4 KiB, with
/// this prefetch or with the next slice's lines spread over every tile's channel loop, and
/// 12 x 2 tiles over 32-column slices were no faster; nor, on the shapes that add onto their
/// output, were the next tile's output lines prefetched, or all of a block's tiles in a
/// slice run by one call.)
/// (Prefetching its output too, for reading or for writing, cost 1-13 % on every 1x1 shape of
/// the IEA-GAN on Zen 1 and 1-2 % of the event: the output is written whole, and the lines
/// fetched for it only crowded the input's.) AVX2 tiles are 4 x 3: every channel count of the
/// models is a multiple of 4, where 6 x 2 left a 2-channel block on the 16- and 32-channel
/// outputs, and the upsampled residual is read half a vector at a time for any vector count
/// (IEA-GAN event on Zen 1: 0.976 and 0.991 of the 6 x 2 time, bit-identical). (Measured
/// slower: prefetching one line per channel step inside the tiles rather than a few lines
/// between tiles; activating channel groups at staggered slices so the lines waiting in L2
/// spread over more sets; prefetching the residual of later slices too (3-10 % slower on Zen 1:
/// the hardware prefetchers already follow its few runs); staging the output slice in a packed
/// buffer; slices of 1024, 2048, 4096, 16384 or 65536 floats. Against 4096, the 8192 of now
/// took 4 % less time over the 1x1 layers of an IEA-GAN event, most where the channels are many
/// and the runs per channel short. With the tiles activating the input, on one Zen 4 core: the
/// input channels in chunks whose slice and weights fit L1, 0.51-0.99x as fast on every 1x1
/// shape; 8 x 3 tiles for outputs in multiples of 8 channels, 0.86-1.0x; slices of 4096 or
/// 16384 floats, all layers of an event 2043 and 2022 ms against 2018; the input prefetched
/// into L1, its 1x1 layers 814 against 698 ms.)
/// An output of kStreamedOutputBytes or more that is written, not added to, is stored past
/// the caches (V::stream): it would leave them before anything reads it, and such a store
/// skips the read for ownership: on one Zen 4 core, outputs on cache lines, min of 36 runs,
/// 16 -> 32 at 256x768 (25 MB) 0.79x the time on AVX-512 and 0.91x on AVX2, 32 -> 64 at
/// 128x384 (12.6 MB) 0.80x and 0.85x. What counts is the tensor the output lies in, so a band
/// of rows written into a whole tensor that large streams too: the IEA-GAN's block outputs,
/// written 16 rows at a time and read by the next block only once whole. Their 32 -> 64 at
/// 128x384 took 84.5 ms an event instead of 95.7 (sums of per-layer minima, 4 alternating
/// runs); from 4 MiB rather than 8, 64 -> 128 at 64x192 (6.3 MB) 79.3 ms instead of 93.4 on
/// AVX-512 and 89.8 instead of 100.2 on AVX2, all layers 2092 against 2117 ms and 2375 against
/// 2393. From 2 MiB, 64 -> 256 at 32x96 (3.1 MB) gained as much as the block after it lost
/// reading it back (AVX2: 4 ms against 8). The bands the engine reads back soon lie in
/// windows smaller than that and keep plain stores.
constexpr size_t kStreamedOutputBytes = 4u << 20;
template <class V, int M, int N>
void conv_pointwise(const Conv2dArgs& a) {
  constexpr int L = V::lanes, step = N * L;
  constexpr int kAheadSlices = 2;
  const int C = a.channels, OC = a.out_channels;
  const size_t plane = static_cast<size_t>(a.height) * a.width;
  const int slice = pointwise_slice<V>(C, plane, step);
  const int stride = round_up(slice, 16);
  const OcBlocks blocks(OC, M);

  ScratchLayout layout;
  const size_t buf_at = layout.add(static_cast<size_t>(imax(C, 1)) * stride * sizeof(float));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  float* buf = reinterpret_cast<float*>(scratch + buf_at);

  const size_t out_plane = out_channel_stride(a);
  PointwiseTile t = PointwiseTile::over(C, stride, static_cast<ptrdiff_t>(out_plane));
  // The tiles add the residual as they store when every tile is whole (and, upsampled, each
  // vector or half vector lies in one output row; where tiles span rows, they read it through
  // a pointer per vector or per half); otherwise it is written into each slice's output
  // first. (The pointers against writing it first, IEA-GAN skips on one Zen 4 core, min of 12
  // runs: 64 -> 256 at 32x96 0.88-0.92x the time, 128 -> 256 at 16x48 0.93x; a pointer per
  // half where rows end mid-vector, AVX-512 rows of 24: 128 -> 512 at 8x24 0.85x, min of 36.)
  const bool residual_per_half = a.residual_upsample2x && a.width % L != 0 && a.width % (L / 2) == 0;
  const bool tiles_add_residual = a.residual != nullptr && plane % step == 0 &&
                                  (!a.residual_upsample2x || a.width % L == 0 || residual_per_half);
  const bool residual_per_vector = a.residual_upsample2x && a.width % step != 0;
  const float* residual_vec[N];
  const float* residual_half[2 * N];
  const bool prefill_residual = a.residual != nullptr && !tiles_add_residual;
  t.accumulate = a.accumulate || prefill_residual;
  t.residual_up2 = a.residual_upsample2x;
  t.stream = !t.accumulate && static_cast<size_t>(OC) * out_plane * sizeof(float) >= kStreamedOutputBytes &&
             reinterpret_cast<uintptr_t>(a.out) % (L * sizeof(float)) == 0 && out_plane % L == 0;
  const size_t in_plane = in_channel_stride(a), residual_plane = residual_channel_stride(a);
  const float zeros[kMaxTileOc] = {};
  const int tiles_per_slice = blocks.count * div_up(slice, step);
  const bool tiles_activate = V::pointwise_activates_in_tile && a.in_scale != nullptr;
  t.raw_stride = static_cast<ptrdiff_t>(in_plane);
  t.in_scale = a.in_scale;
  t.in_shift = a.in_shift;
  Prefetch in_ahead;
  for (size_t s0 = 0; s0 < plane; s0 += slice) {
    const int width = static_cast<int>(plane - s0 < static_cast<size_t>(slice) ? plane - s0 : slice);
    const int full_end = width / step * step, rem = width - full_end, rem_vecs = div_up(rem, L);
    if (!tiles_activate)
      activate_slice<V>(buf, stride, a, static_cast<ptrdiff_t>(s0), width);
    else if (rem > 0)
      activate_slice<V>(buf + full_end, stride, a, static_cast<ptrdiff_t>(s0 + full_end), rem);
    if (prefill_residual) {
      for (int oc = 0; oc < OC; ++oc)
        for (size_t p = s0; p < s0 + width;) {
          const int y = static_cast<int>(p / a.width), x = static_cast<int>(p % a.width);
          const int n = static_cast<int>(imin(a.width - x, static_cast<int>(s0 + width - p)));
          add_residual_run<V>(a, a.width, oc, y, x, n, a.out + oc * out_plane + p, a.accumulate);
          p += n;
        }
    }
    const size_t ahead = s0 + static_cast<size_t>(kAheadSlices) * slice;
    const int ahead_floats = ahead < plane && !tiles_activate ? static_cast<int>(imin(slice, static_cast<int>(plane - ahead))) : 0;
    in_ahead.start(a.in + ahead, in_plane, ahead_floats > 0 ? C : 0, ahead_floats);
    in_ahead.pace(tiles_per_slice);
    for (int b = 0; b < blocks.count; ++b) {
      const int oc0 = blocks.first(b), m = blocks.size(b);
      t.w = a.weight + static_cast<size_t>(oc0) * C;
      t.bias = a.bias != nullptr ? a.bias + oc0 : zeros;
      float* out = a.out + oc0 * out_plane + s0;
      PointwiseFn full = pointwise_tile_fn<V, M, N>(m, N);
      if constexpr (V::pointwise_activates_in_tile)
        if (tiles_activate && b == 0) full = pointwise_tile_fn<V, M, N, true>(m, N);
      t.tail = L;
      for (int x = 0; x < full_end; x += step) {
        in_ahead.step();
        t.in = t.activated = buf + x;
        t.raw = a.in + s0 + x;
        t.out = out + x;
        if (tiles_add_residual) {
          const size_t p = s0 + x;
          const auto up2_at = [&](size_t q) { return q / a.width / 2 * (a.width / 2) + q % a.width / 2; };
          t.residual = a.residual + oc0 * residual_plane + (a.residual_upsample2x ? up2_at(p) : p);
          t.residual_stride = static_cast<ptrdiff_t>(residual_plane);
          if (residual_per_half) {
            for (int h = 0; h < 2 * N; ++h) residual_half[h] = a.residual + oc0 * residual_plane + up2_at(p + h * L / 2);
            t.residual_halves = residual_half;
          } else if (residual_per_vector) {
            for (int n = 0; n < N; ++n) residual_vec[n] = a.residual + oc0 * residual_plane + up2_at(p + n * L);
            t.residual_vec = residual_vec;
          }
        }
        full(t);
      }
      if (rem > 0) {
        t.in = buf + full_end;
        t.out = out + full_end;
        t.tail = rem - (rem_vecs - 1) * L;
        pointwise_tile_fn<V, M, N>(m, rem_vecs)(t);
      }
    }
  }
  if (t.stream) V::fence();
}

/// The weights of the taps' 1x1, [tap][channel] (tap = oc K^2 + ky K + kx), from (taps / K^2,
/// channels, K, K).
inline void repack_tap_weights(const float* w, int taps, int channels, int kk, float* wt) {
  for (int tap = 0; tap < taps; ++tap)
    for (int c = 0; c < channels; ++c)
      wt[static_cast<size_t>(tap) * channels + c] = w[(static_cast<size_t>(tap / kk) * channels + c) * kk + tap % kk];
}

/// The taps' tiles over `width` activated columns at `in` (t.channels rows, t.in_stride apart),
/// into the tap rows at `out` (t.out_stride apart), weights from repack_tap_weights.
template <class V, int M, int N>
void sweep_taps(PointwiseTile& t, const float* wt, int taps, const float* in, int width, float* out, Prefetch& ahead) {
  constexpr int L = V::lanes, step = N * L;
  const int full_end = width / step * step, rem = width - full_end, rem_vecs = div_up(rem, L);
  for (int tap0 = 0; tap0 < taps; tap0 += M) {
    t.w = wt + static_cast<size_t>(tap0) * t.channels;
    float* tap_out = out + tap0 * t.out_stride;
    t.tail = L;
    for (int x = 0; x < full_end; x += step) {
      ahead.step();
      t.in = in + x;
      t.out = tap_out + x;
      pointwise_tile<V, M, N>(t);
    }
    if (rem > 0) {
      t.in = in + full_end;
      t.out = tap_out + full_end;
      t.tail = rem - (rem_vecs - 1) * L;
      pointwise_tile_fn<V, M, N>(M, rem_vecs)(t);
    }
  }
}

/// KxK convolution to one or two output channels, without upsampling, as a 1x1 convolution
/// to its OC x K x K taps followed by shifted sums: tap (oc, ky, kx) of input row y is
/// T(y)[oc, ky, kx, x] = sum_c w[oc, c, ky, kx] act(in)[c, y, x], and output row y sums
/// T(y + ky - P)[oc, ky, kx, x + kx - P]. Computed a row at a time into a ring of K tap rows,
/// zero-padded at both ends so the sums read past the image edge as the padding does.
/// The taps' 1x1 tiles share each input load among K weights and run at the FMA peak, where
/// a tile of one output channel loads shifted input vectors for every tap. On the 32 -> 1
/// layer that ends every BigGAN-deep generator (256 x 768, input read from memory) this took
/// 0.90-0.96x the time of those tiles on Zen 1; what remains is mostly the wait for the
/// input, 9 multiply-adds per float read.
template <class V, int K>
void conv_kxk_by_taps(const Conv2dArgs& a) {
  constexpr int L = V::lanes, P = K / 2, KK = K * K;
  constexpr int M = K, N = K == 3 ? 3 : 2;  // taps of one kernel row per tile
  constexpr int step = N * L;
  const int C = a.channels, H = a.height, W = a.width, OC = a.out_channels, taps = OC * KK;
  const int slice = pointwise_slice<V>(C, W, step);
  const int buf_stride = round_up(slice, 16);
  // A tap row: P zeros, W values, then zeros up to a whole vector past the last one read.
  const int tap_stride = round_up(W + 2 * P + L, 16);
  const size_t ring_row = static_cast<size_t>(taps) * tap_stride;

  ScratchLayout layout;
  const size_t w_at = layout.add(static_cast<size_t>(taps) * C * sizeof(float));
  const size_t buf_at = layout.add(static_cast<size_t>(imax(C, 1)) * buf_stride * sizeof(float));
  const size_t ring_at = layout.add(K * ring_row * sizeof(float));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  float* wt = reinterpret_cast<float*>(scratch + w_at);
  float* buf = reinterpret_cast<float*>(scratch + buf_at);
  float* ring = reinterpret_cast<float*>(scratch + ring_at);
  repack_tap_weights(a.weight, taps, C, KK, wt);
  zero_floats(ring, K * ring_row);

  const float zeros[kMaxTileOc] = {};
  PointwiseTile t = PointwiseTile::over(C, buf_stride, tap_stride);
  t.bias = zeros;
  const size_t in_plane = in_channel_stride(a), out_plane = out_channel_stride(a);
  const auto tap_row = [&](int y) { return ring + static_cast<size_t>((y + K) % K) * ring_row; };
  // The input rows arrive as C runs far apart: fetch those of a later row during the tiles.
  constexpr int kAheadRows = 2;
  Prefetch in_ahead;
  const int tiles_per_row = div_up(taps, M) * div_up(W, step);

  // Input rows from the first one an output row reads (a halo row, or row 0).
  for (int y_in = -imin(a.halo_above, P); y_in < H + P; ++y_in) {
    if (!row_is_padding(a, y_in)) {
      const int ahead = y_in + kAheadRows;
      in_ahead.start(a.in + static_cast<ptrdiff_t>(ahead) * W, in_plane, row_is_padding(a, ahead) ? 0 : C, W);
      in_ahead.pace(tiles_per_row);
      float* taps_out = tap_row(y_in) + P;
      for (int s0 = 0; s0 < W; s0 += slice) {
        const int width = imin(slice, W - s0);
        activate_slice<V>(buf, buf_stride, a, static_cast<ptrdiff_t>(y_in) * W + s0, width);
        sweep_taps<V, M, N>(t, wt, taps, buf, width, taps_out + s0, in_ahead);
      }
    }
    const int y = y_in - P;
    if (y < 0) continue;
    for (int oc = 0; oc < OC; ++oc) {
      float* out = a.out + oc * out_plane + static_cast<size_t>(y) * W;
      const typename V::vec bias = V::set1(a.bias != nullptr ? a.bias[oc] : 0.0f);
      for (int x = 0; x < W; x += L) {
        typename V::vec sum = bias;
        for (int ky = 0; ky < K; ++ky) {
          const int ys = y + ky - P;
          if (row_is_padding(a, ys)) continue;
          const float* tr = tap_row(ys) + static_cast<size_t>(oc * KK + ky * K) * tap_stride + x;
#pragma GCC unroll 5
          for (int kx = 0; kx < K; ++kx) sum = V::add(sum, V::load(tr + static_cast<size_t>(kx) * tap_stride + kx));
        }
        store_vec<V>(out + x, sum, imin(L, W - x), a.accumulate);
      }
    }
  }
}

/// conv1x1_then_kxk (kernels/conv2d.hpp) to one or two output channels. Per row of the band,
/// in column slices: the 1x1's tiles write act(x) into a slice buffer that stays in L1
/// (adding the residual and applying act as they store: 0.93x the time of a pass of its own
/// over the buffer, min of 12 runs), and the taps' tiles of conv_kxk_by_taps turn it into the
/// K x K tap rows of that row; once the row is whole, each output row it reaches gets its
/// shifted taps added. So x never leaves L1, and the band needs no rows of x around it (its
/// K - 1 rows of taps beyond each end go to the output rows of the bands beside it, which add
/// theirs). On the IEA-GAN tail (16 -> 32 with
/// the upsampled skip, into 32 -> 1 3x3; bench_conv2d tail/, one Zen 4 core) this took
/// 0.71-0.73x the time of the two convolutions apart on a whole 256 x 768 image, and about
/// the same on one 16-row band in cache; over an event, 0.92-0.97x (5 alternating pairs).
/// As in conv_pointwise, the first block's tiles activate the input slice where they can:
/// 0.965x the time of a pass of its own on the 16-row band, 0.977x on the whole image (AVX-512,
/// min of 5 alternating runs).
template <class V, int K>
void conv1x1_then_taps(const Conv1x1ThenKxkArgs& a) {
  constexpr int L = V::lanes, P = K / 2, KK = K * K;
  constexpr int M1 = V::pointwise_oc, N1 = V::pointwise_vecs, step1 = N1 * L;
  // Taps of one kernel row per tile. All nine taps in one 9 x 2 tile (AVX-512), and 8 x 3 or
  // 4 x 6 tiles for the 1x1, measured no faster on the IEA-GAN tail (bench_conv2d tail/, one
  // Zen 4 core, 3 alternating runs each: within the runs' spread).
  constexpr int M2 = K, N2 = K == 3 ? 3 : 2, step2 = N2 * L;
  const Conv2dArgs& f = a.first;
  const int C = f.channels, X = f.out_channels, H = f.height, W = f.width, taps = a.out_channels * KK;
  const int slice = pointwise_slice<V>(C + X, W, step1);
  const int buf_stride = round_up(slice, 16);
  const int tap_stride = round_up(W + 2 * P + L, 16);  // P zeros, W taps, zeros past the last read

  ScratchLayout layout;
  const size_t w_at = layout.add(static_cast<size_t>(taps) * X * sizeof(float));
  const size_t in_at = layout.add(static_cast<size_t>(imax(C, 1)) * buf_stride * sizeof(float));
  const size_t x_at = layout.add(static_cast<size_t>(imax(X, 1)) * buf_stride * sizeof(float));
  const size_t taps_at = layout.add(static_cast<size_t>(taps) * tap_stride * sizeof(float));
  char* scratch = static_cast<char*>(kernel_scratch(layout.bytes));
  float* wt = reinterpret_cast<float*>(scratch + w_at);
  float* in_buf = reinterpret_cast<float*>(scratch + in_at);
  float* x_buf = reinterpret_cast<float*>(scratch + x_at);
  float* tap_rows = reinterpret_cast<float*>(scratch + taps_at);
  repack_tap_weights(a.weight, taps, X, KK, wt);
  zero_floats(tap_rows, static_cast<size_t>(taps) * tap_stride);

  const float zeros[kMaxTileOc] = {};
  const OcBlocks blocks(X, M1);
  PointwiseTile t1 = PointwiseTile::over(C, buf_stride, buf_stride);
  t1.residual_stride = static_cast<ptrdiff_t>(residual_channel_stride(f));
  t1.residual_up2 = f.residual_upsample2x;
  const bool tiles_activate = V::pointwise_activates_in_tile && f.in_scale != nullptr;  // see conv_pointwise
  t1.raw_stride = static_cast<ptrdiff_t>(in_channel_stride(f));
  t1.in_scale = f.in_scale;
  t1.in_shift = f.in_shift;
  PointwiseTile t2 = PointwiseTile::over(X, buf_stride, tap_stride);
  t2.bias = zeros;
  const size_t in_plane = in_channel_stride(f), out_plane = a.out_channel_stride != 0 ? a.out_channel_stride
                                                                                       : static_cast<size_t>(H) * W;
  // The input rows arrive as C runs far apart: fetch those of a later row during the tiles,
  // unless the tiles activate it and prefetch it themselves (see kActivatingPrefetchChannels;
  // on the 256 x 768 tail, one Zen 5 core: 0.87-0.98x the time of doing both).
  constexpr int kAheadRows = 2;
  Prefetch in_ahead;
  const int tiles_per_row = (blocks.count * div_up(slice, step1) + div_up(taps, M2) * div_up(slice, step2)) *
                            div_up(W, slice);

  for (int y = 0; y < H; ++y) {
    const int ahead = y + kAheadRows;
    in_ahead.start(f.in + static_cast<ptrdiff_t>(ahead) * W, in_plane, ahead < H && !tiles_activate ? C : 0, W);
    in_ahead.pace(tiles_per_row);
    for (int s0 = 0; s0 < W; s0 += slice) {
      const int width = imin(slice, W - s0);
      const int full1 = width / step1 * step1, rem1 = width - full1, rem_vecs1 = div_up(rem1, L);
      const ptrdiff_t first = static_cast<ptrdiff_t>(y) * W + s0;
      if (!tiles_activate)
        activate_slice<V>(in_buf, buf_stride, f, first, width);
      else if (rem1 > 0)
        activate_slice<V>(in_buf + full1, buf_stride, f, first + full1, rem1);
      // act(x) of the slice: the 1x1, its residual added by the whole tiles as they store and
      // written first under the last, partial one.
      for (int b = 0; b < blocks.count; ++b) {
        const int oc0 = blocks.first(b), m = blocks.size(b);
        t1.w = f.weight + static_cast<size_t>(oc0) * C;
        t1.bias = f.bias != nullptr ? f.bias + oc0 : zeros;
        if (a.scale != nullptr) {  // the tiles store act(x)
          t1.out_scale = a.scale + oc0;
          t1.out_shift = a.shift + oc0;
        }
        float* out = x_buf + static_cast<size_t>(oc0) * buf_stride;
        PointwiseFn full = pointwise_tile_fn<V, M1, N1>(m, N1);
        if constexpr (V::pointwise_activates_in_tile)
          if (tiles_activate && b == 0) full = pointwise_tile_fn<V, M1, N1, true>(m, N1);
        t1.tail = L;
        t1.accumulate = false;
        for (int x = 0; x < full1; x += step1) {
          in_ahead.step();
          t1.in = t1.activated = in_buf + x;
          t1.raw = f.in + first + x;
          t1.out = out + x;
          t1.residual = nullptr;
          if (f.residual != nullptr) {
            const int col = s0 + x;
            t1.residual = f.residual + static_cast<size_t>(oc0) * t1.residual_stride +
                          (f.residual_upsample2x ? static_cast<size_t>(y / 2) * (W / 2) + col / 2
                                                 : static_cast<size_t>(y) * W + col);
          }
          full(t1);
        }
        if (rem1 > 0) {
          t1.in = in_buf + full1;
          t1.out = out + full1;
          t1.tail = rem1 - (rem_vecs1 - 1) * L;
          t1.residual = nullptr;
          if (f.residual != nullptr) {
            for (int i = 0; i < m; ++i)
              add_residual_run<V>(f, W, oc0 + i, y, s0 + full1, rem1, out + static_cast<size_t>(i) * buf_stride + full1,
                                  false);
            t1.accumulate = true;
          }
          pointwise_tile_fn<V, M1, N1>(m, rem_vecs1)(t1);
        }
      }
      sweep_taps<V, M2, N2>(t2, wt, taps, x_buf, width, tap_rows + P + s0, in_ahead);
    }
    // Output row y + P - ky gets kernel row ky: out[x] += sum_kx taps(ky, kx)[x + kx - P].
    for (int oc = 0; oc < a.out_channels; ++oc)
      for (int ky = 0; ky < K; ++ky) {
        const int r = y + P - ky;
        if (r < -a.rows_above || r >= H + a.rows_below) continue;
        float* out = a.out + oc * out_plane + static_cast<ptrdiff_t>(r) * W;
        const float* tr = tap_rows + static_cast<size_t>(oc * KK + ky * K) * tap_stride;
        const typename V::vec bias = V::set1(ky == P && a.bias != nullptr ? a.bias[oc] : 0.0f);
        for (int x = 0; x < W; x += L) {
          typename V::vec sum = bias;
#pragma GCC unroll 5
          for (int kx = 0; kx < K; ++kx) sum = V::add(sum, V::load(tr + static_cast<size_t>(kx) * tap_stride + x + kx));
          store_vec<V>(out + x, sum, imin(L, W - x), true);
        }
      }
  }
}

/// conv1x1_then_kxk on V: one or two output channels of a 3x3 or 5x5 here, others by the
/// reference.
template <class V>
void conv1x1_then_kxk_tiled(const Conv1x1ThenKxkArgs& a) {
  const Conv2dArgs& f = a.first;
  if (f.height <= 0 || f.width <= 0 || a.out_channels <= 0) return;
  if (f.kernel != 1 || f.upsample2x || a.out_channels > 2) return conv1x1_then_kxk_f32_ref(a);
  if (a.kernel == 3) return conv1x1_then_taps<V, 3>(a);
  if (a.kernel == 5) return conv1x1_then_taps<V, 5>(a);
  conv1x1_then_kxk_f32_ref(a);
}

/// Picks the tile shape for a KxK convolution without upsampling.
template <class V, int K>
void conv_kxk_direct(const Conv2dArgs& a) {
  if (a.out_channels <= 2)
    conv_kxk_by_taps<V, K>(a);
  else if (a.width <= V::short_vecs * V::lanes && a.width > V::wide_vecs * V::lanes)
    conv_kxk_rows<V, K, V::short_oc, V::short_vecs>(a);
  else
    conv_kxk_rows<V, K, V::wide_oc, V::wide_vecs>(a);
}

// Defined in conv2d_winograd.hpp, included at the end of this file.
enum class WinogradTile { none, f2x3, f4x3, up2_3x3_f2x2, up2_5x5_f2x3, f2x5, f2x3_by_oc };
template <class V>
WinogradTile winograd_tile_for(const Conv2dArgs& a);
template <class V>
void conv_winograd(const Conv2dArgs& a, WinogradTile tile);
template <class V>
bool upsamples_first(const Conv2dArgs& a);
template <class V>
Conv2dArgs upsampled_first(const Conv2dArgs& a);

/// The convolution by the direct tiles; kernels other than 1, 3, 5 go to the reference.
template <class V>
void conv_direct(const Conv2dArgs& a) {
  switch (a.kernel * 2 + (a.upsample2x ? 1 : 0)) {
    case 2: return conv_pointwise<V, V::pointwise_oc, V::pointwise_vecs>(a);
    case 3: return conv_up2<V, 1, V::up_oc, V::up_vecs>(a);
    case 6: return conv_kxk_direct<V, 3>(a);
    case 7: return conv_up2<V, 3, V::up_oc, V::up_vecs>(a);
    case 10: return conv_kxk_direct<V, 5>(a);
    case 11: return conv_up2<V, 5, V::up_oc, V::up_vecs>(a);
    default: return conv2d_fused_f32_ref(a);
  }
}

/// The fused convolution on V: Winograd where it measured faster, else the direct tiles.
template <class V>
void conv2d_fused_tiled(const Conv2dArgs& a) {
  if (a.out_channels <= 0 || a.height <= 0 || a.width <= 0) return;
  if (a.residual != nullptr && (a.kernel != 1 || a.upsample2x)) return conv2d_fused_tiled<V>(residual_added_first<V>(a));
  if (upsamples_first<V>(a)) return conv2d_fused_tiled<V>(upsampled_first<V>(a));
  const WinogradTile tile = winograd_tile_for<V>(a);
  if (tile != WinogradTile::none) return conv_winograd<V>(a, tile);
  conv_direct<V>(a);
}

/// The fused convolution by `algorithm` whatever the shape (for the tests and benchmarks; see
/// entry_points.hpp).
template <class V>
void conv_forced(const Conv2dArgs& a, ConvAlgorithm algorithm) {
  if (a.out_channels <= 0 || a.height <= 0 || a.width <= 0) return;
  if (a.residual != nullptr && (a.kernel != 1 || a.upsample2x)) return conv_forced<V>(residual_added_first<V>(a), algorithm);
  WinogradTile tile = WinogradTile::none;
  const bool plain_3x3 = a.kernel == 3 && !a.upsample2x;
  if (algorithm == ConvAlgorithm::winograd_f2x3 && plain_3x3) tile = WinogradTile::f2x3;
  if (algorithm == ConvAlgorithm::winograd_f4x3 && plain_3x3) tile = WinogradTile::f4x3;
  if (algorithm == ConvAlgorithm::winograd_up2 && a.upsample2x && a.kernel == 3) tile = WinogradTile::up2_3x3_f2x2;
  if (algorithm == ConvAlgorithm::winograd_up2 && a.upsample2x && a.kernel == 5) tile = WinogradTile::up2_5x5_f2x3;
  if (algorithm == ConvAlgorithm::winograd_f2x5 && a.kernel == 5 && !a.upsample2x) tile = WinogradTile::f2x5;
  if (algorithm == ConvAlgorithm::winograd_f2x3_by_oc && plain_3x3 && a.out_channels % V::lanes == 0)
    tile = WinogradTile::f2x3_by_oc;
  if (tile == WinogradTile::none) return conv_direct<V>(a);
  conv_winograd<V>(a, tile);
}

}  // namespace
}  // namespace pxdgen::kernels::x86

#include "kernels/x86/conv2d_winograd.hpp"
