"""IRAF ``starfind``'s kernel and measurements of given peaks, as photutils' ``IRAFStarFinder`` makes them.

The ``iraf`` finder (:func:`tweakgui.engine.detect.finders.detect_sources`)
finds its peaks on the image convolved with :func:`star_kernel` and measures
them here: the local sky is the mean of the kernel box outside the kernel's
footprint; inside it, the sky-subtracted pixels (negative ones set to zero)
give the first and second moments, hence the centroid, the FWHM, the
sharpness (FWHM over the kernel's) and the roundness; flux and peak are their
sum and maximum.  Sources with fewer than two positive pixels, non-finite
measures, or sharpness or roundness outside their ranges are dropped.

Every number is computed with the operations of photutils 3.0's
``IRAFStarFinder`` (``_StarFinderKernel``, ``_IRAFStarFinderCatalog``), so the
catalogs are the same (``tests/engine/detect/test_starfind.py`` compares
them).  Doing it here saves, per detection process, the import of
photutils (0.4 s, most of it ``importlib.metadata`` scanning the installed
packages) and, per image, photutils' second convolution of the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.stats import gaussian_fwhm_to_sigma

__all__ = ["StarKernel", "star_kernel", "measure_stars"]


@dataclass(frozen=True)
class StarKernel:
    """A round Gaussian density-enhancement kernel (zero sum inside its footprint)."""

    data: np.ndarray  # (ny, nx) float64, for the convolution
    mask: np.ndarray  # (ny, nx) int, 1 inside the footprint
    fwhm: float
    x_radius: int
    y_radius: int


def star_kernel(fwhm: float, sigma_radius: float = 1.5) -> StarKernel:
    """The kernel of ``IRAFStarFinder(threshold, fwhm, sigma_radius=...)`` (round: ratio 1, theta 0)."""
    if not fwhm > 0:
        raise ValueError(f"kernel_fwhm must be > 0, got {fwhm}")
    if not sigma_radius > 0:
        raise ValueError(f"sigma_radius must be > 0, got {sigma_radius}")
    x_sigma = fwhm * gaussian_fwhm_to_sigma
    y_sigma = x_sigma * 1.0
    cost, sint = np.cos(0.0), np.sin(0.0)
    x_sigma2, y_sigma2 = x_sigma**2, y_sigma**2
    a = (cost**2 / (2.0 * x_sigma2)) + (sint**2 / (2.0 * y_sigma2))
    b = 0.5 * cost * sint * ((1.0 / x_sigma2) - (1.0 / y_sigma2))
    c = (sint**2 / (2.0 * x_sigma2)) + (cost**2 / (2.0 * y_sigma2))
    f = sigma_radius**2 / 2.0
    denom = (a * c) - b**2
    nx = 2 * int(max(2, math.sqrt(c * f / denom))) + 1  # odd, at least 5
    ny = 2 * int(max(2, math.sqrt(a * f / denom))) + 1
    xc, yc = nx // 2, ny // 2
    yy, xx = np.mgrid[0:ny, 0:nx]
    circular_radius = np.sqrt((xx - xc)**2 + (yy - yc)**2)
    elliptical_radius = a * (xx - xc)**2 + 2.0 * b * (xx - xc) * (yy - yc) + c * (yy - yc)**2
    mask = np.where((elliptical_radius <= f) | (circular_radius <= 2.0), 1, 0).astype(int)
    n_pixels = mask.sum()
    gaussian = np.exp(-elliptical_radius) * mask
    var_n = (gaussian**2).sum() - (gaussian.sum()**2 / n_pixels)
    data = ((gaussian - (gaussian.sum() / n_pixels)) / var_n) * mask
    return StarKernel(data=data, mask=mask, fwhm=fwhm, x_radius=xc, y_radius=yc)


def _cutouts(data, x, y, shape):
    """(n, ky, kx) boxes centred on the integer pixels (x, y), zero beyond the image."""
    ky, kx = shape
    y_idx = y[:, None, None] + (np.arange(ky) - ky // 2)[None, :, None]
    x_idx = x[:, None, None] + (np.arange(kx) - kx // 2)[None, None, :]
    inside = (y_idx >= 0) & (y_idx < data.shape[0]) & (x_idx >= 0) & (x_idx < data.shape[1])
    picked = data[np.clip(y_idx, 0, data.shape[0] - 1), np.clip(x_idx, 0, data.shape[1] - 1)]
    return np.where(inside, picked, 0.0)


def _moments(cut, kernel):
    """Centroid in the box, central second moments (n, 3, 3) and their normalisation."""
    ky, kx = cut.shape[1], cut.shape[2]
    y, x = np.arange(ky, dtype=float), np.arange(kx, dtype=float)
    raw = np.column_stack([np.ones(ky), y]).T @ cut @ np.column_stack([np.ones(kx), x])
    with np.errstate(divide="ignore", invalid="ignore"):
        cy = raw[:, 1, 0] / raw[:, 0, 0]
        cx = raw[:, 0, 1] / raw[:, 0, 0]
    dy = y[None, :] - cy[:, None]
    dx = x[None, :] - cx[:, None]
    ypow = np.stack([np.ones_like(dy), dy, dy**2], axis=-1)
    xpow = np.stack([np.ones_like(dx), dx, dx**2], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        central = (np.transpose(ypow, (0, 2, 1)) @ cut @ xpow) / raw[:, 0, 0][:, None, None]
    return cx, cy, central


def measure_stars(data: np.ndarray, xy: np.ndarray, kernel: StarKernel, sharpness_range=(0.5, 2.0),
                  roundness_range=(0.0, 0.2)) -> dict[str, np.ndarray]:
    """Centroid, flux, peak, sharpness and roundness of the sources at the integer pixels ``xy`` (n, 2).

    ``data`` is the background-subtracted image.  Returns arrays of the
    sources kept (in the order of ``xy``): ``x``, ``y`` (0-based),
    ``flux``, ``peak``, ``sharpness``, ``roundness``.
    """
    xy = np.atleast_2d(xy)
    x0, y0 = xy[:, 0], xy[:, 1]
    nosub = _cutouts(data, np.round(x0).astype(int), np.round(y0).astype(int), kernel.data.shape)
    skymask = ~kernel.mask.astype(bool)
    sky = np.sum(nosub * skymask, axis=(1, 2)) / np.count_nonzero(skymask)
    cut = (nosub - sky[:, np.newaxis, np.newaxis]) * kernel.mask
    cut[cut < 0] = 0.0  # IRAF starfind discards negative pixels
    cx, cy, central = _moments(cut, kernel)
    mu_sum = central[:, 0, 2] + central[:, 2, 0]
    mu_diff = central[:, 0, 2] - central[:, 2, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpness = 2.0 * np.sqrt(np.log(2.0) * mu_sum) / kernel.fwhm
        roundness = np.sqrt(mu_diff**2 + 4.0 * central[:, 1, 1]**2) / mu_sum
    orientation = 0.5 * np.arctan2(2.0 * central[:, 1, 1], mu_diff)
    out = {"x": cx + (x0 - kernel.x_radius), "y": cy + (y0 - kernel.y_radius),
           "flux": np.sum(cut, axis=(1, 2)), "peak": np.max(cut, axis=(1, 2)),
           "sharpness": sharpness, "roundness": roundness}
    keep = np.count_nonzero(cut, axis=(1, 2)) > 1
    for v in (out["x"], out["y"], sharpness, roundness, orientation, sky, out["peak"], out["flux"]):
        keep &= np.isfinite(v)
    for name, (lo, hi) in (("sharpness", sharpness_range), ("roundness", roundness_range)):
        keep &= (out[name] >= lo) & (out[name] <= hi)
    return {k: np.asarray(v[keep], dtype=np.float64) for k, v in out.items()}
