#!/usr/bin/python3
"""Trains a demonstration IEA-GAN generator on synthetic PXD background and exports it
for `pxdgen convert`.

The generator is the production IEA-GAN architecture of the reference models
(tests/reference/pxd_models.py, BigGanDeepGenerator, variant ieagan_production: sensor
embeddings through the relational reasoning module, BigGAN-deep trunk to 256 x 768) at
a configurable width --ch. The data are synthetic events from tools/synthetic_pxd.py,
made on the fly by worker processes: a stand-in calibrated to the published Geant4
statistics, not a physics simulation, so the exported model is a demonstration.

Training: hinge loss against a residual, spectrally normalized projection
discriminator conditioned on the sensor that keeps full resolution in its first
block (a single fired pixel must be visible to it); Adam with betas (0, 0.999), the
generator's learning rate warmed up; an exponential moving average (EMA) of the
generator's weights, which is what gets exported; an auxiliary loss that matches the
per-sensor fraction of pixels above the read-out cut between generated and real
batches, because "every image empty" is an easy local optimum on targets that are
99 % empty. bfloat16 autocast and channels-last on CUDA; float32 on the CPU.

Runs are time-bounded and resumable, so they fit commands with a wall-clock limit:
  train_demo.py --out build-demo --max-minutes 9            # first command
  train_demo.py --out build-demo --max-minutes 9 --resume   # each following one
Every run ends (time up, --steps reached, SIGTERM or Ctrl-C) by writing
OUT/checkpoint.pt and exporting OUT/G_ema.pth, the plain state dict that
`pxdgen convert OUT/G_ema.pth -o demo.pxdg` reads. `--export-only --resume` re-exports.

Every --eval-every steps the exported form of the EMA generator (stored batch-norm
statistics, the engine's output transform) makes --eval-events events; their per-sensor
occupancy and charge spectrum are printed against the published Geant4 numbers and
written as OUT/eval/stats_stepN.json in the `pxdgen stats` layout
(`tools/plot_stats.py OUT/eval/stats_stepN.json -o plots` draws them).
"""
import argparse
import copy
import functools
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))
import pxd_models  # noqa: E402  (tests/reference/pxd_models.py)
import synthetic_pxd as synthetic  # noqa: E402  (tools/synthetic_pxd.py)

N_SENSORS = synthetic.N_SENSORS
IMAGE_ROWS, IMAGE_COLS = synthetic.IMAGE_ROWS, synthetic.V_CELLS
PIXELS_PER_IMAGE = IMAGE_ROWS * IMAGE_COLS
PRODUCTION_CUT = -0.26
# A pixel becomes a digit when tanh(logit) > cut, i.e. logit > atanh(cut).
LOGIT_CUT = math.atanh(PRODUCTION_CUT)
# An evaluation event with more digits than this (5 % occupancy) is left out of the
# cluster sizes: labelling millions of pixels of an untrained generator costs minutes.
MAX_CLUSTERED_DIGITS = 384000
# Keys of the checkpoint's arguments that fix the shapes: a resumed run keeps them.
ARCHITECTURE_ARGS = ("ch", "d_ch", "depth")


# ---------------------------------------------------------------------- training forms
# The reference modules compute the evaluation form only (spectral norm from the stored
# u0, batch norm from stored statistics). Training swaps their classes for these
# subclasses, which in training mode run one power iteration per forward (updating u0
# and sv0) and use batch statistics (updating stored_mean and stored_var). The state
# dict keys and the evaluation arithmetic stay the reference's, so what is exported is
# exactly what the converter and the parity tests know.
class _PowerIterationSN:
    def effective_weight(self):
        if not self.training:
            return super().effective_weight()
        w = self.weight.reshape(self.weight.shape[0], -1)
        with torch.autocast(device_type=w.device.type, enabled=False):
            # A network runs several forwards per step on the same weights (the generator
            # for the discriminator's step and for its own): one power iteration per
            # weight update is enough, and the in-place optimizer step bumps the version.
            cached = getattr(self, "_power_iteration", None)
            if cached is None or cached[0] != self.weight._version:
                with torch.no_grad():
                    v = F.normalize(self.u0 @ w, dim=1, eps=self.sn_eps)
                    u = F.normalize(v @ w.t(), dim=1, eps=self.sn_eps)
                    self.u0.copy_(u)
                self._power_iteration = (self.weight._version, u, v)
            _, u, v = self._power_iteration
            sigma = ((v @ w.t()) @ u.t()).reshape(())  # gradient flows through w only
            self.sv0.copy_(sigma.detach().reshape(1))
        return self.weight / sigma


class TrainingSNLinear(_PowerIterationSN, pxd_models.SNLinear):
    pass


class TrainingSNConv2d(_PowerIterationSN, pxd_models.SNConv2d):
    pass


class TrainingConditionalBN(pxd_models.ConditionalBN):
    momentum = 0.1

    def forward(self, x, c):
        if not self.training:
            return super().forward(x, c)
        # Statistics in float32 whatever the autocast type.
        n = F.batch_norm(x.float(), self.stored_mean, self.stored_var, None, None, True, self.momentum, self.bn_eps)
        g = 1.0 + self.gain(c).float()
        b = self.bias(c).float()
        return n * g[:, :, None, None] + b[:, :, None, None]


class TrainingPlainBN(pxd_models.PlainBN):
    momentum = 0.1

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        return F.batch_norm(x.float(), self.stored_mean, self.stored_var, self.gain, self.bias, True, self.momentum,
                            self.bn_eps)


TRAINING_CLASSES = {
    pxd_models.SNLinear: TrainingSNLinear,
    pxd_models.SNConv2d: TrainingSNConv2d,
    pxd_models.ConditionalBN: TrainingConditionalBN,
    pxd_models.PlainBN: TrainingPlainBN,
}
SN_CLASSES = (TrainingSNLinear, TrainingSNConv2d)
BN_CLASSES = (TrainingConditionalBN, TrainingPlainBN)


def make_trainable(model):
    for module in model.modules():
        if type(module) in TRAINING_CLASSES:
            module.__class__ = TRAINING_CLASSES[type(module)]
    return model


def orthogonal_init(model):
    """BigGAN's initialization: orthogonal weights, zero biases, unit random u0. The
    relational reasoning module keeps PyTorch's transformer initialization."""
    for name, module in model.named_modules():
        if name.startswith("RR_G"):
            continue
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.init.orthogonal_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        if hasattr(module, "u0"):
            module.u0.copy_(F.normalize(torch.randn_like(module.u0), dim=1))


@torch.no_grad()
def power_iterations(model, iterations):
    """Converges every u0 on the current weights (at start, and on the EMA weights
    before export: one step from a converged u0 is what the engine computes)."""
    for module in model.modules():
        if isinstance(module, SN_CLASSES):
            w = module.weight.reshape(module.weight.shape[0], -1).float()
            u = module.u0.float()
            for _ in range(iterations):
                v = F.normalize(u @ w, dim=1, eps=module.sn_eps)
                u = F.normalize(v @ w.t(), dim=1, eps=module.sn_eps)
            module.u0.copy_(u)
            module.sv0.copy_(((v @ w.t()) @ u.t()).reshape(1))


# ---------------------------------------------------------------------- networks
def build_generator(ch, depth, output_bias=0.0):
    g = pxd_models.BigGanDeepGenerator(ch=ch, depth=depth, variant="ieagan_production", attn="0")
    make_trainable(g)
    with torch.no_grad():
        orthogonal_init(g)
        # A negative bias on the last convolution starts the generator with a few
        # percent of the pixels above the cut instead of half of them.
        g.output_layer[2].bias.fill_(output_bias)
        power_iterations(g, 10)
    return g


def generator_logits(g, z):
    """Logits of len(z) / 40 events at once: the 40 sensors' conditioning comes from one
    pass of the relational reasoning module (deterministic in the production variant),
    repeated for each event; the trunk then runs on the whole batch."""
    events = z.shape[0] // N_SENSORS
    y = g.condition(torch.arange(N_SENSORS, device=z.device))
    c = torch.cat([y.repeat(events, 1).to(z.dtype), z], dim=1)
    h = g.linear(c).reshape(c.shape[0], -1, pxd_models.BOTTOM_H, pxd_models.BOTTOM_W)
    h = h.contiguous(memory_format=torch.channels_last)
    for sub in g.blocks:
        h = sub[0](h, c)
        for extra in sub[1:]:
            h = extra(h)
    return g.output_layer(h)


class DBlock(nn.Module):
    """Residual discriminator block: [relu] conv3x3 relu conv3x3 [avgpool], with a 1x1
    shortcut when the width or the size changes."""

    def __init__(self, c_in, c_out, downsample, preactivation):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = pxd_models.SNConv2d(c_in, c_out, 3, 1)
        self.conv2 = pxd_models.SNConv2d(c_out, c_out, 3, 1)
        self.shortcut = pxd_models.SNConv2d(c_in, c_out, 1, 0) if (c_in != c_out or downsample) else None

    def forward(self, x):
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        skip = x
        if self.preactivation:
            if self.shortcut is not None:
                skip = self.shortcut(skip)
            if self.downsample:
                h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        else:
            # On raw pixels, pool before the 1x1 shortcut: the same linear map, cheaper.
            if self.downsample:
                h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
            if self.shortcut is not None:
                skip = self.shortcut(skip)
        return h + skip


class Discriminator(nn.Module):
    """Projection discriminator (Miyato and Koyama) on 256 x 768 images: a full-resolution
    block, six downsampling blocks to 4 x 12, sum pooling; score = linear(h) +
    <embed(sensor), h>."""

    WIDTHS = (1, 2, 4, 8, 8, 16, 16)  # times d_ch, per block; block 0 keeps full resolution

    def __init__(self, d_ch=16, n_classes=N_SENSORS):
        super().__init__()
        blocks, c_in = [], 1
        for i, m in enumerate(self.WIDTHS):
            blocks.append(DBlock(c_in, d_ch * m, downsample=i > 0, preactivation=i > 0))
            c_in = d_ch * m
        self.blocks = nn.ModuleList(blocks)
        self.linear = pxd_models.SNLinear(c_in, 1)
        self.embed = pxd_models.SNLinear(n_classes, c_in, bias=False)
        self.n_classes = n_classes
        make_trainable(self)
        with torch.no_grad():
            orthogonal_init(self)
            power_iterations(self, 10)

    def forward(self, x, labels):
        h = x
        for block in self.blocks:
            h = block(h)
        h = F.relu(h).sum(dim=(2, 3)).float()
        projection = (self.embed(F.one_hot(labels, self.n_classes).to(h.dtype)).float() * h).sum(dim=1)
        return self.linear(h).float().squeeze(1) + projection


# ---------------------------------------------------------------------- data
class SyntheticEvents(torch.utils.data.IterableDataset):
    """Endless synthetic events from event number `first` on, each worker taking every
    num_workers-th: per event (flat pixel index in its 40 x 256 x 768 images, charge)."""

    def __init__(self, seed, first):
        self.seed, self.first = seed, first

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if info is not None:
            # Ctrl-C and SIGTERM reach the whole process group: the main process stops
            # cleanly after its step (checkpoint, export); the workers must still serve it.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        source = synthetic.SyntheticPXD(seed=self.seed)
        k = self.first + worker
        while True:
            sensor, u, v, charge = source.event(k)
            row = u.astype(np.int64) + synthetic.CROPPED_ROWS
            index = (sensor.astype(np.int64) * IMAGE_ROWS + row) * IMAGE_COLS + v
            yield torch.from_numpy(index.astype(np.int32)), torch.from_numpy(charge)
            k += workers


def collate_events(items):
    offsets = [j * N_SENSORS * PIXELS_PER_IMAGE for j in range(len(items))]
    index = torch.cat([i.long() + off for (i, _), off in zip(items, offsets)])
    charge = torch.cat([c for _, c in items])
    return len(items), index, charge


def real_images(batch, device, dequantize, dtype=torch.float32):
    """The (events * 40, 1, 256, 768) training images of a batch: log-transformed charges,
    -1 elsewhere. With dequantize, a charge q becomes q + U[0, 1) before the transform,
    so the engine's truncation of 256^a - 1 gives back q for the whole cell."""
    events, index, charge = batch
    index = index.to(device, non_blocking=True)
    adu = charge.to(device, non_blocking=True).float()
    if dequantize:
        adu = adu + torch.rand_like(adu)
    values = 2.0 * (torch.log1p(adu) / math.log(256.0) - 0.5)
    x = torch.full((events * N_SENSORS * PIXELS_PER_IMAGE,), -1.0, device=device, dtype=torch.float32)
    x[index] = values
    return x.view(events * N_SENSORS, 1, IMAGE_ROWS, IMAGE_COLS).to(dtype)


def soft_occupancy(logits, temperature=0.25):
    """Per-image smooth count of the pixels above the cut, as a fraction of the sensor
    rows (a sigmoid of the distance to the cut in logit units: its log keeps a gradient
    even when every pixel is far below)."""
    rows = slice(synthetic.CROPPED_ROWS, synthetic.CROPPED_ROWS + synthetic.U_CELLS)
    return torch.sigmoid((logits[:, 0, rows].float() - LOGIT_CUT) / temperature).mean(dim=(1, 2))


def occupancy_loss(fake_logits, real_x, events):
    """Squared log ratio of the per-sensor mean soft occupancy, generated vs real."""
    real_logits = torch.atanh(real_x.float().clamp(-0.999, 0.999))
    fake = soft_occupancy(fake_logits).view(events, N_SENSORS).mean(0)
    with torch.no_grad():
        real = soft_occupancy(real_logits).view(events, N_SENSORS).mean(0)
    return ((torch.log(fake + 1e-7) - torch.log(real + 1e-7)) ** 2).mean()


# ---------------------------------------------------------------------- export and evaluation
@torch.no_grad()
def copy_buffers(g_ema, g):
    """The EMA averages the weights only: its u0 (start of the power iterations) and
    batch-norm statistics (start of nothing, recomputed at export) come from G when
    needed."""
    for b_ema, b in zip(g_ema.buffers(), g.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def exported_form(g_ema, device, events_per_batch, batches=8, seed=12345):
    """A copy of the EMA generator as it will be exported: u0 converged on the EMA
    weights, batch-norm statistics accumulated over `batches` batches of fresh latents
    (the EMA's own stored statistics were copied from a different network)."""
    g = copy.deepcopy(g_ema)
    power_iterations(g, 20)
    for module in g.modules():
        if isinstance(module, BN_CLASSES):
            module.stored_mean.zero_()
            module.stored_var.fill_(1.0)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    for i in range(batches):
        for module in g.modules():
            # Batch norm in training mode (cumulative average), everything else as at inference.
            module.training = isinstance(module, BN_CLASSES)
            if isinstance(module, BN_CLASSES):
                module.momentum = 1.0 / (i + 1)
        z = torch.randn(events_per_batch * N_SENSORS, g.dim_z, generator=generator).to(device)
        generator_logits(g, z)  # float32, as the engine computes
    for module in g.modules():
        if isinstance(module, BN_CLASSES):
            module.momentum = 0.1
    return g.eval()


def export_state_dict(g, path):
    state = {k: v.detach().float().cpu().contiguous() for k, v in g.state_dict().items()}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def digits_of_images(x):
    """The engine's production transform on (40, 1, 256, 768) tanh images, in float32:
    cut, adu = 256^(x/2 + 1/2) - 1, truncation, crop. Returns numpy digits."""
    x = x[:, 0, synthetic.CROPPED_ROWS:synthetic.CROPPED_ROWS + synthetic.U_CELLS].float()
    x = torch.where(x > PRODUCTION_CUT, x, torch.full_like(x, -1.0))
    a = (0.5 * x + 0.5).clamp(0, 1)
    adu = (torch.pow(256.0, a) - 1.0).clamp(0, 255).to(torch.uint8)
    sensor, u, v = torch.nonzero(adu, as_tuple=True)
    charge = adu[sensor, u, v]
    return (sensor.cpu().numpy().astype(np.uint8), u.cpu().numpy().astype(np.uint16),
            v.cpu().numpy().astype(np.uint16), charge.cpu().numpy())


@torch.no_grad()
def evaluate(g_eval, device, n_events, reference, seed=2024):
    """Statistics of n_events generated events (fixed latents) and a summary against
    the statistics of synthetic events (`reference`, an EventStatistics)."""
    stats = synthetic.EventStatistics()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    padding_fired = 0
    for _ in range(n_events):
        z = torch.randn(N_SENSORS, g_eval.dim_z, generator=generator).to(device)
        x = torch.tanh(generator_logits(g_eval, z))  # float32, as the engine computes
        padding = torch.cat([x[:, 0, :synthetic.CROPPED_ROWS], x[:, 0, synthetic.CROPPED_ROWS + synthetic.U_CELLS:]], 1)
        padding_fired += int((padding > PRODUCTION_CUT).sum())
        digits = digits_of_images(x)
        stats.add_event(digits, with_clusters=len(digits[0]) < MAX_CLUSTERED_DIGITS)
    ratio = stats.mean_occupancy() / reference.mean_occupancy()
    own, target = charge_pmf(stats), charge_pmf(reference)
    fired = stats.digits.sum()
    summary = {
        "occupancy": float(fired / (stats.events * N_SENSORS * synthetic.PIXELS_PER_SENSOR)),
        "occupancy_ratio_layer1": float(ratio[:synthetic.N_LAYER1].mean()),
        "occupancy_ratio_layer2": float(ratio[synthetic.N_LAYER1:].mean()),
        "occupancy_ratio_min": float(np.nanmin(ratio)),
        "occupancy_ratio_max": float(np.nanmax(ratio)),
        "mean_charge": float(stats.charge_sum.sum() / fired) if fired else float("nan"),
        "below_threshold_fraction": float(stats.charge_hist[2] / fired) if fired else float("nan"),
        "reference_mean_charge": float(reference.charge_sum.sum() / reference.digits.sum()),
        "charge_spectrum_total_variation": float(0.5 * np.abs(own - target).sum()),
        "padding_fired": padding_fired,
    }
    return stats, summary


def describe(summary):
    return (f"occupancy {100 * summary['occupancy']:.3f} %, per sensor generated / synthetic: layer 1 "
            f"{summary['occupancy_ratio_layer1']:.2f}, layer 2 {summary['occupancy_ratio_layer2']:.2f}, "
            f"range [{summary['occupancy_ratio_min']:.2f}, {summary['occupancy_ratio_max']:.2f}]; "
            f"mean charge {summary['mean_charge']:.1f} ADU (synthetic {summary['reference_mean_charge']:.1f}), "
            f"spectrum distance {summary['charge_spectrum_total_variation']:.3f}, "
            f"digits below 7 ADU {100 * summary['below_threshold_fraction']:.1f} %, "
            f"padding pixels fired {summary['padding_fired']}")


def charge_pmf(stats):
    """Fraction of the digits of 7..255 ADU in each ADU bin."""
    counts = stats.charge_hist[3:3 + synthetic.MAX_ADU + 1 - synthetic.THRESHOLD_ADU].astype(float)
    return counts / max(counts.sum(), 1.0)


def synthetic_reference(seed, n_events):
    """Statistics of n_events synthetic events (other event numbers than training uses)
    that generated events are compared with."""
    source = synthetic.SyntheticPXD(seed=seed)
    stats = synthetic.EventStatistics()
    for k in range(n_events):
        stats.add_event(source.event(2 ** 62 + k), with_clusters=False)
    return stats


def autocast(device):
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return torch.autocast(device_type="cpu", enabled=False)


# ---------------------------------------------------------------------- checkpoints
def save_checkpoint(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def log(out_dir, text):
    line = time.strftime("%H:%M:%S ") + text
    print(line, flush=True)
    with open(os.path.join(out_dir, "log.txt"), "a") as f:
        f.write(line + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="build-demo", help="folder of the checkpoint, export, log and evaluations")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt (an error when it is missing, unless --init-from is given)")
    p.add_argument("--export-only", action="store_true", help="with --resume: export OUT/G_ema.pth and stop")
    p.add_argument("--max-minutes", type=float, default=9.0,
                   help="wall-clock budget of this run, start-up and export included")
    p.add_argument("--steps", type=int, default=100000, help="stop when the run reaches this many steps")
    p.add_argument("--init-from", help="exported generator (G_ema.pth) to start from when there is no checkpoint")
    p.add_argument("--ch", type=int, default=16, help="generator width (the published models: 32)")
    p.add_argument("--depth", type=int, default=2, help="generator blocks per stage")
    p.add_argument("--d-ch", type=int, default=16, help="discriminator width")
    p.add_argument("--events-per-step", type=int, default=4, help="events (of 40 images) per batch")
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--g-warmup", type=int, default=500,
                   help="steps over which the generator's learning rate rises linearly from 10 %%")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator steps per generator step")
    p.add_argument("--output-bias", type=float, default=-2.0,
                   help="initial bias of the generator's last convolution (logit units)")
    p.add_argument("--occupancy-weight", type=float, default=1.0, help="weight of the occupancy-matching loss")
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--ema-start", type=int, default=200, help="steps before the EMA starts averaging")
    p.add_argument("--no-dequantize", action="store_true",
                   help="train on log(q + 1) exactly instead of spreading each charge over its ADU cell")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=None, help="data worker processes (default: cores - 2, at most 8)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (PyTorch >= 2)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-events", type=int, default=8)
    p.add_argument("--reference-events", type=int, default=200,
                   help="synthetic events that evaluations compare with")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--standing-batches", type=int, default=8,
                   help="batches over which the exported batch-norm statistics are accumulated")
    p.add_argument("--profile", type=int, default=0, help="profile this many steps, print the top operations, stop")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    checkpoint_path = os.path.join(args.out, "checkpoint.pt")
    export_path = os.path.join(args.out, "G_ema.pth")
    checkpoint = None
    if args.resume and os.path.exists(checkpoint_path):
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        for key in ARCHITECTURE_ARGS:
            setattr(args, key, checkpoint["args"][key])
    elif args.export_only or (args.resume and not args.init_from):
        # Starting over silently would throw away the time the checkpoint stood for.
        raise SystemExit(f"train_demo: --resume: there is no {checkpoint_path} (to start anew, leave out --resume; "
                         "to start from an exported generator, add --init-from G_ema.pth)")
    os.makedirs(os.path.join(args.out, "eval"), exist_ok=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)

    g = build_generator(args.ch, args.depth, args.output_bias).to(device)
    d = Discriminator(args.d_ch).to(device)
    g_ema = copy.deepcopy(g).eval()
    # Channels-last suits the narrow convolutions of both networks, on the GPU and the CPU.
    g = g.to(memory_format=torch.channels_last)
    d = d.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), lr=args.lr_g, betas=(0.0, 0.999), eps=1e-6)
    opt_d = torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.0, 0.999), eps=1e-6)
    step, trained_seconds = 0, 0.0
    if checkpoint is None and args.init_from:
        # A warm start from an exported generator: its weights and statistics for G and
        # its EMA, a new discriminator and new optimizers.
        exported = torch.load(args.init_from, map_location="cpu", weights_only=False)
        g.load_state_dict({k: v.float() for k, v in exported.items()})
        g_ema.load_state_dict({k: v.float() for k, v in exported.items()})
        log(args.out, f"generator initialized from {args.init_from}")
    if checkpoint is not None:
        g.load_state_dict(checkpoint["G"])
        g_ema.load_state_dict(checkpoint["G_ema"])
        d.load_state_dict(checkpoint["D"])
        opt_g.load_state_dict(checkpoint["opt_G"])
        opt_d.load_state_dict(checkpoint["opt_D"])
        step, trained_seconds = checkpoint["step"], checkpoint["trained_seconds"]
        log(args.out, f"resumed from {checkpoint_path} at step {step} ({trained_seconds / 60:.1f} min trained)")
    reference = synthetic_reference(args.seed, args.reference_events)
    n_params = sum(p.numel() for p in g.parameters())
    log(args.out, f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}), "
                  f"torch {torch.__version__}; G ch={args.ch} depth={args.depth} ({n_params / 1e6:.2f} M parameters), "
                  f"D d_ch={args.d_ch} ({sum(p.numel() for p in d.parameters()) / 1e6:.2f} M); "
                  f"{args.events_per_step} events per step, dequantized charges: {not args.no_dequantize}")

    def state():
        copy_buffers(g_ema, g)
        return {"G": g.state_dict(), "G_ema": g_ema.state_dict(), "D": d.state_dict(), "opt_G": opt_g.state_dict(),
                "opt_D": opt_d.state_dict(), "step": step, "args": vars(args),
                "trained_seconds": trained_seconds + time.time() - session_start}

    def finish(reason):
        save_checkpoint(checkpoint_path, state())  # copies the buffers too
        g_export = exported_form(g_ema, device, args.events_per_step, args.standing_batches)
        export_state_dict(g_export, export_path)
        log(args.out, f"{reason}: step {step}; checkpoint {checkpoint_path}; export {export_path}")
        return g_export

    session_start = time.time()
    if args.export_only:
        finish("export only")
        return 0

    generate = functools.partial(generator_logits, g)
    d_train = d
    if args.compile:
        generate, d_train = torch.compile(generate), torch.compile(d)

    workers = args.workers if args.workers is not None else max(0, min(8, (os.cpu_count() or 2) - 2))
    dataset = SyntheticEvents(args.seed, first=step * args.events_per_step * args.d_steps)
    loader_options = dict(num_workers=workers, pin_memory=device.type == "cuda")
    if workers > 0:
        loader_options["prefetch_factor"] = 4
    batches = iter(torch.utils.data.DataLoader(dataset, batch_size=args.events_per_step, collate_fn=collate_events,
                                               **loader_options))
    labels = torch.arange(N_SENSORS, device=device).repeat(args.events_per_step)
    n_images = args.events_per_step * N_SENSORS
    dequantize = not args.no_dequantize
    image_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    stop = {"reason": None}

    def on_signal(signum, frame):
        stop["reason"] = f"signal {signum}"

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Time kept back for the final checkpoint and export (a few forward passes).
    reserve_seconds = 20 + 2 * args.standing_batches * (0.5 if device.type == "cuda" else 5)
    deadline = started + 60 * args.max_minutes - reserve_seconds
    last_checkpoint = time.time()
    window = {"t": time.time(), "step": step, "wait": 0.0}
    sums = {}
    profiler = None
    # Profiling starts after a few steps, once cuDNN has picked its algorithms.
    profile_from = step + min(5, args.profile) if args.profile else None

    while True:
        if stop["reason"] is None:
            if step >= args.steps:
                stop["reason"] = f"reached {args.steps} steps"
            elif time.time() > deadline:
                stop["reason"] = f"time budget of {args.max_minutes:g} min"
            elif args.profile and step >= profile_from + args.profile:
                stop["reason"] = "profile done"
        if stop["reason"] is not None:
            break
        if args.profile and step == profile_from:
            profiler = torch.profiler.profile(
                activities=[torch.profiler.ProfilerActivity.CPU] +
                           ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else []))
            profiler.__enter__()
        g.train()
        d.train()

        # Discriminator.
        for _ in range(args.d_steps):
            t_wait = time.time()
            real = real_images(next(batches), device, dequantize, image_dtype)
            window["wait"] += time.time() - t_wait
            real = real.contiguous(memory_format=torch.channels_last)
            z = torch.randn(n_images, g.dim_z, device=device)
            with autocast(device):
                with torch.no_grad():
                    fake = torch.tanh(generate(z))
                d_real = d_train(real, labels)
                d_fake = d_train(fake.to(real.dtype), labels)
                loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        # Generator.
        for group in opt_g.param_groups:
            group["lr"] = args.lr_g * min(1.0, 0.1 + 0.9 * step / max(args.g_warmup, 1))
        z = torch.randn(n_images, g.dim_z, device=device)
        with autocast(device):
            logits = generate(z)
            fake = torch.tanh(logits)
            loss_adv = -d_train(fake, labels).mean()
            loss_occ = occupancy_loss(logits, real, args.events_per_step)
            loss_g = loss_adv + args.occupancy_weight * loss_occ
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        with torch.no_grad():
            decay = args.ema_decay if step >= args.ema_start else 0.0
            for p_ema, p in zip(g_ema.parameters(), g.parameters()):
                p_ema.lerp_(p, 1.0 - decay)
        step += 1

        for name, value in (("loss_d", loss_d), ("loss_g", loss_adv), ("loss_occ", loss_occ),
                            ("d_real", d_real.mean()), ("d_fake", d_fake.mean())):
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        if step % args.log_every == 0:
            now = time.time()
            steps = step - window["step"]
            means = {k: float(v) / steps for k, v in sums.items()}
            rate = steps / (now - window["t"])
            log(args.out, f"step {step} | {rate:.2f} steps/s, {rate * args.events_per_step:.1f} events/s, "
                          f"data wait {100 * window['wait'] / (now - window['t']):.0f} % | "
                          f"D {means['loss_d']:.3f} (real {means['d_real']:+.2f}, fake {means['d_fake']:+.2f}) "
                          f"G {means['loss_g']:+.3f} occupancy {means['loss_occ']:.4f} | "
                          f"{(now - started) / 60:.1f} min")
            window.update(t=now, step=step, wait=0.0)
            sums = {}
        if step % args.eval_every == 0:
            t_eval = time.time()
            copy_buffers(g_ema, g)
            g_eval = exported_form(g_ema, device, args.events_per_step, args.standing_batches)
            stats, summary = evaluate(g_eval, device, args.eval_events, reference)
            synthetic.stats_to_json(stats, os.path.join(args.out, "eval", f"stats_step{step}.json"),
                                    {"family": "biggan_deep", "variant": f"demo step {step}", "step": step})
            log(args.out, f"eval step {step}: " + describe(summary) + f" ({time.time() - t_eval:.0f} s)")
            del g_eval
        if time.time() - last_checkpoint > 60 * args.checkpoint_minutes:
            save_checkpoint(checkpoint_path, state())
            last_checkpoint = time.time()

    if profiler is not None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        profiler.__exit__(None, None, None)
        table = None
        # The name of the device-time column changed across PyTorch versions.
        for sort in (("self_device_time_total", "self_cuda_time_total") if device.type == "cuda" else
                     ("self_cpu_time_total",)):
            try:
                table = profiler.key_averages().table(sort_by=sort, row_limit=30)
                break
            except (KeyError, AttributeError, ValueError):
                continue
        print(table, flush=True)
    g_export = finish(stop["reason"])
    if args.eval_events > 0 and step % args.eval_every != 0:
        stats, summary = evaluate(g_export, device, args.eval_events, reference)
        synthetic.stats_to_json(stats, os.path.join(args.out, "eval", f"stats_step{step}.json"),
                                {"family": "biggan_deep", "variant": f"demo step {step}", "step": step})
        log(args.out, f"eval step {step} (exported model): " + describe(summary))
    if device.type == "cuda":
        log(args.out, f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
