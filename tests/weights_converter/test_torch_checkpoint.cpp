#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"
#include "tests/weights_converter/read_file.hpp"
#include "weights_converter/torch_checkpoint.hpp"

using pxdgen::converter::read_torch_checkpoint;
using pxdgen::converter::read_torch_checkpoint_bytes;
using pxdgen::converter::TorchStateDict;

namespace {

const std::string kDataDir = PXDGEN_SOURCE_DIR "/tests/data/checkpoints/";

using pxdgen::test::read_file;

bool same_float(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/// Compares a read state dict with what make_test_checkpoints.py recorded for it.
void check_against_json(const std::string& stem, const std::string& key) {
  CAPTURE(stem);
  CAPTURE(key);
  std::ifstream in(kDataDir + stem + ".json");
  REQUIRE(in.good());
  const nlohmann::json all = nlohmann::json::parse(in);
  REQUIRE(all.contains(key));
  const nlohmann::json& expected = all[key];
  const TorchStateDict sd = read_torch_checkpoint(kDataDir + stem + ".pt", key);
  CHECK(sd.path == expected["path"].get<std::string>());
  CHECK(sd.skipped_keys == expected["skipped"].get<std::vector<std::string>>());
  REQUIRE(sd.tensors.size() == expected["tensors"].size());
  for (size_t i = 0; i < sd.tensors.size(); ++i) {
    const std::string& name = sd.tensors[i].first;
    const pxdgen::converter::TorchTensor& t = sd.tensors[i].second;
    const nlohmann::json& e = expected["tensors"][i];
    CAPTURE(name);
    CHECK(name == e["name"].get<std::string>());
    CHECK(std::string(pxdgen::converter::torch_dtype_name(t.source_dtype)) == e["dtype"].get<std::string>());
    CHECK(t.shape == e["shape"].get<std::vector<int64_t>>());
    const std::vector<double> values = e["values"].get<std::vector<double>>();
    REQUIRE(t.values.size() == values.size());
    size_t mismatches = 0;
    for (size_t j = 0; j < values.size(); ++j) mismatches += same_float(t.values[j], static_cast<float>(values[j])) ? 0 : 1;
    CHECK(mismatches == 0);
  }
}

std::string error_of_file(const std::string& stem, const std::string& key = "") {
  try {
    read_torch_checkpoint(kDataDir + stem + ".pt", key);
  } catch (const pxdgen::Error& e) {
    return e.what();
  }
  return "";
}

// ---- hand-made checkpoints ------------------------------------------------------------

std::string le(uint64_t v, int width) {
  std::string s;
  for (int i = 0; i < width; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string integer(int64_t v) { return std::string("\x8a\x08", 2) + le(static_cast<uint64_t>(v), 8); }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string int_tuple(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (int64_t x : v) s += integer(x);
  return s + "t";
}

struct FakeTensor {
  std::string name = "w";
  std::string storage_class = "FloatStorage";
  std::string storage_key = "0";
  int64_t storage_numel = 6;
  int64_t offset = 0;
  std::vector<int64_t> shape{2, 3}, stride{3, 1};
  std::string rebuild = "_rebuild_tensor_v2";
  std::string dtype;  ///< for _rebuild_tensor_v3: torch.<dtype>
};

std::string tensor_pickle(const FakeTensor& t) {
  std::string s = global("torch._utils", t.rebuild) + "((" + str("storage") + global("torch", t.storage_class) +
                  str(t.storage_key) + str("cpu") + integer(t.storage_numel) + "tQ" + integer(t.offset) +
                  int_tuple(t.shape) + int_tuple(t.stride);
  if (t.rebuild != "_rebuild_tensor") s += std::string("\x89", 1) + global("collections", "OrderedDict") + ")R";
  if (!t.dtype.empty()) s += global("torch", t.dtype);
  return s + "tR";
}

/// A state dict pickle: the tensors, then `extra` raw key/value pickle fragments.
std::string state_dict_pickle(const std::vector<FakeTensor>& tensors, const std::string& extra = "") {
  std::string s = std::string("\x80\x02", 2) + global("collections", "OrderedDict") + ")R(";
  for (const FakeTensor& t : tensors) s += str(t.name) + tensor_pickle(t);
  return s + extra + "u.";
}

struct Entry {
  std::string name, data;
  uint16_t method = 0;
};

/// Stored-only zip in the layout torch.save uses.
std::string build_zip(const std::vector<Entry>& entries) {
  std::string out, central;
  for (const Entry& e : entries) {
    const uint32_t crc = pxdgen::crc32(e.data.data(), e.data.size());
    const std::string sizes = le(crc, 4) + le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) + le(0, 2);
    central += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) + sizes + le(0, 2) +
               le(0, 2) + le(0, 2) + le(0, 4) + le(out.size(), 4) + e.name;
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 4) + sizes + e.name + e.data;
  }
  const size_t cd_offset = out.size();
  out += central;
  out += le(0x06054b50, 4) + le(0, 4) + le(entries.size(), 2) + le(entries.size(), 2) + le(central.size(), 4) +
         le(cd_offset, 4) + le(0, 2);
  return out;
}

std::string floats(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }

std::vector<Entry> checkpoint(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages) {
  std::vector<Entry> entries{{"arch/data.pkl", pickle}};
  for (const auto& [key, bytes] : storages) entries.push_back({"arch/data/" + key, bytes});
  entries.push_back({"arch/version", "3\n"});
  return entries;
}

TorchStateDict read_zip(const std::string& zip, const std::string& key = "") {
  return read_torch_checkpoint_bytes(reinterpret_cast<const uint8_t*>(zip.data()), zip.size(), "made.pt", key);
}

std::string error_of_zip(const std::string& zip, const std::string& key = "") {
  try {
    read_zip(zip, key);
  } catch (const pxdgen::Error& e) {
    return e.what();
  }
  return "";
}

const std::string kSixFloats = floats({1, 2, 3, 4, 5, 6});

}  // namespace

TEST_CASE("checkpoint: state dicts written by torch.save read back exactly") {
  check_against_json("plain", "");
  check_against_json("dtypes", "");
  check_against_json("views", "");
  check_against_json("parameters", "");
  check_against_json("protocol4", "");
  check_against_json("single_nested", "");
  check_against_json("single_nested", "state_dict");
  check_against_json("nested", "G");
  check_against_json("nested", "G_ema");
}

TEST_CASE("checkpoint: choosing among several state dicts") {
  const std::string ambiguous = error_of_file("nested");
  CHECK(ambiguous.find("several state dicts") != std::string::npos);
  CHECK(ambiguous.find("G (4 tensors)") != std::string::npos);
  CHECK(ambiguous.find("G_ema (4 tensors)") != std::string::npos);
  CHECK(ambiguous.find("--key") != std::string::npos);
  CHECK(error_of_file("nested", "D").find("has no key 'D'") != std::string::npos);
  CHECK(error_of_file("nested", "D").find("'G_ema'") != std::string::npos);
  CHECK(error_of_file("nested", "epoch").find("not a state dict") != std::string::npos);
  CHECK(error_of_file("nested", "optimizer_G").find("holds no tensors") != std::string::npos);
  CHECK(error_of_file("nested", "G.conv.weight").find("not a state dict") != std::string::npos);
  CHECK(error_of_file("nested", "run.x").find("not a dict") != std::string::npos);
}

TEST_CASE("checkpoint: formats that cannot be read say why") {
  const std::string legacy = error_of_file("legacy");
  CHECK(legacy.find("legacy.pt") != std::string::npos);
  CHECK(legacy.find("legacy format (before 1.6)") != std::string::npos);
  CHECK(legacy.find("torch.save(obj, path)") != std::string::npos);
  CHECK(error_of_file("whole_module").find("pickled torch.nn.modules.linear.Linear object") != std::string::npos);
  CHECK(error_of_file("does_not_exist").find("cannot open") != std::string::npos);

  const auto error_of_bytes = [](const std::string& bytes) {
    try {
      read_torch_checkpoint_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.pt");
    } catch (const pxdgen::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of_bytes("").find("too short") != std::string::npos);
  CHECK(error_of_bytes("hello, this is not a checkpoint").find("not a PyTorch checkpoint") != std::string::npos);
  CHECK(error_of_bytes("\x93NUMPY\x01\x00").find("NumPy") != std::string::npos);
  std::string tar(600, '\0');
  std::memcpy(&tar[257], "ustar", 5);
  CHECK(error_of_bytes(tar).find("legacy format") != std::string::npos);

  CHECK(error_of_zip(build_zip({{"a/readme.txt", "hi"}})).find("no <folder>/data.pkl") != std::string::npos);
  CHECK(error_of_zip(build_zip({{"m/data.pkl", "."}, {"m/code/m.py", ""}})).find("TorchScript") != std::string::npos);

  auto big_endian = checkpoint(state_dict_pickle({FakeTensor{}}), {{"0", kSixFloats}});
  big_endian.push_back({"arch/byteorder", "big"});
  CHECK(error_of_zip(build_zip(big_endian)).find("big-endian") != std::string::npos);
  auto little = checkpoint(state_dict_pickle({FakeTensor{}}), {{"0", kSixFloats}});
  little.push_back({"arch/byteorder", "little"});
  CHECK(read_zip(build_zip(little)).tensors.size() == 1);

  auto compressed = checkpoint(state_dict_pickle({FakeTensor{}}), {{"0", kSixFloats}});
  compressed[1].method = 8;
  CHECK(error_of_zip(build_zip(compressed)).find("compressed") != std::string::npos);
}

TEST_CASE("checkpoint: hand-made tensors, including the rarer rebuild forms") {
  FakeTensor base;
  const TorchStateDict sd = read_zip(build_zip(checkpoint(state_dict_pickle({base}), {{"0", kSixFloats}})));
  REQUIRE(sd.tensors.size() == 1);
  CHECK(sd.tensors[0].second.values == std::vector<float>{1, 2, 3, 4, 5, 6});

  FakeTensor v1 = base;
  v1.rebuild = "_rebuild_tensor";
  v1.shape = {3};
  v1.stride = {2};
  CHECK(read_zip(build_zip(checkpoint(state_dict_pickle({v1}), {{"0", kSixFloats}}))).tensors[0].second.values ==
        std::vector<float>{1, 3, 5});

  // torch 2.x: an untyped (byte) storage and the dtype on the rebuild call.
  FakeTensor v3 = base;
  v3.rebuild = "_rebuild_tensor_v3";
  v3.storage_class = "UntypedStorage";
  v3.storage_numel = 8;
  v3.dtype = "float16";
  v3.offset = 1;
  v3.shape = {3};
  v3.stride = {1};
  const std::string halves("\x00\x3c\x00\x40\x00\xc2\x00\x7c", 8);  // 1, 2, -3, inf
  const TorchStateDict h = read_zip(build_zip(checkpoint(state_dict_pickle({v3}), {{"0", halves}})));
  REQUIRE(h.tensors.size() == 1);
  CHECK(h.tensors[0].second.source_dtype == pxdgen::converter::TorchDType::f16);
  CHECK(h.tensors[0].second.values[0] == 2.0f);
  CHECK(h.tensors[0].second.values[1] == -3.0f);
  CHECK(std::isinf(h.tensors[0].second.values[2]));

  // Non-tensor entries and non-string keys are skipped, not fatal.
  const std::string extra = str("count") + integer(3) + integer(5) + str("int-keyed");
  const TorchStateDict junk = read_zip(build_zip(checkpoint(state_dict_pickle({base}, extra), {{"0", kSixFloats}})));
  CHECK(junk.tensors.size() == 1);
  CHECK(junk.skipped_keys == std::vector<std::string>{"count", "int 5"});
}

TEST_CASE("checkpoint: corrupt tensor descriptions are rejected") {
  const auto error_for = [](const FakeTensor& t, const std::string& storage = kSixFloats) {
    return error_of_zip(build_zip(checkpoint(state_dict_pickle({t}), {{"0", storage}})));
  };
  FakeTensor t;
  t.storage_key = "7";
  CHECK(error_for(t).find("refers to storage '7'") != std::string::npos);

  t = FakeTensor{};
  t.stride = {3, 2};
  CHECK(error_for(t).find("reaches element 7 of a storage of 6") != std::string::npos);
  t = FakeTensor{};
  t.offset = 1;
  CHECK(error_for(t).find("reaches element") != std::string::npos);
  t = FakeTensor{};
  t.shape = {1000000, 1000000, 1000};
  t.stride = {0, 0, 0};
  CHECK(error_for(t).find("more values than the checkpoint can hold") != std::string::npos);
  t.shape = {int64_t{1} << 62, 8, 8};
  CHECK(error_for(t).find("more values") != std::string::npos);
  t = FakeTensor{};
  t.shape = {-2, 3};
  CHECK(error_for(t).find("negative size") != std::string::npos);
  t = FakeTensor{};
  t.stride = {3, -1};
  CHECK(error_for(t).find("negative stride") != std::string::npos);
  t = FakeTensor{};
  t.stride = {3};
  CHECK(error_for(t).find("2 sizes but 1 strides") != std::string::npos);
  t = FakeTensor{};
  t.storage_numel = 1000000000000000;
  CHECK(error_for(t).find("holds only 24") != std::string::npos);
  CHECK(error_for(FakeTensor{}, floats({1, 2, 3})).find("holds only 12") != std::string::npos);
  t = FakeTensor{};
  t.storage_class = "ComplexFloatStorage";
  CHECK(error_for(t).find("torch.ComplexFloatStorage, which cannot be converted") != std::string::npos);
  t = FakeTensor{};
  t.rebuild = "_rebuild_qtensor";
  CHECK(error_for(t).find("torch._utils._rebuild_qtensor") != std::string::npos);
  t = FakeTensor{};
  t.storage_key = "../x";
  CHECK(error_for(t).find("malformed storage key") != std::string::npos);

  FakeTensor a, b;
  b.storage_key = "0";
  CHECK(error_of_zip(build_zip(checkpoint(state_dict_pickle({a, b}), {{"0", kSixFloats}}))).find("key 'w' twice") !=
        std::string::npos);
}

TEST_CASE("checkpoint: damaged files fail cleanly") {
  const std::vector<uint8_t> file = read_file(kDataDir + "plain.pt");
  REQUIRE(!file.empty());
  for (size_t cut = 0; cut < file.size(); ++cut) {
    std::vector<uint8_t> part(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_THROWS_AS(read_torch_checkpoint_bytes(part.data(), part.size(), "cut.pt"), pxdgen::Error);
  }

  // A flipped bit inside a storage is caught by its CRC.
  std::vector<uint8_t> flipped = file;
  const size_t at = 400;  // inside plain/data/0, which starts after data.pkl
  flipped[at] ^= 0x10;
  bool crc_error = false;
  try {
    read_torch_checkpoint_bytes(flipped.data(), flipped.size(), "flipped.pt");
  } catch (const pxdgen::Error& e) {
    crc_error = std::string(e.what()).find("CRC-32") != std::string::npos;
  }
  CHECK(crc_error);

  uint64_t state = 7;
  const auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> copy = file;
    for (int i = 0; i < 3; ++i) copy[next() % copy.size()] = static_cast<uint8_t>(next());
    try {
      read_torch_checkpoint_bytes(copy.data(), copy.size(), "fuzz.pt");
    } catch (const pxdgen::Error&) {
    }
  }
}
