#include "tools/pxdgen/hdf5_writer.hpp"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "pxdgen/error.hpp"

namespace pxdgen::hdf5 {
namespace {

constexpr const char* kFormat = "pxdgen-digits";
constexpr uint64_t kFormatVersion = 1;
constexpr const char* kSensorOrder =
    "index i = layer 1 ladders 1..8 sensors 1,2 then layer 2 ladders 1..12 sensors 1,2 "
    "(1.1.1, 1.1.2, 1.2.1, ..., 2.12.2)";

/// 64 Ki rows per chunk: a typical event (~70k digits) spans about one chunk per column,
/// so reading one event decompresses little more than that event.
constexpr hsize_t kDigitChunk = hsize_t{1} << 16;
constexpr hsize_t kEventChunk = hsize_t{1} << 12;
/// gzip level 4: most of level 9's ratio on these columns at a fraction of its time.
constexpr unsigned kGzipLevel = 4;
/// Rows buffered before a write: whole chunks per H5Dwrite instead of one partial chunk
/// per event, which HDF5 would otherwise re-read and re-compress.
constexpr size_t kFlushRows = size_t{1} << 19;
constexpr size_t kFlushEvents = size_t{1} << 14;
constexpr uint64_t kReadRows = uint64_t{1} << 19;

/// HDF5 prints its error stack to stderr by default; pxdgen reports its own messages.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// Owns one HDF5 identifier of any kind.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
      close_ = o.close_;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  /// Closes now and reports whether HDF5 managed to (a file close flushes its data).
  bool close() {
    if (id_ < 0) return true;
    const bool ok = close_(id_) >= 0;
    id_ = H5I_INVALID_HID;
    return ok;
  }
  void reset() { close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

Handle checked(hid_t id, herr_t (*close)(hid_t), const std::string& what) {
  if (id < 0) throw Error(what);
  return Handle(id, close);
}

void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error(what);
}

// ---- attributes ---------------------------------------------------------------------

void write_attribute_raw(hid_t object, const char* name, hid_t file_type, hid_t mem_type, const void* value,
                         const std::string& file) {
  const std::string what = "cannot write attribute '" + std::string(name) + "' of '" + file + "'";
  Handle space = checked(H5Screate(H5S_SCALAR), H5Sclose, what);
  Handle attr;
  const htri_t exists = H5Aexists(object, name);
  if (exists < 0) throw Error(what);
  if (exists > 0) attr = checked(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, what);
  else attr = checked(H5Acreate2(object, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, what);
  check(H5Awrite(attr.get(), mem_type, value), what);
}

/// Variable-length UTF-8: h5py returns it as a Python str (a fixed-length one comes back
/// as bytes).
Handle string_type() {
  Handle type = checked(H5Tcopy(H5T_C_S1), H5Tclose, "cannot create an HDF5 string type");
  check(H5Tset_size(type.get(), H5T_VARIABLE), "cannot create an HDF5 string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot create an HDF5 string type");
  return type;
}

void write_string_attribute(hid_t object, const char* name, const std::string& value, const std::string& file) {
  Handle type = string_type();
  const char* c = value.c_str();
  write_attribute_raw(object, name, type.get(), type.get(), &c, file);
}

void write_u64_attribute(hid_t object, const char* name, uint64_t value, const std::string& file) {
  write_attribute_raw(object, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, file);
}

bool has_attribute(hid_t object, const char* name) { return H5Aexists(object, name) > 0; }

std::string read_string_attribute(hid_t object, const char* name, const std::string& file) {
  const std::string what = "'" + file + "': cannot read attribute '" + name + "'";
  Handle attr = checked(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, what);
  Handle type = checked(H5Aget_type(attr.get()), H5Tclose, what);
  if (H5Tget_class(type.get()) != H5T_STRING) throw Error(what + ": not a string");
  Handle space = checked(H5Aget_space(attr.get()), H5Sclose, what);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) throw Error(what + ": not a scalar");
  const htri_t variable = H5Tis_variable_str(type.get());
  if (variable < 0) throw Error(what);
  if (variable > 0) {
    Handle mem = string_type();
    char* value = nullptr;
    check(H5Aread(attr.get(), mem.get(), &value), what);
    std::string out = value != nullptr ? value : "";
    H5free_memory(value);
    return out;
  }
  // Fixed-length strings, as other writers (h5py with numpy bytes) may produce.
  const size_t size = H5Tget_size(type.get());
  std::string out(size, '\0');
  Handle mem = checked(H5Tcopy(H5T_C_S1), H5Tclose, what);
  check(H5Tset_size(mem.get(), size), what);
  check(H5Aread(attr.get(), mem.get(), out.data()), what);
  out.resize(std::min(out.find('\0'), out.size()));
  return out;
}

uint64_t read_u64_attribute(hid_t object, const char* name, const std::string& file) {
  const std::string what = "'" + file + "': cannot read attribute '" + name + "'";
  Handle attr = checked(H5Aopen(object, name, H5P_DEFAULT), H5Aclose, what);
  Handle type = checked(H5Aget_type(attr.get()), H5Tclose, what);
  if (H5Tget_class(type.get()) != H5T_INTEGER) throw Error(what + ": not an integer");
  Handle space = checked(H5Aget_space(attr.get()), H5Sclose, what);
  if (H5Sget_simple_extent_npoints(space.get()) != 1) throw Error(what + ": not a scalar");
  uint64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_UINT64, &value), what);
  return value;
}

// ---- columns ------------------------------------------------------------------------

struct ColumnSpec {
  const char* name;
  hid_t file_type;  ///< little-endian, fixed for every platform
  hid_t mem_type;
  hsize_t chunk;
};

enum Column { kEvent, kSensor, kLayer, kLadder, kSensorNumber, kUCell, kVCell, kCharge, kOffsets, kNumbers, kColumns };

/// H5T_* are run-time values (they initialise the library), so the table is built on use.
std::array<ColumnSpec, kColumns> column_specs() {
  return {{{"event", H5T_STD_U64LE, H5T_NATIVE_UINT64, kDigitChunk},
           {"sensor", H5T_STD_U8LE, H5T_NATIVE_UINT8, kDigitChunk},
           {"layer", H5T_STD_U8LE, H5T_NATIVE_UINT8, kDigitChunk},
           {"ladder", H5T_STD_U8LE, H5T_NATIVE_UINT8, kDigitChunk},
           {"sensor_number", H5T_STD_U8LE, H5T_NATIVE_UINT8, kDigitChunk},
           {"ucell", H5T_STD_U16LE, H5T_NATIVE_UINT16, kDigitChunk},
           {"vcell", H5T_STD_U16LE, H5T_NATIVE_UINT16, kDigitChunk},
           {"charge", H5T_STD_U8LE, H5T_NATIVE_UINT8, kDigitChunk},
           {"event_offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, kEventChunk},
           {"event_numbers", H5T_STD_U64LE, H5T_NATIVE_UINT64, kEventChunk}}};
}

Handle create_column(hid_t file, const ColumnSpec& spec, const std::string& path) {
  const std::string what = "cannot create dataset '" + std::string(spec.name) + "' in '" + path + "'";
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  Handle space = checked(H5Screate_simple(1, &zero, &unlimited), H5Sclose, what);
  Handle dcpl = checked(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, what);
  check(H5Pset_chunk(dcpl.get(), 1, &spec.chunk), what);
  // Byte shuffling first: the high bytes of uint16/uint64 columns are nearly constant and
  // gzip only sees that once they are grouped.
  check(H5Pset_shuffle(dcpl.get()), what);
  check(H5Pset_deflate(dcpl.get(), kGzipLevel), what);
  return checked(H5Dcreate2(file, spec.name, spec.file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                 H5Dclose, what);
}

void append_rows(hid_t dataset, hid_t mem_type, const void* data, hsize_t count, const std::string& what) {
  if (count == 0) return;
  Handle space = checked(H5Dget_space(dataset), H5Sclose, what);
  hsize_t size = 0;
  if (H5Sget_simple_extent_dims(space.get(), &size, nullptr) != 1) throw Error(what);
  const hsize_t new_size = size + count;
  check(H5Dset_extent(dataset, &new_size), what);
  space = checked(H5Dget_space(dataset), H5Sclose, what);
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &size, nullptr, &count, nullptr), what);
  Handle memory = checked(H5Screate_simple(1, &count, nullptr), H5Sclose, what);
  check(H5Dwrite(dataset, mem_type, memory.get(), space.get(), H5P_DEFAULT, data), what);
}

void read_rows(hid_t dataset, hid_t mem_type, void* data, hsize_t first, hsize_t count, const std::string& what) {
  if (count == 0) return;
  Handle space = checked(H5Dget_space(dataset), H5Sclose, what);
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr), what);
  Handle memory = checked(H5Screate_simple(1, &count, nullptr), H5Sclose, what);
  check(H5Dread(dataset, mem_type, memory.get(), space.get(), H5P_DEFAULT, data), what);
}

void require_deflate() {
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0 || H5Zfilter_avail(H5Z_FILTER_SHUFFLE) <= 0)
    throw Error("this HDF5 library was built without gzip (deflate) or shuffle support");
}


/// File access for writing: the HDF5 1.10 format, whose chunk index for a dataset growing
/// in one dimension (an extensible array) keeps a fixed size in memory. The 1.8 format's
/// B-tree index held about 5 kB more per event of ~120k digits until the file was closed,
/// so a long run's resident memory grew without bound.
Handle file_access() {
  Handle fapl = checked(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "cannot create HDF5 file access properties");
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST), "cannot set the HDF5 format version");
  return fapl;
}

}  // namespace

std::string digit_problem(const Digit& d) {
  if (d.sensor >= kSensors) return "sensor " + std::to_string(d.sensor) + " (must be < 40)";
  if (d.ucell >= kUCells) return "ucell " + std::to_string(d.ucell) + " (must be < 250)";
  if (d.vcell >= kVCells) return "vcell " + std::to_string(d.vcell) + " (must be < 768)";
  if (d.charge < 1 || d.charge > 255) return "charge " + std::to_string(d.charge) + " (must be 1..255)";
  return {};
}

// ---- writer -------------------------------------------------------------------------

struct Hdf5DigitWriter::Impl {
  Handle file;
  std::array<Handle, kColumns> datasets;
  // Buffered rows, one vector per digit column.
  std::vector<uint64_t> event;
  std::vector<uint8_t> sensor, layer, ladder, sensor_number, charge;
  std::vector<uint16_t> ucell, vcell;
  std::vector<uint64_t> offsets, numbers;
  bool broken = false;  ///< a write failed: the file can no longer be trusted
  bool done = false;

  void reserve(size_t rows, size_t events) {
    event.reserve(rows);
    for (std::vector<uint8_t>* column : {&sensor, &layer, &ladder, &sensor_number, &charge}) column->reserve(rows);
    ucell.reserve(rows);
    vcell.reserve(rows);
    offsets.reserve(events);
    numbers.reserve(events);
  }
};

Hdf5DigitWriter::Hdf5DigitWriter(const std::string& path, const RunAttributes& attributes)
    : path_(path), temp_path_(path + ".partial") {
  QuietErrors quiet;
  require_deflate();
  auto impl = std::make_unique<Impl>();
  impl->file = Handle(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, file_access().get()),
                      H5Fclose);
  if (!impl->file.valid()) throw Error("cannot create HDF5 file '" + temp_path_ + "' (directory missing or not writable?)");
  try {
    const hid_t f = impl->file.get();
    const auto specs = column_specs();
    for (int c = 0; c < kColumns; ++c) impl->datasets[c] = create_column(f, specs[c], path_);
    const uint64_t zero = 0;
    append_rows(impl->datasets[kOffsets].get(), H5T_NATIVE_UINT64, &zero, 1, "cannot write '" + temp_path_ + "'");

    write_string_attribute(f, "format", kFormat, path_);
    write_u64_attribute(f, "format_version", kFormatVersion, path_);
    write_string_attribute(f, "model_sha256", attributes.model_sha256, path_);
    write_string_attribute(f, "family", attributes.family, path_);
    write_string_attribute(f, "variant", attributes.variant, path_);
    write_u64_attribute(f, "seed", attributes.seed, path_);
    write_string_attribute(f, "threshold", attributes.threshold, path_);
    write_u64_attribute(f, "first_event", attributes.first_event, path_);
    write_string_attribute(f, "pxdgen_version", version(), path_);
    write_string_attribute(f, "sensor_order", kSensorOrder, path_);
    write_u64_attribute(f, "events_completed", 0, path_);
    write_u64_attribute(f, "complete", 0, path_);
  } catch (...) {
    impl.reset();
    std::remove(temp_path_.c_str());
    throw;
  }
  impl->reserve(kFlushRows, kFlushEvents);
  impl_ = impl.release();
}

Hdf5DigitWriter::~Hdf5DigitWriter() {
  if (impl_ == nullptr) return;
  QuietErrors quiet;
  const bool remove = !impl_->done;
  delete impl_;
  impl_ = nullptr;
  if (remove) std::remove(temp_path_.c_str());
}

void Hdf5DigitWriter::append_event(uint64_t event, const std::vector<Digit>& digits) {
  if (impl_->done) throw Error("'" + path_ + "': append_event after the file was finished");
  if (impl_->broken) throw Error("'" + path_ + "': an earlier write failed; the file is abandoned");
  for (size_t i = 0; i < digits.size(); ++i) {
    const std::string problem = digit_problem(digits[i]);
    if (!problem.empty())
      throw Error("event " + std::to_string(event) + ", digit " + std::to_string(i) + ": " + problem);
  }
  Impl& m = *impl_;
  // A large event is split over batches, so the buffers never outgrow kFlushRows and the
  // writer's memory does not depend on how events fall into batches.
  for (size_t i = 0; i < digits.size();) {
    const size_t end = std::min(digits.size(), i + (kFlushRows - m.event.size()));
    for (; i < end; ++i) {
      const Digit& d = digits[i];
      const SensorId id = sensor_id(d.sensor);
      m.event.push_back(event);
      m.sensor.push_back(static_cast<uint8_t>(d.sensor));
      m.layer.push_back(static_cast<uint8_t>(id.layer));
      m.ladder.push_back(static_cast<uint8_t>(id.ladder));
      m.sensor_number.push_back(static_cast<uint8_t>(id.sensor));
      m.ucell.push_back(d.ucell);
      m.vcell.push_back(d.vcell);
      m.charge.push_back(static_cast<uint8_t>(d.charge));
    }
    if (m.event.size() == kFlushRows) flush();
  }
  rows_ += digits.size();
  ++events_;
  m.offsets.push_back(rows_);
  m.numbers.push_back(event);
  if (m.numbers.size() >= kFlushEvents) flush();
}

void Hdf5DigitWriter::flush() {
  Impl& m = *impl_;
  QuietErrors quiet;
  const std::string what = "cannot write '" + temp_path_ + "' (disk full?)";
  try {
    const hsize_t n = m.event.size();
    append_rows(m.datasets[kEvent].get(), H5T_NATIVE_UINT64, m.event.data(), n, what);
    append_rows(m.datasets[kSensor].get(), H5T_NATIVE_UINT8, m.sensor.data(), n, what);
    append_rows(m.datasets[kLayer].get(), H5T_NATIVE_UINT8, m.layer.data(), n, what);
    append_rows(m.datasets[kLadder].get(), H5T_NATIVE_UINT8, m.ladder.data(), n, what);
    append_rows(m.datasets[kSensorNumber].get(), H5T_NATIVE_UINT8, m.sensor_number.data(), n, what);
    append_rows(m.datasets[kUCell].get(), H5T_NATIVE_UINT16, m.ucell.data(), n, what);
    append_rows(m.datasets[kVCell].get(), H5T_NATIVE_UINT16, m.vcell.data(), n, what);
    append_rows(m.datasets[kCharge].get(), H5T_NATIVE_UINT8, m.charge.data(), n, what);
    append_rows(m.datasets[kOffsets].get(), H5T_NATIVE_UINT64, m.offsets.data(), m.offsets.size(), what);
    append_rows(m.datasets[kNumbers].get(), H5T_NATIVE_UINT64, m.numbers.data(), m.numbers.size(), what);
  } catch (...) {
    m.broken = true;
    throw;
  }
  m.event.clear();
  m.sensor.clear();
  m.layer.clear();
  m.ladder.clear();
  m.sensor_number.clear();
  m.ucell.clear();
  m.vcell.clear();
  m.charge.clear();
  m.offsets.clear();
  m.numbers.clear();
  // HDF5 keeps freed blocks on its own free lists (up to 16 MiB and more); handing them back
  // after each batch keeps a long run's memory at what the next batch needs.
  H5garbage_collect();
}

void Hdf5DigitWriter::close_and_rename(bool complete) {
  Impl& m = *impl_;
  if (m.done) throw Error("'" + path_ + "' was already finished");
  if (m.broken) throw Error("'" + path_ + "': an earlier write failed; the file is abandoned");
  flush();
  QuietErrors quiet;
  const std::string what = "cannot write '" + temp_path_ + "' (disk full?)";
  try {
    write_u64_attribute(m.file.get(), "events_completed", events_, path_);
    write_u64_attribute(m.file.get(), "complete", complete ? 1 : 0, path_);
    for (Handle& d : m.datasets)
      if (!d.close()) throw Error(what);
    // Closing the file is what writes its metadata: a failure here means a broken file.
    if (!m.file.close()) throw Error(what);
  } catch (...) {
    m.broken = true;
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) {
    m.broken = true;
    throw Error("cannot rename '" + temp_path_ + "' to '" + path_ + "': " + ec.message());
  }
  m.done = true;
}

void Hdf5DigitWriter::finish(uint64_t events_completed) {
  if (events_completed != events_)
    throw Error("'" + path_ + "': finish() was told " + std::to_string(events_completed) + " events but " +
                std::to_string(events_) + " were appended");
  close_and_rename(true);
}

uint64_t Hdf5DigitWriter::finish_partial() {
  close_and_rename(false);
  return events_;
}

// ---- reader -------------------------------------------------------------------------

namespace {

struct OpenFile {
  Handle file;
  FileInfo info;
  std::array<Handle, kColumns> datasets;
};

OpenFile open_digits_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("cannot read '" + path + "': no such file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) throw Error("'" + path + "' is not an HDF5 file");
  OpenFile o;
  o.file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!o.file.valid()) throw Error("cannot open HDF5 file '" + path + "'");
  const hid_t f = o.file.get();
  if (!has_attribute(f, "format") || read_string_attribute(f, "format", path) != kFormat)
    throw Error("'" + path + "' is an HDF5 file but not pxdgen digits (attribute format != '" + kFormat + "')");
  const uint64_t version = read_u64_attribute(f, "format_version", path);
  if (version != kFormatVersion)
    throw Error("'" + path + "' has digits format version " + std::to_string(version) + "; this pxdgen reads version " +
                std::to_string(kFormatVersion));

  FileInfo& info = o.info;
  info.run.model_sha256 = read_string_attribute(f, "model_sha256", path);
  info.run.family = read_string_attribute(f, "family", path);
  if (has_attribute(f, "variant")) info.run.variant = read_string_attribute(f, "variant", path);
  info.run.seed = read_u64_attribute(f, "seed", path);
  info.run.threshold = read_string_attribute(f, "threshold", path);
  info.run.first_event = read_u64_attribute(f, "first_event", path);
  info.pxdgen_version = read_string_attribute(f, "pxdgen_version", path);
  info.events_completed = read_u64_attribute(f, "events_completed", path);
  info.complete = read_u64_attribute(f, "complete", path) != 0;

  const auto specs = column_specs();
  std::array<hsize_t, kColumns> sizes{};
  for (int c = 0; c < kColumns; ++c) {
    const std::string what = "'" + path + "': dataset '" + specs[c].name + "'";
    if (H5Lexists(f, specs[c].name, H5P_DEFAULT) <= 0) throw Error(what + " is missing");
    o.datasets[c] = checked(H5Dopen2(f, specs[c].name, H5P_DEFAULT), H5Dclose, "cannot open " + what);
    Handle type = checked(H5Dget_type(o.datasets[c].get()), H5Tclose, what);
    // Unsigned only: HDF5 would clamp a negative value to 0, which passes the range checks.
    if (H5Tget_class(type.get()) != H5T_INTEGER || H5Tget_sign(type.get()) != H5T_SGN_NONE)
      throw Error(what + " is not an unsigned integer column");
    Handle space = checked(H5Dget_space(o.datasets[c].get()), H5Sclose, what);
    if (H5Sget_simple_extent_ndims(space.get()) != 1) throw Error(what + " is not 1-D");
    H5Sget_simple_extent_dims(space.get(), &sizes[c], nullptr);
  }
  for (int c = kEvent; c <= kCharge; ++c)
    if (sizes[c] != sizes[kEvent])
      throw Error("'" + path + "': column '" + specs[c].name + "' has " + std::to_string(sizes[c]) + " rows, 'event' " +
                  std::to_string(sizes[kEvent]));
  if (sizes[kOffsets] != sizes[kNumbers] + 1)
    throw Error("'" + path + "': event_offsets has " + std::to_string(sizes[kOffsets]) + " entries for " +
                std::to_string(sizes[kNumbers]) + " events (needs events + 1)");
  info.events = sizes[kNumbers];
  info.digits = sizes[kEvent];
  return o;
}

}  // namespace

FileInfo read_hdf5_info(const std::string& path) {
  QuietErrors quiet;
  return open_digits_file(path).info;
}

FileInfo read_hdf5_digits(const std::string& path,
                          const std::function<void(uint64_t event, const std::vector<Digit>& digits)>& on_event) {
  QuietErrors quiet;
  OpenFile o = open_digits_file(path);
  const uint64_t events = o.info.events;
  const std::string what = "cannot read '" + path + "'";

  std::vector<uint64_t> offsets(events + 1), numbers(events);
  read_rows(o.datasets[kOffsets].get(), H5T_NATIVE_UINT64, offsets.data(), 0, events + 1, what);
  read_rows(o.datasets[kNumbers].get(), H5T_NATIVE_UINT64, numbers.data(), 0, events, what);
  if (offsets[0] != 0) throw Error("'" + path + "': event_offsets[0] is " + std::to_string(offsets[0]) + ", not 0");
  for (uint64_t i = 0; i < events; ++i)
    if (offsets[i + 1] < offsets[i])
      throw Error("'" + path + "': event_offsets decreases at event index " + std::to_string(i));
  if (offsets[events] != o.info.digits)
    throw Error("'" + path + "': event_offsets ends at " + std::to_string(offsets[events]) + " but there are " +
                std::to_string(o.info.digits) + " digits");

  // Digits go through uint16 buffers whatever the stored width, so that an out-of-range
  // value from a foreign writer is seen instead of wrapped.
  std::vector<uint16_t> sensor, ucell, vcell, charge;
  std::vector<Digit> digits;
  uint64_t first = 0;
  while (first < events) {
    uint64_t last = first + 1;  // at least one event, however large
    while (last < events && offsets[last + 1] - offsets[first] <= kReadRows) ++last;
    const uint64_t row0 = offsets[first], rows = offsets[last] - row0;
    sensor.resize(rows);
    ucell.resize(rows);
    vcell.resize(rows);
    charge.resize(rows);
    read_rows(o.datasets[kSensor].get(), H5T_NATIVE_UINT16, sensor.data(), row0, rows, what);
    read_rows(o.datasets[kUCell].get(), H5T_NATIVE_UINT16, ucell.data(), row0, rows, what);
    read_rows(o.datasets[kVCell].get(), H5T_NATIVE_UINT16, vcell.data(), row0, rows, what);
    read_rows(o.datasets[kCharge].get(), H5T_NATIVE_UINT16, charge.data(), row0, rows, what);
    for (uint64_t e = first; e < last; ++e) {
      digits.clear();
      for (uint64_t r = offsets[e] - row0; r < offsets[e + 1] - row0; ++r) {
        Digit d;
        d.sensor = sensor[r];
        d.ucell = ucell[r];
        d.vcell = vcell[r];
        d.charge = charge[r];
        const std::string problem = digit_problem(d);
        if (!problem.empty())
          throw Error("'" + path + "': row " + std::to_string(row0 + r) + " (event " + std::to_string(numbers[e]) +
                      ") has " + problem);
        digits.push_back(d);
      }
      on_event(numbers[e], digits);
    }
    first = last;
  }
  return o.info;
}

}  // namespace pxdgen::hdf5
