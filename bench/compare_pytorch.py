#!/usr/bin/python3
"""Times PyTorch and pxdgen on the same converted checkpoint and the same latents, in one run.

For each production family (IEA-GAN, WGAN ConvNet, WGAN ResNet) at full size: a random
checkpoint made by the reference models of tests/reference (calibrated to a sparse
output), converted with `pxdgen convert`; then E events of 40 sensors from the same
latents, in PyTorch (float32, the production digitization included) and in
`pxdgen generate --latents` (model load and writing the digits as CSV included; the median
of R runs). Both use T threads.
Prints a table and, with --json, writes the figures for BENCHMARKS.md.

    /usr/bin/python3 bench/compare_pytorch.py --pxdgen build/pxdgen --threads 1 --events 1
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import make_fixture as mf  # noqa: E402
import pxd_models as pm  # noqa: E402

FAMILIES = {"ieagan_production": 32, "wgan_convnet": 32, "wgan_resnet": 16}
CALIBRATION_SENSORS = [0, 13, 27]


def make_checkpoint(family, ch, seed, folder):
    """A calibrated random checkpoint (as the parity fixtures make them) and its config."""
    args = mf.parse_args(["--family", family, "--ch", str(ch), "--seed", str(seed), "--out", folder])
    args.sensors = CALIBRATION_SENSORS
    torch.manual_seed(seed)
    model = mf.build_model(args)
    mf.randomize_(model)
    mf.highpass_final_(model)
    model.eval()
    z = torch.randn(1, pm.N_SENSORS, model.dim_z, generator=torch.Generator().manual_seed(seed))
    transform = mf.output_transform(family, model)
    mf.calibrate_(model, family, z, None, args.sensors, transform)
    if family in mf.BIGGAN_FAMILIES:
        config = mf.biggan_config(args, model)
    else:
        config = {"model": family[5:], "dim_z": model.dim_z, "ch": ch, "output_transform": "wgan"}
    torch.save(mf.checkpoint_state(model, torch.float32), os.path.join(folder, "model.pth"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    return model, transform


@torch.no_grad()
def pytorch_events(model, family, z, transform):
    """Seconds for the events of z (E, 40, dim_z), digits included, and the digit count."""
    digits = 0
    start = time.perf_counter()
    for e in range(z.shape[0]):
        x = mf.run(model, family, z[e], None, list(range(pm.N_SENSORS))).numpy()
        digits += int(np.count_nonzero(mf.production_adu(x, transform)))
    return time.perf_counter() - start, digits


def pxdgen_events(pxdgen, folder, threads, runs):
    """Median wall seconds over `runs` runs of `pxdgen generate --latents`, and its digit count.
    A run lasts a few seconds, where one burst of the machine's other load moves it by a tenth;
    PyTorch's single run lasts tens of seconds and averages such bursts out."""
    out = os.path.join(folder, "digits.csv")
    seconds = []
    counts = set()
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([pxdgen, "generate", "-m", os.path.join(folder, "model.pxdg"), "--latents",
                        os.path.join(folder, "z.npy"), "--threads", str(threads), "-q", "-o", out], check=True)
        seconds.append(time.perf_counter() - start)
        with open(out) as f:
            counts.add(sum(1 for _ in f) - 1)
    if len(counts) != 1:
        raise SystemExit(f"pxdgen gave different digit counts on the same latents: {sorted(counts)}")
    return statistics.median(seconds), counts.pop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pxdgen", default=os.path.join(HERE, "..", "build", "pxdgen"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="pxdgen runs, of which the median is kept")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--ch", type=int, help="one width for every family instead of the production widths")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for family in args.families.split(","):
        with tempfile.TemporaryDirectory(prefix="pxdgen_compare_") as folder:
            model, transform = make_checkpoint(family, args.ch or FAMILIES[family], 1, folder)
            subprocess.run([args.pxdgen, "convert", os.path.join(folder, "model.pth"), "-o",
                            os.path.join(folder, "model.pxdg"), "--config", os.path.join(folder, "config.json")],
                           check=True, stdout=subprocess.DEVNULL)
            z = torch.randn(args.events, pm.N_SENSORS, model.dim_z, generator=torch.Generator().manual_seed(2))
            np.save(os.path.join(folder, "z.npy"), z.numpy().astype(np.float32))
            torch_seconds, torch_digits = pytorch_events(model, family, z, transform)
            ours_seconds, ours_digits = pxdgen_events(args.pxdgen, folder, args.threads, args.runs)
            # Load time and peak memory of pxdgen alone, from the model file.
            bench = json.loads(subprocess.run(
                [args.pxdgen, "bench", "-m", os.path.join(folder, "model.pxdg"), "-n", "1", "--threads",
                 str(args.threads), "--json"], check=True, capture_output=True, text=True).stdout)
        row = {"family": family, "threads": args.threads, "events": args.events,
               "pytorch_seconds_per_event": torch_seconds / args.events,
               "pxdgen_seconds_per_event": ours_seconds / args.events,
               "speedup": torch_seconds / ours_seconds,
               "pytorch_digits": torch_digits, "pxdgen_digits": ours_digits,
               "pxdgen_load_seconds": bench["load_seconds"], "pxdgen_peak_rss_mb": bench["peak_rss_mb"],
               "gmac_per_event": bench["gmac_per_event"]}
        rows.append(row)
        print(f"{family:18s} PyTorch {row['pytorch_seconds_per_event']:7.2f} s/event  "
              f"pxdgen {row['pxdgen_seconds_per_event']:6.2f} s/event  x{row['speedup']:.1f}  "
              f"digits {torch_digits} / {ours_digits}", flush=True)
    meta = {"torch": torch.__version__, "threads": args.threads, "events": args.events, "pxdgen_runs": args.runs,
            "note": "pxdgen time includes model load and writing the digits (median of "
                    f"{args.runs} runs); PyTorch time includes the production digitization (one run); "
                    "both from the same checkpoint and latents"}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
