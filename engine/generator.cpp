#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>

#include "engine/digitizer.hpp"
#include "engine/model.hpp"
#include "engine/random.hpp"
#include "kernels/reference/reference.hpp"
#include "kernels/tensor_memory.hpp"

namespace pxdgen {

struct Generator::Impl {
  explicit Impl(Model m) : model(std::move(m)) {}
  Model model;
  const Network* network = nullptr;
  OutputTransform transform;
  std::vector<int> sensors;
  int threads = 1;
  std::vector<Workspace> workspaces;          // one per thread
  std::vector<std::vector<float>> logits;     // one 256 x 768 image per thread
  // Digits of this event, appended by each thread to its own buffer, and where each
  // sensor's run of them lies. Buffers are reused across events: sized by whole events,
  // they settle after a few, where buffers allocated per sensor per event fragmented the
  // heap of each thread and resident memory crept up over a run.
  struct SensorDigits {
    int thread = 0;
    size_t begin = 0, end = 0;
  };
  std::vector<std::vector<Digit>> thread_digits;  // one per thread
  std::vector<SensorDigits> sensor_digits;        // one per generated sensor of each event
  std::vector<float> z, rdof;  // of each event of a batch
  // Of each event of a batch; 6 MB for the IEA-GAN, on huge pages so that a new generator
  // does not fault in 1,500 small ones (14 ms of its 15 on one Zen 5 core).
  std::vector<float, kernels::TensorAllocator<float>> cond;
};

Generator::Generator(Model model, GeneratorOptions options) : impl_(std::make_unique<Impl>(std::move(model))) {
  if (!impl_->model.impl()) throw Error("generator needs a loaded model");
  if (options.threads < 1) throw Error("threads must be at least 1, got " + std::to_string(options.threads));
  Impl& g = *impl_;
  g.network = &g.model.impl()->network(options.backend);
  g.transform = options.transform.value_or(g.model.info().transform);
  validate(g.transform);
  if (options.sensors.empty()) {
    for (int s = 0; s < kSensors; ++s) g.sensors.push_back(s);
  } else {
    for (int s : options.sensors) {
      if (s < 0 || s >= kSensors) throw Error("sensor index " + std::to_string(s) + " is not in 0..39");
      if (std::find(g.sensors.begin(), g.sensors.end(), s) != g.sensors.end())
        throw Error("sensor index " + std::to_string(s) + " is listed twice");
      g.sensors.push_back(s);
    }
  }
  g.threads = options.threads;
  g.workspaces.resize(g.threads);
  g.logits.resize(g.threads);
  g.thread_digits.resize(g.threads);
  g.sensor_digits.resize(g.sensors.size());
  g.z.resize(static_cast<size_t>(kSensors) * g.network->dim_z());
  g.rdof.resize(static_cast<size_t>(kSensors) * g.network->dim_rdof());
  g.cond.resize(static_cast<size_t>(kSensors) * g.network->cond_dim());
}

Generator::~Generator() = default;
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;

const Model& Generator::model() const { return impl_->model; }
const OutputTransform& Generator::transform() const { return impl_->transform; }
const std::vector<int>& Generator::sensors() const { return impl_->sensors; }

void Generator::draw_latents(uint64_t seed, uint64_t event, float* z, float* rdof) const {
  const int dim_z = impl_->network->dim_z(), dim_rdof = impl_->network->dim_rdof();
  for (int s = 0; s < kSensors; ++s) {
    standard_normals(seed, event, static_cast<uint32_t>(s), LatentStream::z, z + static_cast<size_t>(s) * dim_z, dim_z);
    if (dim_rdof > 0 && rdof != nullptr)
      standard_normals(seed, event, static_cast<uint32_t>(s), LatentStream::rdof,
                       rdof + static_cast<size_t>(s) * dim_rdof, dim_rdof);
  }
}

std::vector<Digit> Generator::event(uint64_t seed, uint64_t event) {
  Impl& g = *impl_;
  draw_latents(seed, event, g.z.data(), g.rdof.data());
  std::vector<Digit> digits;
  generate(g.z.data(), g.rdof.empty() ? nullptr : g.rdof.data(), &digits, nullptr);
  return digits;
}

std::vector<std::vector<Digit>> Generator::events(uint64_t seed, uint64_t first, int count) {
  Impl& g = *impl_;
  if (count < 1) throw Error("events: count must be at least 1, got " + std::to_string(count));
  const size_t nz = static_cast<size_t>(kSensors) * g.network->dim_z(), nr = static_cast<size_t>(kSensors) * g.network->dim_rdof();
  g.z.resize(nz * count);
  g.rdof.resize(nr * count);
  for (int e = 0; e < count; ++e) draw_latents(seed, first + e, g.z.data() + e * nz, g.rdof.data() + e * nr);
  std::vector<std::vector<Digit>> digits;
  generate_batch(count, g.z.data(), nr > 0 ? g.rdof.data() : nullptr, &digits);
  return digits;
}

int Generator::events_per_batch() const {
  // The smallest batch whose sensors make whole rounds of the threads, capped: each event in
  // a batch holds its conditioning (5 MB for the production IEA-GAN).
  constexpr int kMostEvents = 4;
  const int sensors = static_cast<int>(impl_->sensors.size()), threads = impl_->threads;
  for (int e = 1; e < kMostEvents; ++e)
    if (e * sensors % threads == 0) return e;
  return kMostEvents;
}

void Generator::generate(const float* z, const float* rdof, std::vector<Digit>* digits, float* images) {
  if (digits == nullptr) return run(1, z, rdof, nullptr, images);
  std::vector<Digit>* one[] = {digits};
  run(1, z, rdof, one, images);
}

void Generator::generate_batch(int count, const float* z, const float* rdof, std::vector<std::vector<Digit>>* digits) {
  if (count < 1) throw Error("generate_batch: count must be at least 1, got " + std::to_string(count));
  if (digits == nullptr) return run(count, z, rdof, nullptr, nullptr);
  digits->resize(count);
  std::vector<std::vector<Digit>*> each(count);
  for (int e = 0; e < count; ++e) each[e] = &(*digits)[e];
  run(count, z, rdof, each.data(), nullptr);
}

void Generator::run(int events, const float* z, const float* rdof, std::vector<Digit>* const* digits, float* images) {
  Impl& g = *impl_;
  const Network& net = *g.network;
  if (z == nullptr) throw Error("generate: z is required");
  if (net.dim_rdof() > 0 && rdof == nullptr)
    throw Error("this model (" + net.variant() + ") needs the per-sensor random inputs (rdof)");
  const size_t nz = static_cast<size_t>(kSensors) * net.dim_z(), nr = static_cast<size_t>(kSensors) * net.dim_rdof();
  for (size_t i = 0; i < nz * events; ++i)
    if (!std::isfinite(z[i])) throw Error("latent z holds NaN or Inf");
  const size_t cond_floats = static_cast<size_t>(kSensors) * net.cond_dim();
  g.cond.resize(cond_floats * events);
  for (int e = 0; e < events; ++e)
    net.condition(z + e * nz, rdof != nullptr ? rdof + e * nr : nullptr, g.cond.data() + e * cond_floats, g.threads);

  // The sensors of every event of the batch are shared out together: an event's own would
  // leave threads idle in its last round where the threads do not divide them.
  const int count = static_cast<int>(g.sensors.size()), tasks = events * count;
  const size_t pixels = static_cast<size_t>(kImageRows) * kImageCols;
  std::vector<int> bad(tasks, 0);
  std::exception_ptr failure;
  g.sensor_digits.resize(tasks);
  for (std::vector<Digit>& buffer : g.thread_digits) buffer.clear();
#pragma omp parallel for num_threads(g.threads) schedule(dynamic, 1)
  for (int task = 0; task < tasks; ++task) {
    try {
      const int t = omp_get_thread_num();
      const int e = task / count, k = task % count;
      const int sensor = g.sensors[k];
      std::vector<float>& logits = g.logits[t];
      logits.resize(pixels);
      net.synthesize(sensor, g.cond.data() + e * cond_floats + static_cast<size_t>(sensor) * net.cond_dim(),
                     g.workspaces[t], logits.data());
      for (size_t i = 0; i < pixels; ++i)
        if (!std::isfinite(logits[i])) {
          bad[task] = 1;
          break;
        }
      std::vector<Digit>& buffer = g.thread_digits[t];
      g.sensor_digits[task] = {t, buffer.size(), buffer.size()};
      if (digits != nullptr && !bad[task]) digitize_logits(logits.data(), sensor, g.transform, buffer);
      g.sensor_digits[task].end = buffer.size();
      if (images != nullptr) kernels::ref::tanh_f32(logits.data(), pixels, images + (e * count + k) * pixels);
    } catch (...) {
#pragma omp critical
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  for (int task = 0; task < tasks; ++task)
    if (bad[task])
      throw NumericError("the model produced NaN or Inf for sensor " + std::to_string(g.sensors[task % count]) +
                         (events > 1 ? " of event " + std::to_string(task / count) + " of the batch" : std::string()) +
                         "; no digits were written for this event");
  if (digits == nullptr) return;
  std::vector<int> order(count);
  for (int k = 0; k < count; ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return g.sensors[a] < g.sensors[b]; });
  for (int e = 0; e < events; ++e) {
    std::vector<Digit>& out = *digits[e];
    out.clear();
    for (int k : order) {
      const Impl::SensorDigits& run = g.sensor_digits[e * count + k];
      const std::vector<Digit>& buffer = g.thread_digits[run.thread];
      out.insert(out.end(), buffer.begin() + static_cast<std::ptrdiff_t>(run.begin),
                 buffer.begin() + static_cast<std::ptrdiff_t>(run.end));
    }
  }
}

}  // namespace pxdgen
