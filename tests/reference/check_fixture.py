#!/usr/bin/python3
"""Reload a fixture made by make_fixture.py and recompute its expected output.

  check_fixture.py DIR [DIR ...]

Loads model.pth (any nesting, any storage dtype, cast to float32), rebuilds
the reference model from meta.json / config.json, loads the state dict
strictly, runs z.npy (and r.npy, prior.json) and reports the largest absolute
difference to expected.npy. Exit status 1 if any difference exceeds 1e-5.
"""

import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxd_models as pm  # noqa: E402


def load_state(path):
    obj = torch.load(path, map_location="cpu")
    for key in ("G", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    return {k: (v.float() if v.is_floating_point() else v) for k, v in obj.items()}


def check(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    config = json.load(open(os.path.join(d, "config.json")))
    fam = meta["family"]
    if fam in pm.VARIANTS:
        model = pm.BigGanDeepGenerator(ch=meta["ch"], depth=meta["depth"],
                                       attn=meta["attn"], variant=fam,
                                       sn_eps=config["SN_eps"])
        if fam == "pegan":
            model.set_prior(json.load(open(os.path.join(d, "prior.json")))["occupancy"])
    elif fam == "wgan_convnet":
        model = pm.WganConvNet(ch=meta["ch"])
    elif fam == "wgan_resnet":
        model = pm.WganResNet(ch=meta["ch"])
    else:
        model = pm.SequentialGenerator(config)
    model.load_state_dict(load_state(os.path.join(d, "model.pth")), strict=True)
    model.eval()
    z = torch.from_numpy(np.load(os.path.join(d, "z.npy")))
    r = None
    if os.path.exists(os.path.join(d, "r.npy")):
        r = torch.from_numpy(np.load(os.path.join(d, "r.npy")))
    expected = np.load(os.path.join(d, "expected.npy"))
    worst = 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        for e in range(z.shape[0]):
            if fam in pm.VARIANTS:
                out = model(z[e], r=None if r is None else r[e],
                            sensors=meta["sensors"])
            else:
                out = model(z[e], sensors=meta["sensors"])
            worst = max(worst, float(np.abs(out[:, 0].numpy() - expected[e]).max()))
    print(f"{d}: {fam} max |diff| = {worst:.3g} ({time.perf_counter() - t0:.1f}s)")
    return worst


def main():
    torch.set_num_threads(2)
    bad = [d for d in sys.argv[1:] if check(d) > 1e-5]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
