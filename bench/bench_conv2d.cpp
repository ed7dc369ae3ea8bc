// The fused convolution on the hot shapes of the production generators (one image), per
// implementation: the reference loops, each x86 ISA this CPU has, and oneDNN's fastest
// convolution for the same shape. Run single-threaded (taskset -c N): the engine parallelizes
// across sensors, so one core per convolution is what matters.
//
// GFLOP/s counts the dense convolution at the output size, 2 C OC K^2 OH OW, for every
// implementation, so the ratios read directly. With upsampling our kernel does 4/9 (3x3) or
// 9/25 (5x5) of those multiplies; oneDNN convolves the upsampled input, made outside the timed
// loop. oneDNN cannot fuse the input batch norm + ReLU (a pre-op), so it runs the plain
// convolution; ours runs with the activation. Where the input is not upsampled,
// "onednn-bn-relu" also times what an engine built on oneDNN would run for the whole layer: its
// batch norm with the ReLU fused, into a second tensor, then the convolution. (It could not fold
// the batch norm into the layer that makes the input: the skip reads that input raw.) Where a
// block's last 1x1 adds the skip, oneDNN gets a sum post-op onto an output that holds the
// skip at full size; ours adds the skip as the engine does: onto the output in place where the
// block keeps its size and channels ("res"), read nearest-upsampled from half size where the
// block upsamples ("res-up2").

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <dnnl.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/conv2d.hpp"
#include "kernels/reference/reference.hpp"
#include "kernels/tensor_memory.hpp"

#if defined(__x86_64__) || defined(__i386__)
#define PXDGEN_BENCH_X86 1
#include "kernels/x86/entry_points.hpp"
#endif

namespace {

namespace k = pxdgen::kernels;

enum class Residual { none, same_size, upsampled };

struct Shape {
  const char* model;
  int channels, height, width;  ///< of the input
  int out_channels, kernel;
  bool upsample, act;
  Residual residual = Residual::none;

  int out_height() const { return upsample ? 2 * height : height; }
  int out_width() const { return upsample ? 2 * width : width; }
  double flops() const {
    return 2.0 * channels * out_channels * kernel * kernel * out_height() * out_width();
  }
  std::string name() const {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s/k%d/%d->%d/%dx%d%s%s%s", model, kernel, channels, out_channels, height, width,
                  upsample ? "/up2" : "", act ? "/act" : "",
                  residual == Residual::none ? "" : residual == Residual::same_size ? "/res" : "/res-up2");
    return buf;
  }
};

// IEA-GAN production (ch = 32): per GBlock 1x1 (in -> in/4), 3x3, 3x3, 1x1 (-> out, added to
// the skip); the last block of a stage upsamples into its first 3x3. WGAN ConvNet (ch = 32):
// 5x5 convolutions, each after BN, ReLU and 2x upsampling of the previous one's output.
const Shape kShapes[] = {
    {"ieagan", 16, 256, 768, 16, 3, false, true},
    {"ieagan", 16, 128, 384, 16, 3, true, true},
    {"ieagan", 16, 128, 384, 16, 3, false, true},
    {"ieagan", 32, 128, 384, 32, 3, false, true},
    {"ieagan", 32, 64, 192, 32, 3, true, true},
    {"ieagan", 32, 64, 192, 32, 3, false, true},
    {"ieagan", 64, 64, 192, 64, 3, false, true},
    {"ieagan", 64, 32, 96, 64, 3, true, true},
    {"ieagan", 64, 32, 96, 64, 3, false, true},
    {"ieagan", 64, 16, 48, 64, 3, true, true},
    {"ieagan", 64, 16, 48, 64, 3, false, true},
    {"ieagan", 128, 16, 48, 128, 3, false, true},
    {"ieagan", 128, 8, 24, 128, 3, true, true},
    {"ieagan", 128, 8, 24, 128, 3, false, true},
    {"ieagan", 128, 4, 12, 128, 3, true, true},
    {"ieagan", 128, 4, 12, 128, 3, false, true},
    {"ieagan", 16, 256, 768, 32, 1, false, true, Residual::upsampled},
    {"ieagan", 64, 128, 384, 16, 1, false, true},
    {"ieagan", 16, 128, 384, 64, 1, false, true, Residual::same_size},
    {"ieagan", 32, 128, 384, 64, 1, false, true, Residual::upsampled},
    {"ieagan", 128, 64, 192, 32, 1, false, true},
    {"ieagan", 32, 64, 192, 128, 1, false, true, Residual::same_size},
    {"ieagan", 512, 8, 24, 128, 1, false, true},
    {"ieagan", 128, 8, 24, 512, 1, false, true, Residual::upsampled},
    {"ieagan", 32, 256, 768, 1, 3, false, true},
    {"wgan", 512, 8, 24, 512, 5, false, false},
    {"wgan", 512, 8, 24, 256, 5, true, true},
    {"wgan", 256, 16, 48, 128, 5, true, true},
    {"wgan", 128, 32, 96, 64, 5, true, true},
    {"wgan", 64, 64, 192, 32, 5, true, true},
    {"wgan", 32, 128, 384, 1, 5, true, true},
};

/// Tensors in the memory the engine gives its activations (kernels/tensor_memory.hpp): on a
/// cache line, as the 1x1's stores past the caches need (see kStreamedOutputBytes), and on
/// huge pages where large. oneDNN's tensors get the same memory.
using Floats = std::vector<float, k::TensorAllocator<float>>;

Floats random_vector(size_t n, float sd, float mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(mean, sd);
  Floats v(n);
  for (float& e : v) e = normal(rng);
  return v;
}

struct Data {
  Floats in, scale, shift, weight, bias, out, residual;

  explicit Data(const Shape& s)
      : in(random_vector(static_cast<size_t>(s.channels) * s.height * s.width, 1.0f, 0.0f, 1)),
        scale(random_vector(s.channels, 0.5f, 1.0f, 2)),
        shift(random_vector(s.channels, 0.5f, 0.0f, 3)),
        weight(random_vector(static_cast<size_t>(s.out_channels) * s.channels * s.kernel * s.kernel,
                             1.0f / std::sqrt(static_cast<float>(s.channels * s.kernel * s.kernel)), 0.0f, 4)),
        bias(random_vector(s.out_channels, 0.3f, 0.0f, 5)),
        out(static_cast<size_t>(s.out_channels) * s.out_height() * s.out_width(), 0.0f),
        residual(s.residual == Residual::upsampled ? out.size() / 4 : 0, 1.0f) {}
};

void set_rate(benchmark::State& state, const Shape& s) {
  state.counters["GFLOP/s"] = benchmark::Counter(s.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

/// An ISA's weight preparation (kernels/x86/entry_points.hpp): the floats it keeps, then the
/// transform.
struct Prepare {
  size_t (*floats)(const k::Conv2dArgs&) = nullptr;
  int (*transform)(const k::Conv2dArgs&, float*) = nullptr;
};

/// Ours runs each shape as its generator does: with the Winograd weights its layer keeps from
/// load (Conv2d::prepare; every generator keeps them for its 3x3 and 5x5 layers).
template <class Fn>
void run_fused(benchmark::State& state, const Shape& s, Fn fn, Prepare prepare = {}) {
  Data d(s);
  k::Conv2dArgs a;
  a.in = d.in.data();
  a.channels = s.channels;
  a.height = s.height;
  a.width = s.width;
  a.in_scale = s.act ? d.scale.data() : nullptr;
  a.in_shift = s.act ? d.shift.data() : nullptr;
  a.upsample2x = s.upsample;
  a.weight = d.weight.data();
  a.bias = d.bias.data();
  a.out_channels = s.out_channels;
  a.kernel = s.kernel;
  a.out = d.out.data();
  a.residual = s.residual == Residual::upsampled ? d.residual.data() : nullptr;
  a.residual_upsample2x = s.residual == Residual::upsampled;
  a.accumulate = s.residual == Residual::same_size;
  std::vector<float> kept;
  if (prepare.floats != nullptr) {
    kept.resize(prepare.floats(a));
    const int transform = prepare.transform(a, kept.data());
    a.prepared = {kept.data(), kept.size(), transform};
  }
  for (auto _ : state) {
    fn(a);
    benchmark::DoNotOptimize(d.out.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, s);
}

/// oneDNN's fastest convolution for the shape; with `batch_norm`, preceded by its batch norm
/// + ReLU of the input (fixed statistics: mean 0, variance 1, our per-channel scale and shift).
void run_onednn(benchmark::State& state, const Shape& s, bool batch_norm) {
  using namespace dnnl;
  using tag = memory::format_tag;
  using dt = memory::data_type;
  Data d(s);
  // oneDNN has no fused nearest upsampling: give it the upsampled input.
  Floats src = d.in;
  if (s.upsample) {
    src.resize(d.in.size() * 4);
    k::ref::upsample2x_nearest_f32(d.in.data(), s.channels, s.height, s.width, src.data());
  }
  const memory::dim C = s.channels, OC = s.out_channels, H = s.out_height(), W = s.out_width(), K = s.kernel;
  const memory::dim pad = K / 2;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::desc src_any({1, C, H, W}, dt::f32, tag::any);
  const memory::desc wei_any({OC, C, K, K}, dt::f32, tag::any);
  const memory::desc bias_md({OC}, dt::f32, tag::x);
  const memory::desc dst_any({1, OC, H, W}, dt::f32, tag::any);
  primitive_attr attr;
  if (s.residual != Residual::none) {
    post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const convolution_forward::desc desc(prop_kind::forward_inference, algorithm::convolution_direct, src_any, wei_any,
                                       bias_md, dst_any, {1, 1}, {pad, pad}, {pad, pad});
  const convolution_forward::primitive_desc pd(desc, attr, eng);
  state.SetLabel(pd.impl_info_str());

  memory user_src({{1, C, H, W}, dt::f32, tag::nchw}, eng, src.data());
  memory user_wei({{OC, C, K, K}, dt::f32, tag::oihw}, eng, d.weight.data());
  memory user_dst({{1, OC, H, W}, dt::f32, tag::nchw}, eng, d.out.data());
  memory bias_mem(bias_md, eng, d.bias.data());
  Floats src_data(pd.src_desc().get_size() / sizeof(float)), wei_data(pd.weights_desc().get_size() / sizeof(float)),
      dst_data(pd.dst_desc().get_size() / sizeof(float));
  memory src_mem(pd.src_desc(), eng, src_data.data()), wei_mem(pd.weights_desc(), eng, wei_data.data()),
      dst_mem(pd.dst_desc(), eng, dst_data.data());
  reorder(user_src, src_mem).execute(strm, user_src, src_mem);
  reorder(user_wei, wei_mem).execute(strm, user_wei, wei_mem);
  reorder(user_dst, dst_mem).execute(strm, user_dst, dst_mem);
  strm.wait();
  convolution_forward conv(pd);
  const std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wei_mem}, {DNNL_ARG_BIAS, bias_mem}, {DNNL_ARG_DST, dst_mem}};

  // The batch norm reads the raw input in the convolution's layout and writes the activated
  // input the convolution reads.
  Floats raw_data, mean, variance;
  std::optional<batch_normalization_forward> bn;
  std::unordered_map<int, memory> bn_args;
  if (batch_norm) {
    raw_data = src_data;
    mean.assign(s.channels, 0.0f);
    variance.assign(s.channels, 1.0f);
    const memory::desc stat_md({C}, dt::f32, tag::x);
    const auto flags = normalization_flags::use_global_stats | normalization_flags::use_scale |
                       normalization_flags::use_shift | normalization_flags::fuse_norm_relu;
    const batch_normalization_forward::primitive_desc bn_pd(
        batch_normalization_forward::desc(prop_kind::forward_inference, pd.src_desc(), 0.0f, flags), eng);
    bn_args = {{DNNL_ARG_SRC, memory(pd.src_desc(), eng, raw_data.data())},
               {DNNL_ARG_MEAN, memory(stat_md, eng, mean.data())},
               {DNNL_ARG_VARIANCE, memory(stat_md, eng, variance.data())},
               {DNNL_ARG_SCALE, memory(stat_md, eng, d.scale.data())},
               {DNNL_ARG_SHIFT, memory(stat_md, eng, d.shift.data())},
               {DNNL_ARG_DST, src_mem}};
    bn.emplace(bn_pd);
    state.SetLabel(std::string(bn_pd.impl_info_str()) + " + " + pd.impl_info_str());
  }

  for (auto _ : state) {
    if (bn) bn->execute(strm, bn_args);
    conv.execute(strm, args);
    strm.wait();
  }
  set_rate(state, s);
}

#if defined(PXDGEN_BENCH_X86)
/// One x86 ISA of the fused convolution: its dispatching entry point, the one that forces an
/// algorithm, and its weight preparation.
struct Isa {
  const char* name;
  bool available;
  void (*fused)(const k::Conv2dArgs&);
  void (*chain)(const k::Conv1x1ThenKxkArgs&);
  void (*forced)(const k::Conv2dArgs&, k::x86::ConvAlgorithm);
  Prepare prepare;
};

/// The tail of a BigGAN-deep generator on one band of rows, as the engine runs it: the last
/// block's 1x1 (16 -> 32, its skip upsampled from the block input) fed into the output layer
/// (32 -> 1, 3x3), through conv1x1_then_kxk ("fused") or as the two fused convolutions with the
/// 1x1's output stored between them ("separate"). GFLOP/s counts both layers.
void run_tail(benchmark::State& state, const Isa& isa, int rows, bool fused) {
  constexpr int kHidden = 16, kChannels = 32, kWidth = 768;
  const size_t plane = static_cast<size_t>(rows) * kWidth;
  const auto in = random_vector(kHidden * plane, 1.0f, 0.0f, 1), skip = random_vector(kChannels * plane / 4, 1.0f, 0.0f, 2);
  const auto scale1 = random_vector(kHidden, 0.5f, 1.0f, 3), shift1 = random_vector(kHidden, 0.5f, 0.0f, 4);
  const auto w1 = random_vector(kChannels * kHidden, 0.25f, 0.0f, 5), b1 = random_vector(kChannels, 0.3f, 0.0f, 6);
  const auto scale2 = random_vector(kChannels, 0.5f, 1.0f, 7), shift2 = random_vector(kChannels, 0.5f, 0.0f, 8);
  const auto w2 = random_vector(kChannels * 9, 0.06f, 0.0f, 9), b2 = random_vector(1, 0.3f, 0.0f, 10);
  Floats x(kChannels * plane), out(plane);
  k::Conv2dArgs first;
  first.in = in.data();
  first.channels = kHidden;
  first.height = rows;
  first.width = kWidth;
  first.in_scale = scale1.data();
  first.in_shift = shift1.data();
  first.weight = w1.data();
  first.bias = b1.data();
  first.out_channels = kChannels;
  first.kernel = 1;
  first.residual = skip.data();
  first.residual_upsample2x = true;
  first.out = x.data();
  k::Conv1x1ThenKxkArgs chain;
  chain.first = first;
  chain.scale = scale2.data();
  chain.shift = shift2.data();
  chain.weight = w2.data();
  chain.bias = b2.data();
  chain.out_channels = 1;
  chain.kernel = 3;
  chain.out = out.data();
  const k::Conv2dArgs second = k::kxk_layer_of(chain, x.data(), out.data());
  for (auto _ : state) {  // the fused call adds onto out each time: only its time matters here
    if (fused) {
      isa.chain(chain);
    } else {
      isa.fused(first);
      isa.fused(second);
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * plane * kChannels * (kHidden + 9) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

/// The algorithms worth forcing on a shape, to place the dispatcher's choice between them.
std::vector<std::pair<const char*, k::x86::ConvAlgorithm>> forced_algorithms(const Shape& s) {
  using A = k::x86::ConvAlgorithm;
  if (s.kernel == 1) return {};
  if (s.upsample) return {{"direct", A::direct}, {"winograd-up2", A::winograd_up2}};
  if (s.kernel == 3)
    return {{"direct", A::direct},
            {"winograd-f2x3", A::winograd_f2x3},
            {"winograd-f4x3", A::winograd_f4x3},
            {"winograd-f2x3-by-oc", A::winograd_f2x3_by_oc}};
  if (s.kernel == 5) return {{"direct", A::direct}, {"winograd-f2x5", A::winograd_f2x5}};
  return {};
}
#endif

}  // namespace

int main(int argc, char** argv) {
#if defined(_OPENMP)
  // One core per convolution, as in the engine; oneDNN's OpenMP pool would take them all.
  omp_set_num_threads(1);
#endif
#if defined(PXDGEN_BENCH_X86)
  __builtin_cpu_init();
  const Isa isas[] = {
      {"avx2", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), k::x86::conv2d_fused_f32_avx2,
       k::x86::conv1x1_then_kxk_f32_avx2, k::x86::conv2d_forced_f32_avx2, {k::x86::conv2d_prepared_floats_avx2, k::x86::conv2d_prepare_f32_avx2}},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0, k::x86::conv2d_fused_f32_avx512,
       k::x86::conv1x1_then_kxk_f32_avx512, k::x86::conv2d_forced_f32_avx512, {k::x86::conv2d_prepared_floats_avx512, k::x86::conv2d_prepare_f32_avx512}},
  };
#endif
  for (const Shape& s : kShapes) {
    const std::string base = "conv2d/" + s.name();
    benchmark::RegisterBenchmark((base + "/ref").c_str(),
                                 [s](benchmark::State& st) { run_fused(st, s, k::conv2d_fused_f32_ref); })
        ->Unit(benchmark::kMillisecond);
#if defined(PXDGEN_BENCH_X86)
    for (const Isa& isa : isas) {
      if (!isa.available) continue;
      benchmark::RegisterBenchmark((base + "/" + isa.name).c_str(), [s, isa](benchmark::State& st) {
        run_fused(st, s, isa.fused, isa.prepare);
      })->Unit(benchmark::kMillisecond);
      for (const auto& [label, algorithm] : forced_algorithms(s))
        benchmark::RegisterBenchmark((base + "/" + isa.name + "-" + label).c_str(),
                                     [s, isa, algorithm = algorithm](benchmark::State& st) {
                                       run_fused(st, s, [&](const k::Conv2dArgs& a) { isa.forced(a, algorithm); },
                                                 isa.prepare);
                                     })
            ->Unit(benchmark::kMillisecond);
    }
#endif
    benchmark::RegisterBenchmark((base + "/onednn").c_str(), [s](benchmark::State& st) { run_onednn(st, s, false); })
        ->Unit(benchmark::kMillisecond);
    if (s.act && !s.upsample)
      benchmark::RegisterBenchmark((base + "/onednn-bn-relu").c_str(),
                                   [s](benchmark::State& st) { run_onednn(st, s, true); })
          ->Unit(benchmark::kMillisecond);
  }
#if defined(PXDGEN_BENCH_X86)
  for (const Isa& isa : isas) {
    if (!isa.available) continue;
    for (int rows : {16, 256})
      for (bool fused : {true, false}) {
        const std::string name = "tail/ieagan/k1-k3/16->32->1/" + std::to_string(rows) + "x768/act/res-up2/" +
                                 isa.name + (fused ? "-fused" : "-separate");
        benchmark::RegisterBenchmark(name.c_str(), [&isa, rows, fused](benchmark::State& st) {
          run_tail(st, isa, rows, fused);
        })->Unit(benchmark::kMillisecond);
      }
  }
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
