"""Residuals of a fit in the frame they are plotted in, and an image's own numbers.

A fit's ``dx``/``dy`` are in the reference tangent plane, whose axes may be
rotated and mirrored against a chip's detector axes (NIRCam: ~50°).  Plotted
against detector x, y they must be components along the detector axes: the
sky residual (ΔRA·cos δ, ΔDec) taken through the inverse local Jacobian of
the chip's WCS.  Pure numpy: the GUI draws, this module computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["sky_residuals", "detector_components", "ImageNumbers", "image_numbers", "numbers_by_image", "robust_range",
           "bin_residuals"]

ARCSEC = 3600.0


def sky_residuals(matches):
    """(ΔRA·cos δ, ΔDec) in arcsec, input minus reference, or None if the table lacks them."""
    cols = ("ra", "dec", "ref_ra", "ref_dec")
    if matches is None or not all(c in matches.colnames for c in cols):
        return None
    ra, dec, rra, rdec = (np.asarray(matches[c], float) for c in cols)
    if not len(ra) or not np.isfinite(ra).all() or not np.isfinite(rra).all():
        return None
    dra = (ra - rra + 180.0) % 360.0 - 180.0
    return dra * np.cos(np.deg2rad(rdec)) * ARCSEC, (dec - rdec) * ARCSEC


def _jacobian(wcs, x, y, h=0.5):
    """d(east, north)/d(x, y) in arcsec per pixel at each (x, y), by central differences."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    # the four offsets in one call: gwcs builds its compound transform again on every call
    px = np.concatenate([x + h, x - h, x, x])
    py = np.concatenate([y, y, y + h, y - h])
    r, d = (np.asarray(v, float) for v in wcs.pixel_to_world_values(px, py))
    ra, dec = np.split(r, 4), np.split(d, 4)
    cosd = np.cos(np.deg2rad(0.25 * sum(dec)))

    def d_dp(i, j):
        dra = (ra[i] - ra[j] + 180.0) % 360.0 - 180.0
        return dra * cosd * ARCSEC / (2 * h), (dec[i] - dec[j]) * ARCSEC / (2 * h)

    dex, dnx = d_dp(0, 1)
    dey, dny = d_dp(2, 3)
    return dex, dey, dnx, dny


def detector_components(wcs, x, y, de, dn):
    """Sky residuals (arcsec, east and north) as components along the chip's x and y axes.

    Returns (cx, cy) in arcsec: the residual's move in detector pixels times the
    local pixel scale, so a rotation pattern on the detector looks like one.
    """
    a, b, c, d = _jacobian(wcs, x, y)
    det = a * d - b * c
    # pixels = J^-1 · sky
    px = (d * de - b * dn) / det
    py = (-c * de + a * dn) / det
    scale = np.sqrt(np.abs(det))
    return px * scale, py * scale


def robust_range(values, margin: float = 0.25, lo: float = 1.0, hi: float = 99.0,
                 symmetric: bool = True, floor: float = 0.0):
    """A plot range from the used points: their ``lo``–``hi`` percentiles widened by
    ``margin`` of the span (symmetric about zero when asked), at least ``floor`` wide."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    p0, p1 = np.percentile(v, [lo, hi])
    if symmetric:
        r = max(abs(p0), abs(p1))
        r = max(r * (1 + margin), floor / 2, 1e-9)
        return -r, r
    span = max(p1 - p0, floor, 1e-9)
    return p0 - margin * span, p1 + margin * span


@dataclass
class ImageNumbers:
    """One image's own numbers in one fit (its rows of the fit's matches table)."""

    nmatch: int
    nused: int
    nclipped: int
    nexcluded: int
    rms_dx_mas: float
    rms_dy_mas: float


def image_numbers(matches, image: str | None) -> ImageNumbers:
    """Counts and RMS (tangent plane, mas) of ``image``'s rows (all rows if None)."""
    if matches is None or not len(matches):
        return ImageNumbers(0, 0, 0, 0, float("nan"), float("nan"))
    # group 0: the image's rows (every row if None), group 1: the others
    group = (np.zeros(len(matches), int) if image is None
             else (np.asarray(matches["image"]).astype(str) != image).astype(int))
    return _numbers_of_groups(matches, group, 2)[0]


def numbers_by_image(matches) -> dict[str, ImageNumbers]:
    """:func:`image_numbers` of every image in ``matches`` in one pass (a group of hundreds of
    images would otherwise scan the whole table once per image)."""
    if matches is None or not len(matches):
        return {}
    names, group = np.unique(np.asarray(matches["image"]).astype(str), return_inverse=True)
    return {str(name): n for name, n in zip(names, _numbers_of_groups(matches, group, len(names)))}


def _numbers_of_groups(matches, group, n: int) -> list[ImageNumbers]:
    """The counts and RMS of the rows of each group ``0..n-1`` (``group``: each row's group)."""
    used = np.asarray(matches["used"], bool)
    exc = np.asarray(matches["excluded"], bool) if "excluded" in matches.colnames else np.zeros(len(used), bool)

    def count(mask):
        return np.bincount(group, weights=mask.astype(float), minlength=n).astype(int)

    nused = count(used)
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = [np.sqrt(np.bincount(group, weights=np.where(used, (np.asarray(matches[c], float) * 1000.0) ** 2, 0.0),
                                   minlength=n) / nused) for c in ("dx", "dy")]
    rms = [np.where(nused > 0, r, np.nan) for r in rms]
    counts = zip(count(~exc), nused, count(~used & ~exc), count(exc))
    return [ImageNumbers(int(a), int(b), int(c), int(d), float(rx), float(ry))
            for (a, b, c, d), rx, ry in zip(counts, rms[0], rms[1])]


def bin_residuals(x, y, dx, dy, shape, nbin: int):
    """Mean residuals in an ``nbin``×``nbin`` grid over a chip of ``shape`` (ny, nx).

    Returns (centre x, centre y, mean dx, mean dy, counts), one entry per bin,
    NaN means where a bin is empty.
    """
    ny, nx = shape
    x, y, dx, dy = (np.asarray(v, float) for v in (x, y, dx, dy))
    ix = np.clip((x / nx * nbin).astype(int), 0, nbin - 1)
    iy = np.clip((y / ny * nbin).astype(int), 0, nbin - 1)
    k = iy * nbin + ix
    counts = np.bincount(k, minlength=nbin * nbin).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mdx = np.bincount(k, dx, minlength=nbin * nbin) / counts
        mdy = np.bincount(k, dy, minlength=nbin * nbin) / counts
    gy, gx = np.divmod(np.arange(nbin * nbin), nbin)
    return (gx + 0.5) * nx / nbin, (gy + 0.5) * ny / nbin, mdx, mdy, counts.astype(int)
