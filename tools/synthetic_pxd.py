#!/usr/bin/python3
"""Synthetic PXD background: a stand-in calibrated to the published Geant4 statistics.

What it is
----------
A fast, seedable random generator of PXD background events (40 sensor images of
250 x 768 pixels) whose summary statistics match the published statistics of 10 000
Geant4 events (shared/reference/published_pxd_stats.json, copied at
tools/data/published_pxd_stats.json):

- the mean occupancy of each of the 40 sensors (by construction, to about 1 %);
- the charge spectrum of the fired pixels, integer ADU 7..255 in the published
  binning, and the mean charge of each sensor;
- the spread of the per-image occupancy (the published occupancy distribution).

It exists to train and check a demonstration generator and the tools around it
(`pxdgen stats`, `pxdgen plot`) without the Geant4 sample, which is not public.

What it is not
--------------
Not a physics simulation. No particle is tracked, nothing is deposited in silicon,
no charge is shared between pixels. Clusters are random 8-connected blobs and short
random walks whose size distribution (1 to 30 pixels) is a choice, not a measurement:
the published statistics say nothing about cluster sizes or shapes, nor about where on
a sensor the hits lie (here: uniformly) or how strongly the sensors of an event are
correlated (here: through one log-normal factor per layer). Only the quantities listed
above are calibrated; anything else it shows is an assumption.

Model, per event
----------------
1. Background level: one log-normal factor per layer, f_L = exp(sigma_L g_L - sigma_L^2/2)
   with mean 1, where g_L = sqrt(rho) g_0 + sqrt(1 - rho) g'_L mixes a normal shared by
   the event with one of the layer: events differ, the sensors of a layer move together.
2. Clusters per sensor: Poisson with a mean chosen so that the expected fraction of
   fired pixels is f_L times the sensor's published occupancy (overlaps of clusters
   and pixels lost over the sensor edges are accounted for).
3. Shapes: a size from P(s) ~ s^-alpha on 1..30; most clusters grow as compact blobs
   (each new pixel next to a random pixel already in the cluster), some long ones as a
   slowly turning walk, like a track crossing the sensor at a shallow angle.
4. Charges: each pixel draws an integer ADU from the published Geant4 spectrum
   (7..255: the 7 ADU read-out threshold is in the spectrum itself), tilted
   exponentially per sensor so that the sensor's mean charge matches the published
   one; in a blob the largest charge sits at the seed and charges fall along the growth.
5. Where two clusters overlap, a pixel keeps one charge (the pixel spectrum stays as
   published).

Event k of seed s is always the same: its random stream is keyed by (s, k).

Network images
--------------
The generators emit 256 x 768 images: image row r holds ucell r - 3 (rows 3..252 are
the sensor; rows 0..2 and 253..255 are padding, always empty), and pixel values are
x = 2 (log(adu + 1) / log(256) - 0.5), with -1 for an empty pixel (the training
transform; the engine inverts it with adu = 256^(0.5 x + 0.5) - 1 and truncation).

Command line
------------
  synthetic_pxd.py generate -n 100 --seed 1 -o events.npz        sparse digits (small)
  synthetic_pxd.py generate -n 10 -o adu.npy                     dense uint8 ADU, (N, 40, 250, 768)
  synthetic_pxd.py generate -n 10 -o x.npy --network             dense float16 images, (N, 40, 256, 768)
  synthetic_pxd.py stats -n 1000 -o stats.json                   same JSON layout as `pxdgen stats`
  synthetic_pxd.py plot -n 1000 -o docs/images                   synthetic_*.png against Geant4
  synthetic_pxd.py bench -n 200                                  events per second

From Python: SyntheticPXD(seed).event(k) gives the digits of event k;
sparse_batch / network_images build training batches; compute_stats and
stats_to_json give the `pxdgen stats` numbers.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFERENCE = os.path.join(HERE, "data", "published_pxd_stats.json")

N_SENSORS = 40
N_LAYER1 = 16  # sensors 0..15 are layer 1, 16..39 layer 2
U_CELLS, V_CELLS = 250, 768
PIXELS_PER_SENSOR = U_CELLS * V_CELLS
IMAGE_ROWS = 256
CROPPED_ROWS = 3  # image row r holds ucell r - 3
THRESHOLD_ADU = 7
MAX_ADU = 255
MAX_CLUSTER_SIZE = 30
OCCUPANCY_BINS, OCCUPANCY_MAX = 200, 0.02

# The eight neighbours, in turning order, so that d +- 1 is a gentle turn of a walk.
STEP_U = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int16)
STEP_V = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int16)
# Proposals per growth step before a blob gives up on a pixel (all neighbours taken).
GROWTH_ATTEMPTS = 4
SHAPE_BANK_SIZE = 1 << 17


def log_transform_table(dtype=np.float32):
    """x of each ADU 0..255 as the generators are trained on: empty (0) is -1."""
    adu = np.arange(MAX_ADU + 1, dtype=np.float64)
    x = 2.0 * (np.log(adu + 1.0) / np.log(256.0) - 0.5)
    x[0] = -1.0
    return x.astype(dtype)


def sensor_labels():
    labels = []
    for i in range(N_SENSORS):
        layer, j = (1, i) if i < N_LAYER1 else (2, i - N_LAYER1)
        labels.append(f"{layer}.{j // 2 + 1}.{j % 2 + 1}")
    return labels


def load_geant4_reference(path=DEFAULT_REFERENCE):
    """The published Geant4 ("real") sample: per-sensor occupancy and mean charge, the
    charge spectrum 7..255 ADU as probabilities, and the occupancy histogram."""
    with open(path) as f:
        real = json.load(f)["samples"]["real"]
    edges = np.asarray(real["intensity_hist"]["edges"], dtype=float)
    counts = np.asarray(real["intensity_hist"]["counts_with_flow"], dtype=float)[1:-1]
    # Bins [-1,1) (empty), [1,7) (below threshold, empty in the published sample), then
    # one bin per ADU from 7 to 255: a pixel of charge q counts in [q, q+1).
    first = int(np.searchsorted(edges, THRESHOLD_ADU))
    if not (edges[first] == THRESHOLD_ADU and np.all(np.diff(edges[first:]) == 1) and edges[-1] == MAX_ADU + 1):
        raise ValueError(f"{path}: unexpected charge binning")
    spectrum = counts[first:]
    return {
        "occupancy": np.asarray(real["mean_occupancy_per_sensor"], dtype=float),
        "mean_charge": np.asarray(real["mean_charge_per_sensor"], dtype=float),
        "charge_pmf": spectrum / spectrum.sum(),  # index q - 7
        "intensity_hist": real["intensity_hist"],
        "occupancy_hist": real["occupancy_hist"],
    }


def tilted_spectra(pmf, target_means):
    """Per sensor, the spectrum p(q) exp(lam (q - mean)) renormalized, with lam chosen by
    bisection so its mean is the sensor's published mean charge. The occupancy-weighted
    mixture of the tilted spectra stays the published spectrum to first order in lam,
    because the published per-sensor means average to the global one."""
    charges = np.arange(THRESHOLD_ADU, MAX_ADU + 1, dtype=float)
    centre = float(pmf @ charges)
    lo = np.full(len(target_means), -0.2)
    hi = np.full(len(target_means), 0.2)

    def tilt(lam):
        w = pmf[None, :] * np.exp(lam[:, None] * (charges[None, :] - centre))
        return w / w.sum(axis=1, keepdims=True)

    for _ in range(80):
        mid = 0.5 * (lo + hi)
        too_high = tilt(mid) @ charges > target_means
        hi = np.where(too_high, mid, hi)
        lo = np.where(too_high, lo, mid)
    return tilt(0.5 * (lo + hi))


def alias_tables(pmfs):
    """Walker's alias tables of each row of pmfs (rows x K): drawing a uniform column j
    and keeping it with probability accept[j], else taking other[j], samples the row."""
    rows, k = pmfs.shape
    accept = np.ones((rows, k))
    other = np.tile(np.arange(k), (rows, 1))
    for r in range(rows):
        scaled = pmfs[r] * k / pmfs[r].sum()
        small = [j for j in range(k) if scaled[j] < 1.0]
        large = [j for j in range(k) if scaled[j] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            accept[r, s], other[r, s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        # Whatever is left is 1 up to rounding: keep it.
    return accept, other


class SyntheticPXD:
    """Seedable synthetic PXD background; see the module docstring for the model.

    Parameters (defaults reproduce the published occupancy spread):
      layer_sigma   log-normal sigma of the per-event factor, layer 1 and layer 2
      layer_rho     share of the factors' variance common to both layers of an event
      size_alpha    cluster size distribution P(s) ~ s^-alpha, s = 1..30
      walk_fraction share of the clusters of at least walk_min_size pixels that grow
                    as a walk instead of a blob
    """

    def __init__(self, seed=0, reference=DEFAULT_REFERENCE, layer_sigma=(0.03, 0.045), layer_rho=0.5,
                 size_alpha=1.6, walk_fraction=0.35, walk_min_size=5):
        self.seed = int(seed)
        ref = load_geant4_reference(reference)
        self.reference = ref
        self.target_occupancy = ref["occupancy"]
        self.layer_of_sensor = (np.arange(N_SENSORS) >= N_LAYER1).astype(np.int64)
        self.layer_sigma = np.asarray(layer_sigma, dtype=float)
        self.layer_rho = float(layer_rho)
        sizes = np.arange(1, MAX_CLUSTER_SIZE + 1, dtype=float)
        size_pmf = sizes ** -float(size_alpha)
        self.size_cdf = np.cumsum(size_pmf / size_pmf.sum())
        self.walk_fraction = float(walk_fraction)
        self.walk_min_size = int(walk_min_size)
        self.sensor_spectra = tilted_spectra(ref["charge_pmf"], ref["mean_charge"])
        self._alias_accept, self._alias_other = alias_tables(self.sensor_spectra)
        self._build_shape_bank(SHAPE_BANK_SIZE)
        self.pixels_per_cluster = self._mean_pixels_inside()

    # ------------------------------------------------------------------ clusters
    def _draw_shapes(self, rng, n):
        """n cluster shapes as pixel offsets from their seed: (du, dv, placed, is_blob),
        (n, 30) each in growth order (placed: the slot holds a pixel); rows sorted by
        decreasing size."""
        size = 1 + np.searchsorted(self.size_cdf, rng.random(n), side="right")
        size = np.minimum(np.sort(size)[::-1], MAX_CLUSTER_SIZE)
        is_walk = (size >= self.walk_min_size) & (rng.random(n) < self.walk_fraction)
        heading = rng.integers(0, 8, n)
        du = np.zeros((n, MAX_CLUSTER_SIZE), dtype=np.int16)
        dv = np.zeros((n, MAX_CLUSTER_SIZE), dtype=np.int16)
        placed = np.zeros((n, MAX_CLUSTER_SIZE), dtype=bool)
        placed[:, 0] = True
        # Sizes are sorted, so the clusters still growing at step k are a prefix.
        still_growing = np.searchsorted(-size, -np.arange(MAX_CLUSTER_SIZE), side="left")
        for k in range(1, MAX_CLUSTER_SIZE):
            m = int(still_growing[k])
            if m == 0:
                break
            walk = is_walk[:m]
            # A walk turns by at most one heading per step and continues from its last pixel.
            heading[:m] = np.where(walk, (heading[:m] + rng.choice([-1, 0, 0, 0, 1], m)) % 8, heading[:m])
            pending = np.arange(m)
            for attempt in range(GROWTH_ATTEMPTS):
                if attempt == 0:
                    anchor = np.where(walk, k - 1, rng.integers(0, k, m))
                    direction = np.where(walk, heading[:m], rng.integers(0, 8, m))
                else:  # a blocked walk, like a blob, tries any free neighbour
                    anchor = rng.integers(0, k, len(pending))
                    direction = rng.integers(0, 8, len(pending))
                cand_u = du[pending, anchor] + STEP_U[direction]
                cand_v = dv[pending, anchor] + STEP_V[direction]
                taken = ((du[pending, :k] == cand_u[:, None]) & (dv[pending, :k] == cand_v[:, None])
                         & placed[pending, :k]).any(axis=1)
                accepted = pending[~taken]
                du[accepted, k] = cand_u[~taken]
                dv[accepted, k] = cand_v[~taken]
                placed[accepted, k] = True
                pending = pending[taken]
                if len(pending) == 0:
                    break
        return du, dv, placed, ~is_walk

    def _build_shape_bank(self, n):
        """Growing shapes one by one per event would dominate the cost of an event; a
        fixed bank of shapes, each used under one of the 8 symmetries of the pixel grid,
        gives the same distribution for the price of a gather. Stored flat: the pixels
        of shape i are [start[i], start[i] + length[i])."""
        rng = np.random.default_rng([0x5EED, self.seed])
        du, dv, placed, is_blob = self._draw_shapes(rng, n)
        order = rng.permutation(n)  # the bank came sorted by size
        du, dv, placed, is_blob = du[order], dv[order], placed[order], is_blob[order]
        length = placed.sum(axis=1)
        # The 8 symmetries precomputed: bit 0 mirrors u, bit 1 mirrors v, bit 2 swaps them.
        du, dv = du[placed].astype(np.int32), dv[placed].astype(np.int32)
        self._bank_du = np.empty((8, len(du)), dtype=np.int32)
        self._bank_dv = np.empty((8, len(du)), dtype=np.int32)
        for symmetry in range(8):
            a, b = (dv, du) if symmetry & 4 else (du, dv)
            self._bank_du[symmetry] = -a if symmetry & 1 else a
            self._bank_dv[symmetry] = -b if symmetry & 2 else b
        self._bank_start = np.r_[0, np.cumsum(length)[:-1]]
        self._bank_length = length
        self._bank_is_blob = is_blob

    def _place_clusters(self, rng, n):
        """n clusters at random seeds of a sensor: per pixel (cluster, position in the
        growth order, u, v, inside), and per cluster whether it is a blob."""
        pick = rng.integers(0, len(self._bank_length), n)
        length = self._bank_length[pick]
        cluster = np.repeat(np.arange(n), length)
        # Index of each pixel in the bank's flat arrays, with the shape's symmetry.
        position = np.arange(len(cluster)) - np.repeat(np.cumsum(length) - length, length)
        pixel = np.repeat(self._bank_start[pick] + rng.integers(0, 8, n) * self._bank_du.shape[1], length) + position
        u = np.repeat(rng.integers(0, U_CELLS, n), length) + self._bank_du.ravel()[pixel]
        v = np.repeat(rng.integers(0, V_CELLS, n), length) + self._bank_dv.ravel()[pixel]
        inside = (u >= 0) & (u < U_CELLS) & (v >= 0) & (v < V_CELLS)
        return cluster, position, u, v, inside, self._bank_is_blob[pick]

    def _mean_pixels_inside(self):
        """Mean fired pixels a cluster adds on its own: its pixels, each counted with the
        probability that a uniform seed keeps it on the sensor, averaged over the bank
        and the symmetries (half of which swap u and v). Exact, no sampling."""
        du, dv = np.abs(self._bank_du[0]).astype(float), np.abs(self._bank_dv[0]).astype(float)

        def inside(along_u, along_v):
            return np.clip(1 - along_u / U_CELLS, 0, 1) * np.clip(1 - along_v / V_CELLS, 0, 1)

        return float(0.5 * (inside(du, dv) + inside(dv, du)).sum() / len(self._bank_length))

    # ------------------------------------------------------------------ events
    def layer_factors(self, rng):
        """Per-event background level of layer 1 and layer 2 (mean 1)."""
        common, own = rng.standard_normal(), rng.standard_normal(2)
        g = np.sqrt(self.layer_rho) * common + np.sqrt(1.0 - self.layer_rho) * own
        return np.exp(self.layer_sigma * g - 0.5 * self.layer_sigma ** 2)

    def event(self, k):
        """Digits of event k: (sensor uint8, ucell uint16, vcell uint16, charge uint8),
        one per fired pixel, sorted by (sensor, ucell, vcell)."""
        rng = np.random.default_rng([self.seed, int(k)])
        factor = self.layer_factors(rng)[self.layer_of_sensor]
        occupancy = np.minimum(self.target_occupancy * factor, 0.5)
        # Boolean model: clusters of mean area a at density n / A cover a fraction
        # 1 - exp(-n a / A), so this n gives the wanted occupancy including overlaps.
        expected = -PIXELS_PER_SENSOR * np.log1p(-occupancy) / self.pixels_per_cluster
        per_sensor = rng.poisson(expected)
        n = int(per_sensor.sum())
        cluster, position, u, v, inside, is_blob = self._place_clusters(rng, n)
        cluster, position, u, v = cluster[inside], position[inside], u[inside], v[inside]
        pixel_sensor = np.repeat(np.arange(N_SENSORS), per_sensor)[cluster]

        # Alias sampling: a uniform bin, kept with its acceptance or swapped for its alias.
        n_charges = self._alias_accept.shape[1]
        cell = pixel_sensor * n_charges + rng.integers(0, n_charges, len(cluster))
        keep = rng.random(len(cluster)) < self._alias_accept.ravel()[cell]
        charge = THRESHOLD_ADU + np.where(keep, cell - pixel_sensor * n_charges, self._alias_other.ravel()[cell])
        # In a blob the charges go in decreasing order along the growth, so the seed
        # pixel is the hottest; a walk keeps them in their random order. One sort of
        # (cluster, rank, charge) packed in an integer does it.
        rank = np.where(is_blob[cluster], MAX_ADU - charge, position)
        charge = np.sort((cluster << 17) | (rank << 8) | charge) & 0xFF

        key = (pixel_sensor * U_CELLS + u) * V_CELLS + v
        key, first = np.unique(key, return_index=True)
        charge = charge[first]
        sensor_out, pixel = np.divmod(key, PIXELS_PER_SENSOR)
        u_out, v_out = np.divmod(pixel, V_CELLS)
        return (sensor_out.astype(np.uint8), u_out.astype(np.uint16), v_out.astype(np.uint16),
                charge.astype(np.uint8))

    def events(self, n, first_event=0):
        for k in range(first_event, first_event + n):
            yield self.event(k)

    def sparse_batch(self, first_event, n_events):
        """Digits of events first_event .. first_event + n_events - 1 as positions in a
        (n_events, 40, 256, 768) network image batch: (flat index int64, charge uint8)."""
        indices, charges = [], []
        for j in range(n_events):
            sensor, u, v, charge = self.event(first_event + j)
            row = u.astype(np.int64) + CROPPED_ROWS
            indices.append(((j * N_SENSORS + sensor.astype(np.int64)) * IMAGE_ROWS + row) * V_CELLS + v)
            charges.append(charge)
        return np.concatenate(indices), np.concatenate(charges)


# ---------------------------------------------------------------------- dense forms
def adu_images(digits):
    """One event's digits as a dense (40, 250, 768) uint8 ADU array."""
    sensor, u, v, charge = digits
    images = np.zeros((N_SENSORS, U_CELLS, V_CELLS), dtype=np.uint8)
    images[sensor, u, v] = charge
    return images


def network_images(digits, dtype=np.float32, rng=None):
    """One event's digits as the (40, 256, 768) images a generator is trained on:
    log-transformed, empty pixels and the padding rows at -1.

    With rng (a numpy Generator), each charge q becomes q + U[0, 1) before the transform
    ("dequantization"). The engine computes adu = 256^(x/2 + 1/2) - 1 in float32 and
    truncates: from x of exactly log(q + 1), 92 of the 256 values come back as q - 1
    (float32 rounding lands just below the integer); from inside the cell, q comes back."""
    sensor, u, v, charge = digits
    images = np.full((N_SENSORS, IMAGE_ROWS, V_CELLS), -1.0, dtype=dtype)
    if rng is None:
        values = log_transform_table(dtype)[charge]
    else:
        adu = charge.astype(np.float64) + rng.random(len(charge))
        values = (2.0 * (np.log1p(adu) / np.log(256.0) - 0.5)).astype(dtype)
    images[sensor, u.astype(np.int64) + CROPPED_ROWS, v] = values
    return images


def digits_from_network_images(images, cut=-0.26):
    """The engine's production transform (MODELS.md section 2) applied to (40, 256, 768)
    tanh images: cut, inverse log transform, truncation, crop. Returns digits."""
    x = np.asarray(images, dtype=np.float32)[:, CROPPED_ROWS:CROPPED_ROWS + U_CELLS, :]
    x = np.where(x > np.float32(cut), x, np.float32(-1.0))
    a = np.clip(np.float32(0.5) * x + np.float32(0.5), 0, 1)
    adu = np.clip(np.power(np.float32(256.0), a) - np.float32(1.0), 0, MAX_ADU).astype(np.uint8)
    sensor, u, v = np.nonzero(adu)
    return sensor.astype(np.uint8), u.astype(np.uint16), v.astype(np.uint16), adu[sensor, u, v]


# ---------------------------------------------------------------------- statistics
def cluster_sizes(sensor, u, v):
    """Sizes of the 8-connected clusters of one event's fired pixels (each sensor apart)."""
    key = (sensor.astype(np.int64) * U_CELLS + u) * V_CELLS + v
    order = np.argsort(key, kind="stable")
    key, u, v = key[order], u[order].astype(np.int64), v[order].astype(np.int64)
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Edges to the neighbours that come later in (u, v) order: v+1 and the row below.
    a_list, b_list = [], []
    for du_, dv_ in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ok = (u + du_ < U_CELLS) & (v + dv_ >= 0) & (v + dv_ < V_CELLS)
        target = key + du_ * V_CELLS + dv_
        j = np.minimum(np.searchsorted(key, target), n - 1)
        hit = ok & (key[j] == target)
        a_list.append(np.nonzero(hit)[0])
        b_list.append(j[hit])
    a, b = np.concatenate(a_list), np.concatenate(b_list)
    label = connected_components(n, a, b)
    return np.bincount(np.bincount(label))[1:]


def connected_components(n, a, b):
    """Component label of each of n nodes joined by the edges (a[i], b[i])."""
    try:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components as scipy_components
    except ImportError:
        scipy_components = None
    if scipy_components is not None:
        graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
        return scipy_components(graph, directed=False)[1]
    # Without scipy: hook each node to the smallest label among its edges, then shortcut
    # the label chains, until nothing changes.
    label = np.arange(n)
    while True:
        smaller = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, smaller)
        np.minimum.at(new, b, smaller)
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return label
        label = new


def average_ranks(values):
    """1-based ranks along axis 0, tied values sharing the mean of their ranks."""
    values = np.asarray(values, dtype=float)
    ranks = np.empty_like(values)
    for column in range(values.shape[1]):
        x = values[:, column]
        order = np.argsort(x, kind="stable")
        sorted_x = x[order]
        starts = np.r_[0, np.nonzero(np.diff(sorted_x))[0] + 1]
        ends = np.r_[starts[1:], len(x)]
        mean_rank = 0.5 * (starts + 1 + ends)
        ranks[order, column] = np.repeat(mean_rank, ends - starts)
    return ranks


class EventStatistics:
    """The statistics of `pxdgen stats` (tools/pxdgen/stats.hpp), same definitions and
    binnings, accumulated over events of digits."""

    def __init__(self):
        self.events = 0
        self.digits = np.zeros(N_SENSORS, dtype=np.int64)
        self.charge_sum = np.zeros(N_SENSORS, dtype=np.int64)
        self.fired_sum_sq = np.zeros(N_SENSORS, dtype=float)
        self.charge_hist = np.zeros(2 + (256 - THRESHOLD_ADU) + 2, dtype=np.int64)
        self.occupancy_hist = np.zeros(OCCUPANCY_BINS + 2, dtype=np.int64)
        self.cluster_hist = np.zeros(1, dtype=np.int64)
        self.fired = []

    def add_event(self, digits, with_clusters=True):
        """Adds one event's digits (sensor, ucell, vcell, charge), each pixel at most once.
        with_clusters=False leaves the event out of the cluster sizes (for a quick look
        at a badly trained generator whose images are mostly fired)."""
        sensor, u, v, charge = digits
        sensor = sensor.astype(np.int64)
        charge = charge.astype(np.int64)
        fired = np.bincount(sensor, minlength=N_SENSORS)
        if with_clusters:
            sizes = cluster_sizes(sensor, u, v)
            if len(sizes) > len(self.cluster_hist) - 1:
                self.cluster_hist = np.r_[self.cluster_hist, np.zeros(len(sizes) + 1 - len(self.cluster_hist), np.int64)]
            self.cluster_hist[1:len(sizes) + 1] += sizes
        self.digits += fired
        self.charge_sum += np.bincount(sensor, weights=charge, minlength=N_SENSORS).astype(np.int64)
        self.fired_sum_sq += fired.astype(float) ** 2
        # Bins: 0 underflow, 1 [-1,1) (empty), 2 [1,7), 3 + q - 7 for q >= 7.
        index = np.where(charge < 1, 1, np.where(charge < THRESHOLD_ADU, 2, 3 + charge - THRESHOLD_ADU))
        self.charge_hist += np.bincount(index, minlength=len(self.charge_hist))
        self.charge_hist[1] += N_SENSORS * PIXELS_PER_SENSOR - len(charge)
        # Integer binning, as in stats.cpp: bin k holds k/10000 <= fired/192000 < (k+1)/10000.
        numerator = fired * OCCUPANCY_BINS * int(round(1 / OCCUPANCY_MAX))
        k = numerator // PIXELS_PER_SENSOR
        bins = np.where(k < OCCUPANCY_BINS, 1 + k,
                        np.where(numerator == OCCUPANCY_BINS * PIXELS_PER_SENSOR, OCCUPANCY_BINS, OCCUPANCY_BINS + 1))
        self.occupancy_hist += np.bincount(bins, minlength=len(self.occupancy_hist))
        self.fired.append(fired)
        self.events += 1

    def mean_occupancy(self):
        return self.digits / (max(self.events, 1) * PIXELS_PER_SENSOR) if self.events else np.full(N_SENSORS, np.nan)

    def std_occupancy(self):
        if not self.events:
            return np.full(N_SENSORS, np.nan)
        mean = self.digits / self.events
        return np.sqrt(np.maximum(self.fired_sum_sq / self.events - mean ** 2, 0)) / PIXELS_PER_SENSOR

    def mean_charge(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.digits > 0, self.charge_sum / np.maximum(self.digits, 1), np.nan)

    def spearman(self):
        if self.events < 2:
            return np.full((N_SENSORS, N_SENSORS), np.nan)
        ranks = average_ranks(np.array(self.fired, dtype=float))
        ranks -= ranks.mean(axis=0)
        norm = np.sqrt((ranks ** 2).sum(axis=0))
        varies = norm > 0
        z = ranks / np.where(varies, norm, 1)
        rho = np.clip(z.T @ z, -1, 1)
        np.fill_diagonal(rho, 1.0)
        rho[~varies, :] = np.nan
        rho[:, ~varies] = np.nan
        return rho

    def to_json(self):
        """The layout of `pxdgen stats -o stats.json` (EventStatistics::to_json)."""
        def numbers(values):
            return [None if not np.isfinite(x) else float(x) for x in np.asarray(values, dtype=float)]

        sizes = np.nonzero(self.cluster_hist)[0]
        sizes = sizes[sizes > 0]
        clusters = int(self.cluster_hist.sum())
        clustered = int((np.arange(len(self.cluster_hist)) * self.cluster_hist).sum())
        return {
            "format": "pxdgen-stats",
            "format_version": 1,
            "events": self.events,
            "digits": int(self.digits.sum()),
            "pixels_per_sensor": PIXELS_PER_SENSOR,
            "sensor_order": "index i = layer 1 ladders 1..8 sensors 1,2 then layer 2 ladders 1..12 sensors 1,2",
            "sensors": sensor_labels(),
            "mean_occupancy_per_sensor": numbers(self.mean_occupancy()),
            "std_occupancy_per_sensor": numbers(self.std_occupancy()),
            "mean_charge_per_sensor": numbers(self.mean_charge()),
            "digits_per_sensor": [int(x) for x in self.digits],
            "intensity_hist": {
                "edges": [-1.0, 1.0] + [float(c) for c in range(THRESHOLD_ADU, 257)],
                "counts_with_flow": [int(x) for x in self.charge_hist],
                "note": "all pixels of all images; an empty pixel counts as 0 ADU; counts_with_flow[0] is underflow, "
                        "[-1] overflow; bins [-1,1),[1,7),[7,8),...,[255,256)"},
            "occupancy_hist": {
                "edges": [OCCUPANCY_MAX * k / OCCUPANCY_BINS for k in range(OCCUPANCY_BINS + 1)],
                "counts_with_flow": [int(x) for x in self.occupancy_hist],
                "note": "per-image occupancy (fraction of pixels > 0), all 40 sensors of all events; counts_with_flow[0] "
                        "is underflow, [-1] overflow"},
            "occupancy_spearman": {
                "matrix": [numbers(row) for row in self.spearman()],
                "note": "Spearman rank correlation (ties averaged) of the sensors' occupancies over events; null where "
                        "undefined"},
            "cluster_size_hist": {
                "sizes": [int(s) for s in sizes],
                "counts": [int(self.cluster_hist[s]) for s in sizes],
                "clusters": clusters,
                "mean_size": clustered / clusters if clusters else None,
                "clusters_per_event": clusters / self.events if self.events else None,
                "note": "8-connected fired pixels within one sensor image; only sizes that occur are listed"},
        }


def compute_stats(events_of_digits):
    """EventStatistics over an iterable of per-event digits."""
    stats = EventStatistics()
    for digits in events_of_digits:
        stats.add_event(digits)
    return stats


def stats_to_json(stats, path, input_info=None):
    out = stats.to_json()
    if input_info:
        out["input"] = input_info
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, path)
    return out


def calibration_summary(stats, reference):
    """Synthetic / Geant4 figures: per-sensor occupancy ratios, mean charges, the
    occupancy spread per layer."""
    ratio = stats.mean_occupancy() / reference["occupancy"]
    hist = np.asarray(reference["intensity_hist"]["counts_with_flow"], dtype=float)
    charges = np.arange(THRESHOLD_ADU, MAX_ADU + 1)
    ref_pmf = hist[3:3 + len(charges)] / hist[3:3 + len(charges)].sum()
    own = stats.charge_hist[3:3 + len(charges)].astype(float)
    own_pmf = own / max(own.sum(), 1)
    fired = np.array(stats.fired, dtype=float) / PIXELS_PER_SENSOR
    ref_occ = np.asarray(reference["occupancy_hist"]["counts_with_flow"], dtype=float)[1:-1]
    centres = (np.arange(OCCUPANCY_BINS) + 0.5) * OCCUPANCY_MAX / OCCUPANCY_BINS
    spread = {}
    for name, sl, in_layer in (("layer1", slice(0, N_LAYER1), centres >= 0.0095),
                               ("layer2", slice(N_LAYER1, N_SENSORS), centres < 0.0095)):
        w = ref_occ * in_layer
        mu = (w * centres).sum() / w.sum()
        spread[name] = {"geant4_relative_std": float(np.sqrt((w * (centres - mu) ** 2).sum() / w.sum()) / mu),
                        "synthetic_relative_std": float(fired[:, sl].std() / fired[:, sl].mean())}
    return {
        "events": stats.events,
        "occupancy_ratio_min": float(ratio.min()),
        "occupancy_ratio_max": float(ratio.max()),
        "occupancy_ratio_mean": float(ratio.mean()),
        "occupancy_total_synthetic": float(stats.digits.sum() / (stats.events * N_SENSORS * PIXELS_PER_SENSOR)),
        "occupancy_total_geant4": float(hist[3:3 + len(charges)].sum() / hist[1:-1].sum()),
        "mean_charge_synthetic": float((own_pmf * charges).sum()),
        "mean_charge_geant4": float((ref_pmf * charges).sum()),
        "mean_charge_per_sensor_max_abs_diff": float(np.nanmax(np.abs(stats.mean_charge() - reference["mean_charge"]))),
        "charge_spectrum_total_variation": float(0.5 * np.abs(own_pmf - ref_pmf).sum()),
        "occupancy_spread": spread,
        "mean_cluster_size": float((np.arange(len(stats.cluster_hist)) * stats.cluster_hist).sum()
                                   / max(stats.cluster_hist.sum(), 1)),
    }


# ---------------------------------------------------------------------- command line
def write_events(generator, n, first_event, path, network):
    if path.endswith(".npz"):
        parts = [generator.event(k) for k in range(first_event, first_event + n)]
        offsets = np.cumsum([0] + [len(p[0]) for p in parts]).astype(np.uint64)
        columns = [np.concatenate([p[i] for p in parts]) for i in range(4)]
        np.savez_compressed(path, sensor=columns[0], ucell=columns[1], vcell=columns[2], charge=columns[3],
                            event_offsets=offsets,
                            event_numbers=np.arange(first_event, first_event + n, dtype=np.uint64),
                            seed=np.uint64(generator.seed))
        return
    if not path.endswith(".npy"):
        raise SystemExit("synthetic_pxd: the output must end in .npz (digits) or .npy (dense images)")
    # A memory map writes event by event: a dense run does not have to fit in memory.
    if network:
        shape, dtype = (n, N_SENSORS, IMAGE_ROWS, V_CELLS), np.float16
    else:
        shape, dtype = (n, N_SENSORS, U_CELLS, V_CELLS), np.uint8
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    for j in range(n):
        digits = generator.event(first_event + j)
        out[j] = network_images(digits, np.float16) if network else adu_images(digits)
    out.flush()


def write_hdf5_digits(path, generator, events):
    """A pxdgen digits file (tools/pxdgen/hdf5_writer.hpp layout, the columns the
    plotting reads) so `pxdgen plot --events` can draw a synthetic event."""
    import h5py

    parts = [generator.event(k) for k in events]
    offsets = np.cumsum([0] + [len(p[0]) for p in parts]).astype(np.uint64)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "pxdgen-digits"
        f.attrs["family"] = "synthetic"
        f.attrs["seed"] = generator.seed
        f["event_numbers"] = np.asarray(list(events), dtype=np.uint64)
        f["event_offsets"] = offsets
        for name, i in (("sensor", 0), ("ucell", 1), ("vcell", 2), ("charge", 3)):
            f[name] = np.concatenate([p[i] for p in parts])


def plot_against_geant4(stats_json_path, out_dir, generator, event, label):
    """Draws the stats with tools/plot_stats.py and names the files synthetic_*.png."""
    sys.path.insert(0, HERE)
    import plot_stats  # noqa: E402  (tools/plot_stats.py)

    with open(stats_json_path) as f:
        stats = json.load(f)
    reference = plot_stats.load_reference(DEFAULT_REFERENCE)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        plot_stats.plot_occupancy_per_sensor(stats, reference, tmp, label)
        plot_stats.plot_charge_per_sensor(stats, reference, tmp, label)
        plot_stats.plot_charge_spectrum(stats, reference, tmp, label)
        plot_stats.plot_occupancy_distribution(stats, reference, tmp, label)
        plot_stats.plot_correlation(stats, tmp, label)
        plot_stats.plot_cluster_sizes(stats, tmp, label)
        try:
            events_path = os.path.join(tmp, "events.h5")
            write_hdf5_digits(events_path, generator, [event])
            plot_stats.plot_event(events_path, event, tmp)
        except ImportError:
            print("synthetic_pxd: no h5py, no event picture", file=sys.stderr)
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".png"):
                target = os.path.join(out_dir, "synthetic_" + name)
                os.replace(os.path.join(tmp, name), target)
                written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "stats", "plot", "bench"):
        p = sub.add_parser(name)
        p.add_argument("-n", "--events", type=int, default=100)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--first-event", type=int, default=0)
        p.add_argument("--reference", default=DEFAULT_REFERENCE, help="published statistics to calibrate to")
        if name != "bench":
            p.add_argument("-o", "--output", required=True)
        if name == "generate":
            p.add_argument("--network", action="store_true",
                           help="dense .npy of float16 network images (40 x 256 x 768, log-transformed) "
                                "instead of uint8 ADU (40 x 250 x 768)")
        if name == "plot":
            p.add_argument("--stats-output", help="also keep the stats JSON here")
            p.add_argument("--event", type=int, default=0, help="event drawn as a hit map")
    args = parser.parse_args(argv)
    generator = SyntheticPXD(seed=args.seed, reference=args.reference)

    if args.command == "generate":
        write_events(generator, args.events, args.first_event, args.output, args.network)
        print(f"{args.output}: {args.events} events")
        return 0
    if args.command == "bench":
        start = time.perf_counter()
        digits = sum(len(d[0]) for d in generator.events(args.events, args.first_event))
        seconds = time.perf_counter() - start
        print(f"{args.events} events in {seconds:.2f} s: {args.events / seconds:.1f} events/s "
              f"({60 * args.events / seconds:.0f} per minute), {digits / args.events:.0f} digits per event")
        return 0

    start = time.perf_counter()
    stats = compute_stats(generator.events(args.events, args.first_event))
    info = {"generator": "tools/synthetic_pxd.py", "family": "synthetic", "variant": "", "seed": generator.seed,
            "first_event": args.first_event, "events_completed": stats.events, "complete": 1}
    summary = calibration_summary(stats, generator.reference)
    json_path = args.output if args.command == "stats" else (
        args.stats_output or os.path.join(tempfile.mkdtemp(), "synthetic_stats.json"))
    stats_to_json(stats, json_path, info)
    print(json.dumps(summary, indent=1))
    print(f"{stats.events} events in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    if args.command == "plot":
        for path in plot_against_geant4(json_path, args.output, generator, args.event,
                                        "synthetic (calibrated stand-in)"):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
