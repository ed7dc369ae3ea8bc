// The two WGAN proof-of-concept generators of the Belle II software: MODELS.md sections 6, 7.

#include "engine/network.hpp"

namespace pxdgen {
namespace {

constexpr int kBottomH = 8, kBottomW = 24;

/// What both generators start with: z -> fc -> a (C, 8, 24) feature map.
class WganNetwork : public UnconditionalNetwork {
 protected:
  WganNetwork(Weights& w, const nlohmann::json& hp, Backend backend) : kernels_(kernel_table(backend)) {
    dim_z_ = header_int(hp, "dim_z", 1, kMaxHeaderWidth, 96);
    fc_ = Linear::load(w, "fc", dim_z_, -1);
    if (fc_.out % (kBottomH * kBottomW) != 0) throw Error("tensor 'fc.weight' does not reshape to (C, 8, 24)");
    macs_ = fc_.macs();
  }
  int bottom_channels() const { return fc_.out / (kBottomH * kBottomW); }

  const KernelTable& kernels_;
  kernels::TensorArena prepared_;  ///< the convolutions' prepared weights
  Linear fc_;
};

/// fc -> (512, 8, 24) -> five [conv 5x5, BN, ReLU, up2] -> conv 5x5 -> 1.
class WganConvNet final : public WganNetwork {
 public:
  WganConvNet(Weights& w, const nlohmann::json& hp, Backend backend) : WganNetwork(w, hp, backend) {
    int channels = bottom_channels();
    int h = kBottomH, wd = kBottomW;
    for (int i = 0; i < 5; ++i) {
      convs_.push_back(Conv2d::load(w, "features." + std::to_string(4 * i), channels, -1, 5, 1, 2));
      channels = convs_.back().out;
      bns_.push_back(BatchNorm::load(w, "features." + std::to_string(4 * i + 1), channels, false));
      macs_ += convs_.back().macs(h, wd);
      h *= 2;
      wd *= 2;
    }
    convs_.push_back(Conv2d::load(w, "features.20", channels, 1, 5, 1, 2));
    macs_ += convs_.back().macs(h, wd);
    // The layers' shapes as synthesize runs them: each after the first reads the one before
    // upsampled.
    h = kBottomH;
    wd = kBottomW;
    for (size_t i = 0; i < convs_.size(); ++i) {
      convs_[i].prepare(kernels_, prepared_, h, wd, i > 0);
      if (i > 0) {
        h *= 2;
        wd *= 2;
      }
    }
  }
  void synthesize(int, const float* cond, Workspace& ws, float* logits) const override {
    size_t widest = fc_.out;
    for (size_t i = 0; i + 1 < convs_.size(); ++i)
      widest = std::max(widest, static_cast<size_t>(convs_[i].out) * (kBottomH * kBottomW) << (2 * (i + 1)));
    float* x = ws.get(0, widest);
    float* y = ws.get(1, widest);
    fc_.forward(kernels_, cond, 1, x);
    int h = kBottomH, wd = kBottomW;
    // Each convolution reads the previous one's output through BN, ReLU and up2.
    convs_[0].forward(kernels_, x, h, wd, y);
    for (size_t i = 1; i < convs_.size(); ++i) {
      const ConvInput input{bns_[i - 1].scale.data(), bns_[i - 1].shift.data(), true};
      convs_[i].forward(kernels_, y, h, wd, i + 1 == convs_.size() ? logits : x, input);
      h *= 2;
      wd *= 2;
      std::swap(x, y);
    }
  }

 private:
  std::vector<Conv2d> convs_;
  std::vector<BatchNorm> bns_;
};

/// fc -> (256, 8, 24) -> five upsampling residual blocks -> BN, ReLU, conv 3x3 -> 1.
class WganResNet final : public WganNetwork {
  struct Block {
    BatchNorm norm1, norm2;
    Conv2d conv1, conv2, skip;
  };

 public:
  WganResNet(Weights& w, const nlohmann::json& hp, Backend backend) : WganNetwork(w, hp, backend) {
    int channels = bottom_channels();
    int h = kBottomH, wd = kBottomW;
    for (int k = 0; k < 5; ++k) {
      const std::string p = "blocks." + std::to_string(k) + ".";
      Block b;
      b.norm1 = BatchNorm::load(w, p + "norm1", channels, false);
      b.conv1 = Conv2d::load(w, p + "conv1", channels, -1, 3, 1, 1);
      b.norm2 = BatchNorm::load(w, p + "norm2", b.conv1.out, false);
      b.conv2 = Conv2d::load(w, p + "conv2", b.conv1.out, -1, 3, 1, 1);
      b.skip = Conv2d::load(w, p + "conv", channels, b.conv2.out, 1, 1, 0);
      macs_ += b.skip.macs(h, wd);
      // As synthesize runs them: conv1 on the small input, upsampling it.
      b.conv1.prepare(kernels_, prepared_, h, wd, true);
      h *= 2;
      wd *= 2;
      b.conv2.prepare(kernels_, prepared_, h, wd, false);
      macs_ += b.conv1.macs(h, wd) + b.conv2.macs(h, wd);
      channels = b.conv2.out;
      blocks_.push_back(std::move(b));
    }
    norm_ = BatchNorm::load(w, "norm", channels, false);
    conv_ = Conv2d::load(w, "conv", channels, 1, 3, 1, 1);
    conv_.prepare(kernels_, prepared_, h, wd, false);
    macs_ += conv_.macs(h, wd);
  }
  void synthesize(int, const float* cond, Workspace& ws, float* logits) const override {
    size_t widest = fc_.out, widest_skip = 0;
    int h = kBottomH, wd = kBottomW;
    for (const Block& b : blocks_) {
      widest_skip = std::max(widest_skip, static_cast<size_t>(b.skip.out) * h * wd);
      h *= 2;
      wd *= 2;
      widest = std::max(widest, static_cast<size_t>(std::max({b.conv1.in, b.conv1.out, b.conv2.out})) * h * wd);
    }
    float* x = ws.get(0, widest);
    float* y = ws.get(1, widest);
    float* t = ws.get(2, widest);
    float* s = ws.get(3, widest_skip);
    fc_.forward(kernels_, cond, 1, x);
    h = kBottomH;
    wd = kBottomW;
    for (const Block& b : blocks_) {
      // The 1x1 skip commutes with nearest upsampling: convolve the small input, and let
      // conv2 add it upsampled.
      b.skip.forward(kernels_, x, h, wd, s);
      b.conv1.forward(kernels_, x, h, wd, t, {b.norm1.scale.data(), b.norm1.shift.data(), true});
      h *= 2;
      wd *= 2;
      b.conv2.forward(kernels_, t, h, wd, y, {b.norm2.scale.data(), b.norm2.shift.data(), false}, {s, true});
      std::swap(x, y);
    }
    conv_.forward(kernels_, x, h, wd, logits, {norm_.scale.data(), norm_.shift.data(), false});
  }

 private:
  std::vector<Block> blocks_;
  BatchNorm norm_;
  Conv2d conv_;
};

}  // namespace

std::unique_ptr<Network> build_wgan_convnet(Weights& weights, const nlohmann::json& hparams, Backend backend) {
  return std::make_unique<WganConvNet>(weights, hparams, backend);
}

std::unique_ptr<Network> build_wgan_resnet(Weights& weights, const nlohmann::json& hparams, Backend backend) {
  return std::make_unique<WganResNet>(weights, hparams, backend);
}

}  // namespace pxdgen
