#!/usr/bin/python3
"""Make a parity fixture: a random checkpoint, its inputs and the expected output.

Usage (torch must be importable, e.g. /usr/bin/python3):

  make_fixture.py --family ieagan_production --ch 4 --depth 2 --attn 0 \
      --events 2 --seed 1 --sensors 0,5,39 --storage f32 --nest none --out DIR

Families: ieagan_production, ieagan_research, biggan, pegan (BigGAN-deep
trunk, width --ch, default 4; production is 32), wgan_convnet, wgan_resnet
(width --ch defaults to production: 32 and 16; channels are ch*[16,16,8,4,2,1]),
sequential (layer list from --layers FILE or the built-in DEFAULT_LAYERS).

Written to DIR:
  model.pth      torch.save zip checkpoint (weights in --storage dtype); with
                 --nest G / state_dict the state dict sits under that key next
                 to non-tensor entries
  config.json    training-style config (published IEA-GAN key names) for the
                 BigGAN family; the layer list for sequential; a small
                 {"model", "dim_z", ...} object for the WGANs
  prior.json     pegan only: {"occupancy": [40 raw mean occupancies]}
  z.npy          float32 (E, 40, dim_z)
  r.npy          float32 (E, 40, 4), ieagan_research only
  expected.npy   float32 (E, S, 256, 768): tanh output of the selected sensors
  expected_f64.npy  the same computed in float64 (stored as float32)
  meta.json      what was made, output statistics, forward time

How the weights are drawn (all from --seed, deterministic):
  * conv / linear / embedding weights: orthogonal init as in training, then
    every output row multiplied by exp(N(0, 0.25)) and the whole tensor by
    U(0.5, 2), so that singular values differ and the single power step of
    the spectral norm from u0 matters (a purely orthogonal weight has
    sigma = 1 for any u0);
  * SN buffers: u0 ~ N(0, 1) (not the singular vector), sv0 ~ U(0.5, 3);
  * biases ~ N(0, 0.05); BN stored / running means ~ N(0, 0.1), variances
    ~ U(0.5, 2); BN and LayerNorm affine weights ~ U(0.7, 1.3), biases
    ~ N(0, 0.1); non-local attention gamma ~ +-U(0.3, 1).
  * The kernels of the last conv (the one feeding the tanh) lose 75 % of
    their spatial mean (w -= 0.75 * mean over kh, kw), so that the output is
    not dominated by one constant level per image (random weights otherwise
    give nearly flat images whose level varies from sensor to sensor).
  * Output calibration: over all events the pre-tanh output L (without the
    final bias) is computed; the final layer is rescaled by s so that the
    0.1 % .. 99.9 % quantile range of s L is 5 (BigGAN family: the output BN
    gain and bias are multiplied by s, which scales the ReLU output; WGAN /
    sequential: the weight of the last layer) and the final bias is set so
    that 3 % of the pixels end above tanh = -0.26. For the "wgan" output
    transform (no cut, every pixel above x = -0.75 is a digit) s is chosen
    instead so that the median pixel ends at x = -0.9. s and the bias are stored
    in meta.json. Random weights give heavy tails: a few pixels in 10^4 may
    still reach |x| = 1 in float32.
  With --storage f16 / bf16, all floating tensors are rounded to that dtype
  after calibration and before the expected output is computed.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxd_models as pm  # noqa: E402

BIGGAN_FAMILIES = ("ieagan_production", "ieagan_research", "biggan", "pegan")
FAMILIES = BIGGAN_FAMILIES + ("wgan_convnet", "wgan_resnet", "sequential")
CUT = -0.26
TARGET_SPREAD = 5.0     # pre-tanh spread between the TAIL quantiles
TAIL = 1e-3
WGAN_MEDIAN = -0.9
TARGET_FRACTION = 0.03
HIGHPASS = 0.75

DEFAULT_LAYERS = {
    "dim_z": 96,
    "output_transform": "wgan",
    "layers": [
        {"type": "linear", "in": 96, "out": 3072},
        {"type": "reshape", "shape": [16, 8, 24]},
        {"type": "conv_transpose2d", "in": 16, "out": 16, "kernel": 4,
         "stride": 2, "padding": 1, "output_padding": 0},
        {"type": "batchnorm2d", "channels": 16},
        {"type": "relu"},
        {"type": "upsample", "scale": 2},
        {"type": "conv2d", "in": 16, "out": 8, "kernel": 3, "stride": 1,
         "padding": 1, "bias": False},
        {"type": "batchnorm2d", "channels": 8},
        {"type": "leaky_relu", "slope": 0.2},
        {"type": "conv_transpose2d", "in": 8, "out": 8, "kernel": 4,
         "stride": 2, "padding": 1, "output_padding": 0},
        {"type": "relu"},
        {"type": "upsample", "scale": 2},
        {"type": "conv_transpose2d", "in": 8, "out": 4, "kernel": 3,
         "stride": 2, "padding": 1, "output_padding": 1},
        {"type": "batchnorm2d", "channels": 4},
        {"type": "leaky_relu", "slope": 0.1},
        {"type": "conv2d", "in": 4, "out": 4, "kernel": 5, "stride": 1,
         "padding": 2},
        {"type": "relu"},
        {"type": "conv2d", "in": 4, "out": 1, "kernel": 3, "stride": 1,
         "padding": 1},
        {"type": "tanh"},
    ],
}

STORAGE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


# --------------------------------------------------------------------------
def build_model(args):
    if args.family in BIGGAN_FAMILIES:
        return pm.BigGanDeepGenerator(ch=args.ch, depth=args.depth,
                                      attn=args.attn, variant=args.family)
    if args.family == "wgan_convnet":
        return pm.WganConvNet(ch=args.ch)
    if args.family == "wgan_resnet":
        return pm.WganResNet(ch=args.ch)
    spec = DEFAULT_LAYERS
    if args.layers:
        with open(args.layers) as f:
            spec = json.load(f)
    return pm.SequentialGenerator(spec)


def spread_orthogonal_(w):
    nn.init.orthogonal_(w)
    rows = torch.exp(0.25 * torch.randn(w.shape[0]))
    w.mul_(rows.reshape(-1, *([1] * (w.dim() - 1))))
    w.mul_(float(torch.empty(()).uniform_(0.5, 2.0)))


@torch.no_grad()
def randomize_(model):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            spread_orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None:
                m.bias.normal_(0.0, 0.05)
            if hasattr(m, "u0"):
                m.u0.normal_()
                m.sv0.uniform_(0.5, 3.0)
        elif isinstance(m, (pm.ConditionalBN, pm.PlainBN)):
            m.stored_mean.normal_(0.0, 0.1)
            m.stored_var.uniform_(0.5, 2.0)
            if isinstance(m, pm.PlainBN):
                m.gain.uniform_(0.7, 1.3)
                m.bias.normal_(0.0, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.7, 1.3)
            m.bias.normal_(0.0, 0.1)
            m.num_batches_tracked.fill_(int(torch.randint(1, 100000, ())))
        elif isinstance(m, nn.LayerNorm):
            m.weight.uniform_(0.7, 1.3)
            m.bias.normal_(0.0, 0.1)
        elif isinstance(m, pm.NonLocalAttention):
            sign = 1.0 if float(torch.rand(())) < 0.5 else -1.0
            m.gamma.fill_(sign * float(torch.empty(()).uniform_(0.3, 1.0)))


def final_layers(model):
    """(scale_fn, bias_param, last_layer) of the layer that feeds the tanh."""
    if isinstance(model, pm.BigGanDeepGenerator):
        bn, conv = model.output_layer[0], model.output_layer[2]

        def scale(s):
            bn.gain.mul_(s)
            bn.bias.mul_(s)
        return scale, conv.bias, conv
    if isinstance(model, pm.WganConvNet):
        last = model.features[-1]
    elif isinstance(model, pm.WganResNet):
        last = model.conv
    else:
        last = [m for m in model.net if hasattr(m, "weight")][-1]
    return (lambda s: last.weight.mul_(s)), getattr(last, "bias", None), last


@torch.no_grad()
def highpass_final_(model, amount=HIGHPASS):
    """Remove `amount` of the spatial mean of every kernel of the last conv."""
    last = final_layers(model)[2]
    if isinstance(last, (nn.Conv2d, nn.ConvTranspose2d)):
        w = last.weight
        w.sub_(amount * w.mean(dim=(2, 3), keepdim=True))


def output_transform(family, model):
    if family in BIGGAN_FAMILIES:
        return "ieagan"
    if family == "sequential":
        return model.spec.get("output_transform", "wgan")
    return "wgan"


def run(model, family, z, r, sensors, raw=False):
    """z (40, dim_z) of one event -> (S, 256, 768)."""
    fn = model.logits if raw else model.forward
    if family in BIGGAN_FAMILIES:
        out = fn(z, r=r, sensors=sensors)
    else:
        out = fn(z, sensors=sensors)
    return out[:, 0]


@torch.no_grad()
def calibrate_(model, family, z, r, sensors, transform):
    """Rescale and shift the final layer over all events (see module doc)."""
    scale_fn, bias, _ = final_layers(model)
    b_old = float(bias) if bias is not None else 0.0
    lin = np.concatenate([
        (run(model, family, z[e], None if r is None else r[e], sensors, raw=True)
         - b_old).double().numpy().ravel() for e in range(z.shape[0])])
    if transform == "wgan":
        # no cut: also place the median at x = WGAN_MEDIAN
        lo, hi = np.quantile(lin, [0.5, 1.0 - TARGET_FRACTION])
        s = (np.arctanh(CUT) - np.arctanh(WGAN_MEDIAN)) / max(float(hi - lo), 1e-12)
    else:
        lo, hi = np.quantile(lin, [TAIL, 1.0 - TAIL])
        s = TARGET_SPREAD / max(float(hi - lo), 1e-12)
    scale_fn(s)
    b_new = float(np.arctanh(CUT) - np.quantile(s * lin, 1.0 - TARGET_FRACTION))
    if bias is not None:
        bias.fill_(b_new)
    else:
        b_new = None
    return s, b_new


def round_state_(model, dtype):
    """Round every floating tensor to dtype (in place, kept as float32)."""
    if dtype == torch.float32:
        return
    with torch.no_grad():
        for t in list(model.state_dict().values()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).to(torch.float32))


def checkpoint_state(model, dtype):
    sd = model.state_dict()          # keeps the _metadata of a real state dict
    for k, t in list(sd.items()):
        t = t.detach().clone().contiguous()
        sd[k] = t.to(dtype) if t.is_floating_point() else t
    return sd


def biggan_config(args, model):
    cfg = {
        "model": {"ieagan_production": "BigGAN_deep", "ieagan_research": "IEAGAN",
                  "biggan": "BigGAN_deep", "pegan": "PEGAN"}[args.family],
        "seed": args.seed, "G_ch": args.ch, "G_param": "SN", "D_param": "SN",
        "D_ch": args.ch, "G_depth": args.depth, "D_depth": 2, "H_base": 3,
        "D_wide": True, "G_shared": True, "shared_dim": model.shared_dim,
        "dim_z": model.dim_z, "z_var": 1.0, "hier": True, "cross_replica": False,
        "mybn": False, "G_activation": "inplace_relu", "D_activation": "inplace_relu",
        "G_attn": str(args.attn), "D_attn": "32", "norm_style": "bn",
        "G_init": "ortho", "D_init": "ortho", "skip_init": False, "G_lr": 5e-05,
        "D_lr": 5e-05, "G_B1": 0.0, "D_B1": 0.0, "G_B2": 0.999, "D_B2": 0.999,
        "batch_size": 40, "num_epochs": 4, "G_fp16": False, "ema": True,
        "ema_decay": 0.9999, "use_ema": True, "ema_start": 10000, "adam_eps": 1e-06,
        "BN_eps": 1e-05, "SN_eps": 1e-06, "num_G_SVs": 1, "num_D_SVs": 1,
        "num_G_SV_itrs": 1, "num_D_SV_itrs": 1, "G_ortho": 0.0001,
        "resolution": 256, "n_classes": model.n_classes, "bottom_width": 4,
        "conditional_strategy": "Proj" if args.family == "biggan" else "Contra",
        "hypersphere_dim": 1024,
        "RRM_prx_G": args.family in ("ieagan_production", "ieagan_research"),
        "RRM_prx_D": False, "RRM_embed": args.family != "biggan",
        "n_head_G": 2, "n_head": 4, "attn_type": "sa", "sched_version": "default",
        "z_dist": "normal", "G_kernel_size": 3, "D_kernel_size": 3,
        "clip_norm": None, "run_name": f"fixture_{args.family}_{args.seed}",
    }
    if args.family != "ieagan_production":     # the production config has neither
        cfg["rdof_dim"] = model.rdof_dim
        cfg["prior_embed"] = args.family == "pegan"
    return cfg


def nest_checkpoint(sd, nest, config):
    if nest == "none":
        return sd
    if nest == "G":
        return {"G": sd, "itr": 42000, "epoch": 3, "best_FID": 12.5,
                "config": config, "note": "EMA weights", "history": [1, 2.5, None]}
    return {"state_dict": sd, "step": 12345, "optimizer": None,
            "hparams": {"lr": 5e-05, "betas": [0.0, 0.999]}, "name": "generator"}


def production_adu(x, transform):
    """MODELS.md section 2 on float32 images (..., 256, 768) -> uint8, cropped."""
    x = x[..., 3:253, :].astype(np.float32)
    if transform == "ieagan":
        a = np.float32(0.5) * np.where(x > np.float32(CUT), x, np.float32(-1)) \
            + np.float32(0.5)
    else:
        a = np.clip(np.float32(0.5) * x + np.float32(0.5), 0, 1).astype(np.float32)
    adu = np.power(np.float32(256), a, dtype=np.float32) - np.float32(1)
    return np.clip(adu, 0, 255).astype(np.uint8)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--ch", type=int, default=None,
                   help="width multiplier (BigGAN family default 4; WGAN default "
                        "production: convnet 32, resnet 16)")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--attn", default="0", help='G_attn string, e.g. "0" or "32"')
    p.add_argument("--events", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sensors", default=None, help="comma list, default all 40")
    p.add_argument("--storage", default="f32", choices=sorted(STORAGE))
    p.add_argument("--nest", default="none", choices=("none", "G", "state_dict"))
    p.add_argument("--layers", default=None, help="sequential: layer list JSON file")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.ch is None:
        args.ch = {"wgan_convnet": 32, "wgan_resnet": 16}.get(args.family, 4)
    if args.sensors is None:
        args.sensors = list(range(pm.N_SENSORS))
    else:
        args.sensors = [int(s) for s in str(args.sensors).split(",") if s != ""]
    assert all(0 <= s < pm.N_SENSORS for s in args.sensors), "sensor out of range"
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    model = build_model(args)
    randomize_(model)
    highpass_final_(model)
    model.eval()
    dim_z = model.dim_z
    is_biggan = args.family in BIGGAN_FAMILIES

    gen = torch.Generator().manual_seed(args.seed * 7919 + 17)
    z = torch.randn(args.events, pm.N_SENSORS, dim_z, generator=gen)
    r = None
    if args.family == "ieagan_research":
        r = torch.randn(args.events, pm.N_SENSORS, model.rdof_dim, generator=gen)
    prior = None
    if args.family == "pegan":
        prior = (0.004 + 0.016 * torch.rand(pm.N_SENSORS, generator=gen)).tolist()
        model.set_prior(prior)

    def r_of(e):
        return None if r is None else r[e]

    transform = output_transform(args.family, model)
    scale, bias = calibrate_(model, args.family, z, r, args.sensors, transform)
    round_state_(model, STORAGE[args.storage])

    # Two references from the same weights and latents: float32, as production PyTorch
    # runs, and float64, the same math with rounding errors far below float32's. Two
    # float32 implementations differ from each other by both their rounding errors, so
    # the digit comparison is made against float64 (and printed against float32 too).
    expected = np.empty((args.events, len(args.sensors), 256, 768), np.float32)
    expected64 = np.empty_like(expected)
    with torch.no_grad():
        t0 = time.perf_counter()
        for e in range(args.events):
            expected[e] = run(model, args.family, z[e], r_of(e), args.sensors).numpy()
        seconds = time.perf_counter() - t0
        model.double()
        for e in range(args.events):
            expected64[e] = run(model, args.family, z[e].double(), None if r is None else r[e].double(),
                                args.sensors).numpy()
        model.float()

    # ---- write
    if is_biggan:
        config = biggan_config(args, model)
    elif args.family == "sequential":
        config = model.spec
    else:
        config = {"model": args.family[5:], "dim_z": dim_z, "ch": args.ch,
                  "output_transform": "wgan"}
    sd = checkpoint_state(model, STORAGE[args.storage])
    torch.save(nest_checkpoint(sd, args.nest, config),
               os.path.join(args.out, "model.pth"))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    if prior is not None:
        with open(os.path.join(args.out, "prior.json"), "w") as f:
            json.dump({"occupancy": prior}, f)
    np.save(os.path.join(args.out, "z.npy"), z.numpy().astype(np.float32))
    if r is not None:
        np.save(os.path.join(args.out, "r.npy"), r.numpy().astype(np.float32))
    np.save(os.path.join(args.out, "expected.npy"), expected)
    np.save(os.path.join(args.out, "expected_f64.npy"), expected64)

    frac = float((expected > CUT).mean())
    per_sensor = (expected > CUT).mean(axis=(0, 2, 3))
    adu = production_adu(expected, transform)
    stats = {"frac_above_cut": frac, "min": float(expected.min()),
             "mean": float(expected.mean()), "max": float(expected.max()),
             "frac_above_cut_per_sensor": [round(float(f), 5) for f in per_sensor],
             "transform": transform,
             "digit_occupancy": float((adu > 0).mean()),
             "digits_per_event": float((adu > 0).sum() / args.events),
             "adu_max": int(adu.max())}
    meta = {"family": args.family,
            "variant": args.family if is_biggan else None,
            "ch": args.ch if args.family != "sequential" else None,
            "depth": args.depth if is_biggan else None,
            "attn": str(args.attn) if is_biggan else None,
            "dim_z": dim_z, "sensors": args.sensors, "events": args.events,
            "seed": args.seed, "storage": args.storage, "nest": args.nest,
            "seconds": seconds, "threads": torch.get_num_threads(),
            "n_params": int(sum(p.numel() for p in model.parameters())),
            "calibration": {"scale": scale, "final_bias": bias,
                            "highpass": HIGHPASS,
                            "target_spread": TARGET_SPREAD, "tail": TAIL,
                            "target_fraction": TARGET_FRACTION},
            "output": stats, "torch": torch.__version__}
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{args.family} ch={meta['ch']} sensors={len(args.sensors)} "
          f"events={args.events} storage={args.storage}: "
          f"frac>{CUT}={frac:.4f} min={stats['min']:.4f} "
          f"mean={stats['mean']:.4f} max={stats['max']:.4f} "
          f"forward={seconds:.2f}s params={meta['n_params']} "
          f"sensors_partial={int(((per_sensor > 0.001) & (per_sensor < 0.3)).sum())} "
          f"digit_occ={stats['digit_occupancy']:.4f} adu_max={stats['adu_max']}")
    return meta


if __name__ == "__main__":
    main()
