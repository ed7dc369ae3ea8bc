#pragma once
/// @file pickle.hpp
/// A pickle reader for the protocol 2-5 subset torch.save emits. It runs the pickle
/// machine without importing anything: a call of any global (a class, a function) is
/// recorded as an "object" node naming the global and holding its arguments and state,
/// so checkpoints full of optimizer state, configs and numpy scalars can be read, and the
/// caller decides which calls it understands (torch._utils._rebuild_tensor_v2, ...).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pxdgen::converter {

/// One node of an unpickled object graph. Nodes are owned by their Pickle; they point to
/// each other, may be shared (the pickle memo) and may form cycles, so walks over the
/// graph must bound their depth.
struct PickleValue {
  enum class Kind : uint8_t {
    none,
    boolean,
    integer,
    floating,
    string,  ///< text (UTF-8 for str; raw bytes for Python 2 str)
    bytes,
    list,
    tuple,
    dict,
    set,            ///< set or frozenset
    global,         ///< a reference to module.name, not yet called
    object,         ///< the result of calling something (REDUCE, NEWOBJ)
    persistent_id,  ///< what the pickler's persistent_id() returned for an object
  };

  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  /// An integer outside int64 range: `integer` is unusable and `text` holds its
  /// little-endian two's-complement bytes (LONG1/LONG4) or its decimal digits (INT/LONG).
  bool big_integer = false;
  double floating = 0.0;
  /// string and bytes: the payload. global: the module.
  std::string text;
  /// global: the attribute name inside the module.
  std::string name;
  /// list, tuple, set: the elements. object: items APPENDed to it.
  std::vector<PickleValue*> items;
  /// dict: key/value pairs in the order they were set (a key repeated by a hand-made
  /// pickle appears twice). object: items SET on it.
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;
  /// object, and a dict built by calling a class such as collections.OrderedDict: what was
  /// called (usually a global) and its argument tuple.
  PickleValue* callable = nullptr;
  PickleValue* args = nullptr;
  /// object from NEWOBJ_EX: the keyword-argument dict.
  PickleValue* kwargs = nullptr;
  /// persistent_id: the id (torch: a tuple ('storage', type, key, location, numel)).
  PickleValue* pid = nullptr;
  /// The argument of BUILD (an object's __setstate__/__dict__ state), if any.
  PickleValue* state = nullptr;

  bool is(Kind k) const { return kind == k; }
  /// "module.name" of a global; for objects and dicts made by calling a global, that
  /// global's name; "" otherwise.
  std::string type_name() const;
  /// True for a global, or a value made by calling one, named `module`.`attribute`.
  bool is_call_of(const char* module, const char* attribute) const;
  /// Dict (or object) entry whose key is the string `key`, or nullptr.
  const PickleValue* get(const std::string& key) const;
};

/// Short human-readable description of a value for error messages ("int 3",
/// "str 'cpu'", "tuple of 5", "object argparse.Namespace").
std::string describe(const PickleValue& value);

/// Name of a pickle kind ("int", "str", "dict", ...).
const char* kind_name(PickleValue::Kind kind);

/// Resource bounds so that a hostile pickle fails cleanly instead of exhausting memory.
struct PickleLimits {
  size_t max_stack = size_t{1} << 22;   ///< values on the machine's stack
  size_t max_marks = size_t{1} << 12;   ///< open MARKs (nesting of literal containers)
  size_t max_memo = size_t{1} << 22;    ///< memo entries
  size_t max_values = size_t{1} << 22;  ///< nodes created in all (each costs ~200 bytes)
  /// Elements copied into containers built by a call (set(list), OrderedDict(pairs)): a
  /// few bytes of pickle can repeat such a call on one memoized list, so without a bound
  /// memory grows with the square of the input.
  size_t max_copied = size_t{1} << 22;
};

/// The result of running one pickle.
class Pickle {
 public:
  /// Runs the pickle in `data` up to its STOP opcode. `name` is used in error messages.
  /// Throws pxdgen::Error on malformed input, unknown or unsupported opcodes (naming the
  /// opcode and its offset) and exceeded limits.
  Pickle(const uint8_t* data, size_t size, const std::string& name, const PickleLimits& limits = {});
  Pickle(Pickle&&) noexcept = default;
  Pickle& operator=(Pickle&&) noexcept = default;
  Pickle(const Pickle&) = delete;
  Pickle& operator=(const Pickle&) = delete;

  /// The unpickled object.
  const PickleValue& root() const { return *root_; }
  /// Offset just past the STOP opcode (a file may hold several pickles back to back).
  size_t end_offset() const { return end_offset_; }

 private:
  // A deque keeps node addresses stable while the graph grows; held by pointer so a move
  // of the Pickle cannot relocate them either.
  std::unique_ptr<std::deque<PickleValue>> values_;
  const PickleValue* root_ = nullptr;
  size_t end_offset_ = 0;
};

}  // namespace pxdgen::converter
