#include "tools/pxdgen/npy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "pxdgen/error.hpp"

namespace pxdgen::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
/// numpy itself refuses headers past 10 kB by default; anything far larger is hostile.
constexpr size_t kMaxHeaderSize = size_t{1} << 20;
constexpr size_t kMaxDims = 32;
// '<f8' values beyond float32's range become +-inf, which only IEEE 754 defines.
static_assert(std::numeric_limits<float>::is_iec559, "IEEE 754 float32 is required");

bool host_is_little_endian() {
  const uint32_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

template <typename T>
void byteswap_all(T* values, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &values[i], sizeof(T));
    for (size_t j = 0; j < sizeof(T) / 2; ++j) std::swap(b[j], b[sizeof(T) - 1 - j]);
    std::memcpy(&values[i], b, sizeof(T));
  }
}

struct Header {
  std::vector<int64_t> shape;
  bool f64 = false;
  uint64_t numel = 1;
  size_t data_offset = 0;  ///< bytes before the array data
};

/// Recursive-descent parser for the header's Python dict literal, accepting exactly the
/// forms numpy writes: string keys, string/bool/int-tuple values, optional trailing commas.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  Header parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    std::string descr;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (have_descr) fail("repeats 'descr'");
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("repeats 'fortran_order'");
        fortran = boolean_literal();
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("repeats 'shape'");
        h.shape = int_tuple();
        have_shape = true;
      } else {
        fail("has an unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("is malformed near offset " + std::to_string(pos_));
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) fail("has text after the closing brace");
    if (!have_descr || !have_order || !have_shape) fail("lacks one of 'descr', 'fortran_order', 'shape'");

    if (descr == "<f4") {
      h.f64 = false;
    } else if (descr == "<f8") {
      h.f64 = true;
    } else if (descr == ">f4" || descr == ">f8") {
      throw Error("'" + name_ + "' holds big-endian floats ('" + descr + "'); save it as little-endian float32 ('<f4')");
    } else {
      throw Error("'" + name_ + "' has dtype '" + descr + "'; only float32 ('<f4') or float64 ('<f8') arrays can be read");
    }
    // Fortran order only changes the layout when two or more dimensions exceed one.
    size_t spread = 0;
    for (int64_t d : h.shape) spread += d > 1 ? 1 : 0;
    if (fortran && spread > 1)
      throw Error("'" + name_ + "' is in Fortran order; save it with numpy.ascontiguousarray(x) first");
    for (int64_t d : h.shape) {
      if (d != 0 && h.numel > std::numeric_limits<uint64_t>::max() / 8 / static_cast<uint64_t>(d))
        fail("has a shape too large for any file");
      h.numel *= static_cast<uint64_t>(d);
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("'" + name_ + "' is not a valid .npy file: its header " + what);
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expects '") + c + "' at offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expects a quoted string at offset " + std::to_string(pos_));
    const size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') fail("uses escapes in a string");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("has an unterminated string");
    return s_.substr(start, pos_++ - start);
  }
  bool boolean_literal() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expects True or False for 'fortran_order'");
  }
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> dims;
    expect('(');
    bool comma_after_last = false;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("has a shape entry that is not a non-negative integer");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail("has a shape entry that is too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (peek() == 'L') ++pos_;  // Python 2 long suffix
      if (dims.size() == kMaxDims) fail("has more than " + std::to_string(kMaxDims) + " dimensions");
      dims.push_back(v);
      skip_space();
      comma_after_last = peek() == ',';
      if (comma_after_last) {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("has a malformed shape");
    }
    ++pos_;
    // "(3)" is the integer 3 in Python, not a shape.
    if (dims.size() == 1 && !comma_after_last) fail("has a shape that is not a tuple");
    return dims;
  }

  const std::string& s_;
  const std::string& name_;
  size_t pos_ = 0;
};

/// Bytes needed before the header text can be measured.
constexpr size_t kPrefixSize = kMagicSize + 2 + 4;

/// Checks magic and version and returns the header's length and start. `size` need only
/// cover the prefix.
std::pair<size_t, size_t> header_extent(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kMagicSize + 4 || std::memcmp(data, kMagic, kMagicSize) != 0)
    throw Error("'" + name + "' is not a .npy file (bad magic)");
  const uint8_t major = data[6], minor = data[7];
  if (major < 1 || major > 3 || minor != 0)
    throw Error("'" + name + "' uses .npy format " + std::to_string(major) + "." + std::to_string(minor) +
                ", which is not supported (1.0 to 3.0 are)");
  size_t length, start;
  if (major == 1) {
    length = size_t{data[8]} | (size_t{data[9]} << 8);
    start = 10;
  } else {
    if (size < 12) throw Error("'" + name + "' is truncated inside its header");
    length = size_t{data[8]} | (size_t{data[9]} << 8) | (size_t{data[10]} << 16) | (size_t{data[11]} << 24);
    start = 12;
  }
  if (length > kMaxHeaderSize) throw Error("'" + name + "' claims a header of " + std::to_string(length) + " bytes");
  return {start, length};
}

Header parse_header(const uint8_t* data, size_t size, const std::string& name) {
  const auto [start, length] = header_extent(data, size, name);
  if (length > size - start) throw Error("'" + name + "' is truncated inside its header");
  const std::string text(reinterpret_cast<const char*>(data + start), length);
  if (text.empty() || text.back() != '\n') throw Error("'" + name + "' is not a valid .npy file: its header does not end in a newline");
  for (const char c : text)
    if (static_cast<unsigned char>(c) >= 0x80 || c == '\0')
      throw Error("'" + name + "' is not a valid .npy file: its header is not plain text");
  Header h = HeaderParser(text, name).parse();
  h.data_offset = start + length;
  return h;
}

void check_data_size(const Header& h, uint64_t available, const std::string& name) {
  const uint64_t expected = h.numel * (h.f64 ? 8 : 4);
  if (available != expected)
    throw Error("'" + name + "' should hold " + std::to_string(expected) + " bytes of data for its shape but holds " +
                std::to_string(available) + (available < expected ? " (truncated?)" : ""));
}

std::string shape_literal(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

Array read_bytes(const uint8_t* data, size_t size, const std::string& name) {
  if (data == nullptr) size = 0;
  const Header h = parse_header(data, size, name);
  check_data_size(h, size - h.data_offset, name);
  Array a;
  a.shape = h.shape;
  a.values.resize(static_cast<size_t>(h.numel));
  const uint8_t* p = data + h.data_offset;
  if (!h.f64) {
    if (h.numel) std::memcpy(a.values.data(), p, a.values.size() * sizeof(float));
    if (!host_is_little_endian()) byteswap_all(a.values.data(), a.values.size());
  } else {
    for (size_t i = 0; i < a.values.size(); ++i) {
      double d;
      std::memcpy(&d, p + 8 * i, sizeof d);
      if (!host_is_little_endian()) byteswap_all(&d, 1);
      a.values[i] = static_cast<float>(d);
    }
  }
  return a;
}

Array read(const std::string& path) {
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read '" + path + "': " + ec.message());
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  // Read the header first and the data straight into the result, so a large array is
  // never held twice.
  struct Closer {
    FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  uint8_t prefix[kPrefixSize] = {};
  const size_t got = std::fread(prefix, 1, sizeof prefix, f);
  const auto [start, length] = header_extent(prefix, got, path);
  std::vector<uint8_t> head(start + length);
  std::memcpy(head.data(), prefix, std::min(got, head.size()));
  if (head.size() > got) {
    if (std::fread(head.data() + got, 1, head.size() - got, f) != head.size() - got)
      throw Error("'" + path + "' is truncated inside its header");
  } else if (std::fseek(f, static_cast<long>(head.size()), SEEK_SET) != 0) {
    throw Error("cannot read '" + path + "'");
  }
  const Header h = parse_header(head.data(), head.size(), path);
  if (file_size < h.data_offset) throw Error("'" + path + "' is truncated inside its header");
  check_data_size(h, file_size - h.data_offset, path);

  Array a;
  a.shape = h.shape;
  a.values.resize(static_cast<size_t>(h.numel));
  if (!h.f64) {
    if (std::fread(a.values.data(), sizeof(float), a.values.size(), f) != a.values.size())
      throw Error("'" + path + "' is truncated (or changed while being read)");
    if (!host_is_little_endian()) byteswap_all(a.values.data(), a.values.size());
  } else {
    std::vector<double> chunk(size_t{1} << 16);
    for (size_t done = 0; done < a.values.size();) {
      const size_t n = std::min(chunk.size(), a.values.size() - done);
      if (std::fread(chunk.data(), sizeof(double), n, f) != n)
        throw Error("'" + path + "' is truncated (or changed while being read)");
      if (!host_is_little_endian()) byteswap_all(chunk.data(), n);
      for (size_t i = 0; i < n; ++i) a.values[done + i] = static_cast<float>(chunk[i]);
      done += n;
    }
  }
  return a;
}

Writer::Writer(const std::string& path, const std::vector<int64_t>& shape) : path_(path), temp_path_(path + ".partial") {
  if (shape.size() > kMaxDims) throw Error("cannot write '" + path + "': more than " + std::to_string(kMaxDims) + " dimensions");
  expected_ = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("cannot write '" + path + "': negative dimension in shape " + shape_literal(shape));
    if (d != 0 && expected_ > std::numeric_limits<uint64_t>::max() / 4 / static_cast<uint64_t>(d))
      throw Error("cannot write '" + path + "': shape " + shape_literal(shape) + " is too large");
    expected_ *= static_cast<uint64_t>(d);
  }

  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_literal(shape) + ", }";
  // numpy aligns the data to 64 bytes: the prefix, the header and its newline pad to that.
  size_t prefix = 10;
  if ((prefix + header.size() + 1 + 63) / 64 * 64 - prefix > 0xFFFF) prefix = 12;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string bytes(kMagic, kMagicSize);
  bytes += static_cast<char>(prefix == 10 ? 1 : 2);
  bytes += '\0';
  const size_t n = header.size();
  bytes += static_cast<char>(n & 0xFF);
  bytes += static_cast<char>((n >> 8) & 0xFF);
  if (prefix == 12) {
    bytes += static_cast<char>((n >> 16) & 0xFF);
    bytes += static_cast<char>((n >> 24) & 0xFF);
  }
  bytes += header;

  FILE* f = std::fopen(temp_path_.c_str(), "wb");
  if (f == nullptr) throw Error("cannot create '" + temp_path_ + "': " + std::strerror(errno));
  file_ = f;
  if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    const int err = errno;
    std::fclose(f);
    file_ = nullptr;
    std::remove(temp_path_.c_str());
    throw Error("cannot write '" + temp_path_ + "': " + std::strerror(err));
  }
}

Writer::~Writer() {
  if (file_ != nullptr) std::fclose(static_cast<FILE*>(file_));
  if (!temp_path_.empty()) std::remove(temp_path_.c_str());
}

void Writer::append(const float* values, size_t count) {
  if (file_ == nullptr) throw Error("'" + path_ + "' is already finished or failed; nothing more can be written");
  if (count > expected_ - written_)
    throw Error("'" + path_ + "': " + std::to_string(written_ + count) + " values written but its shape holds " +
                std::to_string(expected_));
  if (count == 0) return;
  FILE* f = static_cast<FILE*>(file_);
  size_t ok;
  if (host_is_little_endian()) {
    ok = std::fwrite(values, sizeof(float), count, f);
  } else {
    std::vector<float> swapped(values, values + count);
    byteswap_all(swapped.data(), count);
    ok = std::fwrite(swapped.data(), sizeof(float), count, f);
  }
  if (ok != count) throw Error("cannot write '" + temp_path_ + "': " + std::strerror(errno));
  written_ += count;
}

void Writer::finish() {
  if (file_ == nullptr) throw Error("'" + path_ + "' is already finished or failed");
  if (written_ != expected_)
    throw Error("'" + path_ + "': " + std::to_string(written_) + " of " + std::to_string(expected_) + " values written");
  FILE* f = static_cast<FILE*>(file_);
  file_ = nullptr;
  const bool flushed = std::fflush(f) == 0 && !std::ferror(f);
  const bool closed = std::fclose(f) == 0;
  if (!flushed || !closed) throw Error("cannot write '" + temp_path_ + "': " + std::strerror(errno));
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw Error("cannot rename '" + temp_path_ + "' to '" + path_ + "': " + std::strerror(errno));
  temp_path_.clear();
}

void write(const std::string& path, const Array& array) {
  uint64_t numel = 1;
  for (int64_t d : array.shape) {
    if (d < 0 || (d != 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)))
      throw Error("cannot write '" + path + "': invalid shape " + shape_literal(array.shape));
    numel *= static_cast<uint64_t>(d);
  }
  if (numel != array.values.size())
    throw Error("cannot write '" + path + "': shape " + shape_literal(array.shape) + " needs " + std::to_string(numel) +
                " values but the array has " + std::to_string(array.values.size()));
  Writer writer(path, array.shape);
  writer.append(array.values.data(), array.values.size());
  writer.finish();
}

}  // namespace pxdgen::npy
