// Replays the committed fuzz corpora (tests/fuzz/corpus) through the readers, so every seed
// and every reproducer of a fixed bug runs in the ordinary test run and in the sanitizer
// builds, not only when the fuzzers do. Each input must be read or refused with a
// pxdgen::Error, never anything else; each reproducer (regress_*) must be refused.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "pxdgen/pxdgen.hpp"
#include "tests/fuzz/checkpoint_archive.hpp"
#include "tools/pxdgen/npy.hpp"
#include "weights_converter/convert.hpp"
#include "weights_converter/torch_checkpoint.hpp"
#include "weights_converter/zip_archive.hpp"

namespace fs = std::filesystem;
using namespace pxdgen;

namespace {

struct Input {
  std::string name;
  std::vector<uint8_t> bytes;
};

std::vector<Input> corpus(const std::string& target) {
  std::vector<Input> inputs;
  for (const auto& entry : fs::directory_iterator(std::string(PXDGEN_SOURCE_DIR) + "/tests/fuzz/corpus/" + target)) {
    std::ifstream in(entry.path(), std::ios::binary);
    inputs.push_back({entry.path().filename().string(),
                      {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}});
  }
  return inputs;
}

enum class Outcome { read, refused, other };

Outcome outcome(const std::function<void()>& read, std::string& message) {
  try {
    read();
    return Outcome::read;
  } catch (const Error& e) {
    message = e.what();
    return Outcome::refused;
  } catch (const std::exception& e) {
    message = e.what();
    return Outcome::other;
  }
}

/// Runs every input of `target` through `read` and checks the outcomes; some inputs must
/// be read in full when `some_read`.
void replay(const std::string& target, const std::function<void(const std::vector<uint8_t>&)>& read,
            bool some_read = true) {
  const std::vector<Input> inputs = corpus(target);
  REQUIRE(inputs.size() > 3);
  int accepted = 0;
  for (const Input& input : inputs) {
    CAPTURE(input.name);
    std::string message;
    const Outcome result = outcome([&] { read(input.bytes); }, message);
    CAPTURE(message);
    CHECK(result != Outcome::other);
    if (input.name.rfind("regress_", 0) == 0) CHECK(result == Outcome::refused);
    accepted += result == Outcome::read;
  }
  MESSAGE(target << ": " << inputs.size() << " inputs, " << accepted << " read, the rest refused");
  if (some_read) CHECK(accepted > 0);
}

}  // namespace

TEST_SUITE("fuzz corpus") {

TEST_CASE("fuzz corpus: checkpoints are read and converted, or refused") {
  int state_dicts = 0;
  replay(
      "checkpoint",
      [&](const std::vector<uint8_t>& bytes) {
        // As the fuzz target: a bare pickle goes into a checkpoint archive first.
        const std::vector<uint8_t> archive = converter::looks_like_zip(bytes.data(), bytes.size())
                                                 ? bytes
                                                 : fuzz::checkpoint_around(bytes.data(), bytes.size());
        const converter::TorchStateDict state =
            converter::read_torch_checkpoint_bytes(archive.data(), archive.size(), "corpus");
        ++state_dicts;
        // The test checkpoints hold layers of no generator family: conversion refuses them.
        converter::convert_state_dict(state, {}, "corpus", "");
      },
      /*some_read=*/false);
  MESSAGE(state_dicts << " state dicts read");
  CHECK(state_dicts > 0);
}

TEST_CASE("fuzz corpus: model files load or are refused") {
  replay("model_file", [](const std::vector<uint8_t>& bytes) { Model::from_bytes(bytes, "corpus"); });
}

TEST_CASE("fuzz corpus: .npy files are read or refused") {
  replay("npy", [](const std::vector<uint8_t>& bytes) { npy::read_bytes(bytes.data(), bytes.size(), "corpus"); });
}

}  // TEST_SUITE
