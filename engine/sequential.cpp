// Plain layer stacks (MODELS.md section 8): a layer list in the model header, the tensors
// of an nn.Sequential ("<index>.weight"), no family-specific code.

#include <cmath>
#include <variant>

#include "engine/network.hpp"
#include "kernels/reference/reference.hpp"

namespace pxdgen {
namespace {

namespace ref = kernels::ref;

/// The largest activation a layer may produce (values, and each of c, h, w).
constexpr int kMaxActivation = 1 << 28;

struct Shape {
  int c = 0, h = 1, w = 1;  // a flat vector is (c, 1, 1)
  size_t size() const { return static_cast<size_t>(c) * h * w; }
  /// Whether c x h x w is within kMaxActivation, checked so the product cannot wrap.
  static bool fits(int64_t c, int64_t h, int64_t w) {
    return c >= 1 && h >= 1 && w >= 1 && c <= kMaxActivation && h <= kMaxActivation &&
           c * h <= kMaxActivation && c * h * w <= kMaxActivation;
  }
};

struct Reshape {};
struct Upsample {};
struct Activation {
  enum Kind { relu, leaky_relu, tanh } kind = relu;
  float slope = 0;
};
using Layer = std::variant<Linear, Reshape, Conv2d, ConvTranspose2d, Upsample, BatchNorm, Activation>;

class Sequential final : public UnconditionalNetwork {
 public:
  Sequential(Weights& w, const nlohmann::json& hp, Backend backend) : kernels_(kernel_table(backend)) {
    dim_z_ = header_int(hp, "dim_z", 1, kMaxHeaderWidth);
    const auto& layers = hp.at("layers");
    if (!layers.is_array() || layers.empty()) throw Error("sequential model: empty layer list");
    Shape shape{dim_z_, 1, 1};
    widest_ = shape.size();
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& spec = layers[i];
      const std::string type = spec.at("type").get<std::string>();
      const std::string name = std::to_string(i);
      const std::string where = "sequential layer " + name + " (" + type + ")";
      const bool flat = shape.h == 1 && shape.w == 1;
      if (type == "linear") {
        if (!flat) throw Error(where + " needs a flat input");
        Linear l = Linear::load(w, name, shape.c, header_int(spec, "out", 1, kMaxHeaderWidth));
        macs_ += l.macs();
        shape = {l.out, 1, 1};
        layers_.emplace_back(std::move(l));
      } else if (type == "reshape") {
        const auto& dims = spec.at("shape");
        if (!dims.is_array() || dims.size() != 3) throw Error(where + ": shape must be [C, H, W]");
        Shape next{checked_int(dims[0], "shape", 1, kMaxActivation), checked_int(dims[1], "shape", 1, kMaxActivation),
                   checked_int(dims[2], "shape", 1, kMaxActivation)};
        if (!Shape::fits(next.c, next.h, next.w) || next.size() != shape.size())
          throw Error(where + ": cannot reshape " + std::to_string(shape.size()) + " values");
        shape = next;
        layers_.emplace_back(Reshape{});
      } else if (type == "conv2d") {
        Conv2d c = Conv2d::load(w, name, shape.c, header_int(spec, "out", 1, kMaxHeaderWidth),
                                header_int(spec, "kernel", 1, kMaxHeaderWidth),
                                header_int(spec, "stride", 1, kMaxHeaderWidth, 1),
                                header_int(spec, "padding", 0, kMaxHeaderWidth, 0));
        // Bounded operands: h + 2 padding cannot overflow.
        if (c.out_size(shape.h) <= 0 || c.out_size(shape.w) <= 0)
          throw Error(where + ": invalid stride, padding or input size");
        macs_ += c.macs(shape.h, shape.w);
        shape = {c.out, c.out_size(shape.h), c.out_size(shape.w)};
        layers_.emplace_back(std::move(c));
      } else if (type == "conv_transpose2d") {
        ConvTranspose2d c = ConvTranspose2d::load(
            w, name, shape.c, header_int(spec, "out", 1, kMaxHeaderWidth), header_int(spec, "kernel", 1, kMaxHeaderWidth),
            header_int(spec, "stride", 1, kMaxHeaderWidth, 1), header_int(spec, "padding", 0, kMaxHeaderWidth, 0),
            header_int(spec, "output_padding", 0, kMaxHeaderWidth, 0));
        // (size - 1) stride can exceed int: the output size is checked in 64 bits first.
        const auto wide_out = [&](int size) {
          return (int64_t{size} - 1) * c.stride - 2 * int64_t{c.pad} + c.kernel + c.output_pad;
        };
        if (c.output_pad >= c.stride || !Shape::fits(c.out, wide_out(shape.h), wide_out(shape.w)))
          throw Error(where + ": invalid stride, padding or output_padding");
        macs_ += c.macs(shape.h, shape.w);
        shape = {c.out, c.out_size(shape.h), c.out_size(shape.w)};
        layers_.emplace_back(std::move(c));
      } else if (type == "upsample") {
        header_int(spec, "scale", 2, 2, 2);  // only 2 is supported
        shape = {shape.c, 2 * shape.h, 2 * shape.w};
        layers_.emplace_back(Upsample{});
      } else if (type == "batchnorm2d") {
        layers_.emplace_back(BatchNorm::load(w, name, shape.c, false, spec.value("eps", 1e-5f)));
      } else if (type == "relu") {
        layers_.emplace_back(Activation{Activation::relu, 0.0f});
      } else if (type == "leaky_relu") {
        layers_.emplace_back(Activation{Activation::leaky_relu, spec.value("slope", 0.01f)});
      } else if (type == "tanh") {
        if (i + 1 != layers.size()) throw Error(where + ": tanh is supported as the last layer only");
        layers_.emplace_back(Activation{Activation::tanh, 0.0f});
      } else {
        throw Error(where + ": unknown layer type (known: linear, reshape, conv2d, "
                    "conv_transpose2d, upsample, batchnorm2d, relu, leaky_relu, tanh)");
      }
      if (!Shape::fits(shape.c, shape.h, shape.w)) throw Error(where + ": activation too large");
      widest_ = std::max(widest_, shape.size());
      shapes_.push_back(shape);
    }
    if (shape.c != 1 || shape.h != kImageRows || shape.w != kImageCols)
      throw Error("sequential model must end in a (1, 256, 768) image, not (" + std::to_string(shape.c) +
                  ", " + std::to_string(shape.h) + ", " + std::to_string(shape.w) + ")");
    const auto* last = std::get_if<Activation>(&layers_.back());
    if (last == nullptr || last->kind != Activation::tanh)
      throw Error("sequential model must end with tanh");
  }

  void synthesize(int, const float* cond, Workspace& ws, float* logits) const override {
    float* x = ws.get(0, widest_);
    float* y = ws.get(1, widest_);
    std::copy(cond, cond + dim_z_, x);
    Shape shape{dim_z_, 1, 1};
    // The final tanh is left to the caller: the output is the pre-tanh image.
    for (size_t i = 0; i + 1 < layers_.size(); ++i) {
      const Shape next = shapes_[i];
      const Layer& layer = layers_[i];
      bool swapped = true;
      if (const auto* l = std::get_if<Linear>(&layer)) l->forward(kernels_, x, 1, y);
      else if (const auto* c = std::get_if<Conv2d>(&layer)) {
        if (c->is_same_padding()) c->forward(kernels_, x, shape.h, shape.w, y);
        else c->forward(x, shape.h, shape.w, y);
      }
      else if (const auto* t = std::get_if<ConvTranspose2d>(&layer)) t->forward(x, shape.h, shape.w, y);
      else if (std::holds_alternative<Upsample>(layer)) ref::upsample2x_nearest_f32(x, shape.c, shape.h, shape.w, y);
      else if (const auto* bn = std::get_if<BatchNorm>(&layer)) { bn->forward(x, static_cast<size_t>(shape.h) * shape.w, false, x); swapped = false; }
      else if (const auto* a = std::get_if<Activation>(&layer)) {
        if (a->kind == Activation::tanh) ref::tanh_f32(x, shape.size(), x);
        else ref::relu_f32(x, shape.size(), a->kind == Activation::relu ? 0.0f : a->slope, x);
        swapped = false;
      } else {
        swapped = false;  // reshape: same values
      }
      if (swapped) std::swap(x, y);
      shape = next;
    }
    std::copy(x, x + shape.size(), logits);
  }

 private:
  const KernelTable& kernels_;
  size_t widest_ = 0;
  std::vector<Layer> layers_;
  std::vector<Shape> shapes_;
};

}  // namespace

std::unique_ptr<Network> build_sequential(Weights& weights, const nlohmann::json& hparams, Backend backend) {
  return std::make_unique<Sequential>(weights, hparams, backend);
}

}  // namespace pxdgen
