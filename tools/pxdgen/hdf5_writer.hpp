#pragma once
/// @file hdf5_writer.hpp
/// Digits in HDF5: one row per digit in columnar, chunked, gzip-compressed 1-D datasets,
/// plus an event index, so that h5py / pandas read the file without pxdgen and one event
/// is read without scanning the others.
///
/// Layout (all datasets 1-D, extendable, chunked, shuffle + gzip):
///   event          uint64  event number of the digit's event (repeated per digit)
///   sensor         uint8   sensor index 0..39 (MODELS.md order)
///   layer          uint8   1..2
///   ladder         uint8   1..8 / 1..12
///   sensor_number  uint8   1..2
///   ucell          uint16  0..249
///   vcell          uint16  0..767
///   charge         uint8   ADU 1..255
///   event_offsets  uint64  length events + 1: event i holds rows [off[i], off[i+1])
///   event_numbers  uint64  length events: the number of event i
/// Root attributes: format ("pxdgen-digits"), format_version (1), model_sha256, family,
/// variant, seed, threshold, first_event, pxdgen_version, sensor_order, events_completed,
/// complete (1 only after finish()).
///
/// The HDF5 library Debian ships is not thread-safe: use these from one thread at a time.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pxdgen/pxdgen.hpp"

namespace pxdgen::hdf5 {

/// Why a digit cannot be stored (out-of-range sensor, cell or charge), or "" if it can.
std::string digit_problem(const Digit& digit);

/// What a run was, stored as root attributes.
struct RunAttributes {
  std::string model_sha256;
  std::string family;
  std::string variant;
  uint64_t seed = 0;
  std::string threshold;  ///< the output transform in words, e.g. "tanh > -0.26, charge >= 1 ADU"
  uint64_t first_event = 0;
};

/// Streams events of digits into an HDF5 file.
///
/// The file is built as `path + ".partial"` and renamed to `path` by finish() (complete=1)
/// or finish_partial() (complete=0, for a run that was interrupted: every event appended
/// so far is kept and events_completed says how many). Destroying a writer that was not
/// finished removes the .partial file, so a file under `path` is always readable and its
/// `complete` attribute tells whether the run reached its end. A crash (no destructor)
/// leaves only the .partial file.
class Hdf5DigitWriter {
 public:
  /// Creates `path + ".partial"` (overwriting a stale one). Throws pxdgen::Error.
  Hdf5DigitWriter(const std::string& path, const RunAttributes& attributes);
  ~Hdf5DigitWriter();
  Hdf5DigitWriter(const Hdf5DigitWriter&) = delete;
  Hdf5DigitWriter& operator=(const Hdf5DigitWriter&) = delete;

  /// Adds one event. Digits are stored in the given order; each must be in range
  /// (sensor < 40, ucell < 250, vcell < 768, charge 1..255) or pxdgen::Error is thrown
  /// and nothing of the event is stored.
  void append_event(uint64_t event, const std::vector<Digit>& digits);

  /// Marks the run complete and renames the file into place. `events_completed` must equal
  /// the number of events appended (a cross-check against a lost event).
  void finish(uint64_t events_completed);
  /// Keeps what was written so far under `path` with complete=0 and events_completed set
  /// to the number of events appended; returns that number.
  uint64_t finish_partial();

  uint64_t events() const { return events_; }
  uint64_t digits() const { return rows_; }

 private:
  struct Impl;
  void flush();
  void close_and_rename(bool complete);

  std::string path_, temp_path_;
  Impl* impl_ = nullptr;
  uint64_t events_ = 0, rows_ = 0;
};

/// Root attributes of a digits file, as read back.
struct FileInfo {
  RunAttributes run;
  std::string pxdgen_version;
  uint64_t events = 0;            ///< length of event_numbers
  uint64_t events_completed = 0;  ///< the attribute
  bool complete = false;
  uint64_t digits = 0;
};

/// Reads the attributes and sizes of a digits file and checks its layout.
/// Throws pxdgen::Error for a file that is not a pxdgen digits file.
FileInfo read_hdf5_info(const std::string& path);

/// Calls `on_event(event_number, digits)` for every event in file order, reading a few
/// hundred thousand rows at a time. Checks the index and every digit's range; throws
/// pxdgen::Error (naming the file) on a corrupt or foreign file. Returns the file's info.
FileInfo read_hdf5_digits(const std::string& path,
                          const std::function<void(uint64_t event, const std::vector<Digit>& digits)>& on_event);

}  // namespace pxdgen::hdf5
