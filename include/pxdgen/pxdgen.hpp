#pragma once
/// @file pxdgen.hpp
/// pxdgen's C++ API: load a generator model, then ask a Generator for the PXD digits of
/// event k of a run with seed s, or for the digits and images of caller-given latents.
///
///     pxdgen::Model model = pxdgen::Model::load("ieagan.pxdg");
///     pxdgen::Generator generator(model);                  // one per thread
///     std::vector<pxdgen::Digit> digits = generator.event(/*seed=*/42, /*event=*/0);

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pxdgen/error.hpp"

namespace pxdgen {

/// Detector geometry shared by every generator.
constexpr int kSensors = 40;        ///< PXD sensors (modules) per event
constexpr int kImageRows = 256;     ///< rows (u) of a network output image
constexpr int kImageCols = 768;     ///< columns (v) of a network output image
constexpr int kCroppedRows = 3;     ///< rows dropped at each end of u
constexpr int kUCells = 250;        ///< u cells of a sensor after cropping
constexpr int kVCells = 768;        ///< v cells of a sensor

/// A sensor's place in the detector: layer 1..2, ladder 1..8 (layer 1) or 1..12, sensor 1..2.
struct SensorId {
  int layer = 0, ladder = 0, sensor = 0;
};
/// Sensor index 0..39 (the order of MODELS.md: layer, ladder, sensor) to its id.
SensorId sensor_id(int index);
/// The inverse of sensor_id; throws pxdgen::Error for an id not in the PXD.
int sensor_index(SensorId id);

/// One fired pixel.
struct Digit {
  uint16_t sensor = 0;  ///< sensor index 0..39 (sensor_id() gives layer.ladder.sensor)
  uint16_t ucell = 0;   ///< 0..249
  uint16_t vcell = 0;   ///< 0..767
  uint16_t charge = 0;  ///< ADU, 1..255
  friend bool operator==(const Digit& a, const Digit& b) {
    return a.sensor == b.sensor && a.ucell == b.ucell && a.vcell == b.vcell && a.charge == b.charge;
  }
};

/// How a tanh output x in [-1, 1] becomes a charge (MODELS.md section 2):
/// if has_cut and x <= cut, the pixel is empty; else a = clamp(0.5 x + 0.5, 0, 1),
/// charge = trunc(clamp(256^a - 1, 0, 255)); the pixel is a digit if charge >= min_charge.
struct OutputTransform {
  bool has_cut = true;
  float cut = -0.26f;
  int min_charge = 1;
  /// The production transform of the IEA-GAN family (cut at -0.26).
  static OutputTransform ieagan() { return {}; }
  /// The production transform of the WGAN models (no cut).
  static OutputTransform wgan() { return {false, -1.0f, 1}; }
};

/// What a model is, read from its file.
struct ModelInfo {
  std::string family;       ///< biggan_deep, wgan_convnet, wgan_resnet, sequential
  std::string variant;      ///< e.g. ieagan_production, ieagan_research, biggan, pegan
  int dim_z = 0;            ///< latent dims per sensor
  int dim_rdof = 0;         ///< extra random dims per sensor (4 for IEA-GAN research), else 0
  int64_t parameters = 0;   ///< stored values
  double gmac_per_event = 0;
  OutputTransform transform;  ///< the model's default output transform
  std::string header_json;  ///< the whole file header, pretty-printed
};

namespace detail {
struct ModelImpl;
}

/// A loaded model: immutable, cheap to copy, shareable between threads.
class Model {
 public:
  /// Memory-maps and validates a .pxdg file. Throws pxdgen::Error.
  static Model load(const std::string& path);
  /// The model built into the library (see README: not a physics model).
  static Model builtin();
  /// A model from a file image in memory.
  static Model from_bytes(std::vector<uint8_t> bytes, const std::string& name = "<memory>");

  const ModelInfo& info() const;
  /// SHA-256 of the model file, as hex; computed on first call (it is not needed to
  /// generate, and hashing costs more than the rest of a load).
  const std::string& sha256() const;
  const std::shared_ptr<const detail::ModelImpl>& impl() const { return impl_; }

 private:
  explicit Model(std::shared_ptr<const detail::ModelImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::ModelImpl> impl_;
};

/// Which implementation of the layers runs.
enum class Backend {
  reference,  ///< plain loops: the oracle every fast path is tested against
  fast,       ///< the fastest kernels for this CPU
};

struct GeneratorOptions {
  Backend backend = Backend::fast;
  /// OpenMP threads across the sensors of an event. Results do not depend on it.
  int threads = 1;
  /// Overrides the model's default output transform.
  std::optional<OutputTransform> transform;
  /// Generate only these sensor indices (empty: all 40). The conditioning still sees
  /// all 40 sensors, so a sensor's image is the same as in a full event.
  std::vector<int> sensors;
};

/// Generates events from a Model. Holds per-thread workspaces: use one per thread.
class Generator {
 public:
  explicit Generator(Model model, GeneratorOptions options = {});
  ~Generator();
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;

  /// Digits of event `event` of the run with seed `seed`, sorted by (sensor, ucell, vcell).
  /// The latents come from a counter-based generator keyed by (seed, event, sensor), so
  /// the result never depends on thread count or on which events were generated before.
  std::vector<Digit> event(uint64_t seed, uint64_t event);

  /// Digits of events first .. first + count - 1 of the run with seed `seed`, each what
  /// event() gives it. With several threads the sensors of all of them are shared out
  /// together, so no thread waits while the last ones of an event finish (40 sensors on 16
  /// threads: three rounds an event, the last half idle); events_per_batch() events at a time
  /// make whole rounds.
  std::vector<std::vector<Digit>> events(uint64_t seed, uint64_t first, int count);

  /// The fewest events whose sensors the threads share out in whole rounds (1 where the
  /// thread count divides the sensors), at most 4: each event of a batch holds its own
  /// conditioning (5 MB for the production IEA-GAN).
  int events_per_batch() const;

  /// The latents event() uses: z is 40 x dim_z, rdof is 40 x dim_rdof (may be null when
  /// dim_rdof is 0).
  void draw_latents(uint64_t seed, uint64_t event, float* z, float* rdof) const;

  /// Runs the network on caller-given latents (z: 40 x dim_z, rdof: 40 x dim_rdof or
  /// null). Writes the sorted digits to `digits` if non-null and the uncropped tanh
  /// images, one 256 x 768 image per generated sensor, to `images` if non-null.
  /// Throws pxdgen::Error if the output holds NaN or Inf.
  void generate(const float* z, const float* rdof, std::vector<Digit>* digits, float* images);

  /// generate() for `count` events at once, sharing out their sensors as events() does: z
  /// is count x 40 x dim_z, rdof count x 40 x dim_rdof (or null), event after event; the
  /// digits of each event go to (*digits)[e] if digits is non-null.
  void generate_batch(int count, const float* z, const float* rdof, std::vector<std::vector<Digit>>* digits);

  const Model& model() const;
  const OutputTransform& transform() const;
  /// The generated sensors, in output order.
  const std::vector<int>& sensors() const;

 private:
  void run(int events, const float* z, const float* rdof, std::vector<Digit>* const* digits, float* images);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The time one kind of layer call took, summed over its calls and over threads.
struct LayerTime {
  std::string layer;    ///< operation and shape, e.g. "conv3x3 32->32 64x192 up2 +skip-up2"
  int64_t calls = 0;
  double seconds = 0;
  double flop = 0;      ///< dense multiply-adds x 2, as GFLOP/s and gmac_per_event count them
};

/// Times every convolution and linear layer that any Generator runs from now on (true: the
/// profile starts empty), or stops timing (false). Off by default; while on, each layer call
/// takes two clock reads and a lock. For finding where an event's time goes
/// (`pxdgen bench --layers`), not for production runs.
void set_layer_profiling(bool on);

/// What the layer calls took since profiling was last turned on, slowest first.
std::vector<LayerTime> layer_profile();

/// pxdgen's version string.
const char* version();

}  // namespace pxdgen
