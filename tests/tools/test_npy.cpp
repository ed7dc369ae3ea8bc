#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "pxdgen/error.hpp"
#include "tools/pxdgen/npy.hpp"

namespace fs = std::filesystem;

namespace {

std::string le(uint64_t v, int width) {
  std::string s;
  for (int i = 0; i < width; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

/// A .npy file as numpy lays it out: magic, version, header length, padded dict literal.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  out += le(header.size(), major == 1 ? 2 : 4);
  return out + header + data;
}

std::string f32(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }
std::string f64(const std::vector<double>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8); }

pxdgen::npy::Array parse(const std::string& bytes) {
  return pxdgen::npy::read_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.npy");
}

std::string error_of(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const pxdgen::Error& e) {
    return e.what();
  }
  return "";
}

fs::path temp_dir() {
  const fs::path dir = fs::temp_directory_path() / ("pxdgen_npy_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::string file_contents(const fs::path& path) {
  std::string s;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

const std::string kHeader23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

}  // namespace

TEST_CASE("npy: reads what numpy writes") {
  const pxdgen::npy::Array a = parse(npy_bytes(kHeader23, f32({1, 2, 3, 4, 5, -6.5f})));
  CHECK(a.shape == std::vector<int64_t>{2, 3});
  CHECK(a.values == std::vector<float>{1, 2, 3, 4, 5, -6.5f});

  const pxdgen::npy::Array d = parse(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64({0.1, -2, 1e300})));
  CHECK(d.shape == std::vector<int64_t>{3});
  CHECK(d.values[0] == 0.1f);
  CHECK(d.values[1] == -2.0f);
  CHECK(std::isinf(d.values[2]));

  CHECK(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32({7}))).values == std::vector<float>{7});
  CHECK(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", "")).values.empty());
  // Format 2.0 and 3.0 differ only in the width of the header length.
  CHECK(parse(npy_bytes(kHeader23, f32({1, 2, 3, 4, 5, 6}), 2)).values.size() == 6);
  CHECK(parse(npy_bytes(kHeader23, f32({1, 2, 3, 4, 5, 6}), 3)).values.size() == 6);
  // Other spellings Python accepts and old numpy versions wrote.
  CHECK(parse(npy_bytes("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}", f32({1, 2, 3, 4, 5, 6}))).shape ==
        std::vector<int64_t>{2, 3});
  // Fortran order is harmless when at most one dimension exceeds one.
  CHECK(parse(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", f32({1, 2, 3}))).values.size() == 3);
}

TEST_CASE("npy: strict header checks") {
  const std::string six = f32({1, 2, 3, 4, 5, 6});
  CHECK(error_of("").find("bad magic") != std::string::npos);
  CHECK(error_of("\x93NUMPZ\x01\x00\x00\x00").find("bad magic") != std::string::npos);
  std::string v4 = npy_bytes(kHeader23, six);
  v4[6] = 4;
  CHECK(error_of(v4).find("format 4.0") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", six)).find("Fortran order") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", six)).find("dtype '<i4'") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", six)).find("big-endian") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", six)).find("unexpected key") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", six)).find("lacks") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", six)).find("repeats") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", six)).find("not a tuple") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 6), }", six)).find("non-negative") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }", six)).find("True or False") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", six)).find("after the closing") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f\\4', 'fortran_order': False, 'shape': (2, 3), }", six)).find("escapes") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }", six)).find("shape") !=
        std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3), }", six)).find("malformed") !=
        std::string::npos);

  // The header must not lie about the data.
  CHECK(error_of(npy_bytes(kHeader23, six.substr(0, 20))).find("truncated") != std::string::npos);
  CHECK(error_of(npy_bytes(kHeader23, six + "xxxx")).find("should hold 24 bytes") != std::string::npos);
  // A claimed 10^15 elements is refused without allocating them.
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000, 1000), }", six))
            .find("should hold") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", six))
            .find("too large") != std::string::npos);
  CHECK(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", six))
            .find("too large") != std::string::npos);

  std::string no_newline = npy_bytes(kHeader23, six);
  no_newline[10 + 117] = ' ';
  CHECK(error_of(no_newline).find("newline") != std::string::npos);
  std::string long_header = npy_bytes(kHeader23, six);
  long_header[8] = static_cast<char>(0xFF);
  CHECK(error_of(long_header).find("header") != std::string::npos);
  std::string huge_v2 = npy_bytes(kHeader23, six, 2);
  huge_v2[11] = 0x7F;
  CHECK(error_of(huge_v2).find("claims a header") != std::string::npos);
}

TEST_CASE("npy: every truncation and random corruption fails cleanly") {
  const std::string good = npy_bytes(kHeader23, f32({1, 2, 3, 4, 5, 6}));
  for (size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<uint8_t> part(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_THROWS_AS(pxdgen::npy::read_bytes(part.data(), part.size(), "cut.npy"), pxdgen::Error);
  }
  uint64_t state = 3;
  const auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> copy(good.begin(), good.end());
    for (int i = 0; i < 2; ++i) copy[next() % 80] = static_cast<uint8_t>(next());
    try {
      pxdgen::npy::read_bytes(copy.data(), copy.size(), "fuzz.npy");
    } catch (const pxdgen::Error&) {
    }
  }
}

TEST_CASE("npy: write and read back through files") {
  const fs::path dir = temp_dir();
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 3}, std::vector<int64_t>{0}, std::vector<int64_t>{}, std::vector<int64_t>{1, 2, 3, 4}}) {
    pxdgen::npy::Array a;
    a.shape = shape;
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    for (size_t i = 0; i < n; ++i) a.values.push_back(static_cast<float>(i) * 0.5f - 3.0f);
    const std::string path = (dir / "a.npy").string();
    pxdgen::npy::write(path, a);
    const std::string bytes = file_contents(path);
    CHECK(bytes.size() % 4 == 0);
    // Data starts 64-byte aligned, as numpy requires of its own files.
    CHECK((bytes.size() - n * 4) % 64 == 0);
    const pxdgen::npy::Array b = pxdgen::npy::read(path);
    CHECK(b.shape == shape);
    CHECK(b.values == a.values);
    CHECK(parse(bytes).values == a.values);
  }
  // Matches numpy's own layout for the same array.
  pxdgen::npy::write((dir / "n.npy").string(), {{2, 3}, {1, 2, 3, 4, 5, 6}});
  CHECK(file_contents(dir / "n.npy") == npy_bytes(kHeader23, f32({1, 2, 3, 4, 5, 6})));

  // float64 files are read in chunks and converted.
  std::vector<double> many(200000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<double>(i) / 8;
  {
    FILE* f = std::fopen((dir / "d.npy").c_str(), "wb");
    REQUIRE(f != nullptr);
    const std::string bytes = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (200000,), }", f64(many));
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  const pxdgen::npy::Array d = pxdgen::npy::read((dir / "d.npy").string());
  REQUIRE(d.values.size() == many.size());
  CHECK(d.values[199999] == static_cast<float>(199999.0 / 8));

  CHECK_THROWS_WITH_AS(pxdgen::npy::read((dir / "missing.npy").string()), doctest::Contains("cannot read"), pxdgen::Error);
  {
    FILE* f = std::fopen((dir / "short.npy").c_str(), "wb");
    const std::string bytes = npy_bytes(kHeader23, f32({1, 2, 3}));
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  CHECK_THROWS_WITH_AS(pxdgen::npy::read((dir / "short.npy").string()), doctest::Contains("truncated"), pxdgen::Error);
  CHECK_THROWS_AS(pxdgen::npy::write((dir / "bad.npy").string(), {{2, 2}, {1, 2, 3}}), pxdgen::Error);
  CHECK_FALSE(fs::exists(dir / "bad.npy"));
  fs::remove_all(dir);
}

TEST_CASE("npy: the streaming writer only publishes finished files") {
  const fs::path dir = temp_dir();
  const fs::path path = dir / "stream.npy";
  const fs::path partial = dir / "stream.npy.partial";
  {
    pxdgen::npy::Writer w(path.string(), {3, 2});
    CHECK(fs::exists(partial));
    const float first[4] = {1, 2, 3, 4}, rest[2] = {5, 6};
    w.append(first, 4);
    CHECK_THROWS_WITH_AS(w.finish(), doctest::Contains("4 of 6"), pxdgen::Error);
    CHECK_FALSE(fs::exists(path));
    CHECK_THROWS_WITH_AS(w.append(first, 3), doctest::Contains("7 values"), pxdgen::Error);
    w.append(rest, 2);
    w.finish();
    CHECK_THROWS_AS(w.append(rest, 1), pxdgen::Error);
    CHECK_THROWS_AS(w.finish(), pxdgen::Error);
  }
  CHECK(fs::exists(path));
  CHECK_FALSE(fs::exists(partial));
  CHECK(pxdgen::npy::read(path.string()).values == std::vector<float>{1, 2, 3, 4, 5, 6});

  // Abandoned: the temporary goes, the previous file stays untouched.
  {
    pxdgen::npy::Writer w(path.string(), {2});
    const float one = 9;
    w.append(&one, 1);
  }
  CHECK_FALSE(fs::exists(partial));
  CHECK(pxdgen::npy::read(path.string()).values.size() == 6);

  CHECK_THROWS_WITH_AS(pxdgen::npy::Writer((dir / "no_such_dir" / "x.npy").string(), {1}), doctest::Contains("cannot create"),
                       pxdgen::Error);
  CHECK_THROWS_WITH_AS(pxdgen::npy::Writer((dir / "neg.npy").string(), {2, -1}), doctest::Contains("negative"), pxdgen::Error);
  CHECK_THROWS_WITH_AS(pxdgen::npy::Writer((dir / "big.npy").string(), {int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("too large"), pxdgen::Error);
  CHECK_FALSE(fs::exists(dir / "big.npy.partial"));
  fs::remove_all(dir);
}
