// A simulation-style module: construct once, then for each event ask for that event's
// PXD background digits by (run seed, event number) and hand them on.

#include <pxdgen/pxdgen.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

class PxdBackgroundModule {
 public:
  /// An empty path uses the model built into the library.
  PxdBackgroundModule(const std::string& model_path, uint64_t run_seed)
      : generator_(model_path.empty() ? pxdgen::Model::builtin() : pxdgen::Model::load(model_path)),
        run_seed_(run_seed) {}

  /// Called by the framework once per event.
  void event(uint64_t event_number) {
    const std::vector<pxdgen::Digit> digits = generator_.event(run_seed_, event_number);
    size_t layer1 = 0;
    for (const pxdgen::Digit& d : digits) layer1 += pxdgen::sensor_id(d.sensor).layer == 1;
    // A real module would append each digit (sensor id, ucell, vcell, charge) to the
    // event's PXD digit collection here.
    std::printf("event %llu: %zu background digits (%zu on layer 1)\n",
                static_cast<unsigned long long>(event_number), digits.size(), layer1);
  }

 private:
  pxdgen::Generator generator_;
  uint64_t run_seed_;
};

int main(int argc, char** argv) {
  try {
    PxdBackgroundModule module(argc > 1 ? argv[1] : "", /*run_seed=*/2026);
    const int events = argc > 2 ? std::atoi(argv[2]) : 1;
    for (int k = 0; k < events; ++k) module.event(static_cast<uint64_t>(k));
  } catch (const pxdgen::Error& e) {
    std::fprintf(stderr, "background_module: %s\n", e.what());
    return 1;
  }
  return 0;
}
