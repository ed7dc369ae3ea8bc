#!/usr/bin/python3
"""Compares pxdgen's dense tanh output and digits CSV with PyTorch's expected output.

usage: compare_dense.py EXPECTED_F32.npy EXPECTED_F64.npy OURS.npy OURS.csv CUT

Prints the largest absolute difference and the share of identical digits against
PyTorch's float64 and float32 outputs; exits 1 when they miss the parity bounds (tanh
within 1e-4 of both; identical digits >= 99.95 % against float64, >= 99.9 % against
float32).
"""

import sys

import numpy as np


def digits_from_tanh(images, cut):
    """The IEA-GAN production transform, float32 throughout."""
    x = images.astype(np.float32)
    x = np.where(x > np.float32(cut), x, np.float32(-1))
    a = np.clip(np.float32(0.5) * x + np.float32(0.5), 0, 1).astype(np.float32)
    adu = np.clip(np.power(np.float32(256), a) - np.float32(1), 0, 255).astype(np.float32)
    charge = adu.astype(np.uint8)[:, :, 3:253, :]
    e, s, u, v = np.nonzero(charge)
    return set(zip(e.tolist(), s.tolist(), u.tolist(), v.tolist(), charge[e, s, u, v].tolist()))


def main():
    expected32, expected64 = np.load(sys.argv[1]), np.load(sys.argv[2])
    ours = np.load(sys.argv[3])
    cut = float(sys.argv[5])
    csv = np.loadtxt(sys.argv[4], delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    mine = set(zip(csv[:, 0].tolist(), csv[:, 1].tolist(), csv[:, 5].tolist(), csv[:, 6].tolist(), csv[:, 7].tolist()))
    ok = True
    for label, expected, bound in (("float64", expected64, 0.9995), ("float32", expected32, 0.999)):
        if expected.shape != ours.shape:
            sys.exit(f"shape {ours.shape} differs from PyTorch's {expected.shape}")
        max_abs = float(np.max(np.abs(expected.astype(np.float64) - ours)))
        theirs = digits_from_tanh(expected, cut)
        share = len(theirs & mine) / max(1, len(theirs | mine))
        print(f"vs PyTorch {label}: events {expected.shape[0]} x {expected.shape[1]} sensors: "
              f"max |tanh - torch| = {max_abs:.3g}, identical digits {100 * share:.4f} % "
              f"({len(mine)} pxdgen, {len(theirs)} PyTorch)")
        ok = ok and max_abs <= 1e-4 and share >= bound and len(theirs) > 0
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
