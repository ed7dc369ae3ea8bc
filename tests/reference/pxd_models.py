"""Plain PyTorch reference models for the pxdgen parity tests.

Every module here computes, in float32 and evaluation mode only, exactly what
docs/spec MODELS.md describes, and its ``state_dict()`` keys are the checkpoint
key names the weights converter has to read. Nothing here is used at run time
by the engine: these models only produce the expected outputs that the C++
tests compare against (see make_fixture.py).

Families
--------
* ``BigGanDeepGenerator`` -- the BigGAN-deep trunk shared by IEA-GAN
  (``ieagan_production``, ``ieagan_research``), ContraGAN / BigGAN-deep
  (``biggan``) and PE-GAN (``pegan``).
* ``WganConvNet`` and ``WganResNet`` -- the two WGAN production generators.
* ``build_sequential`` -- a plain layer stack described by a layer list JSON
  (format documented in ``build_sequential``).

All generators map a batch of per-sensor latents ``z`` of shape (N, dim_z) to
images of shape (N, 1, 256, 768) in [-1, 1] (tanh output). ``logits(...)``
returns the value before the tanh.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

N_SENSORS = 40
BOTTOM_H, BOTTOM_W = 4, 12          # bottom_width = 4, H_base = 3
STAGE_IN = (16, 16, 8, 8, 4, 2)     # in_channels / ch per stage
STAGE_OUT = (16, 8, 8, 4, 2, 1)     # out_channels / ch per stage
VARIANTS = ("ieagan_production", "ieagan_research", "biggan", "pegan")


# --------------------------------------------------------------------------
# Spectral normalisation (evaluation form: one power step from stored u0)
# --------------------------------------------------------------------------
def sn_sigma(weight, u0, eps):
    """sigma of MODELS.md section 4: one power step from u0, u0 not updated."""
    w = weight.reshape(weight.shape[0], -1)
    v = u0 @ w
    v = v / torch.clamp(v.norm(dim=1, keepdim=True), min=eps)
    u = v @ w.t()
    u = u / torch.clamp(u.norm(dim=1, keepdim=True), min=eps)
    return ((v @ w.t()) @ u.t()).reshape(())


class _SNBuffers:
    """Adds the ``u0`` (1 x out) and ``sv0`` (1,) buffers of an SN layer."""

    def _init_sn(self, n_out, eps):
        self.sn_eps = eps
        self.register_buffer("u0", torch.randn(1, n_out))
        self.register_buffer("sv0", torch.ones(1))

    def effective_weight(self):
        return self.weight / sn_sigma(self.weight, self.u0, self.sn_eps)


class SNLinear(nn.Linear, _SNBuffers):
    def __init__(self, n_in, n_out, bias=True, eps=1e-6):
        nn.Linear.__init__(self, n_in, n_out, bias=bias)
        self._init_sn(n_out, eps)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)


class SNConv2d(nn.Conv2d, _SNBuffers):
    def __init__(self, n_in, n_out, kernel, padding, bias=True, eps=1e-6):
        nn.Conv2d.__init__(self, n_in, n_out, kernel, 1, padding, bias=bias)
        self._init_sn(n_out, eps)

    def forward(self, x):
        return F.conv2d(x, self.effective_weight(), self.bias, 1, self.padding)


# --------------------------------------------------------------------------
# Normalisation layers
# --------------------------------------------------------------------------
class ConditionalBN(nn.Module):
    """ccbn: stored-statistics BN, per-sample gain 1 + G c and bias B c."""

    def __init__(self, channels, cond_dim, sn_eps=1e-6, bn_eps=1e-5):
        super().__init__()
        self.bn_eps = bn_eps
        self.gain = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.bias = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x, c):
        n = F.batch_norm(x, self.stored_mean, self.stored_var, None, None,
                         False, 0.0, self.bn_eps)
        g = 1.0 + self.gain(c)
        b = self.bias(c)
        return n * g[:, :, None, None] + b[:, :, None, None]


class PlainBN(nn.Module):
    """Non-conditional stored-statistics BN with parameters ``gain``/``bias``."""

    def __init__(self, channels, bn_eps=1e-5):
        super().__init__()
        self.bn_eps = bn_eps
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain,
                            self.bias, False, 0.0, self.bn_eps)


# --------------------------------------------------------------------------
# Relational reasoning module (one pre-norm encoder layer + final LayerNorm)
# --------------------------------------------------------------------------
class InterleavedSelfAttention(nn.Module):
    """Multi-head self-attention whose qkv projection is head-interleaved:
    output columns [3*hd*h, 3*hd*(h+1)) are q, k, v of head h (hd each)."""

    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, x):                          # x: (T, dim)
        t, dim = x.shape
        hd = dim // self.heads
        qkv = self.qkv_proj(x).reshape(t, self.heads, 3, hd).permute(1, 2, 0, 3)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]  # each (heads, T, hd)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), dim=-1)
        out = (att @ v).permute(1, 0, 2).reshape(t, dim)
        return self.o_proj(out)


class EncoderLayer(nn.Module):
    def __init__(self, dim, heads, ff):
        super().__init__()
        self.self_attn = InterleavedSelfAttention(dim, heads)
        # indices 1 (dropout, identity at inference) and 2 (ReLU) carry no
        # parameters; the linears sit at 0 and 3 as in the checkpoints.
        self.linear_net = nn.Sequential(nn.Linear(dim, ff), nn.Dropout(0.0),
                                        nn.ReLU(), nn.Linear(ff, dim))
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x):
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear_net(self.norm2(x))


class RelationalReasoning(nn.Module):
    def __init__(self, dim=128, heads=2, ff=128, n_layers=1):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ff)
                                    for _ in range(n_layers))
        self.norm = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, x):                          # x: (40 tokens, dim)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


# --------------------------------------------------------------------------
# BigGAN-deep trunk
# --------------------------------------------------------------------------
class GBlock(nn.Module):
    def __init__(self, c_in, c_out, cond_dim, upsample, sn_eps, bn_eps):
        super().__init__()
        hidden = c_in // 4
        self.c_out = c_out
        self.upsample = upsample
        self.conv1 = SNConv2d(c_in, hidden, 1, 0, eps=sn_eps)
        self.conv2 = SNConv2d(hidden, hidden, 3, 1, eps=sn_eps)
        self.conv3 = SNConv2d(hidden, hidden, 3, 1, eps=sn_eps)
        self.conv4 = SNConv2d(hidden, c_out, 1, 0, eps=sn_eps)
        self.bn1 = ConditionalBN(c_in, cond_dim, sn_eps, bn_eps)
        self.bn2 = ConditionalBN(hidden, cond_dim, sn_eps, bn_eps)
        self.bn3 = ConditionalBN(hidden, cond_dim, sn_eps, bn_eps)
        self.bn4 = ConditionalBN(hidden, cond_dim, sn_eps, bn_eps)

    def forward(self, x, c):
        t = self.conv1(F.relu(self.bn1(x, c)))
        t = F.relu(self.bn2(t, c))
        skip = x[:, :self.c_out]                   # channel drop, no conv
        if self.upsample:
            t = F.interpolate(t, scale_factor=2, mode="nearest")
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        t = self.conv2(t)
        t = self.conv3(F.relu(self.bn3(t, c)))
        t = self.conv4(F.relu(self.bn4(t, c)))
        return t + skip


class NonLocalAttention(nn.Module):
    def __init__(self, ch, sn_eps):
        super().__init__()
        self.theta = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.phi = SNConv2d(ch, ch // 8, 1, 0, bias=False, eps=sn_eps)
        self.g = SNConv2d(ch, ch // 2, 1, 0, bias=False, eps=sn_eps)
        self.o = SNConv2d(ch // 2, ch, 1, 0, bias=False, eps=sn_eps)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        n, ch, h, w = x.shape
        theta = self.theta(x).reshape(n, ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).reshape(n, ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).reshape(n, ch // 2, h * w // 4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (n, hw, hw/4)
        o = self.o((g @ beta.transpose(1, 2)).reshape(n, ch // 2, h, w))
        return self.gamma * o + x


def parse_attn(attn):
    """G_attn string ("0", "32", "32_64") -> set of stage indices s, key 8*2^s."""
    keys = {int(k) for k in str(attn).split("_") if k.strip()}
    return {s for s in range(len(STAGE_IN)) if 8 * 2 ** s in keys}


class BigGanDeepGenerator(nn.Module):
    """BigGAN-deep family generator (IEA-GAN, ContraGAN/BigGAN-deep, PE-GAN).

    forward(z, labels=None, r=None, sensors=None):
      z       (N, dim_z), one row per token (normally N = 40, labels 0..39)
      labels  (N,) sensor indices of the rows of z; default arange(N). The RRM
              attends over these N tokens, so pass all 40 sensors.
      r       (N, 4) random degrees of freedom (ieagan_research only).
      sensors optional list of row indices: the class conditioning is built
              for all N rows, then the trunk runs for the selected rows only.
    Returns (len(sensors) or N, 1, 256, 768).

    PE-GAN needs its prior table: call ``set_prior(occupancy)`` with the 40 raw
    per-sensor mean occupancies; it is L2-normalised over the 40 sensors and
    is not part of the state dict.
    """

    def __init__(self, ch=32, depth=2, dim_z=128, shared_dim=128, n_classes=40,
                 attn="0", variant="ieagan_production", sn_eps=1e-6,
                 bn_eps=1e-5, rdof_dim=4, n_heads=2):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        self.variant, self.ch, self.depth = variant, ch, depth
        self.dim_z, self.shared_dim, self.n_classes = dim_z, shared_dim, n_classes
        self.attn = str(attn)
        self.rdof_dim = rdof_dim
        cond_dim = shared_dim + dim_z

        if variant == "pegan":
            self.shared = nn.Embedding(n_classes, shared_dim // 2)
            self.linear0 = SNLinear(1, shared_dim // 2, eps=sn_eps)
            self.linear1 = SNLinear(shared_dim, shared_dim, eps=sn_eps)
            self.register_buffer("prior", torch.zeros(n_classes, 1),
                                 persistent=False)
        else:
            self.shared = nn.Embedding(n_classes, shared_dim)
        if variant == "ieagan_research":
            self.linear_f = SNLinear(shared_dim + rdof_dim, shared_dim, eps=sn_eps)
        if variant in ("ieagan_production", "ieagan_research"):
            self.RR_G = RelationalReasoning(shared_dim, n_heads, shared_dim)

        c0 = ch * STAGE_IN[0]
        self.linear = SNLinear(cond_dim, c0 * BOTTOM_H * BOTTOM_W, eps=sn_eps)
        attn_stages = parse_attn(attn)
        blocks = []
        for s in range(len(STAGE_IN)):
            c_in, c_out = ch * STAGE_IN[s], ch * STAGE_OUT[s]
            for b in range(depth):
                last = b == depth - 1
                sub = [GBlock(c_in, c_out if last else c_in, cond_dim,
                              upsample=last, sn_eps=sn_eps, bn_eps=bn_eps)]
                if last and s in attn_stages:
                    sub.append(NonLocalAttention(c_out, sn_eps))
                blocks.append(nn.ModuleList(sub))
        self.blocks = nn.ModuleList(blocks)
        self.output_layer = nn.Sequential(
            PlainBN(ch * STAGE_OUT[-1], bn_eps), nn.ReLU(),
            SNConv2d(ch * STAGE_OUT[-1], 1, 3, 1, eps=sn_eps))

    def set_prior(self, occupancy):
        occ = torch.as_tensor(occupancy, dtype=torch.float32).reshape(-1, 1)
        assert occ.shape[0] == self.n_classes
        # A buffer follows .double() but, not persistent, stays out of the state dict:
        # the prior table is not part of a checkpoint.
        self.register_buffer("prior", occ / torch.clamp(occ.norm(), min=1e-12), persistent=False)

    def condition(self, labels, r=None):
        """Class embedding y_i for the given labels (N,) -> (N, shared_dim)."""
        y = self.shared(labels)
        if self.variant == "pegan":
            f = self.linear0(self.prior[labels])
            y = self.linear1(torch.cat([y, f], dim=1))
        if self.variant == "ieagan_research":
            if r is None:
                raise ValueError("ieagan_research needs r (N, rdof_dim)")
            y = self.linear_f(torch.cat([y, r], dim=1))
        if hasattr(self, "RR_G"):
            y = self.RR_G(y)
        return y

    def logits(self, z, labels=None, r=None, sensors=None):
        if labels is None:
            labels = torch.arange(z.shape[0])
        c = torch.cat([self.condition(labels, r), z], dim=1)
        if sensors is not None:
            c = c[torch.as_tensor(list(sensors), dtype=torch.long)]
        h = self.linear(c).reshape(c.shape[0], -1, BOTTOM_H, BOTTOM_W)
        for sub in self.blocks:
            h = sub[0](h, c)
            for extra in sub[1:]:
                h = extra(h)
        return self.output_layer(h)

    def forward(self, z, labels=None, r=None, sensors=None):
        return torch.tanh(self.logits(z, labels, r, sensors))


# --------------------------------------------------------------------------
# WGAN generators
# --------------------------------------------------------------------------
class WganConvNet(nn.Module):
    """fc -> (16ch, 8, 24); five [conv5x5 -> BN -> ReLU -> up2]; conv5x5 -> tanh.
    Production width: ch = 32 (channels 512, 512, 256, 128, 64, 32)."""

    def __init__(self, ch=32, dim_z=96):
        super().__init__()
        c = [ch * m for m in (16, 16, 8, 4, 2, 1)]
        self.c0, self.dim_z = c[0], dim_z
        self.fc = nn.Linear(dim_z, c[0] * 8 * 24)
        layers = []
        for i in range(5):
            layers += [nn.Conv2d(c[i], c[i + 1], 5, 1, 2), nn.BatchNorm2d(c[i + 1]),
                       nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest")]
        layers.append(nn.Conv2d(c[5], 1, 5, 1, 2))
        self.features = nn.Sequential(*layers)

    def logits(self, z, sensors=None):
        if sensors is not None:
            z = z[list(sensors)]
        return self.features(self.fc(z).reshape(-1, self.c0, 8, 24))

    def forward(self, z, sensors=None):
        return torch.tanh(self.logits(z, sensors))


class WganResBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1, 1, 0)
        self.norm1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)

    def forward(self, x):
        t = F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest")
        t = self.conv2(F.relu(self.norm2(self.conv1(t))))
        return t + self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class WganResNet(nn.Module):
    """fc -> (16ch, 8, 24); five upsampling residual blocks; BN -> ReLU ->
    conv3x3 -> tanh. Production width: ch = 16 (256, 256, 128, 64, 32, 16)."""

    def __init__(self, ch=16, dim_z=96):
        super().__init__()
        c = [ch * m for m in (16, 16, 8, 4, 2, 1)]
        self.c0, self.dim_z = c[0], dim_z
        self.fc = nn.Linear(dim_z, c[0] * 8 * 24)
        self.blocks = nn.ModuleList(WganResBlock(c[i], c[i + 1]) for i in range(5))
        self.norm = nn.BatchNorm2d(c[5])
        self.conv = nn.Conv2d(c[5], 1, 3, 1, 1)

    def logits(self, z, sensors=None):
        if sensors is not None:
            z = z[list(sensors)]
        h = self.fc(z).reshape(-1, self.c0, 8, 24)
        for block in self.blocks:
            h = block(h)
        return self.conv(F.relu(self.norm(h)))

    def forward(self, z, sensors=None):
        return torch.tanh(self.logits(z, sensors))


# --------------------------------------------------------------------------
# Sequential family
# --------------------------------------------------------------------------
class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def _pair(v):
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else int(v)


def build_sequential(spec):
    """Build an nn.Sequential from a layer list (dict or JSON text).

    Layer list format (JSON object):
      {"dim_z": 96,                     latent size per sensor; input z (N, dim_z)
       "output_transform": "wgan",      "wgan" (clamp, no cut) or "ieagan"
                                        (cut at x <= -0.26), MODELS.md section 2
       "layers": [ ... ]}
    Each entry of "layers" is one index i of the Sequential, in order, whether
    or not it has parameters; the state-dict keys are "{i}.<name>". Types:
      linear            {"in", "out", "bias"=true}
                        keys {i}.weight (out, in), {i}.bias (out)
      reshape           {"shape": [C, H, W]}: x.reshape(N, C, H, W), row-major
      conv2d            {"in", "out", "kernel", "stride"=1, "padding"=0,
                         "bias"=true}; zero padding;
                        keys {i}.weight (out, in, kh, kw), {i}.bias
      conv_transpose2d  {"in", "out", "kernel", "stride"=1, "padding"=0,
                         "output_padding"=0, "bias"=true};
                        keys {i}.weight (in, out, kh, kw) -- PyTorch layout --,
                        {i}.bias; output size (H-1)*stride - 2*padding + kernel
                        + output_padding
      upsample          {"scale": 2}: nearest, out[y][x] = in[y/s][x/s]
      batchnorm2d       {"channels", "eps"=1e-5}: evaluation mode, keys
                        {i}.weight, .bias, .running_mean, .running_var,
                        .num_batches_tracked (int64, unused)
      relu              {}
      leaky_relu        {"slope"=0.01}: x if x >= 0 else slope * x
      tanh              {}
    kernel, stride, padding and output_padding are ints (square) or [h, w]
    pairs. No groups, no dilation. The network must end in tanh and produce
    (N, 1, 256, 768) per sensor.
    """
    import json
    if isinstance(spec, str):
        spec = json.loads(spec)
    mods = []
    for layer in spec["layers"]:
        t = layer["type"]
        bias = bool(layer.get("bias", True))
        if t == "linear":
            mods.append(nn.Linear(layer["in"], layer["out"], bias=bias))
        elif t == "reshape":
            mods.append(Reshape(layer["shape"]))
        elif t == "conv2d":
            mods.append(nn.Conv2d(layer["in"], layer["out"], _pair(layer["kernel"]),
                                  _pair(layer.get("stride", 1)),
                                  _pair(layer.get("padding", 0)), bias=bias))
        elif t == "conv_transpose2d":
            mods.append(nn.ConvTranspose2d(
                layer["in"], layer["out"], _pair(layer["kernel"]),
                _pair(layer.get("stride", 1)), _pair(layer.get("padding", 0)),
                _pair(layer.get("output_padding", 0)), bias=bias))
        elif t == "upsample":
            mods.append(nn.Upsample(scale_factor=int(layer.get("scale", 2)),
                                    mode="nearest"))
        elif t == "batchnorm2d":
            mods.append(nn.BatchNorm2d(layer["channels"],
                                       eps=float(layer.get("eps", 1e-5))))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "leaky_relu":
            mods.append(nn.LeakyReLU(float(layer.get("slope", 0.01))))
        elif t == "tanh":
            mods.append(nn.Tanh())
        else:
            raise ValueError(f"unknown layer type {t!r}")
    return nn.Sequential(*mods)


class SequentialGenerator(nn.Module):
    """Wrapper used by the fixture generator; its state dict is the bare
    Sequential's (keys "{i}.weight", ...)."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.dim_z = int(spec["dim_z"])
        self.net = build_sequential(spec)

    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, sd, strict=True):
        return self.net.load_state_dict(sd, strict=strict)

    def logits(self, z, sensors=None):
        if sensors is not None:
            z = z[list(sensors)]
        mods = list(self.net)
        assert isinstance(mods[-1], nn.Tanh), "layer list must end in tanh"
        for m in mods[:-1]:
            z = m(z)
        return z

    def forward(self, z, sensors=None):
        return torch.tanh(self.logits(z, sensors))
