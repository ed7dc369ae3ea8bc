#!/usr/bin/python3
"""Checks that a pxdgen HDF5 digits file reads with plain h5py (and pandas, if present)
as the layout in tools/pxdgen/hdf5_writer.hpp promises.

usage: test_hdf5_output.py FILE.h5 [--csv SAME_RUN.csv] [--expect-events N]

With --csv (the CSV digits `pxdgen generate -o` writes for the same run), every row must
match. Exits 0 when all checks pass, 1 with a list of failures otherwise.
"""
import argparse
import sys

import h5py
import numpy as np

DIGIT_COLUMNS = {
    "event": np.uint64,
    "sensor": np.uint8,
    "layer": np.uint8,
    "ladder": np.uint8,
    "sensor_number": np.uint8,
    "ucell": np.uint16,
    "vcell": np.uint16,
    "charge": np.uint8,
}
INDEX_COLUMNS = {"event_offsets": np.uint64, "event_numbers": np.uint64}
STRING_ATTRS = ["format", "model_sha256", "family", "threshold", "pxdgen_version", "sensor_order"]
INT_ATTRS = ["format_version", "seed", "first_event", "events_completed", "complete"]

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def sensor_geometry(sensor):
    """layer, ladder, sensor number of sensor indices (MODELS.md section 1)."""
    sensor = sensor.astype(np.int64)
    layer = np.where(sensor < 16, 1, 2)
    ladder = np.where(sensor < 16, sensor // 2 + 1, (sensor - 16) // 2 + 1)
    return layer, ladder, sensor % 2 + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--csv", help="CSV digits of the same run to compare with")
    parser.add_argument("--expect-events", type=int)
    args = parser.parse_args()

    with h5py.File(args.path, "r") as f:
        for name in STRING_ATTRS:
            if check(name in f.attrs, f"attribute {name} missing"):
                check(isinstance(f.attrs[name], str), f"attribute {name} is {type(f.attrs[name]).__name__}, not str")
        for name in INT_ATTRS:
            if check(name in f.attrs, f"attribute {name} missing"):
                check(np.issubdtype(np.asarray(f.attrs[name]).dtype, np.integer), f"attribute {name} is not an integer")
        if failures:
            return finish()
        check(f.attrs["format"] == "pxdgen-digits", f"format is {f.attrs['format']!r}")
        check(int(f.attrs["format_version"]) == 1, "format_version is not 1")
        complete = int(f.attrs["complete"])
        check(complete in (0, 1), "complete is not 0/1")

        columns = {}
        for name, dtype in {**DIGIT_COLUMNS, **INDEX_COLUMNS}.items():
            if not check(name in f, f"dataset {name} missing"):
                continue
            d = f[name]
            check(d.dtype == np.dtype(dtype), f"{name} has dtype {d.dtype}, want {np.dtype(dtype)}")
            check(d.ndim == 1, f"{name} is not 1-D")
            check(d.chunks is not None, f"{name} is not chunked")
            check(d.compression == "gzip", f"{name} compression is {d.compression}")
            check(d.maxshape == (None,), f"{name} is not extendable: maxshape {d.maxshape}")
            columns[name] = d[...]
        if failures:
            return finish()

        offsets, numbers = columns["event_offsets"], columns["event_numbers"]
        events, rows = len(numbers), len(columns["event"])
        for name in DIGIT_COLUMNS:
            check(len(columns[name]) == rows, f"{name} has {len(columns[name])} rows, event has {rows}")
        check(len(offsets) == events + 1, f"event_offsets has {len(offsets)} entries for {events} events")
        check(offsets[0] == 0 and offsets[-1] == rows, "event_offsets does not span the digits")
        check(np.all(np.diff(offsets.astype(np.int64)) >= 0), "event_offsets decreases")
        if complete == 1:
            check(int(f.attrs["events_completed"]) == events, "events_completed differs from the number of events")
        if args.expect_events is not None:
            check(events == args.expect_events, f"{events} events, expected {args.expect_events}")
        if failures:
            return finish()

        counts = np.diff(offsets.astype(np.int64))
        check(np.array_equal(columns["event"], np.repeat(numbers, counts)), "event column does not follow the index")
        sensor = columns["sensor"]
        check(np.all(sensor < 40), "sensor out of range")
        check(np.all(columns["ucell"] < 250), "ucell out of range")
        check(np.all(columns["vcell"] < 768), "vcell out of range")
        check(np.all(columns["charge"] >= 1), "charge 0 stored")
        layer, ladder, number = sensor_geometry(sensor)
        check(np.array_equal(columns["layer"], layer), "layer disagrees with sensor")
        check(np.array_equal(columns["ladder"], ladder), "ladder disagrees with sensor")
        check(np.array_equal(columns["sensor_number"], number), "sensor_number disagrees with sensor")

        # One event through the index alone, as a user would read it.
        if events > 0:
            k = events // 2
            lo, hi = int(offsets[k]), int(offsets[k + 1])
            one = f["ucell"][lo:hi]
            check(np.array_equal(one, columns["ucell"][lo:hi]), "slicing one event gives other rows")
            check(np.all(f["event"][lo:hi] == numbers[k]), "the sliced event holds digits of another event")

    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        frame = pd.DataFrame({name: columns[name] for name in DIGIT_COLUMNS})
        per_event = frame.groupby("event").size()
        expected = pd.Series(counts, index=numbers)
        expected = expected[expected > 0].groupby(level=0).sum()
        check(per_event.sort_index().to_numpy().tolist() == expected.sort_index().to_numpy().tolist(),
              "pandas groupby(event) disagrees with event_offsets")

    if args.csv:
        table = np.loadtxt(args.csv, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
        check(table.shape == (rows, 8), f"CSV has shape {table.shape}, HDF5 {rows} digits")
        if not failures:
            for i, name in enumerate(DIGIT_COLUMNS):
                check(np.array_equal(table[:, i], columns[name].astype(np.int64)), f"column {name} differs from the CSV")

    print(f"{args.path}: {events} events, {rows} digits, complete={complete}")
    return finish()


def finish():
    if failures:
        for message in failures:
            print("FAIL:", message)
        return 1
    print("hdf5 output: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
