#include <doctest/doctest.h>
#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/hdf5_writer.hpp"

using pxdgen::Digit;
using pxdgen::Error;
namespace fs = std::filesystem;
namespace h5 = pxdgen::hdf5;

namespace {

/// A fresh directory per test case, removed afterwards.
struct ScratchDir {
  fs::path dir;
  explicit ScratchDir(const std::string& name) {
    dir = fs::temp_directory_path() / ("pxdgen_test_hdf5_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

h5::RunAttributes run_attributes() {
  h5::RunAttributes a;
  a.model_sha256 = "ab12cd34";
  a.family = "biggan_deep";
  a.variant = "ieagan_production";
  a.seed = 42;
  a.threshold = "tanh > -0.26, charge >= 1 ADU";
  a.first_event = 7;
  return a;
}

/// Reads a whole 1-D dataset through the plain C API, converted to uint64.
std::vector<uint64_t> read_column(hid_t file, const char* name, H5T_class_t* cls = nullptr, size_t* bytes = nullptr) {
  hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
  REQUIRE_MESSAGE(ds >= 0, name);
  hid_t type = H5Dget_type(ds);
  if (cls) *cls = H5Tget_class(type);
  if (bytes) *bytes = H5Tget_size(type);
  CHECK(H5Tget_sign(type) == H5T_SGN_NONE);
  hid_t space = H5Dget_space(ds);
  REQUIRE(H5Sget_simple_extent_ndims(space) == 1);
  hsize_t n = 0, max = 0;
  H5Sget_simple_extent_dims(space, &n, &max);
  CHECK(max == H5S_UNLIMITED);
  // Chunked with shuffle and deflate, as promised to readers that care about size.
  hid_t dcpl = H5Dget_create_plist(ds);
  CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED);
  bool deflate = false, shuffle = false;
  for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
    unsigned flags = 0;
    size_t nvalues = 0;
    const H5Z_filter_t f = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nvalues, nullptr, 0, nullptr, nullptr);
    deflate |= f == H5Z_FILTER_DEFLATE;
    shuffle |= f == H5Z_FILTER_SHUFFLE;
  }
  CHECK(deflate);
  CHECK(shuffle);
  std::vector<uint64_t> out(n);
  if (n > 0) REQUIRE(H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(ds);
  return out;
}

std::string read_string_attr(hid_t file, const char* name) {
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  REQUIRE_MESSAGE(attr >= 0, name);
  hid_t type = H5Aget_type(attr);
  REQUIRE(H5Tget_class(type) == H5T_STRING);
  CHECK(H5Tis_variable_str(type) > 0);
  hid_t mem = H5Tcopy(H5T_C_S1);
  H5Tset_size(mem, H5T_VARIABLE);
  H5Tset_cset(mem, H5T_CSET_UTF8);
  char* value = nullptr;
  REQUIRE(H5Aread(attr, mem, &value) >= 0);
  std::string out = value;
  H5free_memory(value);
  H5Tclose(mem);
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

uint64_t read_int_attr(hid_t file, const char* name) {
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  REQUIRE_MESSAGE(attr >= 0, name);
  hid_t type = H5Aget_type(attr);
  CHECK(H5Tget_class(type) == H5T_INTEGER);
  uint64_t v = 0;
  REQUIRE(H5Aread(attr, H5T_NATIVE_UINT64, &v) >= 0);
  H5Tclose(type);
  H5Aclose(attr);
  return v;
}

/// Three events: two digits on sensors 0 and 39, none, three on sensor 17.
std::vector<std::vector<Digit>> small_events() {
  return {{{0, 1, 2, 7}, {39, 249, 767, 255}}, {}, {{17, 100, 300, 1}, {17, 100, 301, 20}, {16, 0, 0, 128}}};
}

}  // namespace

TEST_CASE("hdf5 writer: every column and attribute reads back through the C API") {
  ScratchDir tmp("columns");
  const std::string path = tmp / "digits.h5";
  const auto events = small_events();
  const std::vector<uint64_t> numbers = {7, 8, 9};
  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    CHECK(fs::exists(path + ".partial"));
    CHECK_FALSE(fs::exists(path));
    for (size_t e = 0; e < events.size(); ++e) writer.append_event(numbers[e], events[e]);
    CHECK(writer.events() == 3);
    CHECK(writer.digits() == 5);
    writer.finish(3);
  }
  REQUIRE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));

  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(file >= 0);
  H5T_class_t cls;
  size_t bytes = 0;
  CHECK(read_column(file, "event", &cls, &bytes) == std::vector<uint64_t>{7, 7, 9, 9, 9});
  CHECK(bytes == 8);
  CHECK(read_column(file, "sensor", &cls, &bytes) == std::vector<uint64_t>{0, 39, 17, 17, 16});
  CHECK(bytes == 1);
  CHECK(read_column(file, "layer", &cls, &bytes) == std::vector<uint64_t>{1, 2, 2, 2, 2});
  CHECK(bytes == 1);
  CHECK(read_column(file, "ladder", &cls, &bytes) == std::vector<uint64_t>{1, 12, 1, 1, 1});
  CHECK(bytes == 1);
  CHECK(read_column(file, "sensor_number", &cls, &bytes) == std::vector<uint64_t>{1, 2, 2, 2, 1});
  CHECK(bytes == 1);
  CHECK(read_column(file, "ucell", &cls, &bytes) == std::vector<uint64_t>{1, 249, 100, 100, 0});
  CHECK(bytes == 2);
  CHECK(read_column(file, "vcell", &cls, &bytes) == std::vector<uint64_t>{2, 767, 300, 301, 0});
  CHECK(bytes == 2);
  CHECK(read_column(file, "charge", &cls, &bytes) == std::vector<uint64_t>{7, 255, 1, 20, 128});
  CHECK(bytes == 1);
  CHECK(cls == H5T_INTEGER);
  CHECK(read_column(file, "event_offsets") == std::vector<uint64_t>{0, 2, 2, 5});
  CHECK(read_column(file, "event_numbers") == std::vector<uint64_t>{7, 8, 9});

  CHECK(read_string_attr(file, "format") == "pxdgen-digits");
  CHECK(read_int_attr(file, "format_version") == 1);
  CHECK(read_string_attr(file, "model_sha256") == "ab12cd34");
  CHECK(read_string_attr(file, "family") == "biggan_deep");
  CHECK(read_string_attr(file, "variant") == "ieagan_production");
  CHECK(read_int_attr(file, "seed") == 42);
  CHECK(read_string_attr(file, "threshold") == "tanh > -0.26, charge >= 1 ADU");
  CHECK(read_int_attr(file, "first_event") == 7);
  CHECK(read_string_attr(file, "pxdgen_version") == pxdgen::version());
  CHECK(read_string_attr(file, "sensor_order").find("1.1.1, 1.1.2, 1.2.1") != std::string::npos);
  CHECK(read_int_attr(file, "events_completed") == 3);
  CHECK(read_int_attr(file, "complete") == 1);
  H5Fclose(file);
}

TEST_CASE("hdf5 reader: events come back as written, with the file's attributes") {
  ScratchDir tmp("roundtrip");
  const std::string path = tmp / "digits.h5";
  const auto events = small_events();
  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    for (size_t e = 0; e < events.size(); ++e) writer.append_event(100 + e, events[e]);
    writer.finish(3);
  }
  std::vector<uint64_t> numbers;
  std::vector<std::vector<Digit>> got;
  const h5::FileInfo info = h5::read_hdf5_digits(path, [&](uint64_t event, const std::vector<Digit>& digits) {
    numbers.push_back(event);
    got.push_back(digits);
  });
  CHECK(numbers == std::vector<uint64_t>{100, 101, 102});
  CHECK(got == events);
  CHECK(info.events == 3);
  CHECK(info.digits == 5);
  CHECK(info.complete);
  CHECK(info.events_completed == 3);
  CHECK(info.run.seed == 42);
  CHECK(info.run.first_event == 7);
  CHECK(info.run.family == "biggan_deep");
  CHECK(info.run.variant == "ieagan_production");
  CHECK(info.run.model_sha256 == "ab12cd34");
  CHECK(info.run.threshold == "tanh > -0.26, charge >= 1 ADU");
  CHECK(info.pxdgen_version == pxdgen::version());
  CHECK(h5::read_hdf5_info(path).digits == 5);
}

TEST_CASE("hdf5 writer: large events cross the write buffer and the read blocks intact") {
  ScratchDir tmp("large");
  const std::string path = tmp / "digits.h5";
  // More digits than the write buffer (2^19 rows) and the read block: the second event
  // spans three buffers, the third starts in a partly filled one.
  const int sizes[3] = {240000, 1100000, 240000};
  std::vector<std::vector<Digit>> events(3);
  for (int e = 0; e < 3; ++e)
    for (int i = 0; i < sizes[e]; ++i)
      events[e].push_back({static_cast<uint16_t>((i / 6000 + e) % 40), static_cast<uint16_t>(i % 250),
                           static_cast<uint16_t>((i / 250) % 768), static_cast<uint16_t>(1 + (i + e) % 255)});
  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    for (int e = 0; e < 3; ++e) writer.append_event(static_cast<uint64_t>(e), events[e]);
    writer.finish(3);
  }
  size_t index = 0;
  h5::read_hdf5_digits(path, [&](uint64_t event, const std::vector<Digit>& digits) {
    CHECK(event == index);
    CHECK(digits == events[index]);
    ++index;
  });
  CHECK(index == 3);
}

TEST_CASE("hdf5 writer: an unfinished writer leaves nothing; finish_partial keeps a file marked incomplete") {
  ScratchDir tmp("partial");
  const std::string path = tmp / "digits.h5";
  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    writer.append_event(0, small_events()[0]);
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));

  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    writer.append_event(0, small_events()[0]);
    writer.append_event(1, small_events()[1]);
    CHECK(writer.finish_partial() == 2);
    CHECK_THROWS_AS(writer.append_event(2, {}), Error);
    CHECK_THROWS_AS(writer.finish(2), Error);
  }
  REQUIRE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".partial"));
  const h5::FileInfo info = h5::read_hdf5_info(path);
  CHECK_FALSE(info.complete);
  CHECK(info.events_completed == 2);
  CHECK(info.events == 2);
  CHECK(info.digits == 2);
}

TEST_CASE("hdf5 writer: bad input is refused with a clear message") {
  ScratchDir tmp("errors");
  const std::string path = tmp / "digits.h5";
  h5::Hdf5DigitWriter writer(path, run_attributes());
  CHECK_THROWS_WITH_AS(writer.append_event(5, {{40, 0, 0, 10}}), doctest::Contains("sensor 40"), Error);
  CHECK_THROWS_WITH_AS(writer.append_event(5, {{0, 250, 0, 10}}), doctest::Contains("ucell 250"), Error);
  CHECK_THROWS_WITH_AS(writer.append_event(5, {{0, 0, 768, 10}}), doctest::Contains("vcell 768"), Error);
  CHECK_THROWS_WITH_AS(writer.append_event(5, {{0, 0, 0, 0}}), doctest::Contains("charge 0"), Error);
  CHECK_THROWS_WITH_AS(writer.append_event(5, {{0, 0, 0, 256}}), doctest::Contains("charge 256"), Error);
  CHECK(writer.events() == 0);  // a refused event leaves nothing behind
  writer.append_event(5, small_events()[0]);
  CHECK_THROWS_WITH_AS(writer.finish(2), doctest::Contains("1 were appended"), Error);
  writer.finish(1);
  CHECK(h5::read_hdf5_info(path).digits == 2);

  CHECK_THROWS_WITH_AS(h5::Hdf5DigitWriter(tmp / "no/such/dir/x.h5", run_attributes()),
                       doctest::Contains("cannot create"), Error);
}

TEST_CASE("hdf5 reader: foreign and missing files are refused with a clear message") {
  ScratchDir tmp("reader_errors");
  const auto ignore = [](uint64_t, const std::vector<Digit>&) {};
  CHECK_THROWS_WITH_AS(h5::read_hdf5_digits(tmp / "missing.h5", ignore), doctest::Contains("no such file"), Error);
  {
    std::ofstream(tmp / "text.h5") << "not hdf5";
  }
  CHECK_THROWS_WITH_AS(h5::read_hdf5_digits(tmp / "text.h5", ignore), doctest::Contains("not an HDF5 file"), Error);

  // A valid HDF5 file without the pxdgen layout.
  const std::string other = tmp / "other.h5";
  hid_t f = H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0);
  H5Fclose(f);
  CHECK_THROWS_WITH_AS(h5::read_hdf5_info(other), doctest::Contains("not pxdgen digits"), Error);

  // A pxdgen file whose index was damaged.
  const std::string path = tmp / "digits.h5";
  {
    h5::Hdf5DigitWriter writer(path, run_attributes());
    writer.append_event(0, small_events()[0]);
    writer.finish(1);
  }
  f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t ds = H5Dopen2(f, "event_offsets", H5P_DEFAULT);
  const uint64_t bad[2] = {0, 5};
  REQUIRE(H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, bad) >= 0);
  H5Dclose(ds);
  H5Fclose(f);
  CHECK_THROWS_WITH_AS(h5::read_hdf5_digits(path, ignore), doctest::Contains("event_offsets ends at 5"), Error);
}
