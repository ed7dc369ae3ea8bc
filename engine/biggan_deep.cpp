// The BigGAN-deep family (IEA-GAN, ContraGAN, BigGAN-deep, PE-GAN): MODELS.md section 5.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "engine/network.hpp"
#include "kernels/reference/reference.hpp"

namespace pxdgen {
namespace {

namespace ref = kernels::ref;

/// Class-conditional batch norm: per sensor, gain = 1 + G c and bias = B c on top of the
/// stored statistics, folded into one scale and shift per channel. The folding is part of
/// the event's conditioning step: one pass over G and B for all 40 sensors, where folding per
/// sensor read them (12 MB in the production model) 40 times.
struct ConditionalBatchNorm {
  Linear gain, bias;
  std::vector<float> inv_std, mean;
  int offset = 0;  ///< where this norm's scale, then its shift, sit in a sensor's input vector

  static ConditionalBatchNorm load(Weights& w, const std::string& prefix, int channels,
                                   int cond_dim) {
    ConditionalBatchNorm bn;
    bn.gain = Linear::load(w, prefix + ".gain", cond_dim, channels);
    bn.bias = Linear::load(w, prefix + ".bias", cond_dim, channels);
    const WeightView mean = w.get(prefix + ".stored_mean", {channels});
    const WeightView var = w.get(prefix + ".stored_var", {channels});
    for (int c = 0; c < channels; ++c) {
      if (var.data[c] < 0) throw Error("tensor '" + prefix + ".stored_var' is negative");
      bn.inv_std.push_back(1.0f / std::sqrt(var.data[c] + 1e-5f));
      bn.mean.push_back(mean.data[c]);
    }
    return bn;
  }

  int channels() const { return static_cast<int>(mean.size()); }
  const float* scale(const float* input) const { return input + offset; }
  const float* shift(const float* input) const { return input + offset + channels(); }

  /// Folds the conditioning c (40 x c_dim) of every sensor into its input vector (40 x
  /// input_dim); g and b are scratch.
  void fold(const KernelTable& k, const float* c, float* inputs, int input_dim, std::vector<float>& g,
            std::vector<float>& b) const {
    const int n = channels();
    g.resize(static_cast<size_t>(kSensors) * n);
    b.resize(g.size());
    gain.forward(k, c, kSensors, g.data());
    bias.forward(k, c, kSensors, b.data());
    for (int sensor = 0; sensor < kSensors; ++sensor) {
      float* scale = inputs + static_cast<size_t>(sensor) * input_dim + offset;
      float* shift = scale + n;
      for (int ch = 0; ch < n; ++ch) {
        const size_t i = static_cast<size_t>(sensor) * n + ch;
        scale[ch] = (1.0f + g[i]) * inv_std[ch];
        shift[ch] = b[i] - mean[ch] * scale[ch];
      }
    }
  }
};

/// Non-local self-attention over image positions (SAGAN style), with a learned gate.
struct NonLocalAttention {
  Conv2d theta, phi, g, o;
  float gamma = 0;

  static NonLocalAttention load(Weights& w, const std::string& prefix, int channels) {
    NonLocalAttention a;
    a.theta = Conv2d::load(w, prefix + ".theta", channels, channels / 8, 1, 1, 0);
    a.phi = Conv2d::load(w, prefix + ".phi", channels, channels / 8, 1, 1, 0);
    a.g = Conv2d::load(w, prefix + ".g", channels, channels / 2, 1, 1, 0);
    a.o = Conv2d::load(w, prefix + ".o", channels / 2, channels, 1, 1, 0);
    const WeightView gamma = w.get(prefix + ".gamma");
    if (gamma.numel() != 1) throw Error("tensor '" + prefix + ".gamma' must hold one value");
    a.gamma = gamma.data[0];
    return a;
  }

  double macs(int height, int width) const {
    const double positions = static_cast<double>(height) * width;
    return theta.macs(height, width) + phi.macs(height, width) + g.macs(height, width) +
           o.macs(height, width) + positions * (positions / 4) * (theta.out + g.out);
  }

  /// x (C, H, W) += gamma * o(g softmax(theta^T phi)^T), in place.
  void forward(float* x, int height, int width, Workspace& ws) const {
    const int n = height * width, m = n / 4;
    const int ck = theta.out, cv = g.out;
    float* th = ws.get(10, static_cast<size_t>(ck) * n);
    float* full = ws.get(11, static_cast<size_t>(std::max(ck, cv)) * n);
    float* ph = ws.get(12, static_cast<size_t>(ck) * m);
    float* gv = ws.get(13, static_cast<size_t>(cv) * m);
    float* beta = ws.get(14, static_cast<size_t>(n) * m);
    float* mid = ws.get(15, static_cast<size_t>(cv) * n);
    float* out = ws.get(16, static_cast<size_t>(o.out) * n);
    theta.forward(x, height, width, th);
    phi.forward(x, height, width, full);
    ref::maxpool2x2_f32(full, ck, height, width, ph);
    g.forward(x, height, width, full);
    ref::maxpool2x2_f32(full, cv, height, width, gv);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) {
        float s = 0;
        for (int c = 0; c < ck; ++c) s += th[static_cast<size_t>(c) * n + i] * ph[static_cast<size_t>(c) * m + j];
        beta[static_cast<size_t>(i) * m + j] = s;
      }
    ref::softmax_rows_f32(beta, n, m);
    for (int c = 0; c < cv; ++c)
      for (int i = 0; i < n; ++i) {
        float s = 0;
        const float* b = beta + static_cast<size_t>(i) * m;
        const float* gc = gv + static_cast<size_t>(c) * m;
        for (int j = 0; j < m; ++j) s += gc[j] * b[j];
        mid[static_cast<size_t>(c) * n + i] = s;
      }
    o.forward(mid, height, width, out);
    const size_t total = static_cast<size_t>(o.out) * n;
    for (size_t i = 0; i < total; ++i) x[i] += gamma * out[i];
  }
};

/// The residual block of BigGAN-deep: 1x1 bottleneck, two 3x3, 1x1 expansion, with
/// nearest 2x upsampling in the last block of a stage and a channel-dropping skip.
struct GBlock {
  int in = 0, hidden = 0, out = 0;
  bool upsample = false;
  ConditionalBatchNorm bn1, bn2, bn3, bn4;
  Conv2d conv1, conv2, conv3, conv4;
  std::optional<NonLocalAttention> attention;

  double macs(int height, int width) const {
    const int f = upsample ? 2 : 1;
    double total = conv1.macs(height, width) + conv2.macs(f * height, f * width) +
                   conv3.macs(f * height, f * width) + conv4.macs(f * height, f * width);
    if (attention) total += attention->macs(f * height, f * width);
    return total;
  }

  /// Whether the block writes its output over its input: one that keeps the size and the
  /// channels has x itself as its skip, so its last convolution adds onto x. No second
  /// full-size tensor is written, and x is not read from memory a second time for the skip.
  bool in_place() const { return !upsample && in == out; }

  /// x (in, H, W) -> (out, H', W'), `input` being the sensor's input vector (its batch
  /// norms folded), layer by layer. Batch norms, ReLUs and the upsampling are fused into the
  /// convolutions' input loads; the last 1x1 convolution adds the skip. Returns where the
  /// output is: x where in_place(), else y.
  float* forward(const KernelTable& k, const float* input, float* x, int height, int width, float* y,
                 Workspace& ws) const {
    const int f = upsample ? 2 : 1;
    const int oh = f * height, ow = f * width;
    float* a = ws.get(2, static_cast<size_t>(hidden) * oh * ow);
    float* b = ws.get(3, static_cast<size_t>(hidden) * oh * ow);
    conv1.forward(k, x, height, width, b, {bn1.scale(input), bn1.shift(input), false});
    conv2.forward(k, b, height, width, a, {bn2.scale(input), bn2.shift(input), upsample});
    conv3.forward(k, a, oh, ow, b, {bn3.scale(input), bn3.shift(input), false});
    float* result = in_place() ? x : y;
    if (in_place())
      conv4.forward(k, b, oh, ow, x, {bn4.scale(input), bn4.shift(input), false}, Residual::already_in_output());
    else  // skip: the first `out` channels of x (its first planes), upsampled like the residual path
      conv4.forward(k, b, oh, ow, y, {bn4.scale(input), bn4.shift(input), false}, {x, upsample});
    if (attention) attention->forward(result, oh, ow, ws);
    return result;
  }
};

/// Rows [first, last) of a tensor of `channels` planes `width` wide, held in a buffer of
/// `capacity` rows per plane: a band that slides down the tensor as its rows are made and read.
struct RowWindow {
  float* data = nullptr;
  int channels = 0, width = 0, capacity = 0;
  int first = 0, last = 0;

  /// A window in workspace slot `slot`, from row 0.
  static RowWindow in(Workspace& ws, size_t slot, int channels, int width, int capacity) {
    RowWindow w;
    w.channels = channels;
    w.width = width;
    w.capacity = capacity;
    w.data = ws.get(slot, w.channel_stride() * channels);
    return w;
  }

  size_t channel_stride() const { return static_cast<size_t>(capacity) * width; }
  /// Where row r of channel 0 is (for r in [first, first + capacity]).
  float* row(int r) const { return data + static_cast<ptrdiff_t>(r - first) * width; }
  /// Makes room for rows up to `end`.
  void reserve(int end) const {
    if (end - first > capacity) throw std::logic_error("row window overflow");
  }
  /// Forgets the rows above row `r`, moving the others to the front of the buffer.
  void drop_above(int r) {
    if (r <= first) return;
    const int keep = last - r;
    if (keep > 0)
      for (int c = 0; c < channels; ++c) {
        float* plane = data + c * channel_stride();
        std::memmove(plane, plane + static_cast<size_t>(r - first) * width, sizeof(float) * keep * width);
      }
    first = r;
    last = std::max(last, r);
  }
};

/// A GBlock computed a band of output rows at a time, so that its hidden tensors never exist
/// whole: conv1, conv2 and conv3 write into windows a few rows taller than a band, where the
/// next convolution reads them from cache, with the rows around a band as its halo (the
/// kernels read them instead of zero padding, so a band's rows are exactly the whole
/// tensor's). Each convolution runs ahead of the one it feeds by the rows that one's 3x3 reads
/// past its band, rounded up to whole Winograd tiles (kRowStep). The block's input and output
/// are whole tensors. (Chaining the banded blocks, each reading the one before it a band at a
/// time through a window of its output, took 1.15x the event time on Zen 4: the 1x1 layers
/// reading the windows ran no faster, and the windows outgrew L2. Making the next block's
/// conv1 in the same pass as this block's conv4, each column slice of the output read back
/// from L1, into a whole tensor that the next block's conv2 then read, took 1.02-1.15x (4
/// alternating pairs): the paired 1x1 layers ran at 42-64 GFLOP/s, no faster than apart, and
/// the conv2 layers reading that tensor instead of a window in L2 slowed.)
class BlockInBands {
 public:
  /// Rows a band of every convolution but the first and last is a multiple of: the 4 output
  /// rows of an F(4x4, 3x3) tile and of an upsampled F(2x2, 2x2) one.
  static constexpr int kRowStep = 4;
  static int round_up(int rows) { return (rows + kRowStep - 1) / kRowStep * kRowStep; }

  /// Workspace slots 6 to 8 hold the windows. `band_rows` (a multiple of kRowStep) is the
  /// most rows one call of make() may ask for.
  BlockInBands(const GBlock& g, const KernelTable& k, const float* input, const float* x, int height, int width,
               int band_rows, Workspace& ws)
      : g_(g), k_(k), input_(input), x_(x), height_(height), width_(width), f_(g.upsample ? 2 : 1) {
    const int ow = f_ * width;
    // conv3 reads one row above and up to kRowStep below a band; conv2 one small row a side.
    t2_ = RowWindow::in(ws, 7, g.hidden, ow, band_rows + 1 + kRowStep);
    t1_ = RowWindow::in(ws, 6, g.hidden, width, (band_rows + 2 * kRowStep) / f_ + 2);
    t3_ = ws.get(8, static_cast<size_t>(g.hidden) * band_rows * ow);
    band_rows_ = band_rows;
  }

  int out_height() const { return f_ * height_; }
  int out_width() const { return f_ * width_; }
  int made() const { return made_; }

  /// Output rows [made(), last) into `out` (row made() there, planes out_stride floats apart);
  /// made() must be a multiple of kRowStep, and last too unless it ends the tensor. In place
  /// (GBlock::in_place), `out` is x itself: conv1 has read every row of x it overwrites.
  void make(int last, float* out, size_t out_stride) {
    const int r0 = made_;
    if (!conv3_band(last)) return;
    const ConvInput act4{g_.bn4.scale(input_), g_.bn4.shift(input_), false};
    if (g_.in_place())
      g_.conv4.forward(k_, t3_, last - r0, out_width(), out, act4, Residual::already_in_output(), out_stride);
    else
      g_.conv4.forward(k_, t3_, last - r0, out_width(), out, act4, skip(r0), out_stride);
    made_ = last;
  }

  /// Output rows [made(), last) as make() does, but fed straight into `next` (a "same"
  /// convolution of few outputs after next_input's activation, see Conv2d::forward_into):
  /// adds its terms that read these rows to `out`, row made() of next's output, whose rows
  /// from 0 to out_height() must start at zero. The rows are never stored.
  void make_into(int last, const Conv2d& next, const ConvInput& next_input, float* out, size_t out_stride) {
    const int r0 = made_, reach = next.kernel / 2;
    if (g_.in_place()) throw std::logic_error("make_into: the block's output is its input");
    if (!conv3_band(last)) return;
    g_.conv4.forward_into(k_, t3_, last - r0, out_width(), {g_.bn4.scale(input_), g_.bn4.shift(input_), false},
                          skip(r0), next, next_input, out, out_stride, std::min(reach, r0),
                          std::min(reach, out_height() - last));
    made_ = last;
  }

 private:
  /// conv3's output for rows [made(), last) into t3_; false if there are none.
  bool conv3_band(int last) {
    const int r0 = made_, oh = out_height(), ow = out_width();
    if (last <= r0) return false;
    if (last - r0 > band_rows_) throw std::logic_error("band taller than the block's windows");
    t2_.drop_above(std::max(0, r0 - 1));
    conv2_rows(std::min(oh, round_up(last + 1)));
    g_.conv3.forward(k_, t2_.row(r0), last - r0, ow, t3_,
                     {g_.bn3.scale(input_), g_.bn3.shift(input_), false, t2_.channel_stride(), r0 > 0 ? 1 : 0,
                      last < oh ? 1 : 0});
    return true;
  }

  /// The skip of the band from row r0: the first `out` channels of x, upsampled like the
  /// residual path; a band starts on an even row, so its skip starts on a row of x.
  Residual skip(int r0) const {
    return {x_ + static_cast<size_t>(r0 / f_) * width_, g_.upsample, static_cast<size_t>(height_) * width_};
  }

  /// conv2's output up to row `last` (even where upsampling).
  void conv2_rows(int last) {
    const int first = t2_.last;
    if (last <= first) return;
    const int s0 = first / f_, s1 = last / f_;  // small rows
    t1_.drop_above(std::max(0, s0 - 1));
    conv1_rows(std::min(height_, s1 + 1));
    t2_.reserve(last);
    g_.conv2.forward(k_, t1_.row(s0), s1 - s0, width_, t2_.row(first),
                     {g_.bn2.scale(input_), g_.bn2.shift(input_), g_.upsample, t1_.channel_stride(), s0 > 0 ? 1 : 0,
                      s1 < height_ ? 1 : 0},
                     {}, t2_.channel_stride());
    t2_.last = last;
  }

  /// conv1's output up to row `last`.
  void conv1_rows(int last) {
    const int first = t1_.last;
    if (last <= first) return;
    t1_.reserve(last);
    g_.conv1.forward(k_, x_ + static_cast<size_t>(first) * width_, last - first, width_, t1_.row(first),
                     {g_.bn1.scale(input_), g_.bn1.shift(input_), false, static_cast<size_t>(height_) * width_}, {},
                     t1_.channel_stride());
    t1_.last = last;
  }

  const GBlock& g_;
  const KernelTable& k_;
  const float* input_;
  const float* x_;
  int height_, width_, f_;
  int band_rows_ = 0;
  RowWindow t1_, t2_;  ///< conv1's and conv2's outputs
  float* t3_ = nullptr;  ///< conv3's output, one band
  int made_ = 0;
};

/// One pre-norm transformer encoder layer over the 40 sensor tokens plus a final
/// LayerNorm (the relational reasoning module of IEA-GAN).
struct RelationalModule {
  LayerNorm norm1, norm2, norm;
  Linear qkv, o_proj, ff1, ff2;
  int heads = 2;

  static RelationalModule load(Weights& w, int dim, int heads) {
    RelationalModule r;
    const std::string p = "RR_G.layers.0.";
    r.heads = heads;
    r.norm1 = LayerNorm::load(w, p + "norm1", dim);
    r.norm2 = LayerNorm::load(w, p + "norm2", dim);
    r.norm = LayerNorm::load(w, "RR_G.norm", dim);
    r.qkv = Linear::load(w, p + "self_attn.qkv_proj", dim, 3 * dim);
    r.o_proj = Linear::load(w, p + "self_attn.o_proj", dim, dim);
    r.ff1 = Linear::load(w, p + "linear_net.0", dim, -1);
    r.ff2 = Linear::load(w, p + "linear_net.3", r.ff1.out, dim);
    if (dim % heads != 0) throw Error("RRM width is not a multiple of its head count");
    return r;
  }

  /// x: tokens x dim, in place.
  void forward(const KernelTable& k, float* x, int tokens) const {
    const int dim = norm.dim, head_dim = dim / heads;
    std::vector<float> t(static_cast<size_t>(tokens) * dim), qkv_out(static_cast<size_t>(tokens) * 3 * dim),
        att(static_cast<size_t>(tokens) * dim), scores(static_cast<size_t>(tokens) * tokens),
        hidden(static_cast<size_t>(tokens) * ff1.out);
    norm1.forward(x, tokens, t.data());
    qkv.forward(k, t.data(), tokens, qkv_out.data());
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const int row = 3 * dim;
    for (int h = 0; h < heads; ++h) {
      // Head h's q, k, v sit side by side in columns [3 h d, 3 (h + 1) d).
      const int q0 = 3 * h * head_dim, k0 = q0 + head_dim, v0 = k0 + head_dim;
      for (int i = 0; i < tokens; ++i)
        for (int j = 0; j < tokens; ++j) {
          float s = 0;
          for (int d = 0; d < head_dim; ++d)
            s += qkv_out[static_cast<size_t>(i) * row + q0 + d] * qkv_out[static_cast<size_t>(j) * row + k0 + d];
          scores[static_cast<size_t>(i) * tokens + j] = s * scale;
        }
      ref::softmax_rows_f32(scores.data(), tokens, tokens);
      for (int i = 0; i < tokens; ++i)
        for (int d = 0; d < head_dim; ++d) {
          float s = 0;
          for (int j = 0; j < tokens; ++j)
            s += scores[static_cast<size_t>(i) * tokens + j] * qkv_out[static_cast<size_t>(j) * row + v0 + d];
          att[static_cast<size_t>(i) * dim + h * head_dim + d] = s;
        }
    }
    o_proj.forward(k, att.data(), tokens, t.data());
    ref::add_f32(t.data(), t.size(), x);
    norm2.forward(x, tokens, t.data());
    ff1.forward(k, t.data(), tokens, hidden.data());
    ref::relu_f32(hidden.data(), hidden.size(), 0.0f, hidden.data());
    ff2.forward(k, hidden.data(), tokens, t.data());
    ref::add_f32(t.data(), t.size(), x);
    norm.forward(x, tokens, x);
  }
};

class BigGanDeep final : public Network {
 public:
  BigGanDeep(Weights& w, const nlohmann::json& hp, Backend backend)
      : kernels_(kernel_table(backend)), band_rows_(backend == Backend::fast ? kBandRows : 0) {
    variant_ = hp.at("variant").get<std::string>();
    dim_z_ = header_int(hp, "dim_z", 1, kMaxHeaderWidth);
    const int depth = header_int(hp, "depth", 1, kMaxHeaderWidth);
    const int stages = header_int(hp, "stages", 1, 16, 6);
    bottom_h_ = header_int(hp, "bottom_height", 1, kImageRows, 4);
    bottom_w_ = header_int(hp, "bottom_width", 1, kImageCols, 12);
    if (bottom_h_ << stages != kImageRows || bottom_w_ << stages != kImageCols)
      throw Error("BigGAN-deep hyperparameters do not give a 256 x 768 image");
    const bool pegan = variant_ == "pegan";
    const bool research = variant_ == "ieagan_research";
    const bool rrm = research || variant_ == "ieagan_production";
    if (!pegan && !rrm && variant_ != "biggan")
      throw Error("unknown BigGAN-deep variant '" + variant_ +
                  "' (known: ieagan_production, ieagan_research, biggan, pegan)");

    shared_ = w.get("shared.weight", {kSensors, -1});
    const int shared_dim = static_cast<int>(shared_.dim(1));
    int y_dim = shared_dim;
    if (pegan) {
      prior_ = w.get("prior", {kSensors});
      linear0_ = Linear::load(w, "linear0", 1, -1);
      linear1_ = Linear::load(w, "linear1", shared_dim + linear0_.out, -1);
      y_dim = linear1_.out;
    }
    if (research) {
      rdof_ = header_int(hp, "dim_rdof", 1, kMaxHeaderWidth, 4);
      linear_f_ = Linear::load(w, "linear_f", shared_dim + rdof_, -1);
      y_dim = linear_f_.out;
    }
    if (rrm) rrm_ = RelationalModule::load(w, y_dim, header_int(hp, "rrm_heads", 1, kMaxHeaderWidth, 2));
    cond_dim_ = y_dim + dim_z_;
    input_dim_ = cond_dim_;

    linear_ = Linear::load(w, "linear", cond_dim_, -1);
    const int bottom = bottom_h_ * bottom_w_;
    if (linear_.out % bottom != 0) throw Error("tensor 'linear.weight' does not reshape to the 4 x 12 bottom");
    bottom_offset_ = input_dim_;
    input_dim_ += linear_.out;
    int channels = linear_.out / bottom;
    std::vector<int> attention_stages;
    for (const auto& stage : hp.value("attention_stages", nlohmann::json::array()))
      attention_stages.push_back(checked_int(stage, "attention_stages", 0, stages - 1));
    int height = bottom_h_, width = bottom_w_;
    macs_ = linear_.macs();
    for (int s = 0; s < stages; ++s) {
      for (int b = 0; b < depth; ++b) {
        const int k = depth * s + b;
        const std::string p = "blocks." + std::to_string(k) + ".0.";
        GBlock g;
        g.conv1 = Conv2d::load(w, p + "conv1", channels, -1, 1, 1, 0);
        g.in = channels;
        g.hidden = g.conv1.out;
        g.conv2 = Conv2d::load(w, p + "conv2", g.hidden, g.hidden, 3, 1, 1);
        g.conv3 = Conv2d::load(w, p + "conv3", g.hidden, g.hidden, 3, 1, 1);
        g.conv4 = Conv2d::load(w, p + "conv4", g.hidden, -1, 1, 1, 0);
        g.out = g.conv4.out;
        if (g.out > g.in) throw Error("block " + std::to_string(k) + " widens its channels; the skip cannot");
        g.upsample = b == depth - 1;
        g.bn1 = ConditionalBatchNorm::load(w, p + "bn1", g.in, cond_dim_);
        g.bn2 = ConditionalBatchNorm::load(w, p + "bn2", g.hidden, cond_dim_);
        g.bn3 = ConditionalBatchNorm::load(w, p + "bn3", g.hidden, cond_dim_);
        g.bn4 = ConditionalBatchNorm::load(w, p + "bn4", g.hidden, cond_dim_);
        for (ConditionalBatchNorm* bn : {&g.bn1, &g.bn2, &g.bn3, &g.bn4}) {
          bn->offset = input_dim_;
          input_dim_ += 2 * bn->channels();
        }
        const bool attend = b == depth - 1 &&
            std::find(attention_stages.begin(), attention_stages.end(), s) != attention_stages.end();
        if (attend)
          g.attention = NonLocalAttention::load(w, "blocks." + std::to_string(k) + ".1", g.out);
        macs_ += g.macs(height, width);
        // The Winograd weights of conv2 and conv3 are transformed here, once, for the rows
        // they run on (a band, or the whole tensor), rather than on every call. (8 MB more peak
        // memory for the production model; the 128-channel layers of the 4x12 block need them
        // kept: transformed per call, their 128 x 128 kernels cost as much as the GEMM.)
        const int f = g.upsample ? 2 : 1;
        const int rows = in_bands(g, height) ? band_rows_ : f * height;
        g.conv2.prepare(kernels_, prepared_, rows / f, width, g.upsample);
        g.conv3.prepare(kernels_, prepared_, rows, f * width, false);
        if (g.upsample) {
          height *= 2;
          width *= 2;
        }
        channels = g.out;
        blocks_.push_back(std::move(g));
      }
    }
    output_bn_ = BatchNorm::load(w, "output_layer.0", channels, true);
    output_conv_ = Conv2d::load(w, "output_layer.2", channels, 1, 3, 1, 1);
    macs_ += output_conv_.macs(kImageRows, kImageCols);
  }

  int dim_z() const override { return dim_z_; }
  int dim_rdof() const override { return rdof_; }
  /// A sensor's input vector: its conditioning c, its first feature map, then every block's
  /// folded batch norms.
  int cond_dim() const override { return input_dim_; }
  double macs_per_sensor() const override { return macs_; }
  std::string variant() const override { return variant_; }

  void condition(const float* z, const float* rdof, float* cond, int threads) const override {
    const int shared_dim = static_cast<int>(shared_.dim(1));
    const int y_dim = cond_dim_ - dim_z_;
    std::vector<float> y(static_cast<size_t>(kSensors) * y_dim);
    if (variant_ == "pegan") {
      std::vector<float> f(static_cast<size_t>(kSensors) * linear0_.out);
      linear0_.forward(kernels_, prior_.data, kSensors, f.data());
      std::vector<float> joined = concat_rows(shared_.data, shared_dim, f.data(), linear0_.out);
      linear1_.forward(kernels_, joined.data(), kSensors, y.data());
    } else if (variant_ == "ieagan_research") {
      std::vector<float> joined = concat_rows(shared_.data, shared_dim, rdof, rdof_);
      linear_f_.forward(kernels_, joined.data(), kSensors, y.data());
    } else {
      y.assign(shared_.data, shared_.data + y.size());
    }
    if (rrm_) rrm_->forward(kernels_, y.data(), kSensors);
    const std::vector<float> c = concat_rows(y.data(), y_dim, z, dim_z_);
    for (int sensor = 0; sensor < kSensors; ++sensor)
      std::copy_n(c.data() + static_cast<size_t>(sensor) * cond_dim_, cond_dim_,
                  cond + static_cast<size_t>(sensor) * input_dim_);
    // Every sensor's first feature map in one pass over the linear's weights (25 MB in the
    // production model), where one pass per sensor read them 40 times.
    // On several threads, this step would be the serial part of an event (at 16 threads, a
    // fifth of it): the linear's outputs and the batch norms are shared among the threads.
    std::vector<float> bottom(static_cast<size_t>(kSensors) * linear_.out);
    linear_.forward(kernels_, c.data(), kSensors, bottom.data(), threads);
    for (int sensor = 0; sensor < kSensors; ++sensor)
      std::copy_n(bottom.data() + static_cast<size_t>(sensor) * linear_.out, linear_.out,
                  cond + static_cast<size_t>(sensor) * input_dim_ + bottom_offset_);
    std::vector<const ConditionalBatchNorm*> norms;
    for (const GBlock& g : blocks_)
      for (const ConditionalBatchNorm* bn : {&g.bn1, &g.bn2, &g.bn3, &g.bn4}) norms.push_back(bn);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (size_t i = 0; i < norms.size(); ++i) {
      std::vector<float> gain, bias;
      norms[i]->fold(kernels_, c.data(), cond, input_dim_, gain, bias);
    }
  }

  void synthesize(int, const float* input, Workspace& ws, float* logits) const override {
    // Two buffers: a block reads one and writes the other, or writes over its input
    // (GBlock::in_place), so each buffer is sized for the tensors it holds. In the production
    // model only the last block's output is full-size (32 x 256 x 768 floats, 25 MB), and
    // the other buffer never holds more than half that. With the tail in bands (the fast
    // backend), the last block's output is never whole.
    // (A last block that writes over its input keeps its output whole: the tail would read
    // rows of x it has overwritten.)
    const bool banded_tail = band_rows_ > 0 && !blocks_.back().attention && !blocks_.back().in_place();
    size_t need[2] = {static_cast<size_t>(linear_.out), 0};
    int height = bottom_h_, width = bottom_w_, current = 0;
    for (size_t k = 0; k < blocks_.size(); ++k) {
      const GBlock& g = blocks_[k];
      need[current] = std::max(need[current], static_cast<size_t>(g.in) * height * width);
      if (g.upsample) {
        height *= 2;
        width *= 2;
      }
      if (banded_tail && k + 1 == blocks_.size()) break;
      if (!g.in_place()) current = 1 - current;
      need[current] = std::max(need[current], static_cast<size_t>(g.out) * height * width);
    }
    float* x = ws.get(0, need[0]);
    float* y = ws.get(1, need[1]);
    std::copy_n(input + bottom_offset_, linear_.out, x);
    height = bottom_h_;
    width = bottom_w_;
    for (const GBlock& g : blocks_) {
      if (banded_tail && &g == &blocks_.back()) return tail_in_bands(g, input, x, height, width, ws, logits);
      if (in_bands(g, height)) {
        float* out = g.in_place() ? x : y;
        BlockInBands bands(g, kernels_, input, x, height, width, band_rows_, ws);
        const int oh = bands.out_height(), ow = bands.out_width();
        while (bands.made() < oh)
          bands.make(std::min(oh, bands.made() + band_rows_), out + static_cast<size_t>(bands.made()) * ow,
                     static_cast<size_t>(oh) * ow);
        if (g.attention) g.attention->forward(out, oh, ow, ws);
        if (out == y) std::swap(x, y);
      } else if (g.forward(kernels_, input, x, height, width, y, ws) == y) {
        std::swap(x, y);
      }
      if (g.upsample) {
        height *= 2;
        width *= 2;
      }
    }
    output_conv_.forward(kernels_, x, height, width, logits,
                         {output_bn_.scale.data(), output_bn_.shift.data(), false});
  }

 private:
  /// Output rows per band of the banded blocks (BlockInBands), a multiple of its kRowStep.
  /// Built-in IEA-GAN on one core of a Zen 4 EPYC, 4 alternating runs each: bands of 4, 8,
  /// 16 and 32 rows took 2.35-2.39 s an event, against 2.56 s layer by layer with the tail in
  /// bands of 64 rows that redid their context.
  static constexpr int kBandRows = 16;
  /// Blocks whose output has fewer rows run layer by layer: their tensors stay in cache
  /// anyway. (From 16 to 256 rows, the event time moved within the runs' spread.)
  static constexpr int kMinBandedRows = 64;

  /// Whether block g, of an input `height` rows tall, runs in bands.
  bool in_bands(const GBlock& g, int height) const {
    return band_rows_ > 0 && (g.upsample ? 2 : 1) * height >= kMinBandedRows;
  }

  /// The last block and the output layer, a band of rows at a time, so that neither the
  /// block's hidden tensors nor its output (12.6 and 25 MB per sensor in the production
  /// model) are ever written whole: each band of the block's output goes straight into the
  /// output layer's terms (Conv2d::forward_into), summed into the logits, and is never stored.
  void tail_in_bands(const GBlock& g, const float* input, const float* x, int height, int width, Workspace& ws,
                     float* logits) const {
    BlockInBands block(g, kernels_, input, x, height, width, band_rows_, ws);
    const int oh = block.out_height(), ow = block.out_width();
    std::fill_n(logits, static_cast<size_t>(output_conv_.out) * oh * ow, 0.0f);
    const ConvInput act{output_bn_.scale.data(), output_bn_.shift.data(), false};
    for (int r0 = 0; r0 < oh; r0 += band_rows_) {
      const int r1 = std::min(oh, r0 + band_rows_);
      block.make_into(r1, output_conv_, act, logits + static_cast<size_t>(r0) * ow, static_cast<size_t>(oh) * ow);
    }
  }

  static std::vector<float> concat_rows(const float* a, int na, const float* b, int nb) {
    std::vector<float> out(static_cast<size_t>(kSensors) * (na + nb));
    for (int i = 0; i < kSensors; ++i) {
      std::copy(a + static_cast<size_t>(i) * na, a + static_cast<size_t>(i + 1) * na, out.begin() + static_cast<size_t>(i) * (na + nb));
      std::copy(b + static_cast<size_t>(i) * nb, b + static_cast<size_t>(i + 1) * nb, out.begin() + static_cast<size_t>(i) * (na + nb) + na);
    }
    return out;
  }

  const KernelTable& kernels_;
  kernels::TensorArena prepared_;  ///< the layers' prepared weights
  const int band_rows_;  ///< of the banded blocks; 0: layer by layer, as the reference backend runs
  std::string variant_;
  int dim_z_ = 0, rdof_ = 0, bottom_h_ = 4, bottom_w_ = 12;
  int cond_dim_ = 0;   ///< c = (y, z), what the linears read
  int input_dim_ = 0;  ///< c, the first feature map, then each batch norm's folded scale and shift
  int bottom_offset_ = 0;  ///< where the first feature map sits in a sensor's input vector
  double macs_ = 0;
  WeightView shared_, prior_;
  Linear linear0_, linear1_, linear_f_, linear_;
  std::optional<RelationalModule> rrm_;
  std::vector<GBlock> blocks_;
  BatchNorm output_bn_;
  Conv2d output_conv_;
};

}  // namespace

std::unique_ptr<Network> build_biggan_deep(Weights& weights, const nlohmann::json& hparams,
                                           Backend backend) {
  return std::make_unique<BigGanDeep>(weights, hparams, backend);
}

}  // namespace pxdgen
