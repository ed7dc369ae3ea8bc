#!/usr/bin/python3
"""A tiny plain layer stack whose two layers are spectrally normalized in the two ways
checkpoints store it, with the folded weights PyTorch computes, for the converter test.

  layer 0: Linear(4 -> 192), BigGAN style: weight, u0 (1 x 192), sv0
  layer 5: Conv2d(1 -> 1, 3x3), torch.nn.utils.spectral_norm: weight_orig, weight_u, weight_v

usage: make_sn_checkpoint.py OUT_DIR  (writes model.pth, layers.json, folded0.npy, folded5.npy)
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn


def biggan_sigma(weight, u0, eps):
    """One power-iteration step from u0, as the BigGAN-style layers do in eval mode."""
    w = weight.reshape(weight.shape[0], -1)
    v = nn.functional.normalize(u0 @ w, dim=1, eps=eps)
    u = nn.functional.normalize(v @ w.t(), dim=1, eps=eps)
    return (v @ w.t() @ u.t()).squeeze()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(3)
    layers = [
        {"type": "linear", "in": 4, "out": 192},
        {"type": "reshape", "shape": [1, 8, 24]},
        {"type": "upsample", "scale": 2}, {"type": "upsample", "scale": 2},
        {"type": "upsample", "scale": 2},
        {"type": "conv2d", "in": 1, "out": 1, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "upsample", "scale": 2}, {"type": "upsample", "scale": 2},
        {"type": "tanh"},
    ]
    # The conv sits before the last two upsamplings only to keep the state dict small.
    linear_w = torch.randn(192, 4)
    linear_b = torch.randn(192) * 0.1
    u0 = torch.randn(1, 192)
    sigma0 = biggan_sigma(linear_w, u0, 1e-6)

    conv = nn.utils.spectral_norm(nn.Conv2d(1, 1, 3, padding=1))
    conv.train()
    for _ in range(3):  # a few updates so u, v are not their initial values
        conv(torch.randn(1, 1, 8, 8))
    conv.eval()
    with torch.no_grad():
        conv(torch.randn(1, 1, 8, 8))  # eval forward recomputes weight from the stored u, v
        folded5 = conv.weight.detach().clone()

    state = {
        "0.weight": linear_w, "0.bias": linear_b, "0.u0": u0, "0.sv0": torch.tensor([1.7]),
        "5.weight_orig": conv.weight_orig.detach(), "5.bias": conv.bias.detach(),
        "5.weight_u": conv.weight_u, "5.weight_v": conv.weight_v,
    }
    torch.save(state, os.path.join(out, "model.pth"))
    with open(os.path.join(out, "layers.json"), "w") as f:
        json.dump({"dim_z": 4, "SN_eps": 1e-6, "layers": layers}, f)
    np.save(os.path.join(out, "folded0.npy"), (linear_w / sigma0).numpy().astype(np.float32))
    np.save(os.path.join(out, "folded5.npy"), folded5.numpy().astype(np.float32))
    print(f"sigma of layer 0: {float(sigma0):.6f}")


if __name__ == "__main__":
    main()
