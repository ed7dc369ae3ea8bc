#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "engine/support/checksum.hpp"
#include "pxdgen/error.hpp"
#include "tests/weights_converter/read_file.hpp"
#include "weights_converter/zip_archive.hpp"

using pxdgen::converter::ZipArchive;
using pxdgen::converter::ZipView;

namespace {

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xFF);
  s += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xFFFF);
  put16(s, v >> 16);
}
void put64(std::string& s, uint64_t v) {
  put32(s, static_cast<uint32_t>(v));
  put32(s, static_cast<uint32_t>(v >> 32));
}

struct Item {
  Item(std::string n, std::string d) : name(std::move(n)), data(std::move(d)) {}
  std::string name, data;
  uint16_t method = 0;
  uint16_t flags = 0;
  std::string local_extra;    ///< e.g. alignment padding, as torch writes
  bool zip64_fields = false;  ///< saturate sizes/offset and move them to a zip64 extra field
  bool bad_crc = false;
};

struct Options {
  std::string comment;
  bool zip64_end = false;  ///< zip64 end record and locator (torch always writes them)
};

/// Minimal zip writer for the tests: stored entries, optional zip64 structures.
std::string build_zip(const std::vector<Item>& items, const Options& options = {}) {
  std::string out, central;
  for (const Item& it : items) {
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const uint32_t crc = pxdgen::crc32(it.data.data(), it.data.size()) ^ (it.bad_crc ? 1u : 0u);
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, it.flags);
    put16(out, it.method);
    put32(out, 0);  // time, date
    put32(out, crc);
    put32(out, static_cast<uint32_t>(it.data.size()));
    put32(out, static_cast<uint32_t>(it.data.size()));
    put16(out, static_cast<uint32_t>(it.name.size()));
    put16(out, static_cast<uint32_t>(it.local_extra.size()));
    out += it.name + it.local_extra + it.data;

    std::string extra;
    if (it.zip64_fields) {
      put16(extra, 1);
      put16(extra, 24);
      put64(extra, it.data.size());
      put64(extra, it.data.size());
      put64(extra, offset);
    }
    put32(central, 0x02014b50);
    put16(central, 45);
    put16(central, 45);
    put16(central, it.flags);
    put16(central, it.method);
    put32(central, 0);
    put32(central, crc);
    put32(central, it.zip64_fields ? 0xFFFFFFFFu : static_cast<uint32_t>(it.data.size()));
    put32(central, it.zip64_fields ? 0xFFFFFFFFu : static_cast<uint32_t>(it.data.size()));
    put16(central, static_cast<uint32_t>(it.name.size()));
    put16(central, static_cast<uint32_t>(extra.size()));
    put16(central, 0);  // comment
    put16(central, 0);  // disk
    put16(central, 0);
    put32(central, 0);
    put32(central, it.zip64_fields ? 0xFFFFFFFFu : offset);
    central += it.name + extra;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  if (options.zip64_end) {
    const uint64_t record = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, items.size());
    put64(out, items.size());
    put64(out, central.size());
    put64(out, cd_offset);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, record);
    put32(out, 1);
  }
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, options.zip64_end ? 0xFFFF : static_cast<uint32_t>(items.size()));
  put16(out, options.zip64_end ? 0xFFFF : static_cast<uint32_t>(items.size()));
  put32(out, options.zip64_end ? 0xFFFFFFFFu : static_cast<uint32_t>(central.size()));
  put32(out, options.zip64_end ? 0xFFFFFFFFu : static_cast<uint32_t>(cd_offset));
  put16(out, static_cast<uint32_t>(options.comment.size()));
  out += options.comment;
  return out;
}

const uint8_t* bytes(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

std::string text(const ZipView& v) { return std::string(reinterpret_cast<const char*>(v.data), v.size); }

std::string error_of(const std::string& zip, const std::string& entry = "", bool verify = false) {
  try {
    ZipArchive a(bytes(zip), zip.size(), "test.zip");
    if (!entry.empty()) a.read(entry, verify);
  } catch (const pxdgen::Error& e) {
    return e.what();
  }
  return "";
}

using pxdgen::test::read_file;

/// Parsing and reading every entry must either succeed or throw pxdgen::Error.
bool survives(const uint8_t* data, size_t size) {
  try {
    ZipArchive a(data, size, "fuzz.zip");
    for (const auto& e : a.entries()) {
      try {
        a.read(e, true);
      } catch (const pxdgen::Error&) {
      }
    }
  } catch (const pxdgen::Error&) {
  }
  return true;
}

}  // namespace

TEST_CASE("zip: stored entries are views into the buffer") {
  const std::string zip = build_zip({{"a/data.pkl", "hello"}, {"a/data/0", std::string("\0\1\2\3", 4)}, {"empty", ""}});
  ZipArchive a(bytes(zip), zip.size(), "test.zip");
  REQUIRE(a.entries().size() == 3);
  CHECK(a.entries()[0].name == "a/data.pkl");
  CHECK(a.entries()[1].name == "a/data/0");
  CHECK(a.name() == "test.zip");
  const ZipView v = a.read("a/data.pkl", true);
  CHECK(text(v) == "hello");
  CHECK(v.data >= bytes(zip));
  CHECK(v.data + v.size <= bytes(zip) + zip.size());
  CHECK(text(a.read("a/data/0", true)) == std::string("\0\1\2\3", 4));
  CHECK(a.read("empty", true).size == 0);
  CHECK(a.find("nope") == nullptr);
  REQUIRE(a.find("a/data/0") != nullptr);
  CHECK(a.find("a/data/0")->uncompressed_size == 4);
  CHECK_THROWS_WITH_AS(a.read("nope"), doctest::Contains("no entry 'nope'"), pxdgen::Error);
}

TEST_CASE("zip: archive comment, including one that mimics an end record") {
  std::string fake_end;
  put32(fake_end, 0x06054b50);
  fake_end += std::string(18, '\0');
  for (const std::string& comment : {std::string("made by hand"), fake_end + "tail", std::string(65535, 'c')}) {
    Options o;
    o.comment = comment;
    const std::string zip = build_zip({{"x", "payload"}}, o);
    ZipArchive a(bytes(zip), zip.size(), "c.zip");
    REQUIRE(a.entries().size() == 1);
    CHECK(text(a.read("x", true)) == "payload");
  }
}

TEST_CASE("zip: zip64 end record and extra fields") {
  Item big{"big", "zip64 payload"};
  big.zip64_fields = true;
  Item padded{"padded", "aligned"};
  padded.local_extra = std::string("\xfe\xca\x06\x00", 4) + std::string(6, 'Z');  // local-only padding field
  Options o;
  o.zip64_end = true;
  const std::string zip = build_zip({big, padded}, o);
  ZipArchive a(bytes(zip), zip.size(), "z64.zip");
  REQUIRE(a.entries().size() == 2);
  CHECK(a.entries()[0].compressed_size == 13);
  CHECK(a.entries()[0].local_header_offset == 0);
  CHECK(text(a.read("big", true)) == "zip64 payload");
  CHECK(text(a.read("padded", true)) == "aligned");
}

TEST_CASE("zip: an empty archive has no entries") {
  const std::string zip = build_zip({});
  CHECK(ZipArchive(bytes(zip), zip.size(), "e.zip").entries().empty());
  CHECK(pxdgen::converter::looks_like_zip(bytes(zip), zip.size()));
  CHECK_FALSE(pxdgen::converter::looks_like_zip(bytes(std::string("PK")), 2));
}

TEST_CASE("zip: compressed, encrypted and corrupt entries are refused with a reason") {
  Item deflated{"model/data/3", "not really deflate"};
  deflated.method = 8;
  Item secret{"secret", "xyz"};
  secret.flags = 1;
  Item damaged{"damaged", "bits"};
  damaged.bad_crc = true;
  const std::string zip = build_zip({deflated, secret, damaged});
  CHECK(error_of(zip, "model/data/3").find("'model/data/3'") != std::string::npos);
  CHECK(error_of(zip, "model/data/3").find("compressed (deflate)") != std::string::npos);
  CHECK(error_of(zip, "model/data/3").find("torch.save") != std::string::npos);
  CHECK(error_of(zip, "secret").find("encrypted") != std::string::npos);
  CHECK(error_of(zip, "damaged", false).empty());
  CHECK(error_of(zip, "damaged", true).find("CRC-32") != std::string::npos);
}

TEST_CASE("zip: malformed archives are rejected") {
  CHECK(error_of("").find("too short") != std::string::npos);
  CHECK(error_of(std::string(100, 'x')).find("no end-of-central-directory") != std::string::npos);

  const std::string good = build_zip({{"a", "1234"}, {"b", "5678"}});
  const size_t end = good.size() - 22;

  std::string many = good;  // more entries than the directory has room for
  many[end + 8] = many[end + 10] = static_cast<char>(0xFF);
  many[end + 9] = many[end + 11] = static_cast<char>(0x7F);
  CHECK(error_of(many).find("claims") != std::string::npos);

  std::string far = good;  // directory offset past the end
  far[end + 19] = 0x40;
  CHECK(error_of(far).find("outside the file") != std::string::npos);

  std::string multi = good;  // multi-volume
  multi[end + 4] = 1;
  CHECK(error_of(multi).find("multi-volume") != std::string::npos);

  std::string wrong_local = good;  // local header of "b" damaged
  wrong_local[38] = 'X';
  CHECK(error_of(wrong_local, "b").find("local header signature") != std::string::npos);

  std::string renamed = good;  // local name differs from the central one
  renamed[30] = 'z';
  CHECK(error_of(renamed, "a").find("different file") != std::string::npos);

  // A central entry claiming a size that runs past the file.
  std::string huge = good;
  const size_t cd = huge.size() - 22 - 2 * 47;
  huge[cd + 20] = huge[cd + 24] = static_cast<char>(0xF0);
  huge[cd + 23] = huge[cd + 27] = 0x7F;
  CHECK(error_of(huge, "a").find("run past the end") != std::string::npos);
}

TEST_CASE("zip: every truncation throws, never crashes") {
  Options o;
  o.zip64_end = true;
  const std::string zip = build_zip({{"t/data.pkl", std::string(100, 'p')}, {"t/data/0", std::string(64, 'd')}}, o);
  for (size_t cut = 0; cut < zip.size(); ++cut) {
    // A private copy so the sanitizer sees reads past the cut.
    std::vector<uint8_t> part(zip.begin(), zip.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_THROWS_AS(ZipArchive(part.data(), part.size(), "cut.zip"), pxdgen::Error);
  }
}

TEST_CASE("zip: random corruption yields errors, not crashes") {
  Options o;
  o.zip64_end = true;
  Item big{"big", std::string(40, 'q')};
  big.zip64_fields = true;
  const std::string zip = build_zip({{"t/data.pkl", std::string(50, 'p')}, big, {"t/x", "yz"}}, o);
  uint64_t state = 12345;
  const auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> copy(zip.begin(), zip.end());
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int i = 0; i < flips; ++i) copy[next() % copy.size()] = static_cast<uint8_t>(next());
    CHECK(survives(copy.data(), copy.size()));
  }
}

TEST_CASE("zip: a checkpoint written by torch.save") {
  const std::vector<uint8_t> file = read_file(PXDGEN_SOURCE_DIR "/tests/data/checkpoints/plain.pt");
  REQUIRE(!file.empty());
  ZipArchive a(file.data(), file.size(), "plain.pt");
  REQUIRE(a.find("plain/data.pkl") != nullptr);
  for (const auto& e : a.entries()) CHECK(a.read(e, true).size == e.uncompressed_size);
  CHECK(a.read("plain/data/0", true).size == 2 * 3 * 3 * 3 * 4);
}
