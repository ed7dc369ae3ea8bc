#include "engine/weights.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "pxdgen/error.hpp"

namespace pxdgen {

int64_t WeightView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Weights::Weights(std::shared_ptr<const ModelFile> file)
    : file_(std::move(file)), used_(file_->tensors().size(), false) {}

/// Whether no value is NaN or Inf (exponent bits all set), by a branchless scan the compiler
/// vectorizes: checking a value at a time took a quarter of the production model's load.
static bool all_finite(const float* data, size_t n) {
  uint32_t special = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, data + i, sizeof bits);
    special |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
  }
  return special == 0;
}

static std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

WeightView Weights::get(const std::string& name, const std::vector<int64_t>& expected_shape) {
  const TensorEntry* entry = file_->find(name);
  if (entry == nullptr) {
    if (!survey_) throw Error("model is missing tensor '" + name + "'");
    missing_.push_back(name);
    WeightView stand_in;
    int64_t n = 1;
    for (int64_t d : expected_shape) {
      stand_in.shape.push_back(d < 0 ? 1 : d);
      n *= stand_in.shape.back();
    }
    converted_.emplace_back(static_cast<size_t>(n), 0.0f);
    stand_in.data = converted_.back().data();
    return stand_in;
  }
  bool shape_ok = expected_shape.empty() || expected_shape.size() == entry->shape.size();
  for (size_t i = 0; shape_ok && i < expected_shape.size(); ++i)
    shape_ok = expected_shape[i] < 0 || expected_shape[i] == entry->shape[i];
  if (!shape_ok)
    throw Error("tensor '" + name + "' has shape " + shape_text(entry->shape) + ", expected " +
                shape_text(expected_shape));
  used_[static_cast<size_t>(entry - file_->tensors().data())] = true;
  WeightView view;
  view.shape = entry->shape;
  const size_t n = static_cast<size_t>(entry->numel());
  if (entry->type == StorageType::f32) {  // data is 64-byte aligned in the file
    view.data = reinterpret_cast<const float*>(file_->data(*entry));
  } else {
    std::vector<float> values(n);
    const uint8_t* raw = file_->data(*entry);
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, raw + 2 * i, 2);
      values[i] = half_to_float(h);
    }
    converted_.push_back(std::move(values));
    view.data = converted_.back().data();
  }
  if (!all_finite(view.data, n)) {
    size_t i = 0;
    while (std::isfinite(view.data[i])) ++i;
    throw Error("tensor '" + name + "' holds NaN or Inf (value " + std::to_string(i) + ")");
  }
  return view;
}

std::vector<std::string> Weights::unused() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < used_.size(); ++i)
    if (!used_[i]) names.push_back(file_->tensors()[i].name);
  return names;
}

}  // namespace pxdgen
