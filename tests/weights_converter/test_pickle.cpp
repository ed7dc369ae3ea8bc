#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "pxdgen/error.hpp"
#include "tests/weights_converter/read_file.hpp"
#include "weights_converter/pickle.hpp"
#include "weights_converter/zip_archive.hpp"

using pxdgen::converter::Pickle;
using pxdgen::converter::PickleLimits;
using pxdgen::converter::PickleValue;
using Kind = PickleValue::Kind;

namespace {

std::string le(uint64_t v, int width) {
  std::string s;
  for (int i = 0; i < width; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
std::string op(int code) { return std::string(1, static_cast<char>(code)); }
std::string binunicode(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string short_binunicode(const std::string& s) { return op(0x8c) + le(s.size(), 1) + s; }
std::string binint(int32_t v) { return "J" + le(static_cast<uint32_t>(v), 4); }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }

const std::string kProto2 = op(0x80) + op(2);
const std::string kStop = ".";

Pickle run(const std::string& body, const PickleLimits& limits = {}) {
  return Pickle(reinterpret_cast<const uint8_t*>(body.data()), body.size(), "test.pkl", limits);
}

std::string error_of(const std::string& body, const PickleLimits& limits = {}) {
  try {
    run(body, limits);
  } catch (const pxdgen::Error& e) {
    return e.what();
  }
  return "";
}

using pxdgen::test::read_file;

std::vector<uint8_t> checkpoint_pickle(const std::string& stem) {
  const std::vector<uint8_t> file = read_file(PXDGEN_SOURCE_DIR "/tests/data/checkpoints/" + stem + ".pt");
  if (file.empty()) return {};
  pxdgen::converter::ZipArchive zip(file.data(), file.size(), stem);
  const auto view = zip.read(stem + "/data.pkl", true);
  return std::vector<uint8_t>(view.data, view.data + view.size);
}

}  // namespace

TEST_CASE("pickle: scalars") {
  CHECK(run(kProto2 + "N" + kStop).root().is(Kind::none));
  CHECK(run(kProto2 + op(0x88) + kStop).root().boolean);
  CHECK_FALSE(run(kProto2 + op(0x89) + kStop).root().boolean);
  CHECK(run(kProto2 + binint(-2) + kStop).root().integer == -2);
  CHECK(run(kProto2 + "K" + op(200) + kStop).root().integer == 200);
  CHECK(run(kProto2 + "M" + le(60000, 2) + kStop).root().integer == 60000);
  CHECK(run("I42\n" + kStop).root().integer == 42);
  CHECK(run("I-7\n" + kStop).root().integer == -7);
  CHECK(run("I01\n" + kStop).root().boolean);
  CHECK(run("L12345678901L\n" + kStop).root().integer == 12345678901);
  const Pickle big_text = run("L123456789012345678901234567890L\n" + kStop);
  CHECK(big_text.root().big_integer);
  CHECK(run("F2.5\n" + kStop).root().floating == 2.5);

  // BINFLOAT is a big-endian double.
  CHECK(run(kProto2 + "G" + std::string("\x3f\xf8\0\0\0\0\0\0", 8) + kStop).root().floating == 1.5);
}

TEST_CASE("pickle: LONG1 and LONG4 integers") {
  const auto long1 = [](const std::string& bytes) { return run(kProto2 + op(0x8a) + le(bytes.size(), 1) + bytes + kStop); };
  CHECK(long1("").root().integer == 0);
  CHECK(long1("\xff").root().integer == -1);
  CHECK(long1(std::string("\x00\x80", 2)).root().integer == -32768);
  CHECK(long1(std::string("\x00\x80\x00", 3)).root().integer == 32768);
  CHECK(long1(std::string("\0\0\0\0\0\0\0\0\x01", 9)).root().big_integer);
  CHECK(long1(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f\x00", 9)).root().integer == INT64_MAX);
  CHECK(long1(std::string("\0\0\0\0\0\0\0\x80\xff", 9)).root().integer == INT64_MIN);
  CHECK(long1(std::string("\0\0\0\0\0\0\0\x80\x00", 9)).root().big_integer);  // 2^63
  CHECK(long1(std::string("\x01\0\0\0\0\0\0\0\0\0\0\0", 12)).root().integer == 1);
  CHECK(run(kProto2 + op(0x8b) + le(2, 4) + std::string("\x34\x12", 2) + kStop).root().integer == 0x1234);
  CHECK(error_of(kProto2 + op(0x8b) + le(0xFFFFFFF0u, 4) + kStop).find("LONG4") != std::string::npos);
}

TEST_CASE("pickle: strings and bytes") {
  CHECK(run(kProto2 + binunicode("caf\xc3\xa9") + kStop).root().text == "caf\xc3\xa9");
  CHECK(run(kProto2 + short_binunicode("ab") + kStop).root().is(Kind::string));
  CHECK(run(kProto2 + op(0x8d) + le(3, 8) + "xyz" + kStop).root().text == "xyz");
  CHECK(run(kProto2 + "T" + le(2, 4) + "py" + kStop).root().text == "py");
  CHECK(run(kProto2 + "U" + le(2, 1) + "py" + kStop).root().text == "py");
  const Pickle b = run(kProto2 + "B" + le(3, 4) + std::string("\0\1\2", 3) + kStop);
  CHECK(b.root().is(Kind::bytes));
  CHECK(b.root().text == std::string("\0\1\2", 3));
  CHECK(run(kProto2 + "C" + le(1, 1) + "z" + kStop).root().is(Kind::bytes));
  CHECK(run(kProto2 + op(0x8e) + le(1, 8) + "z" + kStop).root().is(Kind::bytes));
  // Protocol 2 pickles bytes as _codecs.encode(<latin-1 text>, 'latin1').
  const Pickle enc = run(kProto2 + global("_codecs", "encode") + binunicode("\x01\xc3\xbf") + binunicode("latin1") +
                         op(0x86) + "R" + kStop);
  CHECK(enc.root().is(Kind::bytes));
  CHECK(enc.root().text == std::string("\x01\xff", 2));
}

TEST_CASE("pickle: containers") {
  const Pickle list = run(kProto2 + "]" + "(" + "K" + op(1) + "K" + op(2) + "e" + "K" + op(3) + "a" + kStop);
  REQUIRE(list.root().is(Kind::list));
  REQUIRE(list.root().items.size() == 3);
  CHECK(list.root().items[2]->integer == 3);

  CHECK(run("(K" + op(1) + "K" + op(2) + "l" + kStop).root().items.size() == 2);
  CHECK(run("(K" + op(1) + "t" + kStop).root().is(Kind::tuple));
  CHECK(run(")" + kStop).root().items.empty());
  CHECK(run("K" + op(1) + op(0x85) + kStop).root().items.size() == 1);
  CHECK(run("K" + op(1) + "K" + op(2) + op(0x86) + kStop).root().items[1]->integer == 2);
  const Pickle t3 = run("K" + op(1) + "K" + op(2) + "K" + op(3) + op(0x87) + kStop);
  CHECK(t3.root().items[0]->integer == 1);
  CHECK(t3.root().items[2]->integer == 3);

  const Pickle dict = run(kProto2 + "}" + binunicode("a") + "K" + op(1) + "s" + "(" + binunicode("b") + "K" + op(2) +
                          binunicode("c") + "N" + "u" + kStop);
  REQUIRE(dict.root().is(Kind::dict));
  REQUIRE(dict.root().entries.size() == 3);
  CHECK(dict.root().entries[1].first->text == "b");
  REQUIRE(dict.root().get("b") != nullptr);
  CHECK(dict.root().get("b")->integer == 2);
  CHECK(dict.root().get("c")->is(Kind::none));
  CHECK(dict.root().get("zz") == nullptr);
  CHECK(run("(" + binunicode("k") + "K" + op(9) + "d" + kStop).root().get("k")->integer == 9);

  const Pickle set = run(kProto2 + op(0x8f) + "(" + "K" + op(1) + "K" + op(2) + op(0x90) + kStop);
  CHECK(set.root().is(Kind::set));
  CHECK(set.root().items.size() == 2);
  CHECK(run(kProto2 + "(" + "K" + op(1) + op(0x91) + kStop).root().is(Kind::set));
}

TEST_CASE("pickle: stack manipulation and the memo") {
  CHECK(run("K" + op(1) + "K" + op(2) + "0" + kStop).root().integer == 1);
  CHECK(run("K" + op(1) + "(K" + op(2) + "K" + op(3) + "1" + kStop).root().integer == 1);
  const Pickle dup = run("]2" + op(0x86) + kStop);
  CHECK(dup.root().items[0] == dup.root().items[1]);

  // A memoized list is shared, and later appends show through every reference.
  const Pickle shared = run(kProto2 + "]q" + op(5) + "h" + op(5) + "K" + op(7) + "a" + op(0x86) + kStop);
  const PickleValue& t = shared.root();
  REQUIRE(t.items.size() == 2);
  CHECK(t.items[0] == t.items[1]);
  CHECK(t.items[0]->items.size() == 1);

  CHECK(run(kProto2 + binunicode("v") + "r" + le(100000, 4) + "0" + "j" + le(100000, 4) + kStop).root().text == "v");
  CHECK(run(op(0x80) + op(4) + short_binunicode("w") + op(0x94) + "0h" + op(0) + kStop).root().text == "w");
  CHECK(run("K" + op(3) + "p12\n0g12\n" + kStop).root().integer == 3);

  // A list that contains itself: representable, and freed with its pickle.
  const Pickle cycle = run(kProto2 + "]q" + op(0) + "h" + op(0) + "a" + kStop);
  REQUIRE(cycle.root().items.size() == 1);
  CHECK(cycle.root().items[0] == &cycle.root());
  CHECK(pxdgen::converter::describe(cycle.root()) == "list of 1");
}

TEST_CASE("pickle: calls of globals are recorded, not executed") {
  // An unknown class called with arguments, then given state.
  const Pickle obj = run(kProto2 + global("argparse", "Namespace") + ")R" + "}" + binunicode("lr") + "G" +
                         std::string("\x3f\xb9\x99\x99\x99\x99\x99\x9a", 8) + "sb" + kStop);
  const PickleValue& ns = obj.root();
  REQUIRE(ns.is(Kind::object));
  CHECK(ns.type_name() == "argparse.Namespace");
  CHECK(ns.is_call_of("argparse", "Namespace"));
  REQUIRE(ns.state != nullptr);
  CHECK(ns.state->get("lr")->floating == doctest::Approx(0.1));

  // OrderedDict becomes a dict that remembers its class.
  const Pickle od = run(kProto2 + global("collections", "OrderedDict") + ")R(" + binunicode("w") + "K" + op(1) + "u" +
                        "}b" + kStop);
  CHECK(od.root().is(Kind::dict));
  CHECK(od.root().type_name() == "collections.OrderedDict");
  CHECK(od.root().get("w")->integer == 1);

  // Python 2 spelling of builtins.
  const Pickle s = run(global("__builtin__", "set") + "(K" + op(4) + "l" + op(0x85) + "R" + kStop);
  CHECK(s.root().is(Kind::set));
  CHECK(s.root().items.size() == 1);

  const Pickle stack_global = run(op(0x80) + op(4) + short_binunicode("torch") + short_binunicode("float16") +
                                  op(0x93) + kStop);
  CHECK(stack_global.root().is(Kind::global));
  CHECK(stack_global.root().type_name() == "torch.float16");

  const Pickle newobj = run(kProto2 + global("numpy", "dtype") + binunicode("f4") + op(0x85) + op(0x81) + kStop);
  CHECK(newobj.root().type_name() == "numpy.dtype");
  CHECK(newobj.root().args->items[0]->text == "f4");

  const Pickle newobj_ex = run(op(0x80) + op(4) + global("m", "C") + ")}" + op(0x92) + kStop);
  CHECK(newobj_ex.root().is(Kind::object));
  CHECK(newobj_ex.root().kwargs != nullptr);

  const Pickle pid = run(kProto2 + "(" + binunicode("storage") + "K" + op(3) + "tQ" + kStop);
  REQUIRE(pid.root().is(Kind::persistent_id));
  CHECK(pid.root().pid->items[0]->text == "storage");
  CHECK(run("Pkey7\n" + kStop).root().pid->text == "key7");
}

TEST_CASE("pickle: protocol 4 framing") {
  const std::string body = short_binunicode("hi") + op(0x94) + kStop;
  const Pickle p = run(op(0x80) + op(4) + op(0x95) + le(body.size(), 8) + body);
  CHECK(p.root().text == "hi");
  CHECK(p.end_offset() == 2 + 9 + body.size());
  CHECK(error_of(op(0x80) + op(4) + op(0x95) + le(1000, 8) + body).find("frame") != std::string::npos);
  CHECK(error_of(op(0x80) + op(6) + kStop).find("protocol 6") != std::string::npos);
}

TEST_CASE("pickle: errors name the opcode and its offset") {
  const std::string unknown = error_of(kProto2 + "N" + op(0xff) + kStop);
  CHECK(unknown.find("test.pkl") != std::string::npos);
  CHECK(unknown.find("unknown opcode") != std::string::npos);
  CHECK(unknown.find("0xff") != std::string::npos);
  CHECK(unknown.find("offset 3") != std::string::npos);
  const std::string inst = error_of(kProto2 + "imod\nC\n" + kStop);
  CHECK(inst.find("INST") != std::string::npos);
  CHECK(inst.find("not supported") != std::string::npos);
  CHECK(error_of(op(0x82) + op(1) + kStop).find("EXT1") != std::string::npos);
  CHECK(error_of(kProto2 + kStop).find("stack underflow") != std::string::npos);
  CHECK(error_of(kProto2 + "a" + kStop).find("APPEND") != std::string::npos);
  CHECK(error_of(kProto2 + "h" + op(3) + kStop).find("memo entry 3") != std::string::npos);
  CHECK(error_of(kProto2 + "N").find("without a STOP") != std::string::npos);
  CHECK(error_of("").find("without a STOP") != std::string::npos);
  CHECK(error_of(kProto2 + op(0x8d) + le(uint64_t{1} << 60, 8) + "abc" + kStop).find("truncated") != std::string::npos);
  CHECK(error_of(kProto2 + "T" + le(0xFFFFFFFFu, 4) + kStop).find("negative") != std::string::npos);
  CHECK(error_of(kProto2 + "}(K" + op(1) + "u" + kStop).find("odd number") != std::string::npos);
  CHECK(error_of(kProto2 + "K" + op(1) + "K" + op(2) + "a" + kStop).find("cannot append") != std::string::npos);
  CHECK(error_of(kProto2 + "K" + op(1) + "K" + op(2) + "K" + op(3) + "s" + kStop).find("cannot set items") != std::string::npos);
  CHECK(error_of(kProto2 + "NNb" + kStop).find("BUILD") != std::string::npos);
  CHECK(error_of(kProto2 + global("m", "f") + "K" + op(1) + "R" + kStop).find("must be a tuple") != std::string::npos);
  CHECK(error_of(kProto2 + "1" + kStop).find("no MARK") != std::string::npos);
  CHECK(error_of(kProto2 + "cmodule_without_newline").find("truncated") != std::string::npos);
  CHECK(error_of("Iabc\n" + kStop).find("bad integer") != std::string::npos);
  CHECK(error_of("Fx\n" + kStop).find("bad float") != std::string::npos);
}

TEST_CASE("pickle: limits bound the work a hostile pickle can cause") {
  PickleLimits small;
  small.max_marks = 8;
  small.max_stack = 16;
  small.max_memo = 4;
  small.max_values = 64;
  CHECK(error_of(std::string(9, '(') + kStop, small).find("nested MARKs") != std::string::npos);
  CHECK(error_of(std::string(17, 'N') + kStop, small).find("stack deeper") != std::string::npos);
  std::string memo = "N";
  for (int i = 0; i < 5; ++i) memo += "q" + op(i);
  CHECK(error_of(memo + kStop, small).find("memo larger") != std::string::npos);
  std::string values;
  for (int i = 0; i < 70; ++i) values += "]0";
  CHECK(error_of(values + "N" + kStop, small).find("values") != std::string::npos);
  // Deep nesting without MARKs is fine for the machine itself (it does not recurse).
  std::string deep = "]";
  for (int i = 0; i < 100000; ++i) deep += op(0x85);
  const Pickle nested = run(deep + kStop);
  CHECK(nested.root().is(Kind::tuple));
  CHECK(nested.root().items[0]->is(Kind::tuple));
}

TEST_CASE("pickle: a torch.save data.pkl with non-tensor junk") {
  const std::vector<uint8_t> pkl = checkpoint_pickle("nested");
  REQUIRE(!pkl.empty());
  const Pickle p(pkl.data(), pkl.size(), "nested/data.pkl");
  CHECK(p.end_offset() == pkl.size());
  const PickleValue& root = p.root();
  REQUIRE(root.is(Kind::dict));
  CHECK(root.entries[0].first->text == "G");
  CHECK(root.get("G")->type_name() == "collections.OrderedDict");
  CHECK(root.get("G")->get("conv.weight")->is_call_of("torch._utils", "_rebuild_tensor_v2"));
  CHECK(root.get("epoch")->integer == 12);
  CHECK(root.get("run")->text == "run-7");
  CHECK(root.get("args")->type_name() == "argparse.Namespace");
  CHECK(root.get("args")->state->get("name")->text == "x");
  CHECK(root.get("np_scalar")->type_name() == "numpy.core.multiarray.scalar");
  CHECK(root.get("np_array")->type_name() == "numpy.core.multiarray._reconstruct");
  CHECK(root.get("big")->big_integer);
  CHECK(root.get("blob")->is(Kind::bytes));
  CHECK(root.get("blob")->text == std::string("\0\1binary", 8));
  const PickleValue* state = root.get("optimizer_G")->get("state");
  REQUIRE(state != nullptr);
  CHECK(state->entries[0].first->integer == 0);

  const std::vector<uint8_t> proto4 = checkpoint_pickle("protocol4");
  REQUIRE(!proto4.empty());
  const Pickle p4(proto4.data(), proto4.size(), "protocol4/data.pkl");
  CHECK(p4.root().get("fc.bias")->is_call_of("torch._utils", "_rebuild_tensor_v2"));
}

TEST_CASE("pickle: every truncation and random corruption fails cleanly") {
  const std::vector<uint8_t> pkl = checkpoint_pickle("nested");
  REQUIRE(!pkl.empty());
  for (size_t cut = 0; cut < pkl.size(); ++cut) {
    std::vector<uint8_t> part(pkl.begin(), pkl.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_THROWS_AS(Pickle(part.data(), part.size(), "cut.pkl"), pxdgen::Error);
  }
  uint64_t state = 99;
  const auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 3000; ++round) {
    std::vector<uint8_t> copy = pkl;
    for (int i = 0; i < 3; ++i) copy[next() % copy.size()] = static_cast<uint8_t>(next());
    try {
      const Pickle p(copy.data(), copy.size(), "fuzz.pkl");
      CHECK_FALSE(pxdgen::converter::describe(p.root()).empty());
    } catch (const pxdgen::Error&) {
    }
  }
}
