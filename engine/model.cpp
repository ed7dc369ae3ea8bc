#include "engine/model.hpp"

#include "engine/digitizer.hpp"

namespace pxdgen {

namespace detail {

OutputTransform transform_from_header(const nlohmann::json& header) {
  OutputTransform t;
  const nlohmann::json output = header.value("output", nlohmann::json::object());
  const nlohmann::json cut = output.value("cut", nlohmann::json(-0.26));
  t.has_cut = !cut.is_null();
  t.cut = t.has_cut ? cut.get<float>() : -1.0f;
  t.min_charge = header_int(output, "min_charge", 1, 255, 1);
  validate(t);
  return t;
}

std::shared_ptr<const ModelImpl> make_model(std::shared_ptr<const ModelFile> file) {
  auto impl = std::make_shared<ModelImpl>();
  const nlohmann::json& header = file->header();
  try {
    impl->weights = std::make_unique<Weights>(file);
    impl->reference = build_network(*impl->weights, header, Backend::reference);
    impl->fast = build_network(*impl->weights, header, Backend::fast);
    const auto unused = impl->weights->unused();
    if (!unused.empty()) {
      std::string list;
      for (size_t i = 0; i < unused.size() && i < 5; ++i) list += (i ? ", " : "") + unused[i];
      throw Error("it holds " + std::to_string(unused.size()) + " tensor(s) its network does not use: " +
                  list + (unused.size() > 5 ? ", ..." : ""));
    }
    ModelInfo& info = impl->info;
    info.family = header.at("family").get<std::string>();
    info.variant = impl->reference->variant();
    info.dim_z = impl->reference->dim_z();
    info.dim_rdof = impl->reference->dim_rdof();
    for (const auto& t : file->tensors()) info.parameters += t.numel();
    info.gmac_per_event = impl->reference->macs_per_sensor() * kSensors / 1e9;
    info.transform = transform_from_header(header);
    info.header_json = header.dump(2);
  } catch (const nlohmann::json::exception& e) {
    throw Error("model '" + file->name() + "' has an invalid header: " + e.what());
  } catch (const Error& e) {
    throw Error("model '" + file->name() + "': " + e.what());
  }
  impl->file = std::move(file);
  return impl;
}

}  // namespace detail

Model Model::load(const std::string& path) { return Model(detail::make_model(ModelFile::open(path))); }

Model Model::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  return Model(detail::make_model(ModelFile::from_bytes(std::move(bytes), name)));
}

const ModelInfo& Model::info() const { return impl_->info; }
const std::string& Model::sha256() const { return impl_->file->sha256(); }

SensorId sensor_id(int index) {
  if (index < 0 || index >= kSensors) throw Error("sensor index " + std::to_string(index) + " is not in 0..39");
  // Layer 1 has 8 ladders, layer 2 has 12; two sensors per ladder.
  if (index < 16) return {1, index / 2 + 1, index % 2 + 1};
  return {2, (index - 16) / 2 + 1, index % 2 + 1};
}

int sensor_index(SensorId id) {
  const int ladders = id.layer == 1 ? 8 : id.layer == 2 ? 12 : 0;
  if (ladders == 0 || id.ladder < 1 || id.ladder > ladders || id.sensor < 1 || id.sensor > 2)
    throw Error("sensor " + std::to_string(id.layer) + "." + std::to_string(id.ladder) + "." +
                std::to_string(id.sensor) + " is not a PXD sensor");
  return (id.layer == 1 ? 0 : 16) + 2 * (id.ladder - 1) + (id.sensor - 1);
}

const char* version() { return PXDGEN_VERSION; }

}  // namespace pxdgen
