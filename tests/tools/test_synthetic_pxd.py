#!/usr/bin/python3
"""Checks the calibration and the conventions of the synthetic PXD background
(tools/synthetic_pxd.py) on a few hundred events: per-sensor occupancy within 10 % of
the published Geant4 values, the charge spectrum and mean charges, the digit
conventions, the network image layout, determinism, the statistics layout.

usage: test_synthetic_pxd.py [--events N]

Exits 0 when every check passes, 1 with the list of failures otherwise. Takes seconds.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import synthetic_pxd as synthetic  # noqa: E402

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def check_digits(digits):
    sensor, u, v, charge = digits
    check(sensor.dtype == np.uint8 and u.dtype == np.uint16 and v.dtype == np.uint16 and charge.dtype == np.uint8,
          f"digit types {sensor.dtype} {u.dtype} {v.dtype} {charge.dtype}")
    check(sensor.max() < synthetic.N_SENSORS and u.max() < synthetic.U_CELLS and v.max() < synthetic.V_CELLS,
          "digit out of the sensor")
    check(charge.min() >= synthetic.THRESHOLD_ADU, f"charge {charge.min()} below the 7 ADU threshold")
    key = (sensor.astype(np.int64) * synthetic.U_CELLS + u) * synthetic.V_CELLS + v
    check(np.all(np.diff(key) > 0), "digits not sorted by (sensor, ucell, vcell) or a pixel given twice")


def check_calibration(source, n_events):
    stats = synthetic.EventStatistics()
    for k in range(n_events):
        digits = source.event(k)
        if k < 3:
            check_digits(digits)
        stats.add_event(digits, with_clusters=k < 3)
    reference = source.reference
    ratio = stats.mean_occupancy() / reference["occupancy"]
    print(f"per-sensor occupancy synthetic / Geant4 over {n_events} events: "
          f"min {ratio.min():.4f}, max {ratio.max():.4f}, mean {ratio.mean():.4f}")
    worst = int(np.argmax(np.abs(ratio - 1)))
    check(np.all(np.abs(ratio - 1) < 0.10),
          f"occupancy of sensor {synthetic.sensor_labels()[worst]} off by {100 * (ratio[worst] - 1):+.1f} %")

    summary = synthetic.calibration_summary(stats, reference)
    print(f"mean charge synthetic {summary['mean_charge_synthetic']:.2f} ADU, Geant4 {summary['mean_charge_geant4']:.2f}; "
          f"largest per-sensor difference {summary['mean_charge_per_sensor_max_abs_diff']:.2f} ADU; "
          f"charge spectrum total variation distance {summary['charge_spectrum_total_variation']:.4f}")
    check(abs(summary["mean_charge_synthetic"] / summary["mean_charge_geant4"] - 1) < 0.02, "mean charge off by 2 %")
    check(summary["mean_charge_per_sensor_max_abs_diff"] < 0.5, "a sensor's mean charge is off by 0.5 ADU")
    check(summary["charge_spectrum_total_variation"] < 0.02, "charge spectrum differs from Geant4's")
    for layer, spread in summary["occupancy_spread"].items():
        print(f"{layer}: relative spread of the image occupancy synthetic {spread['synthetic_relative_std']:.3f}, "
              f"Geant4 {spread['geant4_relative_std']:.3f}")
        check(abs(spread["synthetic_relative_std"] / spread["geant4_relative_std"] - 1) < 0.25,
              f"{layer}: occupancy spread off by 25 %")

    out = stats.to_json()
    pixels = n_events * synthetic.N_SENSORS * synthetic.PIXELS_PER_SENSOR
    check(sum(out["intensity_hist"]["counts_with_flow"]) == pixels, "charge histogram does not count every pixel")
    check(len(out["intensity_hist"]["counts_with_flow"]) == 253 and len(out["intensity_hist"]["edges"]) == 252,
          "charge histogram binning differs from the published one")
    check(out["intensity_hist"]["counts_with_flow"][2] == 0, "digits below the threshold")
    check(sum(out["occupancy_hist"]["counts_with_flow"]) == n_events * synthetic.N_SENSORS,
          "occupancy histogram does not count every image")
    check(len(out["occupancy_spearman"]["matrix"]) == synthetic.N_SENSORS, "Spearman matrix is not 40 x 40")
    expected_keys = {"format", "format_version", "events", "digits", "pixels_per_sensor", "sensor_order", "sensors",
                     "mean_occupancy_per_sensor", "std_occupancy_per_sensor", "mean_charge_per_sensor",
                     "digits_per_sensor", "intensity_hist", "occupancy_hist", "occupancy_spearman",
                     "cluster_size_hist"}
    check(set(out) == expected_keys, f"stats keys differ from pxdgen stats: {sorted(set(out) ^ expected_keys)}")


def check_images(source):
    digits = source.event(0)
    sensor, u, v, charge = digits
    x = synthetic.network_images(digits)
    check(x.shape == (40, 256, 768), f"network images have shape {x.shape}")
    pad = np.r_[0:synthetic.CROPPED_ROWS, synthetic.CROPPED_ROWS + synthetic.U_CELLS:synthetic.IMAGE_ROWS]
    check(np.all(x[:, pad, :] == -1), "padding rows are not empty")
    expected = 2 * (np.log(charge.astype(np.float64) + 1) / np.log(256) - 0.5)
    check(np.allclose(x[sensor, u.astype(int) + 3, v], expected, atol=1e-6), "log transform or row offset differs")
    check(np.count_nonzero(x > -1) == len(charge), "fired pixels of the images differ from the digits")
    # Through the engine's transform, from the middle of each ADU cell, every digit comes back.
    middle = synthetic.network_images((sensor, u, v, charge), rng=None)
    middle[sensor, u.astype(int) + 3, v] = 2 * (np.log(charge + 1.5) / np.log(256) - 0.5)
    back = synthetic.digits_from_network_images(middle)
    check(all(np.array_equal(a, b) for a, b in zip(back, digits)), "digits do not survive the output transform")
    adu = synthetic.adu_images(digits)
    check(adu.shape == (40, 250, 768) and np.count_nonzero(adu) == len(charge), "dense ADU images differ")


def check_determinism(source):
    a, b = source.event(17), source.event(17)
    check(all(np.array_equal(x, y) for x, y in zip(a, b)), "event 17 differs between two calls")
    other = synthetic.SyntheticPXD(seed=source.seed + 1).event(17)
    check(len(other[0]) != len(a[0]) or not np.array_equal(other[1], a[1]), "another seed gives the same event")


def check_clusters(source):
    try:
        from scipy import ndimage
    except ImportError:
        print("no scipy: cluster labelling not compared")
        return
    digits = source.event(3)
    sizes = synthetic.cluster_sizes(digits[0], digits[1], digits[2])
    in_plane = np.zeros((3, 3, 3), dtype=int)
    in_plane[1] = 1  # 8-connected within a sensor, never across sensors
    labels, n = ndimage.label(synthetic.adu_images(digits) > 0, structure=in_plane)
    expected = np.bincount(np.bincount(labels.ravel())[1:])[1:]
    check(np.array_equal(sizes, expected), "cluster sizes differ from scipy.ndimage.label")
    print(f"event 3: {n} clusters, mean size {len(digits[0]) / n:.2f} pixels")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    source = synthetic.SyntheticPXD(seed=2)
    check_calibration(source, args.events)
    check_images(source)
    check_determinism(source)
    check_clusters(source)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("all synthetic PXD checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
