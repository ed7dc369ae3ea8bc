// The layer profile: a map from layer description to calls, time and FLOPs, filled by every
// thread that runs layers while profiling is on.

#include "engine/layer_profile.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "pxdgen/pxdgen.hpp"

namespace pxdgen {
namespace {

struct Profile {
  std::atomic<bool> on{false};
  std::mutex mutex;
  std::map<std::string, LayerTime> layers;
};

Profile& the_profile() {
  static Profile p;
  return p;
}

}  // namespace

namespace profile {

bool on() { return the_profile().on.load(std::memory_order_relaxed); }

void record(const std::string& name, double seconds, double flop) {
  Profile& p = the_profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  LayerTime& t = p.layers[name];
  t.layer = name;
  t.calls += 1;
  t.seconds += seconds;
  t.flop += flop;
}

}  // namespace profile

void set_layer_profiling(bool on) {
  Profile& p = the_profile();
  const std::lock_guard<std::mutex> lock(p.mutex);
  if (on) p.layers.clear();
  p.on.store(on, std::memory_order_relaxed);
}

std::vector<LayerTime> layer_profile() {
  Profile& p = the_profile();
  std::vector<LayerTime> out;
  {
    const std::lock_guard<std::mutex> lock(p.mutex);
    for (const auto& entry : p.layers) out.push_back(entry.second);
  }
  std::stable_sort(out.begin(), out.end(), [](const LayerTime& a, const LayerTime& b) { return a.seconds > b.seconds; });
  return out;
}

}  // namespace pxdgen
