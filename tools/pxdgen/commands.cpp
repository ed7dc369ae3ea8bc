#include "tools/pxdgen/commands.hpp"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model_file.hpp"
#include "pxdgen/pxdgen.hpp"
#include "tools/pxdgen/npy.hpp"
#include "weights_converter/convert.hpp"

namespace pxdgen::cli {
namespace {

/// A usage mistake: exit code 2.
struct UsageError : Error {
  using Error::Error;
};

constexpr const char* kMainHelp = R"(pxdgen: Belle II PXD background from GAN generators, on the CPU

usage: pxdgen <command> [options]

commands:
  convert   turn a PyTorch checkpoint (.pth) into a pxdgen model (.pxdg)
  info      describe a model: family, parameters, GMAC per event, provenance
  generate  generate events and write their digits (CSV) or images (.npy)
  bench     time event generation

'pxdgen <command> --help' describes a command's options.
)";

const std::map<std::string, std::string> kCommandHelp = {
    {"convert", R"(usage: pxdgen convert IN.pth -o OUT.pxdg [options]

Converts a PyTorch checkpoint (torch.save, PyTorch >= 1.6) of a supported generator
into a pxdgen model file. Spectral norm is folded; every tensor is checked.

options:
  -o, --output PATH   the model file to write (required)
  --config PATH       training config JSON (G_ch, G_depth, dim_z, G_attn, SN_eps, ...),
                      or the layer list of a plain layer stack
  --prior PATH        PE-GAN per-sensor prior table: {"occupancy": [40 values]}
  --key KEY           dotted key of the state dict inside the checkpoint (e.g. G_ema)
  --dtype f32|f16     storage type of the weights (default f32)
)"},
    {"info", R"(usage: pxdgen info [MODEL.pxdg] [--json]

Describes a model (default: the built-in model): family, variant, parameters,
GMAC per event of 40 sensors, default output transform, provenance.

options:
  -m, --model PATH    the model (same as the positional argument)
  --json              print the whole description as JSON
)"},
    {"generate", R"(usage: pxdgen generate [-m MODEL.pxdg] -n N -o OUT.csv [options]
       pxdgen generate [-m MODEL.pxdg] --latents Z.npy [--rdof R.npy] [--dense-out X.npy] [-o OUT.csv]

Generates events of 40 sensors. With -n, event k of the run uses latents drawn from
(seed, k), so any event can be regenerated alone. With --latents, the network runs on
the given z (float32, (E, 40, dim_z) or (40, dim_z)).

options:
  -m, --model PATH        model file (default: the built-in model)
  -n, --events N          number of events (default 1)
  --seed S                run seed (default 0)
  --first-event K         number of the first event (default 0)
  --threads T             threads across the sensors of an event (default 1)
  -o, --output PATH       digits as CSV: event,sensor,layer,ladder,sensor_number,ucell,vcell,charge
  --latents PATH          z for each event instead of drawing them
  --rdof PATH             IEA-GAN research variant: r, float32 (E, 40, 4) or (40, 4)
  --dense-out PATH        the uncropped tanh images, float32 (E, 40, 256, 768)
  --cut X|none            tanh cut of the output transform (default: the model's)
  --min-charge N          smallest charge written, in ADU (default: the model's, 1)
  --backend fast|reference
  -q, --quiet             no summary
)"},
    {"bench", R"(usage: pxdgen bench [-m MODEL.pxdg] [-n N] [--threads T] [--backend fast|reference]

Generates N events (default 3) after one warm-up event and prints seconds per event.
)"},
};

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> flags;

  bool has(const std::string& key) const { return values.count(key) || flags.count(key); }
  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
};

/// Parses "--key value", "--key=value", short aliases and flags; rejects anything else.
Args parse(int argc, const char* const* argv, int start, const std::map<std::string, std::string>& aliases,
           const std::set<std::string>& takes_value, const std::set<std::string>& flag_names) {
  Args args;
  for (int i = start; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() > 1 && word[0] == '-' && !(word.size() > 1 && (std::isdigit(static_cast<unsigned char>(word[1])) || word[1] == '.'))) {
      std::string value;
      bool inline_value = false;
      const size_t eq = word.find('=');
      if (word.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = word.substr(eq + 1);
        word = word.substr(0, eq);
        inline_value = true;
      }
      auto alias = aliases.find(word);
      const std::string key = alias != aliases.end() ? alias->second : word;
      if (flag_names.count(key)) {
        if (inline_value) throw UsageError("option " + key + " takes no value");
        args.flags.insert(key);
      } else if (takes_value.count(key)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError("option " + key + " needs a value");
          value = argv[++i];
        }
        if (args.values.count(key)) throw UsageError("option " + key + " given twice");
        args.values[key] = value;
      } else {
        throw UsageError("unknown option '" + word + "'");
      }
    } else {
      args.positional.push_back(word);
    }
  }
  return args;
}

int64_t parse_int(const std::string& key, const std::string& text, int64_t lo, int64_t hi) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    throw UsageError("option " + key + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                     ", got '" + text + "'");
  return v;
}

uint64_t parse_u64(const std::string& key, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE)
    throw UsageError("option " + key + " needs a non-negative integer, got '" + text + "'");
  return v;
}

Model load_model(const Args& args) {
  if (args.has("--model")) return Model::load(args.get("--model"));
  return Model::builtin();
}

GeneratorOptions generator_options(const Args& args, const Model& model) {
  GeneratorOptions options;
  options.threads = static_cast<int>(parse_int("--threads", args.get("--threads", "1"), 1, 1024));
  const std::string backend = args.get("--backend", "fast");
  if (backend == "fast") options.backend = Backend::fast;
  else if (backend == "reference") options.backend = Backend::reference;
  else throw UsageError("--backend must be 'fast' or 'reference', got '" + backend + "'");
  OutputTransform t = model.info().transform;
  if (args.has("--cut")) {
    const std::string cut = args.get("--cut");
    if (cut == "none") {
      t.has_cut = false;
    } else {
      char* end = nullptr;
      const float v = std::strtof(cut.c_str(), &end);
      if (cut.empty() || *end != '\0' || !(v >= -1.0f && v <= 1.0f))
        throw UsageError("--cut needs a number in [-1, 1] or 'none', got '" + cut + "'");
      t.has_cut = true;
      t.cut = v;
    }
  }
  if (args.has("--min-charge")) t.min_charge = static_cast<int>(parse_int("--min-charge", args.get("--min-charge"), 1, 255));
  options.transform = t;
  return options;
}

/// A text output written under a temporary name and renamed when complete.
class AtomicTextFile {
 public:
  explicit AtomicTextFile(const std::string& path) : path_(path), temp_(path + ".partial") {
    file_ = std::fopen(temp_.c_str(), "w");
    if (file_ == nullptr) throw Error("cannot write '" + path + "': " + std::strerror(errno));
  }
  ~AtomicTextFile() {
    if (file_ != nullptr) {
      std::fclose(file_);
      std::remove(temp_.c_str());
    }
  }
  FILE* get() { return file_; }
  void commit() {
    const bool ok = std::ferror(file_) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed || std::rename(temp_.c_str(), path_.c_str()) != 0) {
      std::remove(temp_.c_str());
      throw Error("cannot write '" + path_ + "' (disk full?)");
    }
  }

 private:
  std::string path_, temp_;
  FILE* file_ = nullptr;
};

void write_csv_digits(FILE* f, uint64_t event, const std::vector<Digit>& digits) {
  for (const Digit& d : digits) {
    const SensorId id = sensor_id(d.sensor);
    std::fprintf(f, "%" PRIu64 ",%d,%d,%d,%d,%d,%d,%d\n", event, d.sensor, id.layer, id.ladder, id.sensor,
                 d.ucell, d.vcell, d.charge);
  }
}

int cmd_convert(const Args& args) {
  if (args.positional.size() != 1) throw UsageError("convert needs exactly one input checkpoint");
  if (!args.has("--output")) throw UsageError("convert needs -o OUT.pxdg");
  converter::ConvertOptions options;
  options.config_path = args.get("--config");
  options.prior_path = args.get("--prior");
  options.key = args.get("--key");
  const std::string dtype = args.get("--dtype", "f32");
  if (dtype == "f32") options.storage = StorageType::f32;
  else if (dtype == "f16") options.storage = StorageType::f16;
  else throw UsageError("--dtype must be f32 or f16, got '" + dtype + "'");
  const auto result = converter::convert_checkpoint(args.positional[0], args.get("--output"), options);
  std::printf("converted %s -> %s\n  family %s%s\n  spectral norm folded in %zu layers\n  %zu bytes\n",
              args.positional[0].c_str(), args.get("--output").c_str(), result.family.c_str(),
              result.variant.empty() ? "" : (" (" + result.variant + ")").c_str(), result.folded.size(),
              result.file.size());
  if (!result.dropped.empty()) {
    std::printf("  %zu checkpoint key(s) not needed by the engine, not written:\n", result.dropped.size());
    for (const auto& k : result.dropped) std::printf("    %s\n", k.c_str());
  }
  return 0;
}

int cmd_info(const Args& args) {
  if (args.positional.size() > 1) throw UsageError("info takes one model");
  Args a = args;
  if (args.positional.size() == 1) {
    if (args.has("--model")) throw UsageError("give the model once");
    a.values["--model"] = args.positional[0];
  }
  const Model model = load_model(a);
  const ModelInfo& info = model.info();
  const nlohmann::json header = nlohmann::json::parse(info.header_json);
  nlohmann::json summary = {{"family", info.family}, {"variant", info.variant}, {"dim_z", info.dim_z},
                            {"dim_rdof", info.dim_rdof}, {"parameters", info.parameters},
                            {"gmac_per_event", info.gmac_per_event}, {"sha256", info.sha256},
                            {"hparams", header.value("hparams", nlohmann::json::object())},
                            {"output", header.value("output", nlohmann::json::object())},
                            {"provenance", header.value("provenance", nlohmann::json::object())}};
  if (args.has("--json")) {
    std::printf("%s\n", summary.dump(2).c_str());
    return 0;
  }
  std::printf("model       %s\n", a.has("--model") ? a.get("--model").c_str() : "<builtin>");
  std::printf("family      %s%s\n", info.family.c_str(), info.variant.empty() ? "" : (" (" + info.variant + ")").c_str());
  std::printf("parameters  %.2f M\n", info.parameters / 1e6);
  std::printf("GMAC/event  %.1f (40 sensors)\n", info.gmac_per_event);
  std::printf("latents     z %d per sensor%s\n", info.dim_z, info.dim_rdof ? (", r " + std::to_string(info.dim_rdof)).c_str() : "");
  std::printf("transform   %s, min charge %d ADU\n",
              info.transform.has_cut ? ("cut tanh > " + std::to_string(info.transform.cut)).c_str() : "no cut",
              info.transform.min_charge);
  std::printf("hparams     %s\n", summary["hparams"].dump().c_str());
  std::printf("provenance  %s\n", summary["provenance"].dump().c_str());
  std::printf("sha256      %s\n", info.sha256.c_str());
  return 0;
}

/// Latents from .npy: (E, 40, dim) or (40, dim).
npy::Array read_latents(const std::string& path, int dim, const char* what) {
  npy::Array a = npy::read(path);
  if (a.shape.size() == 2) a.shape.insert(a.shape.begin(), 1);
  if (a.shape.size() != 3 || a.shape[1] != kSensors || a.shape[2] != dim || a.shape[0] < 1)
    throw Error(std::string(what) + " '" + path + "' must have shape (E, 40, " + std::to_string(dim) +
                ") or (40, " + std::to_string(dim) + ")");
  return a;
}

int cmd_generate(const Args& args) {
  if (!args.positional.empty()) throw UsageError("generate takes no positional arguments");
  const bool from_latents = args.has("--latents");
  if (!from_latents && (args.has("--rdof") || args.has("--dense-out")))
    throw UsageError("--rdof and --dense-out need --latents");
  if (!from_latents && !args.has("--output")) throw UsageError("generate needs -o OUT.csv");
  if (from_latents && !args.has("--output") && !args.has("--dense-out"))
    throw UsageError("generate --latents needs -o OUT.csv or --dense-out X.npy");
  if (from_latents && (args.has("--events") || args.has("--seed") || args.has("--first-event")))
    throw UsageError("-n, --seed and --first-event do not apply to --latents");
  if (args.has("--output") && args.get("--output").size() > 4 &&
      args.get("--output").compare(args.get("--output").size() - 4, 4, ".csv") != 0)
    throw UsageError("output '" + args.get("--output") + "': only .csv digits are written");

  const Model model = load_model(args);
  Generator generator(model, generator_options(args, model));
  const int dim_z = model.info().dim_z, dim_r = model.info().dim_rdof;

  uint64_t events = 0, first = 0, seed = 0;
  npy::Array z, r;
  if (from_latents) {
    z = read_latents(args.get("--latents"), dim_z, "latents");
    events = static_cast<uint64_t>(z.shape[0]);
    if (dim_r > 0) {
      if (!args.has("--rdof")) throw UsageError("this model needs --rdof R.npy (the research IEA-GAN's r)");
      r = read_latents(args.get("--rdof"), dim_r, "rdof");
      if (r.shape[0] != z.shape[0]) throw Error("--rdof has " + std::to_string(r.shape[0]) + " events, --latents " + std::to_string(z.shape[0]));
    } else if (args.has("--rdof")) {
      throw UsageError("this model takes no --rdof");
    }
  } else {
    events = static_cast<uint64_t>(parse_int("--events", args.get("--events", "1"), 1, int64_t{1} << 40));
    seed = parse_u64("--seed", args.get("--seed", "0"));
    first = parse_u64("--first-event", args.get("--first-event", "0"));
  }

  std::unique_ptr<AtomicTextFile> csv;
  if (args.has("--output")) {
    csv = std::make_unique<AtomicTextFile>(args.get("--output"));
    std::fprintf(csv->get(), "event,sensor,layer,ladder,sensor_number,ucell,vcell,charge\n");
  }
  std::unique_ptr<npy::Writer> dense;
  std::vector<float> images;
  if (args.has("--dense-out")) {
    dense = std::make_unique<npy::Writer>(args.get("--dense-out"),
                                          std::vector<int64_t>{static_cast<int64_t>(events), kSensors, kImageRows, kImageCols});
    images.resize(static_cast<size_t>(kSensors) * kImageRows * kImageCols);
  }
  std::vector<Digit> digits;
  std::vector<float> z_event(static_cast<size_t>(kSensors) * dim_z), r_event(static_cast<size_t>(kSensors) * dim_r);
  uint64_t total_digits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t e = 0; e < events; ++e) {
    const uint64_t number = from_latents ? e : first + e;
    if (from_latents) {
      std::copy_n(z.values.begin() + static_cast<std::ptrdiff_t>(e * z_event.size()), z_event.size(), z_event.begin());
      if (dim_r > 0) std::copy_n(r.values.begin() + static_cast<std::ptrdiff_t>(e * r_event.size()), r_event.size(), r_event.begin());
    } else {
      generator.draw_latents(seed, number, z_event.data(), r_event.data());
    }
    generator.generate(z_event.data(), dim_r > 0 ? r_event.data() : nullptr, csv ? &digits : nullptr,
                       dense ? images.data() : nullptr);
    if (csv) write_csv_digits(csv->get(), number, digits);
    if (dense) dense->append(images.data(), images.size());
    total_digits += digits.size();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (csv) csv->commit();
  if (dense) dense->finish();
  if (!args.has("--quiet")) {
    const double pixels = static_cast<double>(events) * kSensors * kUCells * kVCells;
    std::fprintf(stderr, "generated %" PRIu64 " event(s) in %.2f s (%.2f s/event)", events, seconds, seconds / events);
    if (csv) std::fprintf(stderr, ": %" PRIu64 " digits, mean occupancy %.4f %%", total_digits, 100.0 * total_digits / pixels);
    std::fprintf(stderr, "\n");
  }
  return 0;
}

int cmd_bench(const Args& args) {
  if (!args.positional.empty()) throw UsageError("bench takes no positional arguments");
  const Model model = load_model(args);
  Generator generator(model, generator_options(args, model));
  const int events = static_cast<int>(parse_int("--events", args.get("--events", "3"), 1, 1000000));
  generator.event(0, 1000000);  // warm-up: workspaces reach their size
  std::vector<double> times;
  size_t digits = 0;
  for (int e = 0; e < events; ++e) {
    const auto start = std::chrono::steady_clock::now();
    digits += generator.event(0, static_cast<uint64_t>(e)).size();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  std::printf("model %s, %d event(s), %s threads, backend %s\n", model.info().family.c_str(), events,
              args.get("--threads", "1").c_str(), args.get("--backend", "fast").c_str());
  std::printf("seconds/event: median %.3f, min %.3f, max %.3f\n", median, times.front(), times.back());
  std::printf("GFLOP/s: %.1f (at the median)\n", 2.0 * model.info().gmac_per_event / median);
  std::printf("digits/event: %.0f\n", static_cast<double>(digits) / events);
  return 0;
}

}  // namespace

int run(int argc, const char* const* argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kMainHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("pxdgen %s\n", version());
    return 0;
  }
  const std::string command = argv[1];
  auto help = kCommandHelp.find(command);
  if (help == kCommandHelp.end()) {
    std::fprintf(stderr, "pxdgen: unknown command '%s'\n\n%s", command.c_str(), kMainHelp);
    return 2;
  }
  for (int i = 2; i < argc; ++i)
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(help->second.c_str(), stdout);
      return 0;
    }
  try {
    const std::map<std::string, std::string> aliases = {
        {"-o", "--output"}, {"-m", "--model"}, {"-n", "--events"}, {"-q", "--quiet"}};
    std::set<std::string> values, flags;
    if (command == "convert") values = {"--output", "--config", "--prior", "--key", "--dtype"};
    if (command == "info") {
      values = {"--model"};
      flags = {"--json"};
    }
    if (command == "generate") {
      values = {"--model", "--events", "--seed", "--first-event", "--threads", "--output", "--latents",
                "--rdof", "--dense-out", "--cut", "--min-charge", "--backend"};
      flags = {"--quiet"};
    }
    if (command == "bench") values = {"--model", "--events", "--threads", "--backend", "--cut", "--min-charge"};
    const Args args = parse(argc, argv, 2, aliases, values, flags);
    if (command == "convert") return cmd_convert(args);
    if (command == "info") return cmd_info(args);
    if (command == "generate") return cmd_generate(args);
    return cmd_bench(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "pxdgen %s: %s\n(see 'pxdgen %s --help')\n", command.c_str(), e.what(), command.c_str());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "pxdgen %s: error: %s\n", command.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "pxdgen %s: error: out of memory\n", command.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pxdgen %s: internal error: %s\n", command.c_str(), e.what());
    return 1;
  }
}

}  // namespace pxdgen::cli
