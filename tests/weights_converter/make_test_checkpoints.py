#!/usr/bin/python3
"""Writes the small PyTorch checkpoints the checkpoint-reader tests load.

Run with an interpreter that has torch and numpy (on Debian: /usr/bin/python3):

    /usr/bin/python3 tests/weights_converter/make_test_checkpoints.py

Next to every NAME.pt it writes NAME.json with what reading it must produce, keyed by
the --key used ("" for the default lookup):
    {"<key>": {"path": ..., "skipped": [...],
               "tensors": [{"name", "dtype", "shape", "values"}, ...]}}
Values are the tensor made contiguous and converted to float32, so the C++ side can
compare them exactly.
"""

import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "checkpoints")


def tensor_record(name, t):
    t = t.detach()
    return {
        "name": name,
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "values": [float(v) for v in t.contiguous().to(torch.float32).flatten().tolist()],
    }


def expectation(state, path=""):
    tensors, skipped = [], []
    for k, v in state.items():
        if isinstance(v, torch.Tensor):
            tensors.append(tensor_record(k, v))
        else:
            skipped.append(k)
    return {"path": path, "tensors": tensors, "skipped": skipped}


def save(name, obj, expected, **kwargs):
    path = os.path.join(OUT, name + ".pt")
    torch.save(obj, path, **kwargs)
    if expected is not None:
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(expected, f, indent=1)
            f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes")


def arange(*shape, scale=0.25, shift=-2.0, dtype=torch.float32):
    n = 1
    for s in shape:
        n *= s
    return (torch.arange(n, dtype=torch.float64) * scale + shift).to(dtype).reshape(shape)


def small_state_dict(seed):
    g = torch.Generator().manual_seed(seed)
    return collections.OrderedDict(
        [
            ("conv.weight", arange(2, 3, 3, 3)),
            ("conv.bias", torch.tensor([0.5, -1.5])),
            ("fc.weight", torch.randn(4, 5, generator=g)),
            ("fc.bias", torch.zeros(4)),
        ]
    )


def optimizer_junk():
    # Shaped like torch.optim.Adam.state_dict(): per-parameter state keyed by int ids.
    return {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2), "exp_avg_sq": torch.ones(2)}},
        "param_groups": [{"lr": 1e-4, "betas": (0.0, 0.999), "eps": 1e-8, "params": [0]}],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    plain = small_state_dict(1)
    save("plain", plain, {"": expectation(plain)})

    # A training checkpoint: two state dicts (so the default lookup is ambiguous) next to
    # python values and objects of classes the reader cannot know.
    g = small_state_dict(2)
    g_ema = small_state_dict(3)
    g_ema["num_updates"] = 17  # a non-tensor entry inside a state dict is skipped
    nested = {
        "G": g,
        "G_ema": g_ema,
        "epoch": 12,
        "run": "run-7",
        "optimizer_G": optimizer_junk(),
        "args": argparse.Namespace(lr=0.1, name="x", layers=[1, 2]),
        "np_scalar": np.float32(1.5),
        "np_array": np.arange(3, dtype=np.int64),
        "big": 2**70,
        "blob": b"\x00\x01binary",
    }
    save("nested", nested, {"G": expectation(g, "G"), "G_ema": expectation(g_ema, "G_ema")})

    # One state dict among junk: found without a key.
    sd = small_state_dict(4)
    single = {"state_dict": sd, "epoch": 3, "optimizer": optimizer_junk(), "config": {"lr": 0.1, "layers": [1, 2]}}
    save("single_nested", single, {"": expectation(sd, "state_dict"), "state_dict": expectation(sd, "state_dict")})

    dtypes = collections.OrderedDict(
        [
            ("f16", torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-24, 2.0**-14, 1.0 / 3.0], dtype=torch.float16)),
            ("bf16", torch.tensor([1.0, -3.140625, 1e30, 2.0**-130, 0.0], dtype=torch.bfloat16)),
            ("f64", torch.tensor([[0.1, -1e-40], [123456789.123, -0.0]], dtype=torch.float64)),
            ("i64", torch.tensor([0, -3, 2**40, 2**40 + 1, -(2**62)], dtype=torch.int64)),
            ("i32", torch.tensor([7, -2**31, 2**31 - 1], dtype=torch.int32)),
            ("i16", torch.tensor([-32768, 32767], dtype=torch.int16)),
            ("i8", torch.tensor([-128, 5], dtype=torch.int8)),
            ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
            ("b", torch.tensor([True, False, True])),
            ("num_batches_tracked", torch.tensor(42)),
            ("f64_scalar", torch.tensor(2.5, dtype=torch.float64)),
        ]
    )
    save("dtypes", dtypes, {"": expectation(dtypes)})

    # Views are saved as their whole storage plus offset and strides; several of these
    # tensors share one storage.
    base = arange(4, 6, scale=1.0, shift=0.0)
    other = torch.arange(10, dtype=torch.float32)
    views = collections.OrderedDict(
        [
            ("base", base),
            ("transposed", base.t()),
            ("rows", base[1:3]),
            ("columns", base[:, 1::2]),
            ("element", base[1, 2]),
            ("window", other[3:7]),
            ("expanded", torch.tensor([1.5, -1.0]).reshape(2, 1).expand(2, 3)),
            ("scalar", torch.tensor(3.5)),
            ("empty", torch.zeros(0, 3)),
            ("half_t", arange(3, 4, dtype=torch.float16).t()),
        ]
    )
    save("views", views, {"": expectation(views)})

    params = collections.OrderedDict(
        [
            ("weight", torch.nn.Parameter(arange(3, 2))),
            ("frozen", torch.nn.Parameter(torch.tensor([1.0, 2.0]), requires_grad=False)),
            ("buffer", torch.tensor([9.0])),
        ]
    )
    save("parameters", params, {"": expectation(params)})

    proto4 = small_state_dict(5)
    save("protocol4", proto4, {"": expectation(proto4)}, pickle_protocol=4)

    # The legacy format names storages by object id, so this file differs on every run;
    # only its first bytes matter to the tests.
    save("legacy", small_state_dict(6), None, _use_new_zipfile_serialization=False)

    torch.manual_seed(7)
    save("whole_module", torch.nn.Linear(2, 3), None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
