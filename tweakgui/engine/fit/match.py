"""Matching two source lists in one tangent plane: coarse offset, then data-driven radius.

All lengths here are in tangent-plane units (reference pixels for a FITS
corrector, arcsec for a JWST one); the caller converts the stage's arcsec.

1. **Coarse**: the 2D histogram of the offsets (reference − input) of every
   pair within ``searchrad``, with bins one detector pixel wide.  Its peak,
   smoothed over 3×3 bins, is compared with the counts chance gives a 3×3
   cell (the mean of the histogram away from the peak): the false-alarm
   probability is the Poisson tail of the peak, times the number of cells
   searched.
2. **Initial radius**: from the spread of the pairs in the peak's cell
   (:func:`peak_radius`), between 2 pixels and ``tolerance``.
3. **Refinement** (see :mod:`.group`): unique nearest-neighbour pairs within
   a radius of 8 × the median residual of the previous fit (never below a
   pixel, never above ``tolerance``); the separation rule scales with the
   radius (``separation / tolerance`` times it), so a crowded field keeps
   its isolated stars while confusion is still refused at the scale of the
   match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.spatial import cKDTree

from tweakgui.engine.fit.tails import poisson_sf

__all__ = ["Histogram", "candidate_offsets", "offset_histogram", "peak_radius", "nearest_pairs",
           "isolated", "neighbour_distances", "MAX_BINS", "MAX_PAIRS"]

MAX_BINS = 1024  # per axis: beyond this the bins grow (memory stays bounded)
MAX_PAIRS = 5_000_000  # candidate pairs kept for the histogram


@dataclass
class Histogram:
    """The 2D histogram of candidate offsets and what its peak means."""

    counts: np.ndarray  # (nx, ny)
    xedges: np.ndarray
    yedges: np.ndarray
    binsize: float
    peak: tuple[float, float] | None  # offset reference − input at the peak
    peak_count: float  # pairs in the 3×3 cell at the peak
    chance_count: float  # pairs chance puts in a 3×3 cell
    false_alarm: float  # probability that chance makes a peak this high anywhere

    @property
    def significant(self) -> bool:
        return self.peak is not None and self.false_alarm < PEAK_FALSE_ALARM


PEAK_FALSE_ALARM = 1e-3


def candidate_offsets(in_xy, ref_xy, radius, limit=MAX_PAIRS) -> np.ndarray:
    """Offsets (reference − input) of every pair closer than ``radius`` along both axes."""
    if len(in_xy) == 0 or len(ref_xy) == 0:
        return np.zeros((0, 2))
    tree = cKDTree(ref_xy)
    pairs = tree.query_ball_point(in_xy, radius * np.sqrt(2), return_sorted=False)
    counts = np.fromiter((len(p) for p in pairs), int, len(pairs))
    if counts.sum() == 0:
        return np.zeros((0, 2))
    ii = np.repeat(np.arange(len(in_xy)), counts)
    jj = np.concatenate([np.asarray(p, int) for p in pairs if len(p)])
    d = ref_xy[jj] - in_xy[ii]
    keep = (np.abs(d[:, 0]) <= radius) & (np.abs(d[:, 1]) <= radius)
    d = d[keep]
    if len(d) > limit:  # keep a random but reproducible subset
        d = d[np.random.default_rng(0).choice(len(d), limit, replace=False)]
    return d


def offset_histogram(offsets: np.ndarray, searchrad: float, binsize: float) -> Histogram:
    """The histogram of ``offsets`` over ±``searchrad`` and the significance of its peak."""
    nb = int(np.ceil(2 * searchrad / binsize))
    if nb > MAX_BINS:
        nb = MAX_BINS
    nb = max(nb, 3)
    binsize = 2 * searchrad / nb
    h, xe, ye = np.histogram2d(offsets[:, 0], offsets[:, 1], bins=nb,
                               range=[[-searchrad, searchrad], [-searchrad, searchrad]])
    if len(offsets) == 0:
        return Histogram(h, xe, ye, binsize, None, 0.0, 0.0, 1.0)
    cell = uniform_filter(h, size=3, mode="constant") * 9.0
    i, j = np.unravel_index(np.argmax(cell), cell.shape)
    peak_count = float(cell[i, j])
    away = np.ones_like(cell, bool)
    away[max(i - 3, 0):i + 4, max(j - 3, 0):j + 4] = False
    # chance per 3×3 cell; counts near the border see fewer bins
    inner = cell[1:-1, 1:-1][away[1:-1, 1:-1]] if nb > 8 else cell[away]
    chance = float(max(inner.mean() if inner.size else 0.0, 1e-3))
    ncells = max(nb * nb / 9.0, 1.0)
    p_one = poisson_sf(peak_count - 1, chance)
    false_alarm = float(min(1.0, -np.expm1(ncells * np.log1p(-min(p_one, 1 - 1e-16)))))
    sel = ((offsets[:, 0] >= xe[max(i - 1, 0)]) & (offsets[:, 0] < xe[min(i + 2, nb)])
           & (offsets[:, 1] >= ye[max(j - 1, 0)]) & (offsets[:, 1] < ye[min(j + 2, nb)]))
    peak = (float(np.median(offsets[sel, 0])), float(np.median(offsets[sel, 1]))) if sel.any() else None
    return Histogram(h, xe, ye, binsize, peak, peak_count, chance, false_alarm)


def peak_radius(offsets, hist: Histogram, rmin: float, rmax: float) -> float:
    """Initial matching radius from the width of the histogram's peak.

    The pairs inside the peak's 3×3-bin cell are mostly true matches: three
    times the 90th percentile of their distance from the peak, plus a bin,
    between ``rmin`` and ``rmax``.  A peak broadened by rotation or scale is
    caught at its core; the refinement widens the radius as the fit allows.
    """
    if hist.peak is None or len(offsets) == 0:
        return rmax
    d = np.hypot(offsets[:, 0] - hist.peak[0], offsets[:, 1] - hist.peak[1])
    core = d[d <= 1.5 * hist.binsize]
    if core.size == 0:
        return rmax
    return float(np.clip(3.0 * np.percentile(core, 90) + hist.binsize, rmin, rmax))


def nearest_pairs(ref_xy, xy, radius, tree=None) -> tuple[np.ndarray, np.ndarray]:
    """Unique nearest-neighbour pairs (reference rows, input rows) closer than ``radius``.

    ``tree``: a ``cKDTree`` of ``ref_xy`` when the caller matches several lists to it.
    """
    if len(ref_xy) == 0 or len(xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d, j = (tree or cKDTree(ref_xy)).query(xy, distance_upper_bound=radius)
    i = np.flatnonzero(np.isfinite(d))
    j, d = j[i], d[i]
    # each reference source keeps only its closest input source
    order = np.lexsort((d, j))
    i, j = i[order], j[order]
    first = np.ones(len(j), bool)
    first[1:] = j[1:] != j[:-1]
    return j[first], i[first]


def neighbour_distances(xy) -> np.ndarray:
    """Distance of every source to the nearest other source of the same list (inf when alone)."""
    if len(xy) < 2:
        return np.full(len(xy), np.inf)
    d, _ = cKDTree(xy).query(xy, k=2)
    return d[:, 1]


def isolated(xy, separation, neighbours=None) -> np.ndarray:
    """True for the sources with no other source of the same list closer than ``separation``.

    ``neighbours``: their :func:`neighbour_distances`, for a caller that tests
    one list at several separations (the refinement: one KD-tree, not one per pass).
    """
    if len(xy) < 2 or separation <= 0:
        return np.ones(len(xy), bool)
    d = neighbour_distances(xy) if neighbours is None else neighbours
    return d >= separation
