"""Small synthetic star fields with known positions for the detection tests.

Stars are pixel-integrated circular Gaussians (so a pixel's value is the
integral of the PSF over that pixel, and centroids are unbiased), on a flat
background with Gaussian read noise.  Pixel (i, j) spans j-0.5..j+0.5 in x,
so the truth positions are 0-based pixel centres like detect_sources returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from scipy.special import erf

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass
class StarField:
    data: np.ndarray
    truth: Table  # x, y, flux, peak (noise-free peak pixel value)
    noise: float
    background: float
    cosmic_rays: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # (x, y)
    bad: np.ndarray | None = None  # pixels flagged bad (True)


def _integrated_gaussian_1d(edges: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    z = (edges - mu) / (np.sqrt(2.0) * sigma)
    return 0.5 * np.diff(erf(z))


def add_star(image: np.ndarray, x: float, y: float, flux: float, fwhm: float) -> None:
    """Add one pixel-integrated Gaussian star to ``image`` in place."""
    sigma = fwhm * FWHM_TO_SIGMA
    half = int(np.ceil(6 * sigma)) + 1
    ny, nx = image.shape
    x0, x1 = max(0, int(x) - half), min(nx, int(x) + half + 1)
    y0, y1 = max(0, int(y) - half), min(ny, int(y) + half + 1)
    if x0 >= x1 or y0 >= y1:
        return
    px = _integrated_gaussian_1d(np.arange(x0, x1 + 1) - 0.5, x, sigma)
    py = _integrated_gaussian_1d(np.arange(y0, y1 + 1) - 0.5, y, sigma)
    image[y0:y1, x0:x1] += flux * np.outer(py, px)


def isolated_positions(rng, n, shape, min_sep, border):
    """Up to ``n`` random positions at least ``min_sep`` px apart and ``border`` px from edges."""
    ny, nx = shape
    pts: list[tuple[float, float]] = []
    tries = 0
    while len(pts) < n and tries < 200 * n:
        tries += 1
        x = rng.uniform(border, nx - 1 - border)
        y = rng.uniform(border, ny - 1 - border)
        if all((x - a) ** 2 + (y - b) ** 2 >= min_sep**2 for a, b in pts):
            pts.append((x, y))
    return np.array(pts).reshape(-1, 2)


def make_star_field(
    shape=(512, 512),
    nstars=80,
    fwhm=2.5,
    flux_range=(2e3, 5e4),
    noise=5.0,
    background=100.0,
    n_cosmic=0,
    cosmic_amplitude=3000.0,
    nan_columns=(),
    seed=1,
    min_sep=20.0,
    border=12,
    positions=None,
    fluxes=None,
) -> StarField:
    """Build a star field; see the module docstring.

    Cosmic rays are single hot pixels placed away from stars.  Columns listed
    in ``nan_columns`` are set to NaN (and stars are not placed near them).
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    if positions is None:
        pos = isolated_positions(rng, nstars * 3, shape, min_sep, border)
        if len(nan_columns):
            far = np.all([np.abs(pos[:, 0] - c) > 8 for c in nan_columns], axis=0)
            pos = pos[far]
        pos = pos[:nstars]
    else:
        pos = np.asarray(positions, dtype=float).reshape(-1, 2)
    n = len(pos)
    if fluxes is None:
        # log-uniform fluxes: many faint, some bright stars
        fl = np.exp(rng.uniform(np.log(flux_range[0]), np.log(flux_range[1]), n))
    else:
        fl = np.asarray(fluxes, dtype=float)
    img = np.zeros(shape, dtype=np.float64)
    peaks = np.empty(n)
    for i, ((x, y), f) in enumerate(zip(pos, fl)):
        before = img[int(round(y)), int(round(x))]
        add_star(img, x, y, f, fwhm)
        peaks[i] = img[int(round(y)), int(round(x))] - before
    img += background + rng.normal(0.0, noise, shape)

    crs = []
    while len(crs) < n_cosmic:
        cx, cy = int(rng.integers(2, nx - 2)), int(rng.integers(2, ny - 2))
        if n == 0 or np.min(np.hypot(pos[:, 0] - cx, pos[:, 1] - cy)) > 10:
            img[cy, cx] += cosmic_amplitude * rng.uniform(0.5, 1.5)
            crs.append((cx, cy))
    for c in nan_columns:
        img[:, c] = np.nan
    truth = Table({"x": pos[:, 0], "y": pos[:, 1], "flux": fl, "peak": peaks})
    return StarField(img.astype(np.float32), truth, noise, background,
                     np.array(crs, dtype=float).reshape(-1, 2))


def match_to_truth(found: Table, truth: Table, radius: float = 1.5):
    """Nearest-neighbour match of found (x, y) to truth (x, y).

    Returns (truth_index, found_index, dx, dy) for pairs within ``radius`` px,
    with dx, dy = found - truth.
    """
    from scipy.spatial import cKDTree

    if len(found) == 0 or len(truth) == 0:
        e = np.empty(0)
        return e.astype(int), e.astype(int), e, e
    tree = cKDTree(np.column_stack([found["x"], found["y"]]))
    d, j = tree.query(np.column_stack([truth["x"], truth["y"]]), distance_upper_bound=radius)
    ok = np.isfinite(d)
    ti = np.nonzero(ok)[0]
    fj = j[ok]
    dx = np.asarray(found["x"])[fj] - np.asarray(truth["x"])[ti]
    dy = np.asarray(found["y"])[fj] - np.asarray(truth["y"])[ti]
    return ti, fj, dx, dy
