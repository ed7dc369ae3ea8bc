#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"

namespace {

/// Bit-at-a-time CRC-32, the definition the table-driven version must agree with.
uint32_t crc32_bitwise(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

/// n bytes from a linear congruential sequence: every byte and word of them differs.
std::string varied_bytes(size_t n, uint32_t seed) {
  std::string data;
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    data += static_cast<char>(x >> 24);
  }
  return data;
}

}  // namespace

TEST_CASE("crc32 matches the standard check values") {
  CHECK(pxdgen::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(pxdgen::crc32("", 0) == 0u);
  CHECK(pxdgen::crc32(nullptr, 0) == 0u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  CHECK(pxdgen::crc32(fox.data(), fox.size()) == 0x414FA339u);
}

TEST_CASE("crc32 continues across pieces and agrees with the bitwise definition") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>((i * 131 + 7) & 0xFF);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{15}, size_t{16}, size_t{17}, size_t{999}, size_t{1000}}) {
    const std::string piece = data.substr(0, n);
    CHECK(pxdgen::crc32(piece.data(), piece.size()) == crc32_bitwise(piece));
  }
  const uint32_t whole = pxdgen::crc32(data.data(), data.size());
  for (size_t cut : {size_t{0}, size_t{3}, size_t{8}, size_t{500}, size_t{1000}}) {
    const uint32_t first = pxdgen::crc32(data.data(), cut);
    CHECK(pxdgen::crc32(data.data() + cut, data.size() - cut, first) == whole);
  }
  // Unaligned starts exercise the wide inner loop at every alignment.
  for (size_t start = 0; start < 8; ++start)
    CHECK(pxdgen::crc32(data.data() + start, 100) == crc32_bitwise(data.substr(start, 100)));
}

TEST_CASE("crc32 agrees with the bitwise definition at every length and alignment around its 64-byte folding") {
  // From 64 bytes on, x86 CPUs with carry-less multiplication fold 16-byte lanes; the tables
  // take what is left. Both meet here, at every start within a 16-byte lane.
  const std::string data = varied_bytes(4096 + 16, 12345);
  int mismatches = 0, checked = 0;
  for (size_t start = 0; start < 16; ++start)
    for (size_t n = 0; n <= 300; ++n, ++checked)
      mismatches += pxdgen::crc32(data.data() + start, n) != crc32_bitwise(data.substr(start, n));
  for (size_t n : {size_t{1023}, size_t{1024}, size_t{1025}, size_t{4096}}) {
    mismatches += pxdgen::crc32(data.data() + 3, n) != crc32_bitwise(data.substr(3, n));
    ++checked;
  }
  MESSAGE(mismatches << " of " << checked << " lengths and starts differ from the bitwise CRC-32");
  CHECK(mismatches == 0);
  // Continuing from a previous value enters the folding with a nonzero register.
  const uint32_t head = pxdgen::crc32(data.data(), 5);
  CHECK(pxdgen::crc32(data.data() + 5, 4000, head) == crc32_bitwise(data.substr(0, 4005)));
}

TEST_CASE("sha256 matches FIPS 180-4 test vectors, by the CPU's SHA instructions and without") {
  using Hash = std::string (*)(const void*, size_t);
  for (const Hash hash : {Hash{pxdgen::sha256_hex}, Hash{pxdgen::sha256_hex_portable}}) {
    CHECK(hash("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hash("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hash(nullptr, 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(hash(two_blocks.data(), two_blocks.size()) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string million(1000000, 'a');
    CHECK(hash(million.data(), million.size()) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST_CASE("sha256 pads correctly around block boundaries") {
  const std::pair<size_t, const char*> cases[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
      {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
      {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
  };
  for (const auto& [n, hex] : cases) {
    const std::string s(n, 'a');
    CHECK(pxdgen::sha256_hex(s.data(), s.size()) == hex);
    CHECK(pxdgen::sha256_hex_portable(s.data(), s.size()) == hex);
  }
}

TEST_CASE("sha256 by the CPU's SHA instructions agrees with the portable one at every length to 260 bytes") {
  // Every length across the padding of up to five blocks, at starts spread over a 16-byte
  // lane for the instructions' unaligned loads, and a few multi-block messages.
  const std::string data = varied_bytes(8192 + 16, 2024);
  int mismatches = 0, checked = 0;
  for (size_t start = 0; start < 16; start += 5)
    for (size_t n = 0; n <= 260; ++n, ++checked)
      mismatches += pxdgen::sha256_hex(data.data() + start, n) != pxdgen::sha256_hex_portable(data.data() + start, n);
  for (size_t n : {size_t{1023}, size_t{4096}, size_t{8192}}) {
    mismatches += pxdgen::sha256_hex(data.data() + 1, n) != pxdgen::sha256_hex_portable(data.data() + 1, n);
    ++checked;
  }
  MESSAGE(mismatches << " of " << checked << " lengths and starts differ from the portable SHA-256");
  CHECK(mismatches == 0);
}

TEST_CASE("sha256 of a file streams it in chunks") {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("pxdgen_sha_" + std::to_string(::getpid()) + ".bin");
  // Larger than one read chunk, so the chunk seams are crossed.
  const std::string contents(3 * 1000000 + 17, 'a');
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(contents.data(), 1, contents.size(), f) == contents.size());
    std::fclose(f);
  }
  CHECK(pxdgen::sha256_file_hex(path.string()) == pxdgen::sha256_hex(contents.data(), contents.size()));
  fs::remove(path);
  CHECK_THROWS_AS(pxdgen::sha256_file_hex(path.string()), pxdgen::Error);
}
