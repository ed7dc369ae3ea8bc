#include "weights_converter/torch_checkpoint.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>

#include "pxdgen/error.hpp"
#include "weights_converter/pickle.hpp"
#include "weights_converter/zip_archive.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define PXDGEN_HAVE_MMAP 1
#endif

namespace pxdgen::converter {

const char* torch_dtype_name(TorchDType dtype) {
  switch (dtype) {
    case TorchDType::f32: return "float32";
    case TorchDType::f64: return "float64";
    case TorchDType::f16: return "float16";
    case TorchDType::bf16: return "bfloat16";
    case TorchDType::i64: return "int64";
    case TorchDType::i32: return "int32";
    case TorchDType::i16: return "int16";
    case TorchDType::i8: return "int8";
    case TorchDType::u8: return "uint8";
    case TorchDType::boolean: return "bool";
  }
  return "?";
}

namespace {

using Kind = PickleValue::Kind;

// float64 and int64 values beyond float32's range convert to +-inf, as in torch; that is
// only defined behaviour on IEEE 754 targets.
static_assert(std::numeric_limits<float>::is_iec559, "IEEE 754 float32 is required");

size_t dtype_size(TorchDType d) {
  switch (d) {
    case TorchDType::f64:
    case TorchDType::i64: return 8;
    case TorchDType::f32:
    case TorchDType::i32: return 4;
    case TorchDType::f16:
    case TorchDType::bf16:
    case TorchDType::i16: return 2;
    default: return 1;
  }
}

/// Storage classes as torch names them in persistent ids (torch.FloatStorage, ...).
bool dtype_of_storage_class(const std::string& name, TorchDType& out) {
  static const std::map<std::string, TorchDType> table = {
      {"FloatStorage", TorchDType::f32}, {"DoubleStorage", TorchDType::f64}, {"HalfStorage", TorchDType::f16},
      {"BFloat16Storage", TorchDType::bf16}, {"LongStorage", TorchDType::i64}, {"IntStorage", TorchDType::i32},
      {"ShortStorage", TorchDType::i16}, {"CharStorage", TorchDType::i8}, {"ByteStorage", TorchDType::u8},
      {"BoolStorage", TorchDType::boolean}};
  const auto it = table.find(name);
  if (it == table.end()) return false;
  out = it->second;
  return true;
}

/// torch.dtype objects pickle as globals of the torch module (torch.float16, ...).
bool dtype_of_torch_name(const std::string& name, TorchDType& out) {
  static const std::map<std::string, TorchDType> table = {
      {"float32", TorchDType::f32}, {"float", TorchDType::f32},    {"float64", TorchDType::f64},
      {"double", TorchDType::f64},  {"float16", TorchDType::f16},  {"half", TorchDType::f16},
      {"bfloat16", TorchDType::bf16}, {"int64", TorchDType::i64},  {"long", TorchDType::i64},
      {"int32", TorchDType::i32},   {"int", TorchDType::i32},      {"int16", TorchDType::i16},
      {"short", TorchDType::i16},   {"int8", TorchDType::i8},      {"uint8", TorchDType::u8},
      {"bool", TorchDType::boolean}};
  const auto it = table.find(name);
  if (it == table.end()) return false;
  out = it->second;
  return true;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // Subnormal half: renormalise, every such value is a normal float.
    int e = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // storages need not be aligned inside the zip
  return v;
}

float element(TorchDType d, const uint8_t* p) {
  switch (d) {
    case TorchDType::f32: return load<float>(p);
    case TorchDType::f64: return static_cast<float>(load<double>(p));
    case TorchDType::f16: return half_to_float(load<uint16_t>(p));
    case TorchDType::bf16: {
      const uint32_t bits = uint32_t{load<uint16_t>(p)} << 16;
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return f;
    }
    case TorchDType::i64: return static_cast<float>(load<int64_t>(p));
    case TorchDType::i32: return static_cast<float>(load<int32_t>(p));
    case TorchDType::i16: return static_cast<float>(load<int16_t>(p));
    case TorchDType::i8: return static_cast<float>(load<int8_t>(p));
    case TorchDType::u8: return static_cast<float>(*p);
    case TorchDType::boolean: return *p != 0 ? 1.0f : 0.0f;
  }
  return 0.0f;
}

/// Copies `count` elements spaced `stride` elements apart, converting to float32. The
/// switch is hoisted out of the loop so large tensors convert at memory speed.
template <typename F>
void copy_row(const uint8_t* src, size_t esize, uint64_t stride, uint64_t count, float* out, F convert) {
  for (uint64_t i = 0; i < count; ++i) out[i] = convert(src + i * stride * esize);
}

void convert_row(TorchDType d, const uint8_t* src, uint64_t stride, uint64_t count, float* out) {
  const size_t esize = dtype_size(d);
  if (d == TorchDType::f32 && stride == 1) {
    std::memcpy(out, src, count * sizeof(float));
    return;
  }
  switch (d) {
    case TorchDType::f32: copy_row(src, esize, stride, count, out, load<float>); break;
    case TorchDType::f16: copy_row(src, esize, stride, count, out, [](const uint8_t* p) { return half_to_float(load<uint16_t>(p)); }); break;
    default: copy_row(src, esize, stride, count, out, [d](const uint8_t* p) { return element(d, p); }); break;
  }
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}
bool checked_add(uint64_t a, uint64_t b, uint64_t& out) {
  if (b > std::numeric_limits<uint64_t>::max() - a) return false;
  out = a + b;
  return true;
}

std::string shape_string(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

/// A parameter is a tensor wrapped in one more call; these unwrap it.
const PickleValue* unwrap_parameter(const PickleValue* v) {
  for (int depth = 0; depth < 4 && v != nullptr; ++depth) {
    const bool wrapper = v->kind == Kind::object &&
                         (v->is_call_of("torch._utils", "_rebuild_parameter") ||
                          v->is_call_of("torch._utils", "_rebuild_parameter_with_state"));
    if (!wrapper) break;
    if (v->args == nullptr || v->args->items.empty()) return nullptr;
    v = v->args->items[0];
  }
  return v;
}

/// Anything torch rebuilds through torch._utils._rebuild_* is a tensor, whether or not
/// its layout is one this reader can convert.
bool is_tensor(const PickleValue* v) {
  v = unwrap_parameter(v);
  if (v == nullptr || v->kind != Kind::object || v->callable == nullptr || v->callable->kind != Kind::global)
    return false;
  return v->callable->text == "torch._utils" && v->callable->name.rfind("_rebuild_", 0) == 0;
}

bool is_dict_like(const PickleValue* v) {
  return v != nullptr && (v->kind == Kind::dict || (v->kind == Kind::object && !v->entries.empty()));
}

size_t count_tensors(const PickleValue* d) {
  size_t n = 0;
  for (const auto& [k, v] : d->entries) n += is_tensor(v) ? 1 : 0;
  return n;
}

std::string key_list(const PickleValue* d) {
  std::string s;
  size_t shown = 0;
  for (const auto& [k, v] : d->entries) {
    if (shown == 12) return s + ", ...";
    s += (shown++ ? ", " : "") + (k->kind == Kind::string ? "'" + k->text + "'" : describe(*k));
  }
  return s.empty() ? "none" : s;
}

/// Holds the archive while tensors are pulled out of it.
class CheckpointReader {
 public:
  CheckpointReader(const ZipArchive& zip, std::string prefix, const std::string& name, uint64_t budget)
      : zip_(zip), prefix_(std::move(prefix)), name_(name), budget_(budget) {}

  TorchTensor tensor(const std::string& key, const PickleValue* value);

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error("'" + name_ + "': tensor '" + key + "' " + what);
  }
  int64_t integer(const std::string& key, const PickleValue* v, const char* what) const {
    if (v == nullptr || v->kind != Kind::integer || v->big_integer)
      fail(key, std::string("has a malformed ") + what + " (" + (v ? describe(*v) : "missing") + ")");
    return v->integer;
  }
  std::vector<int64_t> int_tuple(const std::string& key, const PickleValue* v, const char* what) const {
    if (v == nullptr || (v->kind != Kind::tuple && v->kind != Kind::list))
      fail(key, std::string("has a malformed ") + what + " (" + (v ? describe(*v) : "missing") + ")");
    if (v->items.size() > 64) fail(key, "has " + std::to_string(v->items.size()) + " dimensions");
    std::vector<int64_t> out;
    for (const PickleValue* item : v->items) {
      out.push_back(integer(key, item, what));
      if (out.back() < 0) fail(key, std::string("has a negative ") + what + " " + std::to_string(out.back()));
    }
    return out;
  }
  ZipView storage_bytes(const std::string& storage_key);

  const ZipArchive& zip_;
  std::string prefix_;
  const std::string& name_;
  uint64_t budget_;  // floats that may still be produced
  std::map<std::string, ZipView> verified_;
};

ZipView CheckpointReader::storage_bytes(const std::string& storage_key) {
  const auto it = verified_.find(storage_key);
  if (it != verified_.end()) return it->second;
  const std::string entry = prefix_ + "data/" + storage_key;
  if (zip_.find(entry) == nullptr)
    throw Error("'" + name_ + "' is damaged: data.pkl refers to storage '" + storage_key + "' but the archive has no '" +
                entry + "'");
  const ZipView view = zip_.read(entry, /*verify_crc=*/true);
  verified_.emplace(storage_key, view);
  return view;
}

TorchTensor CheckpointReader::tensor(const std::string& key, const PickleValue* value) {
  const PickleValue* v = unwrap_parameter(value);
  if (v == nullptr) fail(key, "is a parameter without data");
  const bool v1 = v->is_call_of("torch._utils", "_rebuild_tensor");
  const bool v2 = v->is_call_of("torch._utils", "_rebuild_tensor_v2");
  const bool v3 = v->is_call_of("torch._utils", "_rebuild_tensor_v3");
  if (!v1 && !v2 && !v3)
    fail(key, "is stored as " + v->type_name() +
                  " (a quantized, sparse, nested or device-specific tensor), which cannot be converted; save a dense "
                  "CPU tensor instead");
  const auto& args = v->args->items;
  const size_t needed = v3 ? 7 : v2 ? 6 : 4;
  if (args.size() < needed) fail(key, "has " + std::to_string(args.size()) + " rebuild arguments, expected " + std::to_string(needed));

  // The storage: ('storage', storage class, key, location, numel).
  const PickleValue* sp = args[0];
  if (sp->kind != Kind::persistent_id || sp->pid == nullptr || sp->pid->kind != Kind::tuple || sp->pid->items.size() < 5)
    fail(key, "does not refer to a storage in the usual way (" + describe(*sp) + ")");
  const auto& pid = sp->pid->items;
  if (pid[0]->kind != Kind::string || pid[0]->text != "storage") fail(key, "refers to a persistent object that is not a storage");
  const PickleValue* storage_class = pid[1];
  if (storage_class->kind != Kind::global) fail(key, "has a malformed storage type (" + describe(*storage_class) + ")");
  std::string storage_key;
  if (pid[2]->kind == Kind::string)
    storage_key = pid[2]->text;
  else if (pid[2]->kind == Kind::integer && !pid[2]->big_integer)
    storage_key = std::to_string(pid[2]->integer);
  else
    fail(key, "has a malformed storage key (" + describe(*pid[2]) + ")");
  if (storage_key.empty() || storage_key.find('/') != std::string::npos || storage_key.find("..") != std::string::npos)
    fail(key, "has a malformed storage key '" + storage_key + "'");
  const int64_t storage_numel = integer(key, pid[4], "storage size");
  if (storage_numel < 0) fail(key, "has a negative storage size");

  const bool untyped = storage_class->name == "UntypedStorage";
  TorchDType dtype = TorchDType::u8;
  if (!untyped && !dtype_of_storage_class(storage_class->name, dtype))
    fail(key, "uses " + storage_class->type_name() + ", which cannot be converted (supported: float, double, half, "
              "bfloat16, long, int, short, char, byte and bool storages)");
  if (v3) {
    const PickleValue* d = args[6];
    TorchDType declared;
    if (d->kind != Kind::global || !dtype_of_torch_name(d->name, declared))
      fail(key, "has dtype " + describe(*d) + ", which cannot be converted");
    if (!untyped && declared != dtype)
      fail(key, std::string("declares dtype ") + torch_dtype_name(declared) + " but its storage holds " + torch_dtype_name(dtype));
    dtype = declared;
  } else if (untyped) {
    fail(key, "has an untyped storage but no dtype");
  }
  const size_t esize = dtype_size(dtype);
  uint64_t storage_bytes_needed = 0;
  if (!checked_mul(static_cast<uint64_t>(storage_numel), untyped ? 1 : esize, storage_bytes_needed))
    fail(key, "has an impossible storage size " + std::to_string(storage_numel));
  const ZipView bytes = storage_bytes(storage_key);
  if (bytes.size < storage_bytes_needed)
    fail(key, "has a storage of " + std::to_string(storage_bytes_needed) + " bytes but '" + prefix_ + "data/" + storage_key +
                  "' holds only " + std::to_string(bytes.size) + " (truncated?)");
  const uint64_t storage_elements = storage_bytes_needed / esize;

  TorchTensor t;
  t.source_dtype = dtype;
  const int64_t offset = integer(key, args[1], "storage offset");
  if (offset < 0) fail(key, "has a negative storage offset");
  t.shape = int_tuple(key, args[2], "size");
  const std::vector<int64_t> stride = int_tuple(key, args[3], "stride");
  if (stride.size() != t.shape.size())
    fail(key, "has " + std::to_string(t.shape.size()) + " sizes but " + std::to_string(stride.size()) + " strides");

  // Element count and the furthest storage element the view touches, all checked for
  // overflow: the numbers come straight from the file.
  uint64_t numel = 1, last = static_cast<uint64_t>(offset);
  bool overflow = false;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] == 0) numel = 0;
  }
  if (numel != 0) {
    for (size_t i = 0; i < t.shape.size(); ++i) {
      uint64_t reach = 0;
      overflow = overflow || !checked_mul(numel, static_cast<uint64_t>(t.shape[i]), numel) ||
                 !checked_mul(static_cast<uint64_t>(t.shape[i] - 1), static_cast<uint64_t>(stride[i]), reach) ||
                 !checked_add(last, reach, last);
    }
  }
  if (overflow || numel > budget_)
    fail(key, "has shape " + shape_string(t.shape) + ", more values than the checkpoint can hold (corrupt file?)");
  if (numel != 0 && last >= storage_elements)
    fail(key, "with shape " + shape_string(t.shape) + ", stride " + shape_string(stride) + " and offset " +
                  std::to_string(offset) + " reaches element " + std::to_string(last) + " of a storage of " +
                  std::to_string(storage_elements) + " " + torch_dtype_name(dtype) + " elements");
  budget_ -= numel;

  t.values.resize(static_cast<size_t>(numel));
  if (numel == 0) return t;
  // Walk the view row by row (the innermost dimension is one strided run), carrying an
  // odometer over the outer dimensions.
  const size_t nd = t.shape.size();
  const uint64_t row = nd == 0 ? 1 : static_cast<uint64_t>(t.shape[nd - 1]);
  const uint64_t row_stride = nd == 0 ? 1 : static_cast<uint64_t>(stride[nd - 1]);
  std::vector<int64_t> index(nd > 0 ? nd - 1 : 0, 0);
  uint64_t base = static_cast<uint64_t>(offset);
  for (uint64_t done = 0; done < numel; done += row) {
    convert_row(dtype, bytes.data + base * esize, row_stride, row, t.values.data() + done);
    for (size_t d = index.size(); d-- > 0;) {
      base += static_cast<uint64_t>(stride[d]);
      if (++index[d] < t.shape[d]) break;
      base -= static_cast<uint64_t>(stride[d]) * static_cast<uint64_t>(t.shape[d]);
      index[d] = 0;
    }
  }
  return t;
}

/// Finds dicts of tensors reachable from `v` through string keys. Lists and integer keys
/// are not followed: what lies behind them (optimizer state per parameter id) cannot be
/// named with a dotted key and is never the model.
void find_state_dicts(const PickleValue* v, const std::string& path, int depth,
                      std::unordered_set<const PickleValue*>& seen,
                      std::vector<std::pair<std::string, const PickleValue*>>& found) {
  if (depth > 8 || !is_dict_like(v) || !seen.insert(v).second) return;
  if (count_tensors(v) > 0) {
    found.emplace_back(path, v);
    return;
  }
  for (const auto& [k, child] : v->entries)
    if (k->kind == Kind::string)
      find_state_dicts(child, path.empty() ? k->text : path + "." + k->text, depth + 1, seen, found);
}

std::pair<std::string, const PickleValue*> locate_state_dict(const PickleValue& root, const std::string& key,
                                                            const std::string& name) {
  if (!key.empty()) {
    // Dotted path; a key that itself contains dots ("module.G") is matched whole where
    // possible, preferring the longest key that matches.
    const PickleValue* cur = &root;
    std::string rest = key, walked;
    while (!rest.empty()) {
      if (!is_dict_like(cur))
        throw Error("'" + name + "': cannot look up '" + rest + "' in " + (walked.empty() ? "the checkpoint" : "'" + walked + "'") +
                    ", which is " + describe(*cur) + ", not a dict");
      const PickleValue* next = nullptr;
      size_t used = 0;
      for (size_t len = rest.size(); len > 0 && next == nullptr; --len) {
        if (len != rest.size() && rest[len] != '.') continue;
        next = cur->get(rest.substr(0, len));
        used = len;
      }
      if (next == nullptr)
        throw Error("'" + name + "' has no key '" + key + "'" +
                    (walked.empty() ? std::string(" (top-level keys: ") : " (keys under '" + walked + "': ") + key_list(cur) + ")");
      walked += (walked.empty() ? "" : ".") + rest.substr(0, used);
      rest = used < rest.size() ? rest.substr(used + 1) : "";
      cur = next;
    }
    if (!is_dict_like(cur)) throw Error("'" + name + "': '" + key + "' is " + describe(*cur) + ", not a state dict");
    if (count_tensors(cur) == 0) throw Error("'" + name + "': '" + key + "' holds no tensors (keys: " + key_list(cur) + ")");
    return {key, cur};
  }

  if (is_dict_like(&root) && count_tensors(&root) > 0) return {"", &root};
  std::unordered_set<const PickleValue*> seen;
  std::vector<std::pair<std::string, const PickleValue*>> found;
  find_state_dicts(&root, "", 0, seen, found);
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    if (root.kind == Kind::object)
      throw Error("'" + name + "' holds a pickled " + root.type_name() +
                  " object, not a state dict; save model.state_dict() with torch.save instead");
    throw Error("'" + name + "' holds no state dict (no dict of tensors found; the top level is " + describe(root) +
                (is_dict_like(&root) ? " with keys " + key_list(&root) : "") + ")");
  }
  std::string list;
  for (const auto& [path, d] : found) list += (list.empty() ? "" : ", ") + path + " (" + std::to_string(count_tensors(d)) + " tensors)";
  throw Error("'" + name + "' holds several state dicts: " + list + "; choose one with --key");
}

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

/// The file's bytes, mapped where the platform allows so a large checkpoint is not
/// copied before its storages are converted.
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
#ifdef PXDGEN_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw Error("cannot open checkpoint '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error("cannot read checkpoint '" + path + "': not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error("cannot map checkpoint '" + path + "': " + std::strerror(err));
      }
      mapped_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
#else
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) throw Error("cannot open checkpoint '" + path + "': " + std::strerror(errno));
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) copy_.insert(copy_.end(), chunk, chunk + n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) throw Error("cannot read checkpoint '" + path + "'");
    size_ = copy_.size();
#endif
  }
  ~FileBytes() {
#ifdef PXDGEN_HAVE_MMAP
    if (mapped_ != nullptr) ::munmap(const_cast<uint8_t*>(mapped_), size_);
#endif
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  const uint8_t* data() const { return mapped_ != nullptr ? mapped_ : copy_.data(); }
  size_t size() const { return size_; }

 private:
  const uint8_t* mapped_ = nullptr;
  std::vector<uint8_t> copy_;
  size_t size_ = 0;
};

}  // namespace

TorchStateDict read_torch_checkpoint_bytes(const uint8_t* data, size_t size, const std::string& name,
                                           const std::string& key) {
  if (data == nullptr || size < 4) throw Error("'" + name + "' is too short to be a PyTorch checkpoint");
  const bool legacy_pickle = data[0] == 0x80 && data[1] >= 2 && data[1] <= 5;
  const bool tar = size >= 262 && std::memcmp(data + 257, "ustar", 5) == 0;
  if (legacy_pickle || tar)
    throw Error("'" + name +
                "' was saved in PyTorch's legacy format (before 1.6); load it in Python and re-save it with "
                "torch.save(obj, path) from PyTorch >= 1.6");
  if (!looks_like_zip(data, size)) {
    if (starts_with(data, size, "\x93NUMPY", 6))
      throw Error("'" + name + "' is a NumPy .npy file, not a PyTorch checkpoint");
    throw Error("'" + name + "' is not a PyTorch checkpoint (it is neither a zip archive nor a legacy torch.save file)");
  }

  const ZipArchive zip(data, size, name);
  // torch.save puts everything under one top folder whose name varies (the file's stem
  // in recent versions, "archive" in others).
  std::vector<std::string> pickles;
  bool torchscript = false;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) pickles.push_back(e.name);
    if (slash != std::string::npos && (e.name.compare(slash, 6, "/code/") == 0 || e.name.compare(slash, std::string::npos, "/constants.pkl") == 0))
      torchscript = true;
  }
  if (torchscript)
    throw Error("'" + name + "' is a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save instead");
  if (pickles.empty()) throw Error("'" + name + "' is a zip archive but not a PyTorch checkpoint (it has no <folder>/data.pkl)");
  if (pickles.size() > 1)
    throw Error("'" + name + "' holds several pickles (" + pickles[0] + ", " + pickles[1] + ", ...); it is not a single torch.save checkpoint");
  const std::string prefix = pickles[0].substr(0, pickles[0].size() - std::strlen("data.pkl"));

  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const ZipView v = zip.read(*order, true);
    const std::string text(reinterpret_cast<const char*>(v.data), v.size);
    if (text.rfind("big", 0) == 0)
      throw Error("'" + name + "' was saved on a big-endian machine; only little-endian checkpoints can be converted");
    if (text.rfind("little", 0) != 0) throw Error("'" + name + "' has an unrecognised byte order '" + text.substr(0, 16) + "'");
  }

  const ZipView pkl = zip.read(pickles[0], /*verify_crc=*/true);
  const Pickle pickle(pkl.data, pkl.size, "'" + name + "' (" + pickles[0] + ")");
  const auto [path, dict] = locate_state_dict(pickle.root(), key, name);

  TorchStateDict result;
  result.path = path;
  // Sharing a storage between tensors is legitimate (views, tied weights) but must not let
  // a small file expand into unbounded memory; a generous multiple of the file size caps it.
  const uint64_t budget = static_cast<uint64_t>(size) + (uint64_t{1} << 26);
  CheckpointReader reader(zip, prefix, name, budget);
  std::set<std::string> names;
  for (const auto& [k, v] : dict->entries) {
    if (k->kind != Kind::string) {
      result.skipped_keys.push_back(describe(*k));
      continue;
    }
    if (!is_tensor(v)) {
      result.skipped_keys.push_back(k->text);
      continue;
    }
    if (!names.insert(k->text).second) throw Error("'" + name + "': the state dict has key '" + k->text + "' twice");
    result.tensors.emplace_back(k->text, reader.tensor(k->text, v));
  }
  return result;
}

TorchStateDict read_torch_checkpoint(const std::string& path, const std::string& key) {
  const FileBytes file(path);
  return read_torch_checkpoint_bytes(file.data(), file.size(), path, key);
}

}  // namespace pxdgen::converter
