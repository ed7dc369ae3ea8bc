// The fast linear layer against ref::linear_f32 (both accumulate in double).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/conv2d.hpp"
#include "kernels/linear.hpp"
#include "kernels/reference/reference.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/entry_points.hpp"
#endif

namespace k = pxdgen::kernels;

namespace {

using LinearFn = void (*)(const float*, int, int, const float*, const float*, int, float*);

/// Largest |fast - ref| over widths that hit every tail of the vector loop (in % 8, in % 32)
/// and the shapes the generators use (256 -> C per sensor, 128-wide tokens); 1100 outputs of
/// 257 inputs span several of the blocks whose weights the AVX2 loop keeps in L2, the last
/// one partial, and 40 rows several groups of rows.
double max_error_against_reference(LinearFn fast) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  double worst = 0;
  for (const int rows : {1, 3, 40})
    for (const int in : {1, 5, 8, 13, 31, 32, 33, 64, 100, 256, 257})
      for (const int out : {1, 7, 64, 1100})
        for (const bool with_bias : {false, true}) {
          std::vector<float> x(static_cast<size_t>(rows) * in), w(static_cast<size_t>(out) * in), b(out);
          for (float& v : x) v = dist(rng);
          for (float& v : w) v = dist(rng);
          for (float& v : b) v = dist(rng);
          std::vector<float> want(static_cast<size_t>(rows) * out), got(want.size(), NAN);
          const float* bias = with_bias ? b.data() : nullptr;
          k::ref::linear_f32(x.data(), rows, in, w.data(), bias, out, want.data());
          fast(x.data(), rows, in, w.data(), bias, out, got.data());
          for (size_t i = 0; i < want.size(); ++i) {
            // Both sum in double, in different orders: what is left is the rounding to float
            // (outputs are O(sqrt(in)), so relative to that scale).
            const double err = std::fabs(static_cast<double>(got[i]) - want[i]) / std::sqrt(static_cast<double>(in));
            if (!(err <= 1e30)) return INFINITY;  // NaN: an output left unwritten
            worst = std::max(worst, err);
          }
        }
  return worst;
}

}  // namespace

TEST_CASE("linear_f32 (dispatched) matches the reference") {
  const double err = max_error_against_reference(k::linear_f32);
  std::printf("linear_f32 (%s): max |fast - ref| / sqrt(in) = %.3g\n", k::conv2d_fused_f32_isa(), err);
  CHECK(err < 1e-6);
}

#if defined(__x86_64__) || defined(__i386__)
TEST_CASE("linear_f32_avx2 matches the reference") {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    MESSAGE("no AVX2 + FMA on this CPU: linear_f32_avx2 not run");
    return;
  }
  const double err = max_error_against_reference(pxdgen::kernels::x86::linear_f32_avx2);
  std::printf("linear_f32_avx2: max |fast - ref| / sqrt(in) = %.3g\n", err);
  CHECK(err < 1e-6);
}

TEST_CASE("linear_f32_avx512 matches the reference and the AVX2 unit bit for bit") {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    MESSAGE("no AVX-512F on this CPU: linear_f32_avx512 not run");
    return;
  }
  const double err = max_error_against_reference(pxdgen::kernels::x86::linear_f32_avx512);
  std::printf("linear_f32_avx512: max |fast - ref| / sqrt(in) = %.3g\n", err);
  CHECK(err < 1e-6);
  // The two units add the same products in the same order: a generator's outputs do not
  // depend on which of them this CPU runs.
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const int rows : {1, 5, 40})
    for (const int in : {3, 8, 24, 256, 257}) {
      const int out = 300;
      std::vector<float> x(static_cast<size_t>(rows) * in), w(static_cast<size_t>(out) * in), b(out);
      for (float& v : x) v = dist(rng);
      for (float& v : w) v = dist(rng);
      for (float& v : b) v = dist(rng);
      std::vector<float> avx2(static_cast<size_t>(rows) * out), avx512(avx2.size(), NAN);
      pxdgen::kernels::x86::linear_f32_avx2(x.data(), rows, in, w.data(), b.data(), out, avx2.data());
      pxdgen::kernels::x86::linear_f32_avx512(x.data(), rows, in, w.data(), b.data(), out, avx512.data());
      size_t differing = 0;
      for (size_t i = 0; i < avx2.size(); ++i) differing += std::memcmp(&avx2[i], &avx512[i], sizeof(float)) != 0;
      INFO("rows ", rows, ", in ", in);
      CHECK(differing == 0);
    }
}
#endif
