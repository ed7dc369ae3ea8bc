#!/usr/bin/env python3
"""Drives pxdgen from Python through its C API (include/pxdgen/pxdgen.h) with ctypes.

    python3 examples/python/pxdgen_ctypes.py --library build/libpxdgen_c.so \\
        --model model.pxdg --seed 42 --events 3 --csv digits.csv

Without --model it uses the model built into the library. The CSV has the columns of
`pxdgen generate -o X.csv`, so the two can be compared line by line. Needs only the
standard library; the digits come back as ctypes structures without a copy per digit
into Python objects until they are written.
"""
import argparse
import ctypes
import os
import sys


class Digit(ctypes.Structure):
    _fields_ = [("sensor", ctypes.c_uint16), ("ucell", ctypes.c_uint16),
                ("vcell", ctypes.c_uint16), ("charge", ctypes.c_uint16)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("family", ctypes.c_char_p), ("variant", ctypes.c_char_p), ("sha256", ctypes.c_char_p),
                ("dim_z", ctypes.c_int), ("dim_rdof", ctypes.c_int), ("parameters", ctypes.c_int64),
                ("gmac_per_event", ctypes.c_double)]


class GeneratorOptions(ctypes.Structure):
    _fields_ = [("backend", ctypes.c_int), ("threads", ctypes.c_int), ("override_transform", ctypes.c_int),
                ("has_cut", ctypes.c_int), ("cut", ctypes.c_float), ("min_charge", ctypes.c_int)]


class PxdgenError(RuntimeError):
    pass


class Pxdgen:
    """The library and one model; generators() gives per-thread generators."""

    def __init__(self, library, model_path=None):
        self.lib = ctypes.CDLL(library)
        self._declare()
        self.model = ctypes.c_void_p()
        if model_path is None:
            self._check(self.lib.pxdgen_model_builtin(ctypes.byref(self.model)))
        else:
            self._check(self.lib.pxdgen_model_load(os.fsencode(model_path), ctypes.byref(self.model)))
        self.info = ModelInfo()
        self._check(self.lib.pxdgen_model_get_info(self.model, ctypes.byref(self.info)))

    def _declare(self):
        lib, P, S = self.lib, ctypes.POINTER, ctypes.c_int
        lib.pxdgen_version.restype = ctypes.c_char_p
        lib.pxdgen_last_error.restype = ctypes.c_char_p
        lib.pxdgen_model_load.argtypes = [ctypes.c_char_p, P(ctypes.c_void_p)]
        lib.pxdgen_model_builtin.argtypes = [P(ctypes.c_void_p)]
        lib.pxdgen_model_get_info.argtypes = [ctypes.c_void_p, P(ModelInfo)]
        lib.pxdgen_model_free.argtypes = [ctypes.c_void_p]
        lib.pxdgen_model_free.restype = None
        lib.pxdgen_generator_options_init.argtypes = [P(GeneratorOptions)]
        lib.pxdgen_generator_options_init.restype = None
        lib.pxdgen_generator_create.argtypes = [ctypes.c_void_p, P(GeneratorOptions), P(ctypes.c_void_p)]
        lib.pxdgen_generator_free.argtypes = [ctypes.c_void_p]
        lib.pxdgen_generator_free.restype = None
        lib.pxdgen_generator_event.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                                               P(P(Digit)), P(ctypes.c_size_t)]
        lib.pxdgen_sensor_id.argtypes = [ctypes.c_int, P(S), P(S), P(S)]
        for f in ("pxdgen_model_load", "pxdgen_model_builtin", "pxdgen_model_get_info",
                  "pxdgen_generator_create", "pxdgen_generator_event", "pxdgen_sensor_id"):
            getattr(lib, f).restype = S

    def _check(self, status):
        if status != 0:
            raise PxdgenError(self.lib.pxdgen_last_error().decode())

    def version(self):
        return self.lib.pxdgen_version().decode()

    def sensor_id(self, index):
        layer, ladder, sensor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.pxdgen_sensor_id(index, ctypes.byref(layer), ctypes.byref(ladder), ctypes.byref(sensor)))
        return layer.value, ladder.value, sensor.value

    def generator(self, threads=1):
        return Generator(self, threads)

    def close(self):
        if self.model:
            self.lib.pxdgen_model_free(self.model)
            self.model = ctypes.c_void_p()


class Generator:
    def __init__(self, pxdgen, threads):
        self.px = pxdgen
        options = GeneratorOptions()
        pxdgen.lib.pxdgen_generator_options_init(ctypes.byref(options))
        options.threads = threads
        self.handle = ctypes.c_void_p()
        pxdgen._check(pxdgen.lib.pxdgen_generator_create(pxdgen.model, ctypes.byref(options),
                                                         ctypes.byref(self.handle)))

    def event(self, seed, event):
        """The digits of event `event` of the run with seed `seed`, as (sensor, ucell, vcell, charge)."""
        digits, count = ctypes.POINTER(Digit)(), ctypes.c_size_t()
        self.px._check(self.px.lib.pxdgen_generator_event(self.handle, seed, event, ctypes.byref(digits),
                                                          ctypes.byref(count)))
        return [(d.sensor, d.ucell, d.vcell, d.charge) for d in digits[:count.value]]

    def close(self):
        if self.handle:
            self.px.lib.pxdgen_generator_free(self.handle)
            self.handle = ctypes.c_void_p()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", required=True, help="path of libpxdgen_c.so")
    parser.add_argument("--model", help=".pxdg model file (default: the built-in model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--first-event", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", help="write the digits here, as `pxdgen generate -o X.csv` does")
    args = parser.parse_args()
    try:
        px = Pxdgen(args.library, args.model)
        generator = px.generator(args.threads)
    except (OSError, PxdgenError) as e:
        sys.exit(f"pxdgen_ctypes: {e}")
    info = px.info
    print(f"pxdgen {px.version()}: {info.variant.decode()} ({info.family.decode()}), "
          f"{info.parameters} parameters, {info.gmac_per_event:.1f} GMAC per event")
    ids = [px.sensor_id(i) for i in range(40)]
    out = open(args.csv, "w") if args.csv else None
    if out:
        out.write("event,sensor,layer,ladder,sensor_number,ucell,vcell,charge\n")
    for event in range(args.first_event, args.first_event + args.events):
        digits = generator.event(args.seed, event)
        print(f"event {event}: {len(digits)} digits")
        if out:
            for s, u, v, q in digits:
                layer, ladder, number = ids[s]
                out.write(f"{event},{s},{layer},{ladder},{number},{u},{v},{q}\n")
    if out:
        out.close()
    generator.close()
    px.close()


if __name__ == "__main__":
    main()
