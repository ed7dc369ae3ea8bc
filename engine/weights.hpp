#pragma once
/// @file weights.hpp
/// The tensors of a model file as float32, looked up by name with their shape checked.

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/model_file.hpp"

namespace pxdgen {

/// A float32 tensor view; owned by the Weights it came from.
struct WeightView {
  const float* data = nullptr;
  std::vector<int64_t> shape;
  int64_t numel() const;
  int64_t dim(size_t i) const { return shape.at(i); }
};

/// Hands out the tensors of one model file as float32: f32 tensors straight from the
/// mapping, f16 tensors converted once. Records which tensors were used so that a
/// model with unexpected extra tensors is reported rather than silently half-used.
class Weights {
 public:
  explicit Weights(std::shared_ptr<const ModelFile> file);

  /// In survey mode a missing tensor is recorded instead of thrown, and stands in as
  /// zeros (unknown dims as 1), so that one pass lists every missing tensor.
  void set_survey_mode(bool on) { survey_ = on; }
  const std::vector<std::string>& missing() const { return missing_; }

  bool has(const std::string& name) const { return file_->find(name) != nullptr; }
  /// The tensor `name`; throws pxdgen::Error if it is missing or its shape differs from
  /// `expected_shape` (a -1 entry matches any size; an empty list matches any shape).
  WeightView get(const std::string& name, const std::vector<int64_t>& expected_shape = {});
  /// Tensors of the file never asked for.
  std::vector<std::string> unused() const;
  const ModelFile& file() const { return *file_; }

 private:
  std::shared_ptr<const ModelFile> file_;
  std::deque<std::vector<float>> converted_;
  std::vector<bool> used_;
  bool survey_ = false;
  std::vector<std::string> missing_;
};

}  // namespace pxdgen
