// Chooses the kernels' implementation once per process: the widest ISA the CPU has,
// capped by PXDGEN_ISA=ref|avx2|avx512 so tests and benchmarks can force a narrower one.
// Built with baseline flags: it must run on any x86-64 before it knows what the CPU has.

#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/conv2d.hpp"
#include "kernels/linear.hpp"
#include "kernels/reference/reference.hpp"
#include "kernels/tensor_memory.hpp"

#if defined(__x86_64__) || defined(__i386__)
#define PXDGEN_KERNELS_X86 1
#include "kernels/x86/entry_points.hpp"
#endif

namespace pxdgen::kernels {

namespace {

using ConvFn = void (*)(const Conv2dArgs&);
using Conv1x1ThenKxkFn = void (*)(const Conv1x1ThenKxkArgs&);
using PreparedFloatsFn = size_t (*)(const Conv2dArgs&);
using PrepareFn = int (*)(const Conv2dArgs&, float*);
using LinearFn = void (*)(const float*, int, int, const float*, const float*, int, float*);

struct Choice {
  ConvFn conv;
  Conv1x1ThenKxkFn conv1x1_then_kxk;
  PreparedFloatsFn prepared_floats;
  PrepareFn prepare;
  LinearFn linear;
  const char* name;
};

/// The reference loops transform nothing.
size_t nothing_to_prepare(const Conv2dArgs&) { return 0; }
int no_transform(const Conv2dArgs&, float*) { return 0; }

/// 0: ref, 1: avx2, 2: avx512; an unset or unknown PXDGEN_ISA caps nothing.
int isa_cap() {
  const char* env = std::getenv("PXDGEN_ISA");
  if (env == nullptr) return 2;
  if (std::strcmp(env, "ref") == 0) return 0;
  if (std::strcmp(env, "avx2") == 0) return 1;
  return 2;
}

Choice choose() {
  const int cap = isa_cap();
#if defined(PXDGEN_KERNELS_X86)
  __builtin_cpu_init();
  if (cap >= 2 && __builtin_cpu_supports("avx512f"))
    return {x86::conv2d_fused_f32_avx512, x86::conv1x1_then_kxk_f32_avx512, x86::conv2d_prepared_floats_avx512, x86::conv2d_prepare_f32_avx512, x86::linear_f32_avx512, "avx512f"};
  if (cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {x86::conv2d_fused_f32_avx2, x86::conv1x1_then_kxk_f32_avx2, x86::conv2d_prepared_floats_avx2, x86::conv2d_prepare_f32_avx2, x86::linear_f32_avx2, "avx2"};
#else
  (void)cap;
#endif
  return {conv2d_fused_f32_ref, conv1x1_then_kxk_f32_ref, nothing_to_prepare, no_transform, ref::linear_f32, "ref"};
}

const Choice& choice() {
  static const Choice c = choose();
  return c;
}

}  // namespace

void conv2d_fused_f32(const Conv2dArgs& args) { choice().conv(args); }

void conv1x1_then_kxk_f32(const Conv1x1ThenKxkArgs& args) { choice().conv1x1_then_kxk(args); }

PreparedView conv2d_prepare_f32(const Conv2dArgs& shape, TensorArena& arena) {
  PreparedView p;
  p.floats = choice().prepared_floats(shape);
  if (p.floats == 0) return p;
  float* data = arena.take_floats(p.floats);
  p.transform = choice().prepare(shape, data);
  p.data = data;
  return p;
}

void linear_f32(const float* x, int rows, int in, const float* weight, const float* bias, int out,
                float* y) {
  choice().linear(x, rows, in, weight, bias, out, y);
}

const char* conv2d_fused_f32_isa() { return choice().name; }

#if defined(PXDGEN_KERNELS_X86)
namespace x86 {

namespace {

struct ScratchBuffer {
  void* data = nullptr;
  size_t size = 0;
  ~ScratchBuffer() { free_tensor_memory(data, size); }

  void* at_least(size_t bytes) {
    if (bytes > size) {
      // Grow geometrically so a thread that walks up the layer sizes reallocates only a few times.
      const size_t grown = bytes + bytes / 2;
      free_tensor_memory(data, size);
      data = nullptr;
      size = 0;
      data = allocate_tensor_memory(grown);
      size = grown;
    }
    return data;
  }
};

}  // namespace

void* kernel_scratch(size_t bytes) {
  thread_local ScratchBuffer buffer;
  return buffer.at_least(bytes);
}

void* staged_input_scratch(size_t bytes) {
  thread_local ScratchBuffer buffer;
  return buffer.at_least(bytes);
}

}  // namespace x86
#endif

}  // namespace pxdgen::kernels
