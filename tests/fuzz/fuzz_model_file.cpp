// Fuzz target of the .pxdg reader: the file layout and tensor table (engine/model_file),
// then what a header may ask of the engine (family, hyperparameters, layer list), since a
// model that loads must also run. The seeds are small models of every family written by
// the engine itself (tests/fuzz/corpus/model_file); the tensor data carries checksums, so
// most mutations that survive land in the JSON header, which is what is worth fuzzing.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pxdgen/pxdgen.hpp"

namespace {

/// Loaded models with at most this much work per sensor are also run, on one sensor and
/// both backends: enough for the seeds, small enough to keep thousands of runs a second.
constexpr double kMaxGmacPerEventToRun = 0.3;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  try {
    const pxdgen::Model model = pxdgen::Model::from_bytes(std::move(bytes), "fuzz");
    if (model.info().gmac_per_event > kMaxGmacPerEventToRun) return 0;
    for (pxdgen::Backend backend : {pxdgen::Backend::reference, pxdgen::Backend::fast}) {
      pxdgen::Generator generator(model, {backend, 1, {}, {7}});
      generator.event(1, 2);
    }
  } catch (const pxdgen::Error&) {
    // Rejected with a message: the expected outcome for almost every input.
  }
  return 0;
}
