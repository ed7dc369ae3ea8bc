#include "tools/pxdgen/commands.hpp"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cinttypes>
#include <csignal>
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
#include "tools/pxdgen/hdf5_writer.hpp"
#include "tools/pxdgen/npy.hpp"
#include "tools/pxdgen/stats.hpp"
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
  generate  generate events and write their digits (HDF5, CSV) or images (.npy)
  stats     statistics of generated events, as JSON
  plot      pictures of the statistics against the published numbers
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
    {"generate", R"(usage: pxdgen generate [-m MODEL.pxdg] [-n N] -o OUT.h5 [options]
       pxdgen generate [-m MODEL.pxdg] --latents Z.npy [--rdof R.npy] -o OUT.h5|.csv [--dense-out X.npy]

Generates events of 40 sensors (default model: the built-in one). With -n, event k of
the run uses latents drawn from (seed, k), so any event can be regenerated alone and a
run can be continued with --first-event. With --latents, the network runs on the given
z (float32, (E, 40, dim_z) or (40, dim_z)).

The output kind follows the extension of -o:
  .h5 / .hdf5   digits in columnar, compressed HDF5 with per-event offsets (recommended)
  .csv          digits as text: event,sensor,layer,ladder,sensor_number,ucell,vcell,charge
  .npy          the uncropped tanh images, float32 (E, 40, 256, 768)
Files are written under a temporary name and renamed when complete. SIGINT or SIGTERM
stops after the current event (or batch, see --threads): an .h5 file keeps every completed
event (attribute complete=0, events_completed=N); other outputs are removed.

options:
  -m, --model PATH        model file (default: the built-in model)
  -n, --events N          number of events (default 1)
  --seed S                run seed (default 0)
  --first-event K         number of the first event (default 0)
  --threads T             threads across the sensors (default 1); where T does not divide
                          them, a few events at a time share them out
  -o, --output PATH       output file (.h5, .csv or .npy)
  --dense-out PATH        also write the tanh images (.npy)
  --latents PATH          z for each event instead of drawing them
  --rdof PATH             IEA-GAN research variant: r, float32 (E, 40, 4) or (40, 4)
  --cut X|none            tanh cut of the output transform (default: the model's)
  --min-charge N          smallest charge written, in ADU (default: the model's, 1)
  --backend fast|reference
  -q, --quiet             no progress bar, no summary
  --verbose               one line per event
)"},
    {"stats", R"(usage: pxdgen stats IN.h5 -o stats.json

Statistics of generated events: per-sensor occupancy and mean charge, the charge
histogram in the binning of the published PXD statistics, the per-image occupancy
distribution (200 bins on [0, 0.02]), the Spearman correlation of the 40 sensor
occupancies over events, and the distribution of 8-connected cluster sizes.
)"},
    {"plot", R"(usage: pxdgen plot stats.json -o DIR [--events IN.h5 [--event K]]

Renders PNGs of a stats.json against the published Geant4 and IEA-GAN numbers:
per-sensor occupancy and mean charge, charge spectrum, occupancy distribution,
correlation matrix, cluster sizes; with --events, the hit map of event K (default the
first) with the 40 sensors laid out as in the detector. Needs python3-matplotlib.
)"},
    {"bench", R"(usage: pxdgen bench [-m MODEL.pxdg] [-n N] [--threads T] [--backend fast|reference] [--layers] [--json]

Loads the model, generates a warm-up batch, then N events (default 3), and prints the
load time, seconds per event (median, min, max), GFLOP/s at the median, digits per event
and the peak resident memory of the process. --json prints the same as one JSON object.
--layers also times every layer call of the N events and lists the layers by time: calls,
milliseconds per event (summed over threads), share of the layers' time and GFLOP/s. The
timing itself costs little, but the events are then slightly slower than without it.
With --threads T, events run in the batches that generate runs them in (a few at a time
where T does not divide the sensors), and a batch's time counts equally for each of its
events.
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

/// One line per digit. Formatted by hand into a buffer written in large pieces: one fprintf a
/// line cost 0.1 to 0.2 s more for the 0.9 million digits of a 20 %-occupancy event (about
/// 5 % of generating it).
void write_csv_digits(FILE* f, uint64_t event, const std::vector<Digit>& digits) {
  constexpr size_t kLineMax = 8 * 21;  // 8 fields of at most 20 digits and a separator
  std::vector<char> buffer(64 * 1024 + kLineMax);
  char* end = buffer.data();
  const auto field = [&end](auto value, char separator) {
    end = std::to_chars(end, end + 20, value).ptr;
    *end++ = separator;
  };
  for (const Digit& d : digits) {
    const SensorId id = sensor_id(d.sensor);
    field(event, ',');
    field(d.sensor, ',');
    field(id.layer, ',');
    field(id.ladder, ',');
    field(id.sensor, ',');
    field(d.ucell, ',');
    field(d.vcell, ',');
    field(d.charge, '\n');
    if (static_cast<size_t>(end - buffer.data()) > buffer.size() - kLineMax) {
      std::fwrite(buffer.data(), 1, end - buffer.data(), f);
      end = buffer.data();
    }
  }
  std::fwrite(buffer.data(), 1, end - buffer.data(), f);
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
                            {"gmac_per_event", info.gmac_per_event}, {"sha256", model.sha256()},
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
  std::printf("sha256      %s\n", model.sha256().c_str());
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

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Set by SIGINT / SIGTERM: the run stops after the event in progress.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

/// Installs the stop handlers for the lifetime of a run and restores the old ones.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    old_int_ = std::signal(SIGINT, on_stop_signal);
    old_term_ = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  bool stopped() const { return g_stop_signal != 0; }
  int signal() const { return g_stop_signal; }

 private:
  void (*old_int_)(int) = SIG_DFL;
  void (*old_term_)(int) = SIG_DFL;
};

/// Where the events of a run go: one file, chosen by its extension.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual bool wants_digits() const { return true; }
  virtual bool wants_images() const { return false; }
  virtual void append(uint64_t event, const std::vector<Digit>& digits, const float* images) = 0;
  /// Completes the file. `interrupted`: the run stopped early; keep what a reader can use.
  virtual void finish(uint64_t events, bool interrupted) = 0;
};

class CsvSink final : public EventSink {
 public:
  explicit CsvSink(const std::string& path) : file_(path) {
    std::fprintf(file_.get(), "event,sensor,layer,ladder,sensor_number,ucell,vcell,charge\n");
  }
  void append(uint64_t event, const std::vector<Digit>& digits, const float*) override {
    write_csv_digits(file_.get(), event, digits);
  }
  // A CSV cannot say it is incomplete: an interrupted run leaves none.
  void finish(uint64_t, bool interrupted) override {
    if (!interrupted) file_.commit();
  }

 private:
  AtomicTextFile file_;
};

class Hdf5Sink final : public EventSink {
 public:
  Hdf5Sink(const std::string& path, const hdf5::RunAttributes& attributes) : writer_(path, attributes) {}
  void append(uint64_t event, const std::vector<Digit>& digits, const float*) override {
    writer_.append_event(event, digits);
  }
  // An interrupted run keeps every completed event, marked complete=0 with their count.
  void finish(uint64_t events, bool interrupted) override {
    if (interrupted) writer_.finish_partial();
    else writer_.finish(events);
  }

 private:
  hdf5::Hdf5DigitWriter writer_;
};

class DenseSink final : public EventSink {
 public:
  DenseSink(const std::string& path, uint64_t events, size_t sensors)
      : writer_(path, {static_cast<int64_t>(events), static_cast<int64_t>(sensors), kImageRows, kImageCols}),
        values_(sensors * kImageRows * kImageCols) {}
  bool wants_digits() const override { return false; }
  bool wants_images() const override { return true; }
  void append(uint64_t, const std::vector<Digit>&, const float* images) override { writer_.append(images, values_); }
  void finish(uint64_t, bool interrupted) override {
    if (!interrupted) writer_.finish();
  }

 private:
  npy::Writer writer_;
  size_t values_;
};

std::string describe(const OutputTransform& t) {
  char buf[96];
  if (t.has_cut) std::snprintf(buf, sizeof buf, "tanh > %g, charge >= %d ADU", t.cut, t.min_charge);
  else std::snprintf(buf, sizeof buf, "no cut, charge >= %d ADU", t.min_charge);
  return buf;
}

std::unique_ptr<EventSink> open_sink(const std::string& path, uint64_t events, const Generator& generator,
                                     uint64_t seed, uint64_t first) {
  if (has_suffix(path, ".csv")) return std::make_unique<CsvSink>(path);
  if (has_suffix(path, ".npy")) return std::make_unique<DenseSink>(path, events, generator.sensors().size());
  if (has_suffix(path, ".h5") || has_suffix(path, ".hdf5")) {
    const ModelInfo& info = generator.model().info();
    return std::make_unique<Hdf5Sink>(
        path, hdf5::RunAttributes{generator.model().sha256(), info.family, info.variant, seed, describe(generator.transform()), first});
  }
  throw UsageError("output '" + path + "': the extension must be .h5 (digits, HDF5), .csv (digits) or .npy (images)");
}

/// One line on stderr, rewritten in place: events done, rate, time left.
class Progress {
 public:
  Progress(uint64_t total, bool enabled) : total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void update(uint64_t done) {
    if (!enabled_) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = seconds > 0 ? done / seconds : 0;
    const double left = rate > 0 ? (total_ - done) / rate : 0;
    const int width = 30, filled = static_cast<int>(width * done / std::max<uint64_t>(total_, 1));
    std::fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " events, %.2f events/s, ETA %.0f s ", filled,
                 "##############################", width - filled, "", done, total_, rate, left);
    if (done == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  void abandon() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  uint64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

int cmd_generate(const Args& args) {
  if (!args.positional.empty()) throw UsageError("generate takes no positional arguments");
  const bool from_latents = args.has("--latents");
  if (!from_latents && args.has("--rdof")) throw UsageError("--rdof needs --latents");
  if (!args.has("--output") && !args.has("--dense-out")) throw UsageError("generate needs -o OUT.h5 (or .csv, .npy)");
  if (from_latents && (args.has("--events") || args.has("--seed") || args.has("--first-event")))
    throw UsageError("-n, --seed and --first-event do not apply to --latents");
  if (args.has("--dense-out") && !has_suffix(args.get("--dense-out"), ".npy"))
    throw UsageError("--dense-out writes a .npy file");

  uint64_t events = 0, first = 0, seed = 0;
  if (!from_latents) {
    events = static_cast<uint64_t>(parse_int("--events", args.get("--events", "1"), 1, int64_t{1} << 40));
    seed = parse_u64("--seed", args.get("--seed", "0"));
    first = parse_u64("--first-event", args.get("--first-event", "0"));
  }
  const Model model = load_model(args);
  Generator generator(model, generator_options(args, model));
  const int dim_z = model.info().dim_z, dim_r = model.info().dim_rdof;

  npy::Array z, r;
  if (from_latents) {
    z = read_latents(args.get("--latents"), dim_z, "latents");
    events = static_cast<uint64_t>(z.shape[0]);
    if (dim_r > 0) {
      if (!args.has("--rdof")) throw UsageError("this model needs --rdof R.npy (the research IEA-GAN's r)");
      r = read_latents(args.get("--rdof"), dim_r, "rdof");
      if (r.shape[0] != z.shape[0])
        throw Error("--rdof has " + std::to_string(r.shape[0]) + " events, --latents " + std::to_string(z.shape[0]));
    } else if (args.has("--rdof")) {
      throw UsageError("this model takes no --rdof");
    }
  }

  std::vector<std::unique_ptr<EventSink>> sinks;
  for (const char* key : {"--output", "--dense-out"})
    if (args.has(key)) sinks.push_back(open_sink(args.get(key), events, generator, seed, first));
  bool need_digits = false, need_images = false;
  for (const auto& sink : sinks) {
    need_digits |= sink->wants_digits();
    need_images |= sink->wants_images();
  }

  // Several events at a time where the threads do not divide the sensors (Generator::
  // events_per_batch); one where the dense images are written, which would take 30 MB each.
  const int batch = need_images ? 1 : generator.events_per_batch();
  std::vector<std::vector<Digit>> digits(batch);
  std::vector<float> images(need_images ? generator.sensors().size() * kImageRows * kImageCols : 0);
  const size_t z_floats = static_cast<size_t>(kSensors) * dim_z, r_floats = static_cast<size_t>(kSensors) * dim_r;
  std::vector<float> z_batch(batch * z_floats), r_batch(batch * r_floats);
  const bool quiet = args.has("--quiet");
  Progress progress(events, !quiet && isatty(fileno(stderr)) && events > 1);
  StopSignals signals;
  uint64_t done = 0, total_digits = 0;
  const auto start = std::chrono::steady_clock::now();
  while (done < events && !signals.stopped()) {
    const int n = static_cast<int>(std::min<uint64_t>(batch, events - done));
    const uint64_t number = from_latents ? done : first + done;
    for (int e = 0; e < n; ++e) {
      float* z_event = z_batch.data() + e * z_floats;
      float* r_event = r_batch.data() + e * r_floats;
      if (from_latents) {
        std::copy_n(z.values.begin() + static_cast<std::ptrdiff_t>((done + e) * z_floats), z_floats, z_event);
        if (dim_r > 0) std::copy_n(r.values.begin() + static_cast<std::ptrdiff_t>((done + e) * r_floats), r_floats, r_event);
      } else {
        generator.draw_latents(seed, number + e, z_event, r_event);
      }
    }
    const float* r_first = dim_r > 0 ? r_batch.data() : nullptr;
    if (need_images)
      generator.generate(z_batch.data(), r_first, need_digits ? &digits[0] : nullptr, images.data());
    else
      generator.generate_batch(n, z_batch.data(), r_first, &digits);
    for (int e = 0; e < n; ++e) {
      for (auto& sink : sinks) sink->append(number + e, digits[e], images.data());
      total_digits += digits[e].size();
      if (args.has("--verbose"))
        std::fprintf(stderr, "event %" PRIu64 ": %zu digits\n", number + e, digits[e].size());
      progress.update(done + e + 1);
    }
    done += n;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool interrupted = done < events;
  if (interrupted) progress.abandon();
  for (auto& sink : sinks) sink->finish(done, interrupted);
  if (interrupted) {
    std::fprintf(stderr,
                 "pxdgen generate: stopped by signal %d after %" PRIu64 " of %" PRIu64 " events; an .h5 output keeps "
                 "them (complete=0); continue with --first-event %" PRIu64 "\n",
                 signals.signal(), done, events, first + done);
    return 128 + signals.signal();
  }
  if (!quiet) {
    const double pixels = static_cast<double>(events) * generator.sensors().size() * kUCells * kVCells;
    std::fprintf(stderr, "generated %" PRIu64 " event(s) in %.2f s (%.2f s/event)", events, seconds, seconds / events);
    if (need_digits)
      std::fprintf(stderr, ": %" PRIu64 " digits, %.0f per event, mean occupancy %.4f %%", total_digits,
                   static_cast<double>(total_digits) / events, 100.0 * total_digits / pixels);
    std::fprintf(stderr, "\n");
  }
  return 0;
}

int cmd_stats(const Args& args) {
  if (args.positional.size() != 1) throw UsageError("stats needs one input file (.h5 from pxdgen generate)");
  if (!args.has("--output")) throw UsageError("stats needs -o stats.json");
  const nlohmann::json stats = stats::stats_from_hdf5(args.positional[0]);
  std::vector<uint8_t> text;
  const std::string dumped = stats.dump(1) + "\n";
  text.assign(dumped.begin(), dumped.end());
  write_file_atomically(args.get("--output"), text);
  if (!args.has("--quiet"))
    std::fprintf(stderr, "statistics of %s written to %s\n", args.positional[0].c_str(), args.get("--output").c_str());
  return 0;
}

/// The plotting script: beside the installed binary's share folder, or in the source tree.
std::string plot_script() {
  if (const char* env = std::getenv("PXDGEN_PLOT_SCRIPT")) return env;
  for (const std::string& candidate : {std::string(PXDGEN_DATA_DIR) + "/plot_stats.py",
                                       std::string(PXDGEN_SOURCE_TOOLS_DIR) + "/plot_stats.py"})
    if (access(candidate.c_str(), R_OK) == 0) return candidate;
  throw Error("cannot find plot_stats.py (set PXDGEN_PLOT_SCRIPT)");
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int cmd_plot(const Args& args) {
  if (args.positional.size() != 1) throw UsageError("plot needs one stats.json (from pxdgen stats)");
  if (!args.has("--output")) throw UsageError("plot needs -o DIR");
  std::string command = "/usr/bin/python3 " + shell_quote(plot_script()) + " " + shell_quote(args.positional[0]) +
                        " -o " + shell_quote(args.get("--output"));
  if (args.has("--events")) command += " --events " + shell_quote(args.get("--events"));
  if (args.has("--event"))
    command += " --event " + std::to_string(parse_u64("--event", args.get("--event")));
  const int status = std::system(command.c_str());
  if (status != 0) throw Error("plotting failed (is python3-matplotlib installed?)");
  return 0;
}

/// The process's peak resident memory. VmHWM, unlike getrusage's ru_maxrss, is not
/// inherited from the process that forked this one (a large Python driver, say).
double peak_resident_mb() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0.0;
  char line[256];
  double kb = 0.0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb / 1024.0;
}

int cmd_bench(const Args& args) {
  if (!args.positional.empty()) throw UsageError("bench takes no positional arguments");
  const int events = static_cast<int>(parse_int("--events", args.get("--events", "3"), 1, 1000000));
  const auto load_start = std::chrono::steady_clock::now();
  const Model model = load_model(args);
  Generator generator(model, generator_options(args, model));
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  // Events in the batches generate runs them in (Generator::events_per_batch); a batch's
  // time is shared equally among its events.
  const int batch = generator.events_per_batch();
  generator.events(0, 1000000, batch);  // warm-up: workspaces reach their size
  const bool layers = args.has("--layers");
  if (layers) set_layer_profiling(true);
  std::vector<double> times;
  size_t digits = 0;
  for (int e = 0; e < events; e += batch) {
    const int n = std::min(batch, events - e);
    const auto start = std::chrono::steady_clock::now();
    for (const std::vector<Digit>& d : generator.events(0, static_cast<uint64_t>(e), n)) digits += d.size();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    times.insert(times.end(), n, seconds / n);
  }
  std::vector<LayerTime> profile;
  if (layers) {
    set_layer_profiling(false);
    profile = layer_profile();
  }
  double layer_seconds = 0;
  for (const LayerTime& t : profile) layer_seconds += t.seconds;
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double gflops = 2.0 * model.info().gmac_per_event / median;
  const double peak_mb = peak_resident_mb();
  if (args.has("--json")) {
    nlohmann::json j = {{"family", model.info().family},
                        {"variant", model.info().variant},
                        {"gmac_per_event", model.info().gmac_per_event},
                        {"events", events},
                        {"threads", generator_options(args, model).threads},
                        {"backend", args.get("--backend", "fast")},
                        {"load_seconds", load_seconds},
                        {"seconds_per_event", {{"median", median}, {"min", times.front()}, {"max", times.back()}}},
                        {"gflops", gflops},
                        {"digits_per_event", static_cast<double>(digits) / events},
                        {"peak_rss_mb", peak_mb}};
    if (layers) {
      j["layers"] = nlohmann::json::array();
      for (const LayerTime& t : profile)
        j["layers"].push_back({{"layer", t.layer}, {"calls", t.calls}, {"seconds", t.seconds}, {"flop", t.flop}});
    }
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("model %s, %d event(s), %s threads, backend %s\n", model.info().family.c_str(), events,
              args.get("--threads", "1").c_str(), args.get("--backend", "fast").c_str());
  std::printf("load: %.1f ms\n", 1e3 * load_seconds);
  std::printf("seconds/event: median %.3f, min %.3f, max %.3f\n", median, times.front(), times.back());
  std::printf("GFLOP/s: %.1f (at the median)\n", gflops);
  std::printf("digits/event: %.0f\n", static_cast<double>(digits) / events);
  std::printf("peak resident memory: %.0f MB\n", peak_mb);
  if (layers) {
    std::printf("\nlayers by time (%d event(s); ms/event summed over threads):\n", events);
    std::printf("%10s %8s %7s %8s  %s\n", "ms/event", "calls", "share", "GFLOP/s", "layer");
    for (const LayerTime& t : profile)
      std::printf("%10.2f %8lld %6.1f%% %8.1f  %s\n", 1e3 * t.seconds / events, static_cast<long long>(t.calls),
                  layer_seconds > 0 ? 100 * t.seconds / layer_seconds : 0.0, t.seconds > 0 ? 1e-9 * t.flop / t.seconds : 0.0,
                  t.layer.c_str());
    std::printf("%10.2f %8s %7s %8s  all layers\n", 1e3 * layer_seconds / events, "", "", "");
  }
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
      flags = {"--quiet", "--verbose"};
    }
    if (command == "bench") {
      values = {"--model", "--events", "--threads", "--backend", "--cut", "--min-charge"};
      flags = {"--json", "--layers"};
    }
    if (command == "stats") {
      values = {"--output"};
      flags = {"--quiet"};
    }
    if (command == "plot") values = {"--output", "--events", "--event"};
    const Args args = parse(argc, argv, 2, aliases, values, flags);
    if (command == "convert") return cmd_convert(args);
    if (command == "info") return cmd_info(args);
    if (command == "generate") return cmd_generate(args);
    if (command == "stats") return cmd_stats(args);
    if (command == "plot") return cmd_plot(args);
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
