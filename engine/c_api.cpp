// The C API of include/pxdgen/pxdgen.h: opaque handles over the C++ objects, and every
// exception turned into a status code and a per-thread message, because no exception
// may cross into C.

#include "pxdgen/pxdgen.h"

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "pxdgen/pxdgen.hpp"

static_assert(sizeof(pxdgen_digit) == sizeof(pxdgen::Digit) && alignof(pxdgen_digit) == alignof(pxdgen::Digit),
              "the C digit must share the C++ digit's layout: digits are handed out without copying");
static_assert(offsetof(pxdgen_digit, sensor) == offsetof(pxdgen::Digit, sensor) &&
                  offsetof(pxdgen_digit, ucell) == offsetof(pxdgen::Digit, ucell) &&
                  offsetof(pxdgen_digit, vcell) == offsetof(pxdgen::Digit, vcell) &&
                  offsetof(pxdgen_digit, charge) == offsetof(pxdgen::Digit, charge),
              "the C digit must share the C++ digit's layout");
static_assert(std::is_standard_layout_v<pxdgen::Digit>);

struct pxdgen_model {
  pxdgen::Model model;
};

struct pxdgen_generator {
  pxdgen::Generator generator;
  std::vector<pxdgen::Digit> digits;
};

namespace {

thread_local std::string last_error;

pxdgen_status fail(pxdgen_status status, std::string message) {
  last_error = std::move(message);
  return status;
}

pxdgen_status null_argument(const char* function, const char* name) {
  return fail(PXDGEN_ERROR_ARGUMENT, std::string(function) + ": " + name + " is null");
}

/// Runs `body`, mapping whatever it throws to a status and message.
template <class Body>
pxdgen_status guarded(const char* function, Body&& body) {
  try {
    body();
    return PXDGEN_OK;
  } catch (const pxdgen::NumericError& e) {
    return fail(PXDGEN_ERROR_NUMERIC, std::string(function) + ": " + e.what());
  } catch (const pxdgen::Error& e) {
    return fail(PXDGEN_ERROR_INPUT, std::string(function) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return fail(PXDGEN_ERROR_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return fail(PXDGEN_ERROR_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    return fail(PXDGEN_ERROR_INTERNAL, std::string(function) + ": unknown failure");
  }
}

const pxdgen_digit* as_c_digits(const std::vector<pxdgen::Digit>& digits) {
  return reinterpret_cast<const pxdgen_digit*>(digits.data());
}

}  // namespace

extern "C" {

const char* pxdgen_version(void) { return pxdgen::version(); }

const char* pxdgen_last_error(void) { return last_error.c_str(); }

pxdgen_status pxdgen_model_load(const char* path, pxdgen_model** model) {
  if (path == nullptr) return null_argument(__func__, "path");
  if (model == nullptr) return null_argument(__func__, "model");
  *model = nullptr;
  return guarded(__func__, [&] { *model = new pxdgen_model{pxdgen::Model::load(path)}; });
}

pxdgen_status pxdgen_model_builtin(pxdgen_model** model) {
  if (model == nullptr) return null_argument(__func__, "model");
  *model = nullptr;
  return guarded(__func__, [&] { *model = new pxdgen_model{pxdgen::Model::builtin()}; });
}

pxdgen_status pxdgen_model_get_info(const pxdgen_model* model, pxdgen_model_info* info) {
  if (model == nullptr) return null_argument(__func__, "model");
  if (info == nullptr) return null_argument(__func__, "info");
  const pxdgen::ModelInfo& i = model->model.info();
  info->family = i.family.c_str();
  info->variant = i.variant.c_str();
  info->sha256 = model->model.sha256().c_str();
  info->dim_z = i.dim_z;
  info->dim_rdof = i.dim_rdof;
  info->parameters = i.parameters;
  info->gmac_per_event = i.gmac_per_event;
  return PXDGEN_OK;
}

void pxdgen_model_free(pxdgen_model* model) { delete model; }

void pxdgen_generator_options_init(pxdgen_generator_options* options) {
  if (options == nullptr) return;
  const pxdgen::OutputTransform t = pxdgen::OutputTransform::ieagan();
  *options = {PXDGEN_BACKEND_FAST, 1, 0, t.has_cut ? 1 : 0, t.cut, t.min_charge};
}

pxdgen_status pxdgen_generator_create(const pxdgen_model* model, const pxdgen_generator_options* options,
                                      pxdgen_generator** generator) {
  if (model == nullptr) return null_argument(__func__, "model");
  if (generator == nullptr) return null_argument(__func__, "generator");
  *generator = nullptr;
  pxdgen_generator_options o;
  pxdgen_generator_options_init(&o);
  if (options != nullptr) o = *options;
  if (o.backend != PXDGEN_BACKEND_FAST && o.backend != PXDGEN_BACKEND_REFERENCE)
    return fail(PXDGEN_ERROR_ARGUMENT, std::string(__func__) + ": unknown backend " + std::to_string(o.backend));
  if (o.threads < 1)
    return fail(PXDGEN_ERROR_ARGUMENT, std::string(__func__) + ": threads must be at least 1, got " +
                                           std::to_string(o.threads));
  pxdgen::GeneratorOptions cpp;
  cpp.backend = o.backend == PXDGEN_BACKEND_REFERENCE ? pxdgen::Backend::reference : pxdgen::Backend::fast;
  cpp.threads = o.threads;
  if (o.override_transform) cpp.transform = pxdgen::OutputTransform{o.has_cut != 0, o.cut, o.min_charge};
  return guarded(__func__, [&] { *generator = new pxdgen_generator{pxdgen::Generator(model->model, cpp), {}}; });
}

void pxdgen_generator_free(pxdgen_generator* generator) { delete generator; }

pxdgen_status pxdgen_generator_event(pxdgen_generator* generator, uint64_t seed, uint64_t event,
                                     const pxdgen_digit** digits, size_t* count) {
  if (generator == nullptr) return null_argument(__func__, "generator");
  if (digits == nullptr) return null_argument(__func__, "digits");
  if (count == nullptr) return null_argument(__func__, "count");
  *digits = nullptr;
  *count = 0;
  return guarded(__func__, [&] {
    generator->digits = generator->generator.event(seed, event);
    *digits = as_c_digits(generator->digits);
    *count = generator->digits.size();
  });
}

pxdgen_status pxdgen_generator_events(pxdgen_generator* generator, uint64_t seed, uint64_t first, int count,
                                      const pxdgen_digit** digits, size_t* offsets) {
  if (generator == nullptr) return null_argument(__func__, "generator");
  if (digits == nullptr) return null_argument(__func__, "digits");
  if (offsets == nullptr) return null_argument(__func__, "offsets");
  if (count < 1) return fail(PXDGEN_ERROR_ARGUMENT, std::string(__func__) + ": count must be at least 1, got " +
                                                        std::to_string(count));
  *digits = nullptr;
  return guarded(__func__, [&] {
    const std::vector<std::vector<pxdgen::Digit>> events = generator->generator.events(seed, first, count);
    generator->digits.clear();
    offsets[0] = 0;
    for (int e = 0; e < count; ++e) {
      generator->digits.insert(generator->digits.end(), events[e].begin(), events[e].end());
      offsets[e + 1] = generator->digits.size();
    }
    *digits = as_c_digits(generator->digits);
  });
}

int pxdgen_generator_events_per_batch(const pxdgen_generator* generator) {
  return generator != nullptr ? generator->generator.events_per_batch() : 1;
}

pxdgen_status pxdgen_generator_draw_latents(const pxdgen_generator* generator, uint64_t seed, uint64_t event,
                                            float* z, float* rdof) {
  if (generator == nullptr) return null_argument(__func__, "generator");
  if (z == nullptr) return null_argument(__func__, "z");
  if (rdof == nullptr && generator->generator.model().info().dim_rdof > 0) return null_argument(__func__, "rdof");
  return guarded(__func__, [&] { generator->generator.draw_latents(seed, event, z, rdof); });
}

pxdgen_status pxdgen_generator_generate(pxdgen_generator* generator, const float* z, const float* rdof,
                                        const pxdgen_digit** digits, size_t* count, float* images) {
  if (generator == nullptr) return null_argument(__func__, "generator");
  if (z == nullptr) return null_argument(__func__, "z");
  if (rdof == nullptr && generator->generator.model().info().dim_rdof > 0) return null_argument(__func__, "rdof");
  if ((digits == nullptr) != (count == nullptr))
    return fail(PXDGEN_ERROR_ARGUMENT, std::string(__func__) + ": digits and count must both be given or both null");
  if (digits != nullptr) {
    *digits = nullptr;
    *count = 0;
  }
  return guarded(__func__, [&] {
    generator->generator.generate(z, rdof, digits != nullptr ? &generator->digits : nullptr, images);
    if (digits != nullptr) {
      *digits = as_c_digits(generator->digits);
      *count = generator->digits.size();
    }
  });
}

pxdgen_status pxdgen_sensor_id(int index, int* layer, int* ladder, int* sensor) {
  if (layer == nullptr || ladder == nullptr || sensor == nullptr)
    return null_argument(__func__, "an output pointer");
  if (index < 0 || index >= pxdgen::kSensors)
    return fail(PXDGEN_ERROR_ARGUMENT, std::string(__func__) + ": sensor index must lie in 0..39, got " +
                                           std::to_string(index));
  const pxdgen::SensorId id = pxdgen::sensor_id(index);
  *layer = id.layer;
  *ladder = id.ladder;
  *sensor = id.sensor;
  return PXDGEN_OK;
}

void pxdgen_set_layer_profiling(int on) { pxdgen::set_layer_profiling(on != 0); }

pxdgen_status pxdgen_layer_profile(const pxdgen_layer_time** layers, size_t* count) {
  if (layers == nullptr) return null_argument(__func__, "layers");
  if (count == nullptr) return null_argument(__func__, "count");
  *layers = nullptr;
  *count = 0;
  // The names and the entries live here until this thread asks again.
  thread_local std::vector<pxdgen::LayerTime> profile;
  thread_local std::vector<pxdgen_layer_time> entries;
  return guarded(__func__, [&] {
    profile = pxdgen::layer_profile();
    entries.clear();
    for (const pxdgen::LayerTime& t : profile) entries.push_back({t.layer.c_str(), t.calls, t.seconds, t.flop});
    *layers = entries.data();
    *count = entries.size();
  });
}

}  // extern "C"
