#include "weights_converter/pickle.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "pxdgen/error.hpp"

namespace pxdgen::converter {

using Kind = PickleValue::Kind;

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::bytes: return "bytes";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::set: return "set";
    case Kind::global: return "global";
    case Kind::object: return "object";
    case Kind::persistent_id: return "persistent id";
  }
  return "?";
}

namespace {

/// Python 2 pickles spell a few modules differently; names are compared in Python 3 terms.
std::string canonical_module(const std::string& module) {
  if (module == "__builtin__") return "builtins";
  if (module == "copy_reg") return "copyreg";
  return module;
}

std::string quoted_excerpt(const std::string& s) {
  constexpr size_t kMax = 40;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

}  // namespace

std::string PickleValue::type_name() const {
  if (kind == Kind::global) return canonical_module(text) + "." + name;
  if ((kind == Kind::object || kind == Kind::dict || kind == Kind::set) && callable != nullptr &&
      callable->kind == Kind::global)
    return callable->type_name();
  return "";
}

bool PickleValue::is_call_of(const char* module, const char* attribute) const {
  const PickleValue* g = kind == Kind::global ? this : callable;
  return g != nullptr && g->kind == Kind::global && g->name == attribute && canonical_module(g->text) == module;
}

const PickleValue* PickleValue::get(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::string && k->text == key) return v;
  return nullptr;
}

std::string describe(const PickleValue& v) {
  switch (v.kind) {
    case Kind::boolean: return v.boolean ? "True" : "False";
    case Kind::integer: return v.big_integer ? "int (too large)" : "int " + std::to_string(v.integer);
    case Kind::floating: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "float %g", v.floating);
      return buf;
    }
    case Kind::string: return "str " + quoted_excerpt(v.text);
    case Kind::bytes: return "bytes of length " + std::to_string(v.text.size());
    case Kind::list:
    case Kind::tuple:
    case Kind::set: return std::string(kind_name(v.kind)) + " of " + std::to_string(v.items.size());
    case Kind::dict: {
      const std::string type = v.type_name();
      return (type.empty() ? std::string("dict") : type) + " of " + std::to_string(v.entries.size());
    }
    case Kind::global: return "global " + v.type_name();
    case Kind::object: {
      const std::string type = v.type_name();
      return type.empty() ? "object" : "object " + type;
    }
    default: return kind_name(v.kind);
  }
}

namespace {

const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

/// Runs the pickle machine over one buffer. Every read is checked against the end of the
/// buffer and every count against the limits, so no input can make it read out of
/// bounds or allocate more than a small multiple of its own size.
class Machine {
 public:
  Machine(const uint8_t* data, size_t size, const std::string& name, const PickleLimits& limits,
          std::deque<PickleValue>& values)
      : data_(data), size_(size), name_(name), limits_(limits), values_(values) {}

  std::pair<PickleValue*, size_t> run();

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": " + what + " (pickle opcode " + op_label() + " at offset " + std::to_string(op_pos_) + ")");
  }
  std::string op_label() const {
    const char* n = opcode_name(op_);
    char buf[48];
    if (n != nullptr)
      std::snprintf(buf, sizeof buf, "%s", n);
    else
      std::snprintf(buf, sizeof buf, "0x%02x", op_);
    return buf;
  }

  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail("the data ends inside the opcode's argument (truncated?)");
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint64_t take_le(int width) {
    const uint8_t* p = take(static_cast<uint64_t>(width));
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  /// A newline-terminated argument of the text opcodes (without the newline).
  std::string take_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) fail("the data ends inside the opcode's text argument (truncated?)");
    const size_t len = static_cast<size_t>(static_cast<const uint8_t*>(nl) - (data_ + pos_));
    std::string line(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len + 1;
    return line;
  }

  PickleValue* make(Kind kind) {
    if (values_.size() >= limits_.max_values) fail("more than " + std::to_string(limits_.max_values) + " values");
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }
  /// Accounts for `n` elements about to be copied from one container into another.
  void charge_copies(size_t n) {
    if (n > limits_.max_copied - copied_)
      fail("calls copy more than " + std::to_string(limits_.max_copied) + " elements in all");
    copied_ += n;
  }
  PickleValue* make_int(int64_t v) {
    PickleValue* p = make(Kind::integer);
    p->integer = v;
    return p;
  }
  PickleValue* make_text(Kind kind, const uint8_t* p, size_t n) {
    PickleValue* v = make(kind);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    return v;
  }

  void push(PickleValue* v) {
    if (stack_.size() >= limits_.max_stack) fail("stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(v);
  }
  /// Bottom of the values above the innermost MARK; nothing below it may be popped singly.
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue* pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  void memo_put(uint64_t index, PickleValue* v) {
    if (memo_.size() >= limits_.max_memo && memo_.find(index) == memo_.end())
      fail("memo larger than " + std::to_string(limits_.max_memo) + " entries");
    memo_[index] = v;
  }
  PickleValue* memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    return it->second;
  }
  uint64_t parse_index(const std::string& line) {
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
    if (ec != std::errc() || end != line.data() + line.size() || line.empty()) fail("bad memo index '" + line + "'");
    return v;
  }

  PickleValue* integer_from_le(const uint8_t* p, size_t n);
  PickleValue* integer_from_text(std::string line);
  PickleValue* call(PickleValue* callable, PickleValue* args);
  void set_items(PickleValue* target, const std::vector<PickleValue*>& kv);
  void append_items(PickleValue* target, const std::vector<PickleValue*>& items);
  PickleValue* tuple(std::vector<PickleValue*> items) {
    PickleValue* t = make(Kind::tuple);
    t->items = std::move(items);
    return t;
  }
  void step();

  const uint8_t* data_;
  size_t size_;
  const std::string& name_;
  const PickleLimits& limits_;
  std::deque<PickleValue>& values_;
  size_t pos_ = 0, op_pos_ = 0, copied_ = 0;
  uint8_t op_ = 0;
  bool stopped_ = false;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  PickleValue *none_ = nullptr, *true_ = nullptr, *false_ = nullptr;
};

PickleValue* Machine::integer_from_le(const uint8_t* p, size_t n) {
  if (n == 0) return make_int(0);
  const bool negative = (p[n - 1] & 0x80) != 0;
  // Bytes beyond the eighth may only repeat the sign for the value to fit in int64.
  bool fits = true;
  for (size_t i = 8; i < n; ++i) fits = fits && p[i] == (negative ? 0xFF : 0x00);
  if (n > 8 && fits) fits = ((p[7] & 0x80) != 0) == negative;
  if (!fits) {
    PickleValue* v = make_text(Kind::integer, p, n);
    v->big_integer = true;
    return v;
  }
  uint64_t u = negative ? ~uint64_t{0} : 0;
  for (size_t i = 0; i < n && i < 8; ++i) {
    u &= ~(uint64_t{0xFF} << (8 * i));
    u |= uint64_t{p[i]} << (8 * i);
  }
  int64_t s;
  std::memcpy(&s, &u, sizeof s);
  return make_int(s);
}

PickleValue* Machine::integer_from_text(std::string line) {
  if (!line.empty() && line.back() == 'L') line.pop_back();  // Python 2 long suffix
  int64_t v = 0;
  const char* b = line.data();
  const char* e = b + line.size();
  if (b != e && *b == '+') ++b;
  const auto [end, ec] = std::from_chars(b, e, v);
  if (ec == std::errc::result_out_of_range) {
    for (const char* c = b + (b != e && *b == '-'); c != e; ++c)
      if (*c < '0' || *c > '9') fail("bad integer literal " + quoted_excerpt(line));
    PickleValue* big = make(Kind::integer);
    big->big_integer = true;
    big->text = line;
    return big;
  }
  if (ec != std::errc() || end != e || b == e) fail("bad integer literal " + quoted_excerpt(line));
  return make_int(v);
}

/// REDUCE and NEWOBJ. The few builtin containers pickled as calls become real
/// containers, so callers see an OrderedDict as a dict; every other call is recorded.
PickleValue* Machine::call(PickleValue* callable, PickleValue* args) {
  if (args->kind != Kind::tuple) fail("call arguments must be a tuple, got " + describe(*args));
  const size_t argc = args->items.size();
  if (callable->kind == Kind::global &&
      (callable->is_call_of("collections", "OrderedDict") || callable->is_call_of("builtins", "dict") ||
       callable->is_call_of("collections", "defaultdict"))) {
    PickleValue* d = make(Kind::dict);
    d->callable = callable;
    d->args = args;
    // Old pickles pass the items as a list of pairs instead of setting them afterwards.
    if (argc == 1 && !callable->is_call_of("collections", "defaultdict") &&
        (args->items[0]->kind == Kind::list || args->items[0]->kind == Kind::tuple)) {
      charge_copies(args->items[0]->items.size());
      for (PickleValue* pair : args->items[0]->items) {
        if ((pair->kind != Kind::list && pair->kind != Kind::tuple) || pair->items.size() != 2)
          fail("dict built from a sequence that is not of pairs");
        d->entries.emplace_back(pair->items[0], pair->items[1]);
      }
    }
    return d;
  }
  if (callable->kind == Kind::global && callable->is_call_of("_codecs", "encode") && argc == 2 &&
      args->items[0]->kind == Kind::string && args->items[1]->kind == Kind::string &&
      (args->items[1]->text == "latin1" || args->items[1]->text == "latin-1")) {
    // Protocol 2 writes bytes as the latin-1 encoding of a str: undo that, one code
    // point (all below 256) per byte.
    const std::string& s = args->items[0]->text;
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        out += static_cast<char>(c);
        i += 1;
      } else if ((c & 0xE0) == 0xC0 && c <= 0xC3 && i + 1 < s.size()) {
        out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F));
        i += 2;
      } else {
        fail("_codecs.encode(..., 'latin1') of text that is not latin-1");
      }
    }
    PickleValue* b = make(Kind::bytes);
    b->text = std::move(out);
    return b;
  }
  if (callable->kind == Kind::global && (callable->is_call_of("builtins", "set") || callable->is_call_of("builtins", "frozenset"))) {
    PickleValue* s = make(Kind::set);
    s->callable = callable;
    s->args = args;
    if (argc == 1 && (args->items[0]->kind == Kind::list || args->items[0]->kind == Kind::tuple)) {
      charge_copies(args->items[0]->items.size());
      s->items = args->items[0]->items;
    }
    return s;
  }
  PickleValue* o = make(Kind::object);
  o->callable = callable;
  o->args = args;
  return o;
}

void Machine::set_items(PickleValue* target, const std::vector<PickleValue*>& kv) {
  if (kv.size() % 2 != 0) fail("odd number of values for dict items");
  if (target->kind != Kind::dict && target->kind != Kind::object) fail("cannot set items on " + describe(*target));
  // Python's pickler never repeats a key, so keys are not compared here: that would be
  // quadratic in the size of a hostile dict. A repeated key shows up as two entries.
  for (size_t i = 0; i < kv.size(); i += 2) target->entries.emplace_back(kv[i], kv[i + 1]);
}

void Machine::append_items(PickleValue* target, const std::vector<PickleValue*>& items) {
  if (target->kind != Kind::list && target->kind != Kind::object) fail("cannot append to " + describe(*target));
  target->items.insert(target->items.end(), items.begin(), items.end());
}

void Machine::step() {
  op_pos_ = pos_;
  op_ = *take(1);
  switch (op_) {
    case 0x80: {  // PROTO
      const uint8_t version = *take(1);
      if (version > 5) fail("unsupported pickle protocol " + std::to_string(version));
      break;
    }
    case 0x95: {  // FRAME: only a read-ahead hint, but its length must be plausible
      const uint64_t len = take_le(8);
      if (len > size_ - pos_) fail("frame of " + std::to_string(len) + " bytes runs past the end of the data");
      break;
    }
    case '(':
      if (marks_.size() >= limits_.max_marks) fail("more than " + std::to_string(limits_.max_marks) + " nested MARKs");
      marks_.push_back(stack_.size());
      break;
    case '.':
      stopped_ = true;
      break;
    case '0':
      // At a MARK with nothing above it, POP discards the mark, as CPython does.
      if (!marks_.empty() && stack_.size() == marks_.back())
        marks_.pop_back();
      else
        pop();
      break;
    case '1': pop_mark(); break;
    case '2': push(top()); break;

    case 'N': push(none_); break;
    case 0x88: push(true_); break;
    case 0x89: push(false_); break;
    case 'J': {
      const uint32_t u = static_cast<uint32_t>(take_le(4));
      int32_t s;
      std::memcpy(&s, &u, sizeof s);
      push(make_int(s));
      break;
    }
    case 'K': push(make_int(static_cast<int64_t>(take_le(1)))); break;
    case 'M': push(make_int(static_cast<int64_t>(take_le(2)))); break;
    case 0x8a: {
      const size_t n = static_cast<size_t>(take_le(1));
      push(integer_from_le(take(n), n));
      break;
    }
    case 0x8b: {
      const uint64_t n = take_le(4);
      if (n & 0x80000000u) fail("negative LONG4 length");
      push(integer_from_le(take(n), static_cast<size_t>(n)));
      break;
    }
    case 'I': {
      const std::string line = take_line();
      if (line == "01")
        push(true_);
      else if (line == "00")
        push(false_);
      else
        push(integer_from_text(line));
      break;
    }
    case 'L': push(integer_from_text(take_line())); break;
    case 'G': {
      const uint8_t* p = take(8);
      uint64_t u = 0;
      for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];  // big-endian IEEE double
      PickleValue* v = make(Kind::floating);
      std::memcpy(&v->floating, &u, sizeof u);
      push(v);
      break;
    }
    case 'F': {
      const std::string line = take_line();
      PickleValue* v = make(Kind::floating);
      const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v->floating);
      if (ec != std::errc() || end != line.data() + line.size()) fail("bad float literal " + quoted_excerpt(line));
      push(v);
      break;
    }

    case 'X': case 0x8c: case 0x8d:     // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
    case 'U': case 'T':                 // SHORT_BINSTRING, BINSTRING
    case 'B': case 'C': case 0x8e:      // BINBYTES, SHORT_BINBYTES, BINBYTES8
    case 0x96: {                        // BYTEARRAY8
      const int width = (op_ == 0x8c || op_ == 'U' || op_ == 'C') ? 1 : (op_ == 0x8d || op_ == 0x8e || op_ == 0x96) ? 8 : 4;
      const uint64_t n = take_le(width);
      if (op_ == 'T' && (n & 0x80000000u)) fail("negative BINSTRING length");
      const Kind kind = (op_ == 'B' || op_ == 'C' || op_ == 0x8e || op_ == 0x96) ? Kind::bytes : Kind::string;
      push(make_text(kind, take(n), static_cast<size_t>(n)));
      break;
    }

    case '}': push(make(Kind::dict)); break;
    case ']': push(make(Kind::list)); break;
    case ')': push(make(Kind::tuple)); break;
    case 0x8f: push(make(Kind::set)); break;
    case 'd': {
      std::vector<PickleValue*> kv = pop_mark();
      PickleValue* d = make(Kind::dict);
      set_items(d, kv);
      push(d);
      break;
    }
    case 'l': {
      PickleValue* l = make(Kind::list);
      l->items = pop_mark();
      push(l);
      break;
    }
    case 't': push(tuple(pop_mark())); break;
    case 0x85: {
      PickleValue* a = pop();
      push(tuple({a}));
      break;
    }
    case 0x86: {
      PickleValue* b = pop();
      PickleValue* a = pop();
      push(tuple({a, b}));
      break;
    }
    case 0x87: {
      PickleValue* c = pop();
      PickleValue* b = pop();
      PickleValue* a = pop();
      push(tuple({a, b, c}));
      break;
    }
    case 0x91: {
      PickleValue* s = make(Kind::set);
      s->items = pop_mark();
      push(s);
      break;
    }
    case 's': {
      PickleValue* v = pop();
      PickleValue* k = pop();
      set_items(top(), {k, v});
      break;
    }
    case 'u': {
      std::vector<PickleValue*> kv = pop_mark();
      set_items(top(), kv);
      break;
    }
    case 'a': {
      PickleValue* v = pop();
      append_items(top(), {v});
      break;
    }
    case 'e': {
      std::vector<PickleValue*> items = pop_mark();
      append_items(top(), items);
      break;
    }
    case 0x90: {
      std::vector<PickleValue*> items = pop_mark();
      PickleValue* s = top();
      if (s->kind != Kind::set && s->kind != Kind::object) fail("cannot add items to " + describe(*s));
      s->items.insert(s->items.end(), items.begin(), items.end());
      break;
    }

    case 'c': {
      PickleValue* g = make(Kind::global);
      g->text = take_line();
      g->name = take_line();
      push(g);
      break;
    }
    case 0x93: {
      PickleValue* attribute = pop();
      PickleValue* module = pop();
      if (module->kind != Kind::string || attribute->kind != Kind::string) fail("STACK_GLOBAL needs two strings");
      PickleValue* g = make(Kind::global);
      g->text = module->text;
      g->name = attribute->text;
      push(g);
      break;
    }
    case 'R':
    case 0x81: {
      PickleValue* args = pop();
      PickleValue* callable = pop();
      push(call(callable, args));
      break;
    }
    case 0x92: {
      PickleValue* kwargs = pop();
      PickleValue* args = pop();
      PickleValue* callable = pop();
      if (kwargs->kind != Kind::dict) fail("NEWOBJ_EX keyword arguments must be a dict");
      PickleValue* o = call(callable, args);
      o->kwargs = kwargs;
      push(o);
      break;
    }
    case 'b': {
      PickleValue* state = pop();
      PickleValue* target = top();
      if (target == none_ || target == true_ || target == false_) fail("BUILD on " + describe(*target));
      target->state = state;
      break;
    }
    case 'Q': {
      PickleValue* p = make(Kind::persistent_id);
      p->pid = pop();
      push(p);
      break;
    }
    case 'P': {
      const std::string line = take_line();
      PickleValue* p = make(Kind::persistent_id);
      p->pid = make_text(Kind::string, reinterpret_cast<const uint8_t*>(line.data()), line.size());
      push(p);
      break;
    }

    case 'q': memo_put(take_le(1), top()); break;
    case 'r': memo_put(take_le(4), top()); break;
    case 'p': memo_put(parse_index(take_line()), top()); break;
    case 0x94: memo_put(memo_.size(), top()); break;
    case 'h': push(memo_get(take_le(1))); break;
    case 'j': push(memo_get(take_le(4))); break;
    case 'g': push(memo_get(parse_index(take_line()))); break;

    default:
      if (opcode_name(op_) != nullptr) fail("this opcode is not supported (torch.save does not emit it)");
      fail("unknown opcode (not a pickle, or a corrupt one)");
  }
}

std::pair<PickleValue*, size_t> Machine::run() {
  none_ = make(Kind::none);
  true_ = make(Kind::boolean);
  true_->boolean = true;
  false_ = make(Kind::boolean);
  while (!stopped_) {
    if (pos_ >= size_) {
      op_pos_ = pos_;
      throw Error(name_ + ": the pickle ends at offset " + std::to_string(pos_) + " without a STOP opcode (truncated?)");
    }
    step();
  }
  return {pop(), pos_};
}

}  // namespace

Pickle::Pickle(const uint8_t* data, size_t size, const std::string& name, const PickleLimits& limits)
    : values_(std::make_unique<std::deque<PickleValue>>()) {
  if (data == nullptr) size = 0;
  Machine machine(data, size, name, limits, *values_);
  const auto [root, end] = machine.run();
  root_ = root;
  end_offset_ = end;
}

}  // namespace pxdgen::converter
