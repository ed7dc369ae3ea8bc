// Fuzz target of the checkpoint reader: zip directory, pickle machine, tensor rebuilding,
// and the conversion of whatever state dict comes out.
//
// An input that starts like a zip archive is read as a checkpoint file, as is. Any other
// input is taken as the data.pkl of a checkpoint and packed, with a few fixed storages,
// into the archive torch.save would write (checkpoint_archive.hpp). The corpus holds both
// kinds (tests/fuzz/corpus/checkpoint).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pxdgen/error.hpp"
#include "tests/fuzz/checkpoint_archive.hpp"
#include "weights_converter/convert.hpp"
#include "weights_converter/torch_checkpoint.hpp"
#include "weights_converter/zip_archive.hpp"

namespace {

void read_and_convert(const uint8_t* data, size_t size) {
  using namespace pxdgen::converter;
  TorchStateDict state;
  try {
    state = read_torch_checkpoint_bytes(data, size, "fuzz");
  } catch (const pxdgen::Error&) {
    return;
  }
  // Every value must be readable: ASan checks the copy-out left none unwritten past the end.
  float sum = 0;
  for (const auto& [name, tensor] : state.tensors)
    for (float v : tensor.values) sum += v;
  volatile float sink = sum;
  (void)sink;
  try {
    convert_state_dict(state, ConvertOptions{}, "fuzz", "");
  } catch (const pxdgen::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (pxdgen::converter::looks_like_zip(data, size)) {
    read_and_convert(data, size);
  } else {
    const std::vector<uint8_t> archive = pxdgen::fuzz::checkpoint_around(data, size);
    read_and_convert(archive.data(), archive.size());
  }
  return 0;
}
