#!/usr/bin/python3
"""Plots the statistics of a pxdgen run (`pxdgen stats IN.h5 -o stats.json`) against the
published Geant4 and IEA-GAN numbers, and the hit map of one event.

usage: plot_stats.py stats.json -o DIR [--reference published_pxd_stats.json]
                     [--events events.h5 [--event K]] [--label NAME]

Writes into DIR:
  occupancy_per_sensor.png    mean occupancy of each of the 40 sensors
  charge_per_sensor.png       mean charge of the fired pixels of each sensor
  charge_spectrum.png         charge spectrum of all pixels (log scale), ratio to Geant4
  occupancy_distribution.png  distribution of the per-image occupancy
  occupancy_correlation.png   Spearman correlation of the sensor occupancies
  cluster_size.png            sizes of 8-connected pixel clusters
  event_K.png                 (with --events) hit map of event K, sensors laid out as in the PXD
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFERENCE = os.path.join(HERE, "data", "published_pxd_stats.json")
N_SENSORS = 40
U_CELLS, V_CELLS = 250, 768
# Published samples drawn next to a run: key in the reference file, legend, style.
REFERENCE_SAMPLES = [
    ("real", "Geant4 (published)", dict(color="black", lw=1.6)),
    ("IEAGAN", "IEA-GAN (published)", dict(color="tab:orange", lw=1.4, ls="--")),
]
RUN_STYLE = dict(color="tab:blue")


def sensor_labels():
    labels = []
    for i in range(N_SENSORS):
        layer, j = (1, i) if i < 16 else (2, i - 16)
        labels.append(f"{layer}.{j // 2 + 1}.{j % 2 + 1}")
    return labels


def floats(values):
    """JSON list with nulls to a float array with NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def load_reference(path):
    if path is None:
        return {}
    with open(path) as f:
        samples = json.load(f).get("samples", {})
    return {key: samples[key] for key, _, _ in REFERENCE_SAMPLES if key in samples}


def mark_layers(ax, horizontal=True):
    """A line between the 16 layer-1 and 24 layer-2 sensors, with the layer names."""
    ax.axvline(15.5, color="gray", lw=0.8, ls=":")
    if horizontal:
        for x, text in ((7.5, "layer 1"), (27.5, "layer 2")):
            ax.text(x, 1.01, text, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=9,
                    color="gray")


def per_sensor_plot(stats, reference, key, ylabel, title, path, label, scale=1.0, errors=None):
    labels = sensor_labels()
    x = np.arange(N_SENSORS)
    fig, ax = plt.subplots(figsize=(13, 4.8))
    for sample, legend, style in REFERENCE_SAMPLES:
        if sample in reference:
            ax.step(x, floats(reference[sample][key]) * scale, where="mid", label=legend, **style)
    y = floats(stats[key]) * scale
    ax.errorbar(x, y, yerr=errors, fmt="o", ms=4.5, capsize=2, label=label, zorder=3, **RUN_STYLE)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=90, fontsize=8)
    ax.set_xlim(-0.7, N_SENSORS - 0.3)
    ax.set_xlabel("sensor (layer.ladder.sensor)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, pad=16)
    ax.grid(axis="y", alpha=0.3)
    mark_layers(ax)
    ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_occupancy_per_sensor(stats, reference, out, label):
    events = max(int(stats["events"]), 1)
    errors = floats(stats["std_occupancy_per_sensor"]) * 100 / np.sqrt(events) if "std_occupancy_per_sensor" in stats else None
    per_sensor_plot(stats, reference, "mean_occupancy_per_sensor", "mean occupancy [%]",
                    f"Mean occupancy per sensor ({stats['events']} events; error bars: standard error)",
                    os.path.join(out, "occupancy_per_sensor.png"), label, scale=100, errors=errors)


def plot_charge_per_sensor(stats, reference, out, label):
    per_sensor_plot(stats, reference, "mean_charge_per_sensor", "mean charge of fired pixels [ADU]",
                    "Mean charge per sensor", os.path.join(out, "charge_per_sensor.png"), label)


def spectrum(hist):
    """Fraction of all pixels per ADU in each bin from 1 ADU up (the [-1, 1) bin is the
    empty pixels)."""
    edges = np.asarray(hist["edges"], dtype=float)
    counts = np.asarray(hist["counts_with_flow"], dtype=float)
    total = counts.sum()
    inner = counts[1:-1]
    density = inner / np.diff(edges) / total if total > 0 else inner * np.nan
    density[density == 0] = np.nan  # an empty bin is a gap, not a drop to the bottom of a log axis
    return edges[1:], density[1:]


def plot_charge_spectrum(stats, reference, out, label):
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, gridspec_kw=dict(height_ratios=[3, 1]))
    curves = {}
    for sample, legend, style in REFERENCE_SAMPLES:
        if sample in reference:
            edges, density = spectrum(reference[sample]["intensity_hist"])
            curves[sample] = density
            ax.stairs(density, edges, baseline=None, label=legend, **style)
    edges, density = spectrum(stats["intensity_hist"])
    ax.stairs(density, edges, baseline=None, label=label, lw=1.6, **RUN_STYLE)
    ax.set_yscale("log")
    ax.set_ylabel("fraction of all pixels per ADU")
    ax.set_title("Charge spectrum of all pixels (bin [1, 7) ADU: below the 7 ADU readout threshold)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    if "real" in curves:
        with np.errstate(divide="ignore", invalid="ignore"):
            for sample, legend, style in REFERENCE_SAMPLES[1:]:
                if sample in curves:
                    rax.stairs(curves[sample] / curves["real"], edges, baseline=None, **style)
            rax.stairs(density / curves["real"], edges, baseline=None, lw=1.6, **RUN_STYLE)
        rax.axhline(1, color="black", lw=0.8)
        rax.set_ylim(0, 2.5)
        rax.set_ylabel("ratio to Geant4")
        rax.grid(alpha=0.3)
    rax.set_xlabel("charge [ADU]")
    rax.set_xlim(1, 256)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "charge_spectrum.png"), dpi=120)
    plt.close(fig)


def plot_occupancy_distribution(stats, reference, out, label):
    fig, ax = plt.subplots(figsize=(10, 5.5))

    def draw(hist, legend, style):
        edges = np.asarray(hist["edges"], dtype=float) * 100
        counts = np.asarray(hist["counts_with_flow"], dtype=float)
        total = counts.sum()
        if total == 0:
            return
        overflow = counts[-1] / total
        text = f"{legend}, {overflow:.2%} above {edges[-1]:g} %" if overflow > 0 else legend
        ax.stairs(counts[1:-1] / total, edges, label=text, **style)

    for sample, legend, style in REFERENCE_SAMPLES:
        if sample in reference:
            draw(reference[sample]["occupancy_hist"], legend, style)
    draw(stats["occupancy_hist"], label, dict(lw=1.6, **RUN_STYLE))
    ax.set_xlabel("occupancy of one sensor image [%]")
    ax.set_ylabel("fraction of images per bin")
    ax.set_title(f"Per-image occupancy, all 40 sensors ({stats['events']} events, bins of 0.01 %)")
    ax.set_xlim(0, 2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "occupancy_distribution.png"), dpi=120)
    plt.close(fig)


def plot_correlation(stats, out, label):
    matrix = np.array([floats(row) for row in stats["occupancy_spearman"]["matrix"]])
    labels = sensor_labels()
    fig, ax = plt.subplots(figsize=(11, 9.5))
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad("lightgray")
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks(range(N_SENSORS))
    ax.set_yticks(range(N_SENSORS))
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    for boundary in (15.5,):
        ax.axvline(boundary, color="black", lw=0.8)
        ax.axhline(boundary, color="black", lw=0.8)
    ax.set_title(f"Spearman correlation of sensor occupancies over {stats['events']} events: {label}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label="Spearman rho (gray: undefined)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "occupancy_correlation.png"), dpi=120)
    plt.close(fig)


def plot_cluster_sizes(stats, out, label):
    hist = stats["cluster_size_hist"]
    sizes = np.asarray(hist["sizes"], dtype=float)
    counts = np.asarray(hist["counts"], dtype=float)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    if counts.sum() > 0:
        ax.plot(sizes, counts / counts.sum(), "o-", ms=4, label=label, **RUN_STYLE)
        ax.set_xscale("log")
        ax.set_yscale("log")
    mean = hist.get("mean_size")
    per_event = hist.get("clusters_per_event")
    summary = f"{int(hist['clusters'])} clusters"
    if per_event is not None:
        summary += f", {per_event:.0f} per event, mean size {mean:.2f} pixels"
    ax.set_title(f"Cluster size (8-connected fired pixels): {summary}", fontsize=11)
    ax.set_xlabel("pixels in the cluster")
    ax.set_ylabel("fraction of clusters")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cluster_size.png"), dpi=120)
    plt.close(fig)


def read_event(path, event):
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SystemExit(f"plot_stats: cannot open '{path}' as HDF5: {e}")
    with f:
        if f.attrs.get("format") != "pxdgen-digits":
            raise SystemExit(f"plot_stats: '{path}' is not a pxdgen digits file")
        numbers = f["event_numbers"][...]
        if len(numbers) == 0:
            raise SystemExit(f"plot_stats: '{path}' holds no events")
        if event is None:
            index = 0
        else:
            found = np.nonzero(numbers == event)[0]
            if len(found) == 0:
                raise SystemExit(f"plot_stats: event {event} is not in '{path}' (it holds events "
                                 f"{numbers.min()}..{numbers.max()}, {len(numbers)} in all)")
            index = int(found[0])
        lo, hi = (int(x) for x in f["event_offsets"][index:index + 2])
        images = np.zeros((N_SENSORS, U_CELLS, V_CELLS), dtype=np.float32)
        images[f["sensor"][lo:hi], f["ucell"][lo:hi], f["vcell"][lo:hi]] = f["charge"][lo:hi]
        attrs = {k: f.attrs[k] for k in ("family", "variant", "seed") if k in f.attrs}
        return int(numbers[index]), images, attrs


def max_pool(image, factor):
    """Keeps single hot pixels visible when a 250 x 768 sensor shrinks to a small panel."""
    u, v = image.shape
    image = image[: u - u % factor, : v - v % factor]
    return image.reshape(u // factor, factor, v // factor, factor).max(axis=(1, 3))


def plot_event(path, event, out):
    number, images, attrs = read_event(path, event)
    # Columns: ladders side by side (layer 1 centred over layer 2); rows: layer 1 forward,
    # layer 1 backward, then layer 2 forward, backward. Each sensor is drawn with v (the
    # long side, along the beam) vertical.
    fig = plt.figure(figsize=(17, 18))
    outer = fig.add_gridspec(2, 1, hspace=0.12, left=0.06, right=0.9, top=0.92, bottom=0.03)
    # The two sensors of a ladder meet at the middle of the detector: their rows touch,
    # with the forward sensor's label above and the backward sensor's below.
    layers = [outer[k].subgridspec(2, 12, hspace=0.02, wspace=0.08) for k in range(2)]
    norm = LogNorm(vmin=1, vmax=255)
    cmap = plt.get_cmap("inferno_r").copy()
    cmap.set_bad("white")
    artist = None
    for i in range(N_SENSORS):
        layer, j = (1, i) if i < 16 else (2, i - 16)
        ladder, sensor = j // 2, j % 2
        column = ladder + (2 if layer == 1 else 0)
        ax = fig.add_subplot(layers[layer - 1][sensor, column])
        pooled = max_pool(images[i], 2).T
        artist = ax.imshow(np.ma.masked_equal(pooled, 0), cmap=cmap, norm=norm, aspect="auto",
                           interpolation="nearest", origin="lower")
        occupancy = np.count_nonzero(images[i]) / (U_CELLS * V_CELLS)
        text = f"{layer}.{ladder + 1}.{sensor + 1}  {occupancy:.2%}"
        if sensor == 0:
            ax.set_title(text, fontsize=9)
        else:
            ax.set_xlabel(text, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("gray")
        if column == (2 if layer == 1 else 0):
            ax.set_ylabel(f"layer {layer}\n{'forward (sensor 1)' if sensor == 0 else 'backward (sensor 2)'}",
                          fontsize=10)
    cax = fig.add_axes([0.92, 0.25, 0.015, 0.5])
    fig.colorbar(artist, cax=cax, label="charge [ADU] (2x2 pixels, max)")
    total = np.count_nonzero(images)
    what = ", ".join(f"{k} {v}" for k, v in attrs.items() if str(v))
    fig.suptitle(f"Event {number}: {total} fired pixels, occupancy {total / images.size:.3%}"
                 f"{' (' + what + ')' if what else ''}\n"
                 "u across each sensor, v (along the beam) upwards; ladders side by side", fontsize=13)
    name = os.path.join(out, f"event_{number}.png")
    fig.savefig(name, dpi=110)
    plt.close(fig)
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stats", nargs="?", help="stats JSON written by 'pxdgen stats'")
    parser.add_argument("-o", "--output", required=True, help="directory for the PNGs (created if missing)")
    parser.add_argument("--reference", default=DEFAULT_REFERENCE if os.path.exists(DEFAULT_REFERENCE) else None,
                        help="published statistics to compare with (default: tools/data/published_pxd_stats.json)")
    parser.add_argument("--no-reference", action="store_true", help="draw the run alone")
    parser.add_argument("--events", help="HDF5 digits file for a hit map")
    parser.add_argument("--event", type=int, help="event number to draw (default: the file's first)")
    parser.add_argument("--label", help="legend name of the run (default: from the stats file)")
    args = parser.parse_args()
    if args.stats is None and args.events is None:
        parser.error("give a stats JSON, --events FILE.h5, or both")
    if args.event is not None and args.events is None:
        parser.error("--event needs --events FILE.h5")
    os.makedirs(args.output, exist_ok=True)
    written = []

    if args.stats:
        try:
            with open(args.stats) as f:
                stats = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"plot_stats: cannot read '{args.stats}' as JSON: {e}")
        if stats.get("format") != "pxdgen-stats":
            raise SystemExit(f"plot_stats: '{args.stats}' is not a pxdgen stats file (no format 'pxdgen-stats')")
        reference = {} if args.no_reference else load_reference(args.reference)
        run = stats.get("input", {})
        label = args.label or " ".join(x for x in (run.get("family", ""), run.get("variant", "")) if x) or "pxdgen"
        label = f"{label} (pxdgen)" if not args.label else label
        plot_occupancy_per_sensor(stats, reference, args.output, label)
        plot_charge_per_sensor(stats, reference, args.output, label)
        plot_charge_spectrum(stats, reference, args.output, label)
        plot_occupancy_distribution(stats, reference, args.output, label)
        plot_correlation(stats, args.output, label)
        plot_cluster_sizes(stats, args.output, label)
        written += ["occupancy_per_sensor.png", "charge_per_sensor.png", "charge_spectrum.png",
                    "occupancy_distribution.png", "occupancy_correlation.png", "cluster_size.png"]
        written = [os.path.join(args.output, w) for w in written]
    if args.events:
        written.append(plot_event(args.events, args.event, args.output))
    for w in written:
        print(w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
