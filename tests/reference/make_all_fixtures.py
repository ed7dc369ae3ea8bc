#!/usr/bin/python3
"""Makes every PyTorch parity fixture the C++ parity suite reads (one folder a case).

Small widths cover every family and variant quickly; the full-width cases run the
trunk for a few sensors only, which keeps the PyTorch side affordable on two cores.
A case whose folder already holds every output made from the same arguments is kept.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: make_fixture.py arguments
CASES = {
    "ieagan_production_ch4": "--family ieagan_production --ch 4 --events 2 --seed 1",
    "ieagan_research_ch4_nested": "--family ieagan_research --ch 4 --events 2 --seed 2 --nest G",
    "biggan_ch4_f16": "--family biggan --ch 4 --events 1 --seed 3 --storage f16 --nest state_dict",
    "pegan_ch4_attention_bf16": "--family pegan --ch 4 --attn 32 --events 1 --seed 4 --storage bf16",
    "ieagan_production_ch8_depth1_attention": "--family ieagan_production --ch 8 --depth 1 --attn 32 --events 1 --seed 5 --sensors 0,1,16,39",
    "wgan_convnet_ch4": "--family wgan_convnet --ch 4 --events 1 --seed 6",
    "wgan_resnet_ch4": "--family wgan_resnet --ch 4 --events 1 --seed 7",
    "sequential": "--family sequential --events 1 --seed 8",
    "ieagan_production_full_width": "--family ieagan_production --ch 32 --events 1 --seed 9 --sensors 0,21,39",
    "ieagan_research_full_width": "--family ieagan_research --ch 32 --events 1 --seed 10 --sensors 17",
    "wgan_convnet_full_width": "--family wgan_convnet --events 1 --seed 11 --sensors 3",
    "wgan_resnet_full_width": "--family wgan_resnet --events 1 --seed 12 --sensors 30",
}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--only", default=None, help="comma list of case names")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    sn = subprocess.run([sys.executable, os.path.join(HERE, "..", "weights_converter", "make_sn_checkpoint.py"),
                         os.path.join(args.out, "spectral_norm")], capture_output=True, text=True)
    if sn.returncode != 0:
        sys.stderr.write(sn.stdout + sn.stderr)
        sys.exit("make_sn_checkpoint.py failed")
    print("spectral_norm: " + sn.stdout.strip())
    for name in names:
        folder = os.path.join(args.out, name)
        stamp = os.path.join(folder, "arguments.txt")
        outputs = ("meta.json", "expected.npy", "expected_f64.npy")
        if all(os.path.exists(os.path.join(folder, f)) for f in outputs) and os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == CASES[name]:
                    print(f"{name}: kept")
                    continue
        os.makedirs(folder, exist_ok=True)
        start = time.time()
        cmd = [sys.executable, os.path.join(HERE, "make_fixture.py")] + CASES[name].split() + ["--out", folder]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            sys.exit(f"{name}: make_fixture.py failed")
        with open(stamp, "w") as f:
            f.write(CASES[name])
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        print(f"{name}: made in {time.time() - start:.1f} s "
              f"(PyTorch forward {meta.get('seconds', float('nan')):.2f} s)")


if __name__ == "__main__":
    main()
