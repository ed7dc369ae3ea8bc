// The fast fused convolutions against conv2d_fused_f32_ref, on every ISA this CPU runs.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/conv2d.hpp"

#if defined(__x86_64__) || defined(__i386__)
#define PXDGEN_TEST_X86 1
// GCC warns that 64-byte vector arguments (SimdPortable16 below) need AVX-512 for their ABI;
// every function taking them is internal to this unit.
#pragma GCC diagnostic ignored "-Wpsabi"
#include "kernels/x86/conv2d_fused_tiled.hpp"
#include "kernels/x86/entry_points.hpp"
#endif

namespace k = pxdgen::kernels;

namespace {

#if defined(PXDGEN_TEST_X86)
/// The shared kernel body on 16 plain lanes (GCC vector extensions, lowered to the baseline
/// ISA): runs the 16-lane tiling, row tails and phase interleave the AVX-512 build uses on any
/// CPU, so that logic is checked even where AVX-512 cannot run. Small tile shapes (with the
/// AVX-512 column counts) keep this unit quick to compile.
struct SimdPortable16 {
  typedef float vec __attribute__((vector_size(64)));
  static constexpr int lanes = 16;
  static constexpr int wide_oc = 3, wide_vecs = 2;
  static constexpr int short_oc = 2, short_vecs = 3;
  static constexpr int up_oc = 2, up_vecs = 2;
  static constexpr int pointwise_oc = 2, pointwise_vecs = 3;
  static constexpr bool pointwise_activates_in_tile = true;
  static constexpr int gemm_oc = 3, gemm_vecs = 3;
  static constexpr int gemm_deep_vecs = 2, gemm_deep_channels = 32;  // both GEMM tiles run
  static constexpr int by_oc_tiles = 5, by_oc_vecs = 2;
  static constexpr size_t winograd_band_bytes = 256 * 1024;
  static constexpr int winograd_up2_min_channels = 16;

  static vec set1(float x) {
    vec r = {};
    return r + x;
  }
  static vec zero() { return vec{}; }
  static vec load(const float* p) {
    vec r;
    std::memcpy(&r, p, sizeof r);
    return r;
  }
  static void store(float* p, const vec& v) { std::memcpy(p, &v, sizeof v); }
  static inline size_t streamed = 0;  ///< vectors stored by stream()
  static void stream(float* p, const vec& v) {
    REQUIRE(reinterpret_cast<uintptr_t>(p) % sizeof v == 0);
    store(p, v);
    ++streamed;
  }
  static void fence() {}
  static vec broadcast(const float* p) { return set1(*p); }
  static vec fmadd(const vec& a, const vec& b, const vec& c) { return a * b + c; }
  static vec add(const vec& a, const vec& b) { return a + b; }
  static vec sub(const vec& a, const vec& b) { return a - b; }
  static vec max(const vec& a, const vec& b) { return a > b ? a : b; }
  static vec load_partial(const float* p, int n) {
    vec r = {};
    std::memcpy(&r, p, sizeof(float) * n);
    return r;
  }
  static void store_partial(float* p, const vec& v, int n) { std::memcpy(p, &v, sizeof(float) * n); }
  static vec load_each_twice(const float* p) {
    vec r;
    for (int i = 0; i < 16; ++i) r[i] = p[i / 2];
    return r;
  }
  static vec load_halves_each_twice(const float* lo, const float* hi) {
    vec r;
    for (int i = 0; i < 16; ++i) r[i] = i < 8 ? lo[i / 2] : hi[(i - 8) / 2];
    return r;
  }
  static void interleave(const vec& even, const vec& odd, vec& lo, vec& hi) {
    for (int i = 0; i < 8; ++i) {
      lo[2 * i] = even[i];
      lo[2 * i + 1] = odd[i];
      hi[2 * i] = even[8 + i];
      hi[2 * i + 1] = odd[8 + i];
    }
  }
  static void deinterleave(const vec& lo, const vec& hi, vec& even, vec& odd) {
    for (int i = 0; i < 8; ++i) {
      even[i] = lo[2 * i];
      odd[i] = lo[2 * i + 1];
      even[8 + i] = hi[2 * i];
      odd[8 + i] = hi[2 * i + 1];
    }
  }
  static void split4(const float* p, vec (&phase)[4]) {
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 16; ++i) phase[j][i] = p[4 * i + j];
  }
};

void conv2d_fused_portable16(const k::Conv2dArgs& a) { k::x86::conv2d_fused_tiled<SimdPortable16>(a); }
#endif

using ConvFn = void (*)(const k::Conv2dArgs&);

struct Shape;
/// Times tolerance(shape) for one implementation on one shape.
using ToleranceScale = double (*)(const Shape&);
double dispatched_scale(const Shape& s);

struct Impl {
  const char* name;
  ConvFn fn;
  bool runs;  ///< this CPU has the ISA
  ToleranceScale scale = dispatched_scale;
};

std::vector<Impl> implementations() {
  std::vector<Impl> v;
#if defined(PXDGEN_TEST_X86)
  v.push_back({"avx2", k::x86::conv2d_fused_f32_avx2,
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")});
  v.push_back({"avx512f", k::x86::conv2d_fused_f32_avx512, static_cast<bool>(__builtin_cpu_supports("avx512f"))});
  v.push_back({"portable16", conv2d_fused_portable16, true});
#endif
  v.push_back({"dispatch", k::conv2d_fused_f32, true});
  return v;
}

enum class Residual { none, same_size, upsampled };

struct Shape {
  int channels, height, width, out_channels, kernel;
  bool upsample, act, accumulate, bias;
  Residual residual = Residual::none;
};

std::string describe(const Shape& s) {
  char buf[160];
  const char* residual = s.residual == Residual::none ? "" : s.residual == Residual::same_size ? " res" : " res-up2";
  std::snprintf(buf, sizeof buf, "%d->%d %dx%d k%d%s%s%s%s%s", s.channels, s.out_channels, s.height, s.width, s.kernel,
                s.upsample ? " up2" : "", s.act ? " act" : "", s.accumulate ? " acc" : "", s.bias ? " bias" : "", residual);
  return buf;
}

/// Unit-scale data: weights ~ 1/sqrt(fan-in), so outputs are O(1) like in the trained nets.
/// With a margin, the input and the residual are the middle rows of taller tensors whose
/// other rows hold NaN, so the convolution reads them as a band (with channel strides) and
/// any read outside the band shows in the output.
struct Problem {
  Shape s;
  int margin = 0;  ///< rows above and below each plane of in and residual
  std::vector<float> in, scale, shift, weight, bias, out0, residual;

  Problem(const Shape& shape, unsigned seed, int margin_rows = 0) : s(shape), margin(margin_rows) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](std::vector<float>& v, size_t n, float sd, float mean = 0.0f) {
      v.resize(n);
      for (float& e : v) e = mean + sd * normal(rng);
    };
    const int k = s.kernel;
    fill(in, static_cast<size_t>(s.channels) * s.height * s.width, 1.0f);
    fill(scale, s.channels, 0.5f, 1.0f);
    fill(shift, s.channels, 0.5f);
    fill(weight, static_cast<size_t>(s.out_channels) * s.channels * k * k,
         1.0f / std::sqrt(static_cast<float>(std::max(1, s.channels * k * k))));
    fill(bias, s.out_channels, 0.3f);
    fill(out0, out_size(), 1.0f);  // what accumulate adds to
    if (s.residual != Residual::none)
      fill(residual, s.residual == Residual::upsampled ? out_size() / 4 : out_size(), 1.0f);
    in = in_band(in, s.height, s.width);
    if (!residual.empty()) residual = in_band(residual, residual_height(), residual_width());
  }

  int residual_height() const { return (s.upsample ? 2 : 1) * s.height / (s.residual == Residual::upsampled ? 2 : 1); }
  int residual_width() const { return (s.upsample ? 2 : 1) * s.width / (s.residual == Residual::upsampled ? 2 : 1); }

  /// Packed planes of h x w -> planes of h + 2 margin rows, the margin rows NaN.
  std::vector<float> in_band(const std::vector<float>& packed, int h, int w) const {
    if (margin == 0) return packed;
    const size_t plane = static_cast<size_t>(h) * w, tall = plane + 2 * static_cast<size_t>(margin) * w;
    std::vector<float> v(packed.size() / plane * tall, std::numeric_limits<float>::quiet_NaN());
    for (size_t c = 0; c < packed.size() / plane; ++c)
      std::copy_n(packed.begin() + static_cast<ptrdiff_t>(c * plane), plane,
                  v.begin() + static_cast<ptrdiff_t>(c * tall + static_cast<size_t>(margin) * w));
    return v;
  }

  size_t out_size() const {
    const int f = s.upsample ? 2 : 1;
    return static_cast<size_t>(s.out_channels) * f * s.height * f * s.width;
  }

  k::Conv2dArgs args(float* out) const {
    k::Conv2dArgs a;
    a.in = in.data() + static_cast<size_t>(margin) * s.width;
    if (margin > 0) a.in_channel_stride = static_cast<size_t>(s.height + 2 * margin) * s.width;
    a.channels = s.channels;
    a.height = s.height;
    a.width = s.width;
    a.in_scale = s.act ? scale.data() : nullptr;
    a.in_shift = s.act ? shift.data() : nullptr;
    a.upsample2x = s.upsample;
    a.weight = weight.data();
    a.bias = s.bias ? bias.data() : nullptr;
    a.out_channels = s.out_channels;
    a.kernel = s.kernel;
    a.out = out;
    a.accumulate = s.accumulate;
    a.residual = s.residual != Residual::none ? residual.data() + static_cast<size_t>(margin) * residual_width() : nullptr;
    a.residual_upsample2x = s.residual == Residual::upsampled;
    if (margin > 0) a.residual_channel_stride = static_cast<size_t>(residual_height() + 2 * margin) * residual_width();
    return a;
  }

  /// The output starts on a cache line, so the 1x1 may store past the caches (it does so only
  /// there). Guard words after it catch stores past its end.
  std::vector<float> run(ConvFn fn) const {
    constexpr size_t kLine = 16;
    std::vector<float> buffer(out0.size() + 64 + kLine, 12345.0f);
    const size_t first = (kLine - reinterpret_cast<uintptr_t>(buffer.data()) / sizeof(float) % kLine) % kLine;
    std::copy(out0.begin(), out0.end(), buffer.begin() + static_cast<ptrdiff_t>(first));
    fn(args(buffer.data() + first));
    return std::vector<float>(buffer.begin() + static_cast<ptrdiff_t>(first),
                              buffer.begin() + static_cast<ptrdiff_t>(first + out0.size() + 64));
  }
};

struct Errors {
  double abs = 0, rel = 0;
  bool guard_ok = true;

  void add(const std::vector<float>& got, const std::vector<float>& want, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const double d = std::abs(static_cast<double>(got[i]) - want[i]);
      abs = std::max(abs, std::isnan(d) ? 1e30 : d);
      rel = std::max(rel, (std::isnan(d) ? 1e30 : d) / std::max(1.0, std::abs(static_cast<double>(want[i]))));
    }
    for (size_t i = n; i < got.size(); ++i) guard_ok = guard_ok && got[i] == 12345.0f;
  }
  void merge(const Errors& e) {
    abs = std::max(abs, e.abs);
    rel = std::max(rel, e.rel);
    guard_ok = guard_ok && e.guard_ok;
  }
};

/// Bound on |fast - ref| / max(1, |ref|) (relative on unit-scale outputs, absolute near zero).
/// Both sides sum in float32 in different orders, so the bound grows like the square root of
/// the number of terms past the 3x3 x 128 channel layers.
double tolerance(const Shape& s) {
  const double terms = static_cast<double>(s.channels) * s.kernel * s.kernel;
  return 1e-5 * std::max(1.0, std::sqrt(terms / 1152.0));
}

/// F(4x4, 3x3) and F(2x2, 5x5), on six points, are checked with 5 times tolerance(): their
/// transforms scale by up to 8 (F(2x2, 5x5): 5) and their weights round sixths (F(4x4, 3x3):
/// errors up to 3e-5 at 128 channels, 3 times the direct kernels' bound). F(2x2, 3x3) and the
/// direct kernels with tolerance() itself.
constexpr double kSixPointScale = 5.0;
double unit_scale(const Shape&) { return 1.0; }
double six_point_scale(const Shape&) { return kSixPointScale; }

/// For the entries that pick the algorithm by shape: the six-point factor on the shapes the
/// x86 entries run by it.
double dispatched_scale(const Shape& s) {
#if defined(PXDGEN_TEST_X86)
  k::Conv2dArgs a;
  a.channels = s.channels;
  a.height = s.height;
  a.width = s.width;
  a.out_channels = s.out_channels;
  a.kernel = s.kernel;
  a.upsample2x = s.upsample;
  // The ISAs differ only in where the upsampled 3x3 takes Winograd, whose error needs no factor.
  const k::x86::WinogradTile tile = k::x86::winograd_tile_for<SimdPortable16>(a);
  if (tile == k::x86::WinogradTile::f4x3 || tile == k::x86::WinogradTile::f2x5) return kSixPointScale;
#endif
  return unit_scale(s);
}

/// Each Winograd tile alone, whatever the dispatcher would pick: F(2x2, 3x3) and F(4x4, 3x3)
/// for the plain 3x3, F(2x2, 2x2) or F(2x2, 3x3) per phase for the upsampled 3x3 or 5x5,
/// F(2x2, 5x5) for the plain 5x5.
std::vector<Impl> winograd_implementations() {
  std::vector<Impl> v;
#if defined(PXDGEN_TEST_X86)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  using Algorithm = k::x86::ConvAlgorithm;
  v.push_back({"F(2x2,3x3) avx2", [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx2(a, Algorithm::winograd_f2x3); },
               avx2, unit_scale});
  v.push_back({"F(4x4,3x3) avx2", [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx2(a, Algorithm::winograd_f4x3); },
               avx2, six_point_scale});
  v.push_back({"up2 Winograd avx2",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx2(a, Algorithm::winograd_up2); }, avx2,
               unit_scale});
  v.push_back({"F(2x2,5x5) avx2", [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx2(a, Algorithm::winograd_f2x5); },
               avx2, six_point_scale});
  v.push_back({"F(2x2,3x3) avx512f",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx512(a, Algorithm::winograd_f2x3); }, avx512,
               unit_scale});
  v.push_back({"F(4x4,3x3) avx512f",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx512(a, Algorithm::winograd_f4x3); }, avx512,
               six_point_scale});
  v.push_back({"up2 Winograd avx512f",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx512(a, Algorithm::winograd_up2); }, avx512,
               unit_scale});
  v.push_back({"F(2x2,5x5) avx512f",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx512(a, Algorithm::winograd_f2x5); }, avx512,
               six_point_scale});
  v.push_back({"F(2x2,3x3) by oc avx2",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx2(a, Algorithm::winograd_f2x3_by_oc); }, avx2,
               unit_scale});
  v.push_back({"F(2x2,3x3) by oc avx512f",
               [](const k::Conv2dArgs& a) { k::x86::conv2d_forced_f32_avx512(a, Algorithm::winograd_f2x3_by_oc); },
               avx512, unit_scale});
  // Through the same forcing template as the ISA entries.
  v.push_back({"F(2x2,3x3) portable16",
               [](const k::Conv2dArgs& a) { k::x86::conv_forced<SimdPortable16>(a, Algorithm::winograd_f2x3); }, true,
               unit_scale});
  v.push_back({"F(4x4,3x3) portable16",
               [](const k::Conv2dArgs& a) { k::x86::conv_forced<SimdPortable16>(a, Algorithm::winograd_f4x3); }, true,
               six_point_scale});
  v.push_back({"up2 Winograd portable16",
               [](const k::Conv2dArgs& a) { k::x86::conv_forced<SimdPortable16>(a, Algorithm::winograd_up2); },
               true, unit_scale});
  v.push_back({"F(2x2,5x5) portable16",
               [](const k::Conv2dArgs& a) { k::x86::conv_forced<SimdPortable16>(a, Algorithm::winograd_f2x5); }, true,
               six_point_scale});
  v.push_back({"F(2x2,3x3) by oc portable16",
               [](const k::Conv2dArgs& a) { k::x86::conv_forced<SimdPortable16>(a, Algorithm::winograd_f2x3_by_oc); },
               true, unit_scale});
#endif
  return v;
}

/// Runs every shape on every implementation in `impls` (inputs drawn from seeds first_seed
/// onward), checks each against the reference on packed tensors and reports the worst error
/// per implementation. With a margin, the inputs are read as bands (see Problem), by the
/// reference too, which must then give exactly what it gives on the packed ones.
void check_shapes(const char* what, const std::vector<Shape>& shapes, const std::vector<Impl>& impls = implementations(),
                  unsigned first_seed = 1, int margin = 0) {
  std::vector<Errors> worst(impls.size());
  unsigned seed = first_seed;
  for (const Shape& s : shapes) {
    const Problem p(s, seed, margin);
    const auto want = Problem(s, seed++).run(k::conv2d_fused_f32_ref);
    if (margin > 0) {
      INFO(describe(s));
      CHECK(p.run(k::conv2d_fused_f32_ref) == want);
    }
    for (size_t i = 0; i < impls.size(); ++i) {
      if (!impls[i].runs) continue;
      Errors e;
      e.add(p.run(impls[i].fn), want, p.out_size());
      CAPTURE(impls[i].name);
      INFO(describe(s));
      CHECK(e.guard_ok);
      CHECK(e.rel <= impls[i].scale(s) * tolerance(s));
      worst[i].merge(e);
    }
  }
  for (size_t i = 0; i < impls.size(); ++i) {
    if (!impls[i].runs) {
      const std::string skipped = std::string(what) + ": " + impls[i].name + " skipped, this CPU lacks it";
      MESSAGE(skipped);
      continue;
    }
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: %-21s %zu shapes, max abs err %.3g, max rel err %.3g", what, impls[i].name,
                  shapes.size(), worst[i].abs, worst[i].rel);
    MESSAGE(buf);
  }
}

}  // namespace

TEST_CASE("fused conv: the dispatcher names an ISA this CPU has") {
  const std::string isa = k::conv2d_fused_f32_isa();
  CHECK((isa == "ref" || isa == "avx2" || isa == "avx512f"));
#if defined(PXDGEN_TEST_X86)
  if (isa == "avx512f") CHECK(__builtin_cpu_supports("avx512f"));
  if (isa == "avx2") CHECK(__builtin_cpu_supports("avx2"));
#endif
  MESSAGE("conv2d_fused_f32 runs " << isa);
}

TEST_CASE("fused conv: every flag combination for kernels 1, 3, 5") {
  // Sizes and channel counts rotate through the combinations so each flag set meets a few
  // tails (widths not a multiple of 8 / 16 / 24 / 48, channel counts off the tile).
  const int sizes[][2] = {{5, 7}, {3, 13}, {4, 12}, {7, 50}, {2, 3}, {6, 33}};
  const int chans[][2] = {{1, 1}, {3, 5}, {8, 16}, {13, 17}, {17, 32}, {32, 5}, {16, 13}};
  std::vector<Shape> shapes;
  int i = 0;
  for (int kernel : {1, 3, 5})
    for (int up = 0; up < 2; ++up)
      for (int act = 0; act < 2; ++act)
        for (int acc = 0; acc < 2; ++acc)
          for (int bias = 0; bias < 2; ++bias)
            for (int rep = 0; rep < 2; ++rep, ++i) {
              const auto* sz = sizes[i % 6];
              const auto* ch = chans[i % 7];
              shapes.push_back({ch[0], sz[0], sz[1], ch[1], kernel, up != 0, act != 0, acc != 0, bias != 0});
            }
  check_shapes("flags", shapes);
}

TEST_CASE("fused conv: channel counts in and out") {
  std::vector<Shape> shapes;
  int i = 0;
  for (int kernel : {1, 3, 5})
    for (int up = 0; up < 2; ++up)
      for (int c : {1, 3, 8, 13, 16, 17, 32, 64})
        for (int oc : {1, 5, 16, 32}) {
          ++i;
          shapes.push_back({c, 5, 7, oc, kernel, up != 0, true, i % 2 == 0, i % 3 != 0});
        }
  check_shapes("channels", shapes);
}

TEST_CASE("fused conv: odd image sizes") {
  std::vector<Shape> shapes;
  const int sizes[][2] = {{1, 1}, {1, 9}, {9, 1}, {2, 3}, {3, 13}, {5, 7}, {7, 5}, {11, 23}, {4, 25}, {3, 47}, {2, 49}, {3, 97}};
  for (int kernel : {1, 3, 5})
    for (int up = 0; up < 2; ++up)
      for (const auto& sz : sizes) shapes.push_back({3, sz[0], sz[1], 5, kernel, up != 0, true, false, true});
  check_shapes("sizes", shapes);
}

TEST_CASE("fused conv: production shapes") {
  const std::vector<Shape> shapes = {
      {16, 64, 192, 16, 3, true, true, false, true},    // IEA-GAN up block, 16 ch
      {32, 32, 96, 32, 3, false, true, false, true},    // 32 ch hidden 3x3
      {64, 16, 48, 64, 3, true, true, false, true},     // 64 ch up block
      {128, 8, 24, 128, 3, false, true, false, true},   // 128 ch hidden 3x3
      {128, 4, 12, 128, 3, false, true, false, true},   // deepest 3x3, 12 columns
      {128, 4, 12, 128, 3, true, true, false, true},    // deepest up block, upsampled first
      {64, 64, 192, 16, 1, false, true, false, true},   // 1x1 channel drop
      {16, 64, 192, 32, 1, false, true, true, true},    // 1x1 back up, residual add
      {16, 64, 192, 1, 3, false, true, false, true},    // final 3x3 to one image
      {512, 8, 24, 64, 5, false, false, false, true},   // WGAN 5x5, wide input (64 of 512 outputs)
      {64, 32, 96, 32, 5, false, false, false, true},   // WGAN 5x5
      {32, 64, 192, 1, 5, false, false, false, true},   // WGAN last 5x5 to one image
  };
  check_shapes("production", shapes);
}

TEST_CASE("fused conv: 1x1 column slices and their tails") {
  // The 1x1 kernel sweeps the flattened plane in slices whose width depends on the channel
  // count; these planes end mid-slice and mid-vector, and span several slices.
  const std::vector<Shape> shapes = {
      {64, 37, 29, 16, 1, false, true, false, true},   // 1073 pixels over 64-column slices
      {16, 41, 33, 32, 1, false, true, true, true},    // 1353 pixels, residual add
      {13, 23, 61, 7, 1, false, true, true, false},    // channel counts off the tiles
      {128, 9, 25, 20, 1, false, false, false, true},  // narrow slices, no activation
      {512, 8, 24, 130, 1, false, true, false, true},  // deep input, output block tail
      {130, 8, 24, 512, 1, false, true, true, true},   // wide output, residual add
      {3, 1, 4099, 5, 1, false, true, true, true},     // one long row
  };
  check_shapes("1x1 slices", shapes);
}

TEST_CASE("fused conv: 1x1 outputs large enough to be stored past the caches") {
  // Written, not added to, and at least kStreamedOutputBytes: the whole vectors are streamed.
  const std::vector<Shape> shapes = {
      {16, 256, 256, 32, 1, false, true, false, true, Residual::upsampled},  // whole tiles add the skip
      {16, 17, 3856, 32, 1, false, true, false, true},  // the plane ends in a tile of one vector
  };
#if defined(PXDGEN_TEST_X86)
  SimdPortable16::streamed = 0;
#endif
  check_shapes("1x1 streamed", shapes);
#if defined(PXDGEN_TEST_X86)
  CHECK(SimdPortable16::streamed > 0);
#endif
}

TEST_CASE("fused conv: one or two output channels, by their taps") {
  // KxK to 1 or 2 channels runs as a 1x1 to the K x K taps per input row, then shifted sums:
  // rows that span several column slices and end mid-tile, single rows and columns, the
  // image edges where the taps read the zero margins, and the output added to.
  std::vector<Shape> shapes;
  const int sizes[][2] = {{1, 1}, {1, 70}, {9, 1}, {3, 97}, {6, 300}, {2, 771}};
  int i = 0;
  for (int kernel : {3, 5})
    for (int oc : {1, 2})
      for (const auto& sz : sizes) {
        ++i;
        shapes.push_back({i % 3 == 0 ? 64 : 5, sz[0], sz[1], oc, kernel, false, i % 2 == 0, i % 4 == 1, i % 5 != 0});
      }
  shapes.push_back({32, 12, 768, 1, 3, false, true, false, true});  // the BigGAN-deep output layer, 12 rows
  check_shapes("taps", shapes);
}

TEST_CASE("fused conv: residual added, at the output size and upsampled from half of it") {
  constexpr Residual same = Residual::same_size, up = Residual::upsampled;
  std::vector<Shape> shapes;
  int i = 0;
  // Every driver (the 1x1 slices add it themselves, the others first) with each flag.
  for (int kernel : {1, 3, 5})
    for (int upsample = 0; upsample < 2; ++upsample)
      for (Residual r : {same, up})
        for (int acc = 0; acc < 2; ++acc, ++i)
          shapes.push_back({i % 2 == 0 ? 13 : 16, 6, 10, i % 3 == 0 ? 5 : 16, kernel, upsample != 0, true, acc != 0,
                            i % 4 != 0, r});
  // 1x1 slices that end mid-row and mid-vector (the residual written first), long rows, whole
  // tiles (the tiles add it), the IEA-GAN skips.
  shapes.push_back({16, 40, 34, 32, 1, false, true, false, true, up});   // 1360 pixels, 256-column slices
  shapes.push_back({64, 38, 50, 16, 1, false, true, true, true, up});    // 64-column slices across rows
  shapes.push_back({3, 2, 4100, 5, 1, false, true, false, true, up});    // rows longer than a slice
  shapes.push_back({3, 3, 4099, 5, 1, false, true, true, true, same});   // odd row, one vector's tail
  shapes.push_back({16, 8, 48, 24, 1, false, true, true, true, up});     // whole tiles: added as they store
  shapes.push_back({16, 6, 32, 24, 1, false, true, false, true, up});    // tiles across rows: a pointer a vector
  shapes.push_back({16, 8, 24, 40, 1, false, true, false, true, up});    // vectors across rows: a pointer a half (16 lanes)
  shapes.push_back({16, 4, 12, 24, 1, false, true, true, true, up});     // the same on 8 lanes
  shapes.push_back({128, 8, 24, 512, 1, false, true, false, true, up});  // the IEA-GAN's 8x24 skip
  shapes.push_back({24, 12, 96, 20, 1, false, true, true, false, up});
  shapes.push_back({16, 8, 48, 24, 1, false, true, true, false, same});
  shapes.push_back({16, 64, 192, 32, 1, false, true, false, true, up});  // last block of a stage, 1/16 scale
  shapes.push_back({16, 64, 192, 64, 1, false, true, false, true, same});  // first block of a stage
  check_shapes("residual", shapes);
  // The forced Winograd entries add it too.
  check_shapes("residual winograd",
               {{32, 16, 48, 32, 3, false, true, false, true, up},
                {16, 12, 20, 24, 3, false, true, true, true, same},
                {16, 8, 24, 16, 3, true, true, false, true, same},
                {16, 8, 24, 24, 5, true, true, true, true, same},
                {16, 10, 26, 16, 5, false, true, true, true, up}},
               winograd_implementations(), 2000);
}

TEST_CASE("fused conv: input and residual read as bands of taller tensors") {
  constexpr Residual none = Residual::none, same = Residual::same_size, up = Residual::upsampled;
  constexpr int margin = 3;
  check_shapes("band",
               {{16, 8, 48, 24, 1, false, true, false, true, up},       // 1x1 whole tiles add the residual
                {16, 6, 32, 24, 1, false, true, true, true, up},        // and across rows
                {16, 6, 34, 32, 1, false, true, true, true, up},        // 1x1 residual written first
                {13, 6, 10, 5, 1, false, true, false, false, same},
                {16, 36, 96, 32, 1, false, true, false, true, up},      // the IEA-GAN tail's conv4, 1/8 wide
                {32, 36, 96, 1, 3, false, true, false, true, none},     // and its output layer
                {8, 6, 10, 16, 3, false, true, true, true, same},
                {8, 6, 10, 16, 3, true, true, false, true, up},
                {8, 6, 10, 16, 5, true, true, false, true, none},
                {8, 6, 10, 4, 5, false, false, false, true, none}},
               implementations(), 3000, margin);
  check_shapes("band winograd",
               {{32, 16, 48, 32, 3, false, true, false, true, up},
                {16, 8, 24, 16, 3, true, true, false, true, same},
                {16, 8, 24, 24, 5, true, true, true, true, none},
                {16, 9, 24, 20, 5, false, true, false, true, none}},
               winograd_implementations(), 3100, margin);
}

/// fn over the image in bands of `band` input rows, each reading up to `halo` rows of the
/// whole input above and below it as its halo and writing its rows of the whole output (and
/// reading those of the residual) through the channel strides. `band` is even, so that every
/// band starts on a row of its own of an upsampled residual.
std::vector<float> run_in_bands(const Problem& p, ConvFn fn, int band, int halo) {
  const Shape& s = p.s;
  const int f = s.upsample ? 2 : 1, out_w = f * s.width;
  const size_t out_plane = static_cast<size_t>(f * s.height) * out_w;
  std::vector<float> out(p.out0);
  out.resize(p.out0.size() + 64, 12345.0f);
  for (int r0 = 0; r0 < s.height; r0 += band) {
    const int r1 = std::min(s.height, r0 + band);
    k::Conv2dArgs a = p.args(out.data());
    a.in += static_cast<size_t>(r0) * s.width;
    a.height = r1 - r0;
    a.in_channel_stride = static_cast<size_t>(s.height) * s.width;
    a.halo_above = std::min(halo, r0);
    a.halo_below = std::min(halo, s.height - r1);
    a.out += static_cast<size_t>(f * r0) * out_w;
    a.out_channel_stride = out_plane;
    if (s.residual == Residual::same_size) {
      a.residual += static_cast<size_t>(f * r0) * out_w;
      a.residual_channel_stride = out_plane;
    } else if (s.residual == Residual::upsampled) {
      a.residual += static_cast<size_t>(f * r0 / 2) * (out_w / 2);
      a.residual_channel_stride = out_plane / 4;
    }
    fn(a);
  }
  return out;
}

TEST_CASE("fused conv: bands with a halo give the rows of the whole tensor") {
  // Each band reads real rows above and below it instead of zero padding, so the bands
  // together make what one call on the whole input makes: the reference bit for bit, the
  // fast kernels within their tolerance. With a halo narrower than the kernel's reach, the
  // rows past it are padding, for the reference and the fast kernels alike.
  constexpr Residual none = Residual::none, same = Residual::same_size, up = Residual::upsampled;
  const std::vector<Shape> shapes = {
      {16, 12, 40, 32, 1, false, true, false, true, up},   // 1x1, the tiles add an upsampled skip
      {13, 10, 26, 16, 1, false, true, true, true, same},
      {8, 11, 21, 16, 3, false, true, true, true, none},    // direct 3x3 rows
      {8, 11, 21, 16, 3, true, true, false, true, up},      // direct 3x3 of the upsampled input
      {8, 9, 13, 12, 5, false, true, false, true, same},    // direct 5x5
      {8, 9, 13, 12, 5, true, false, true, true, none},
      {32, 10, 50, 1, 3, false, true, false, true, none},   // by taps: the output layers
      {5, 9, 70, 2, 5, false, true, true, true, none},
      {16, 14, 96, 16, 3, false, true, false, true, none},  // F(4x4, 3x3)
      {32, 10, 40, 32, 3, false, true, true, true, same},   // F(2x2, 3x3)
      {16, 10, 64, 16, 3, true, true, false, true, up},     // upsampled Winograd
      {16, 9, 24, 24, 5, true, true, true, true, none},
      {16, 9, 24, 20, 5, false, true, false, true, none},   // F(2x2, 5x5)
  };
  std::vector<Impl> impls = implementations();
  for (const Impl& w : winograd_implementations()) impls.push_back(w);
  std::vector<Errors> worst(impls.size());
  unsigned seed = 4000;
  for (const Shape& s : shapes) {
    INFO(describe(s));
    const Problem p(s, seed++);
    const auto whole = p.run(k::conv2d_fused_f32_ref);
    for (int band : {2, 4, 6}) {
      CAPTURE(band);
      CHECK(run_in_bands(p, k::conv2d_fused_f32_ref, band, 2) == whole);
      const auto narrow = run_in_bands(p, k::conv2d_fused_f32_ref, band, 1);
      for (size_t i = 0; i < impls.size(); ++i) {
        if (!impls[i].runs) continue;
        CAPTURE(impls[i].name);
        Errors e;
        e.add(run_in_bands(p, impls[i].fn, band, 2), whole, p.out_size());
        Errors n;
        n.add(run_in_bands(p, impls[i].fn, band, 1), narrow, p.out_size());
        e.merge(n);
        CHECK(e.guard_ok);
        CHECK(e.rel <= impls[i].scale(s) * tolerance(s));
        worst[i].merge(e);
      }
    }
  }
  for (size_t i = 0; i < impls.size(); ++i) {
    if (!impls[i].runs) continue;
    char buf[200];
    std::snprintf(buf, sizeof buf, "halo bands: %-21s %zu shapes, max abs err %.3g, max rel err %.3g", impls[i].name,
                  shapes.size(), worst[i].abs, worst[i].rel);
    MESSAGE(buf);
  }
}

TEST_CASE("fused conv: several threads at once, each with its own buffers") {
  const Shape shapes[] = {{16, 20, 48, 16, 3, true, true, false, true},
                          {32, 17, 40, 13, 3, false, true, true, false},
                          {24, 9, 30, 32, 1, false, true, false, true},
                          {8, 12, 20, 5, 5, false, true, false, true}};
  std::vector<Problem> problems;
  std::vector<std::vector<float>> want;
  unsigned seed = 100;
  for (const Shape& s : shapes) {
    problems.emplace_back(s, seed++);
    want.push_back(problems.back().run(k::conv2d_fused_f32_ref));
  }
  std::vector<std::vector<float>> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      // Different shapes per thread make each thread's scratch grow at different times.
      for (int rep = 0; rep < 5; ++rep) got[t] = problems[(t + rep) % 4].run(k::conv2d_fused_f32);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) {
    const int pi = (t + 4) % 4;
    Errors e;
    e.add(got[t], want[pi], problems[pi].out_size());
    CAPTURE(t);
    CHECK(e.guard_ok);
    CHECK(e.rel <= dispatched_scale(shapes[pi]) * tolerance(shapes[pi]));
  }
}

TEST_CASE("fused conv: Winograd on sizes, channels and flags") {
  // Odd heights and widths (a last tile half outside the image), widths off the vector and
  // tile multiples, 1 to 3 rows, channel counts off the GEMM's output block; 3x3 and 5x5,
  // plain and upsampled (the entries for another kind of shape run direct).
  const int sizes[][2] = {{1, 1}, {1, 9}, {2, 3}, {3, 13}, {5, 7}, {7, 5}, {2, 17}, {3, 33}, {9, 31}, {11, 50}, {6, 48}};
  const int chans[] = {1, 3, 16, 17, 32, 64, 128};
  std::vector<Shape> shapes;
  int i = 0;
  for (const auto& sz : sizes)
    for (int c : chans) {
      const int oc = chans[(i * 3 + 1) % 7];
      ++i;
      for (bool up : {false, true}) shapes.push_back({c, sz[0], sz[1], oc, 3, up, i % 2 == 0, i % 3 == 0, i % 4 != 1});
      for (bool up : {false, true}) shapes.push_back({c, sz[0], sz[1], oc, 5, up, i % 2 == 1, i % 3 == 1, i % 4 != 2});
    }
  for (int act = 0; act < 2; ++act)
    for (int acc = 0; acc < 2; ++acc)
      for (int bias = 0; bias < 2; ++bias) shapes.push_back({17, 3, 21, 13, 3, false, act != 0, acc != 0, bias != 0});
  check_shapes("winograd", shapes, winograd_implementations(), 1000);
}

TEST_CASE("fused conv: Winograd on production shapes, in bands") {
  // Tall and wide enough that the image is processed in several bands of tile rows.
  const std::vector<Shape> shapes = {
      {16, 64, 192, 16, 3, false, true, false, true},
      {32, 33, 97, 32, 3, false, true, true, true},
      {64, 16, 48, 64, 3, false, true, false, true},
      {128, 8, 24, 128, 3, false, true, false, true},
      {128, 4, 12, 128, 3, false, true, true, false},
      {16, 64, 192, 16, 3, true, true, false, true},
      {32, 32, 96, 32, 3, true, true, true, true},
      {64, 16, 48, 64, 3, true, true, false, true},
      {128, 4, 12, 128, 3, true, true, false, true},
      {32, 64, 96, 16, 5, true, true, false, true},   // the WGAN ConvNet's 5x5 of the upsampled input
      {128, 16, 48, 64, 5, true, true, true, true},
      {512, 8, 24, 256, 5, true, true, false, true},
      {512, 8, 24, 512, 5, false, false, false, true},  // the WGAN ConvNet's first 5x5
      {32, 64, 192, 16, 5, false, true, true, true},
  };
  check_shapes("winograd production", shapes, winograd_implementations(), 1000);
}

TEST_CASE("fused conv: weights prepared once give what the per-call transform gives") {
  // Shapes that run by each Winograd tile (F(2x2, 3x3), F(4x4, 3x3), F(2x2, 5x5), the
  // upsampled 3x3 and 5x5, F(2x2, 3x3) over output channels, the small upsampled 3x3 by
  // F(2x2, 3x3) of its input upsampled first), some with a partial last register block of
  // output channels and odd sizes; then shapes that run direct, with nothing to prepare.
  const std::vector<Shape> kept = {
      {128, 8, 24, 128, 3, false, true, false, true},
      {32, 33, 97, 17, 3, false, true, true, true},
      {64, 16, 48, 64, 3, true, true, false, false},
      {32, 8, 24, 16, 5, true, true, false, true},
      {17, 9, 31, 13, 5, true, false, true, true},
      {128, 16, 48, 64, 5, true, true, true, false},
      {64, 8, 24, 64, 5, false, false, false, true},
      {20, 9, 27, 17, 5, false, true, true, true},
      {128, 4, 12, 128, 3, false, true, true, true},  // F(2x2, 3x3) over output channels
      {64, 3, 13, 64, 3, false, true, false, true},
      {128, 4, 12, 128, 3, true, true, false, true},  // upsampled first, then F(2x2, 3x3)
      {64, 3, 13, 64, 3, true, true, true, true},     // the same, odd sizes
  };
  const std::vector<Shape> none = {
      {32, 8, 24, 16, 1, false, true, false, true},
      {32, 256, 64, 1, 3, false, true, false, true},  // one output channel
      {128, 4, 12, 40, 3, false, true, false, true},  // too few tiles, and output channels
      {32, 2, 3, 16, 5, true, true, false, true},
      {32, 4, 12, 16, 5, false, true, false, true},  // too few tiles
  };
  const auto run = [](const Problem& p, ConvFn fn, const k::PreparedView& view) {
    std::vector<float> out(p.out0);
    k::Conv2dArgs a = p.args(out.data());
    a.prepared = view;
    fn(a);
    return out;
  };
  unsigned seed = 7000;
  double worst = 0;
  const bool fast = std::string(k::conv2d_fused_f32_isa()) != "ref";
  k::TensorArena arena;
  for (const Shape& s : kept) {
    INFO(describe(s));
    const Problem p(s, seed++);
    const k::PreparedView w = k::conv2d_prepare_f32(p.args(nullptr), arena);
    CHECK((w.floats == 0) != fast);
    const auto per_call = run(p, k::conv2d_fused_f32, {});
    CHECK(run(p, k::conv2d_fused_f32, w) == per_call);
    // A view that does not fit these channels is ignored, not read.
    k::PreparedView short_view = w;
    if (short_view.floats > 0) short_view.floats -= 1;
    CHECK(run(p, k::conv2d_fused_f32, short_view) == per_call);
    Errors e;
    e.add(run(p, k::conv2d_fused_f32, w), p.run(k::conv2d_fused_f32_ref), p.out_size());
    CHECK(e.rel <= dispatched_scale(s) * tolerance(s));
    worst = std::max(worst, e.rel);
  }
  for (const Shape& s : none) {
    INFO(describe(s));
    const Problem p(s, seed++);
    CHECK(k::conv2d_prepare_f32(p.args(nullptr), arena).floats == 0);
  }
#if defined(PXDGEN_TEST_X86)
  // Each ISA on its own weights; each ignores the other's (another register blocking).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512) MESSAGE("prepared weights: avx512f skipped, this CPU lacks it");
  for (const Shape& s : kept) {
    INFO(describe(s));
    const Problem p(s, seed++);
    const k::Conv2dArgs shape = p.args(nullptr);
    std::vector<float> w2, w5;
    k::PreparedView v2, v5;
    if (avx2) {
      w2.resize(k::x86::conv2d_prepared_floats_avx2(shape));
      v2 = {w2.data(), w2.size(), k::x86::conv2d_prepare_f32_avx2(shape, w2.data())};
      CHECK(v2.transform != 0);
    }
    if (avx512) {
      w5.resize(k::x86::conv2d_prepared_floats_avx512(shape));
      v5 = {w5.data(), w5.size(), k::x86::conv2d_prepare_f32_avx512(shape, w5.data())};
      CHECK(v5.transform != 0);
      CHECK(v5.transform != v2.transform);
    }
    if (avx2) {
      const auto per_call = run(p, k::x86::conv2d_fused_f32_avx2, {});
      CHECK(run(p, k::x86::conv2d_fused_f32_avx2, v2) == per_call);
      if (avx512) CHECK(run(p, k::x86::conv2d_fused_f32_avx2, v5) == per_call);
    }
    if (avx512) {
      const auto per_call = run(p, k::x86::conv2d_fused_f32_avx512, {});
      CHECK(run(p, k::x86::conv2d_fused_f32_avx512, v5) == per_call);
      if (avx2) CHECK(run(p, k::x86::conv2d_fused_f32_avx512, v2) == per_call);
    }
  }
#endif
  char buf[120];
  std::snprintf(buf, sizeof buf, "prepared weights (%s): %zu shapes, max rel err against the reference %.3g",
                k::conv2d_fused_f32_isa(), kept.size(), worst);
  MESSAGE(buf);
}

namespace {

using Conv1x1ThenKxkFn = void (*)(const k::Conv1x1ThenKxkArgs&);

struct ChainImpl {
  const char* name;
  Conv1x1ThenKxkFn fn;
  bool runs;
};

std::vector<ChainImpl> chain_implementations() {
  std::vector<ChainImpl> v;
  v.push_back({"ref", k::conv1x1_then_kxk_f32_ref, true});
#if defined(PXDGEN_TEST_X86)
  v.push_back({"avx2", k::x86::conv1x1_then_kxk_f32_avx2,
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")});
  v.push_back({"avx512f", k::x86::conv1x1_then_kxk_f32_avx512, static_cast<bool>(__builtin_cpu_supports("avx512f"))});
  v.push_back({"portable16", [](const k::Conv1x1ThenKxkArgs& a) { k::x86::conv1x1_then_kxk_tiled<SimdPortable16>(a); },
               true});
#endif
  v.push_back({"dispatch", k::conv1x1_then_kxk_f32, true});
  return v;
}

/// A 1x1 (channels -> mid, with its residual) feeding a KxK to out_channels, run in bands.
struct ChainShape {
  int channels, mid, height, width, out_channels, kernel;
  Residual residual;
  bool act2, bias2;
};

}  // namespace

TEST_CASE("fused conv: a 1x1 into a KxK, band by band, gives both layers run whole") {
  // The bands' outputs add up to what the two layers make one after the other on the whole
  // image (the reference kernels), whatever the band heights: each band reaches K/2 rows into
  // its neighbours, which must get those terms once. Shapes: single rows and columns, rows
  // that span several slices and end mid-tile, two output channels, 5x5, the IEA-GAN tail
  // (16 -> 32 + upsampled skip, 32 -> 1 3x3) at 1/8 width; a kernel or 1x1 it does not tile
  // goes to the reference.
  const std::vector<ChainShape> shapes = {
      {16, 32, 12, 96, 1, 3, Residual::upsampled, true, true},
      {16, 32, 8, 768, 1, 3, Residual::upsampled, true, true},
      {5, 7, 9, 70, 2, 3, Residual::same_size, true, false},
      {8, 12, 6, 1, 1, 3, Residual::none, false, true},
      {3, 4, 1, 33, 1, 3, Residual::none, true, true},
      {16, 20, 10, 50, 2, 5, Residual::upsampled, true, true},
      {6, 10, 7, 300, 1, 5, Residual::same_size, false, false},
      {4, 6, 6, 20, 3, 3, Residual::none, true, true},  // three output channels: the reference
  };
  const auto impls = chain_implementations();
  std::vector<double> worst(impls.size(), 0.0);
  unsigned seed = 7000;
  for (const ChainShape& s : shapes) {
    std::mt19937 rng(seed++);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto filled = [&](size_t n, float sd, float mean = 0.0f) {
      std::vector<float> v(n);
      for (float& e : v) e = mean + sd * normal(rng);
      return v;
    };
    const int h = s.height, w = s.width, pad = s.kernel / 2;
    const size_t plane = static_cast<size_t>(h) * w;
    const bool up = s.residual == Residual::upsampled;
    const size_t residual_plane = up ? plane / 4 : plane;
    const auto in = filled(s.channels * plane, 1.0f), scale1 = filled(s.channels, 0.5f, 1.0f),
               shift1 = filled(s.channels, 0.5f), weight1 = filled(static_cast<size_t>(s.mid) * s.channels,
                                                                  1.0f / std::sqrt(static_cast<float>(s.channels))),
               bias1 = filled(s.mid, 0.3f), residual = filled(s.mid * residual_plane, 1.0f),
               scale2 = filled(s.mid, 0.5f, 1.0f), shift2 = filled(s.mid, 0.5f),
               weight2 = filled(static_cast<size_t>(s.out_channels) * s.mid * s.kernel * s.kernel,
                                1.0f / std::sqrt(static_cast<float>(s.mid * s.kernel * s.kernel))),
               bias2 = filled(s.out_channels, 0.3f);
    k::Conv2dArgs first;
    first.in = in.data();
    first.channels = s.channels;
    first.height = h;
    first.width = w;
    first.in_scale = scale1.data();
    first.in_shift = shift1.data();
    first.weight = weight1.data();
    first.bias = bias1.data();
    first.out_channels = s.mid;
    first.kernel = 1;
    first.residual = s.residual != Residual::none ? residual.data() : nullptr;
    first.residual_upsample2x = up;
    // Both layers whole, one after the other.
    std::vector<float> x(s.mid * plane), want(s.out_channels * plane);
    k::Conv2dArgs a1 = first;
    a1.out = x.data();
    k::conv2d_fused_f32_ref(a1);
    k::Conv1x1ThenKxkArgs whole;
    whole.first = first;
    whole.scale = s.act2 ? scale2.data() : nullptr;
    whole.shift = s.act2 ? shift2.data() : nullptr;
    whole.weight = weight2.data();
    whole.bias = s.bias2 ? bias2.data() : nullptr;
    whole.out_channels = s.out_channels;
    whole.kernel = s.kernel;
    k::conv2d_fused_f32_ref(k::kxk_layer_of(whole, x.data(), want.data()));

    for (int band : {1, 2, 4, 6, h}) {
      if (up && band % 2 != 0 && band != h) continue;  // an upsampled skip starts bands on even rows
      for (size_t i = 0; i < impls.size(); ++i) {
        if (!impls[i].runs) continue;
        // Guard rows above and below the output catch writes past the rows each band may reach.
        std::vector<float> got(s.out_channels * plane + 2 * static_cast<size_t>(pad + 1) * w, 0.0f);
        const size_t out_stride = plane;
        float* out0 = got.data() + static_cast<size_t>(pad + 1) * w;
        for (int r0 = 0; r0 < h; r0 += band) {
          const int r1 = std::min(h, r0 + band);
          k::Conv1x1ThenKxkArgs a = whole;
          a.first.in = in.data() + static_cast<size_t>(r0) * w;
          a.first.in_channel_stride = plane;
          a.first.height = r1 - r0;
          if (first.residual != nullptr) {
            a.first.residual = residual.data() + (up ? static_cast<size_t>(r0 / 2) * (w / 2) : static_cast<size_t>(r0) * w);
            a.first.residual_channel_stride = residual_plane;
          }
          a.out = out0 + static_cast<size_t>(r0) * w;
          a.out_channel_stride = out_stride;
          a.rows_above = std::min(pad, r0);
          a.rows_below = std::min(pad, h - r1);
          impls[i].fn(a);
        }
        CAPTURE(impls[i].name);
        CAPTURE(band);
        INFO(s.channels, "->", s.mid, "->", s.out_channels, " ", h, "x", w, " k", s.kernel);
        double rel = 0;
        bool guard_ok = true;
        for (size_t j = 0; j < got.size(); ++j) {
          const ptrdiff_t at = static_cast<ptrdiff_t>(j) - static_cast<ptrdiff_t>((pad + 1) * w);
          if (at < 0 || at >= static_cast<ptrdiff_t>(want.size())) {
            guard_ok = guard_ok && got[j] == 0.0f;
            continue;
          }
          const double d = std::abs(static_cast<double>(got[j]) - want[at]);
          rel = std::max(rel, (std::isnan(d) ? 1e30 : d) / std::max(1.0, std::abs(static_cast<double>(want[at]))));
        }
        CHECK(guard_ok);
        CHECK(rel <= 2e-5);
        worst[i] = std::max(worst[i], rel);
      }
    }
  }
  for (size_t i = 0; i < impls.size(); ++i) {
    char buf[160];
    if (!impls[i].runs)
      std::snprintf(buf, sizeof buf, "1x1 into KxK: %s skipped, this CPU lacks it", impls[i].name);
    else
      std::snprintf(buf, sizeof buf, "1x1 into KxK: %-10s %zu shapes in bands of 1 to all rows, max rel err %.3g",
                    impls[i].name, shapes.size(), worst[i]);
    MESSAGE(buf);
  }
}
