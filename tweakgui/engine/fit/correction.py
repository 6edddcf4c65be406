"""An image's total correction of all stages, measured from its starting and final WCS."""

from __future__ import annotations

import numpy as np

from tweakgui.engine.geometry import gnomonic_deg
from tweakgui.engine.model import Correction

__all__ = ["image_correction", "reference_pixel"]


def _world(wcs, x, y):
    if hasattr(wcs, "all_pix2world"):
        ra, dec = wcs.all_pix2world(np.atleast_1d(x), np.atleast_1d(y), 0)
    else:
        ra, dec = wcs(np.atleast_1d(x), np.atleast_1d(y), with_bounding_box=False)
    return np.asarray(ra, float), np.asarray(dec, float)


def _to_pixel(wcs):
    """world -> pixel of ``wcs`` as a function; a GWCS's inverse is built once, not on every call."""
    if hasattr(wcs, "all_world2pix"):
        return lambda ra, dec: wcs.all_world2pix(ra, dec, 0)
    try:
        inverse = wcs.backward_transform  # what wcs.invert builds (twice the forward transform) each time
    except NotImplementedError:
        return lambda ra, dec: wcs.invert(ra, dec, with_bounding_box=False)
    return lambda ra, dec: inverse(ra, dec, with_bounding_box=False)


def _pixel(to_pixel, ra, dec):
    x, y = to_pixel(np.atleast_1d(ra), np.atleast_1d(dec))
    return np.asarray(x, float), np.asarray(y, float)


def reference_pixel(chip, to_pixel=None) -> tuple[float, float]:
    """0-based pixel of the chip's reference point: CRPIX for FITS, the V2/V3 reference for JWST.

    ``to_pixel``: the chip WCS's world -> pixel function when the caller has it.
    """
    wcs = chip.wcs
    if hasattr(wcs, "wcs") and hasattr(wcs.wcs, "crpix"):
        return float(wcs.wcs.crpix[0] - 1), float(wcs.wcs.crpix[1] - 1)
    info = chip.meta.get("wcsinfo") or {}
    if "ra_ref" in info and "dec_ref" in info:
        x, y = _pixel(to_pixel or _to_pixel(wcs), info["ra_ref"], info["dec_ref"])
        if np.isfinite(x[0]) and np.isfinite(y[0]):
            return float(x[0]), float(y[0])
    ny, nx = chip.shape
    return (nx - 1) / 2.0, (ny - 1) / 2.0


def _tangent(ra, dec, ra0, dec0):
    """Gnomonic projection (arcsec, east and north) about (ra0, dec0)."""
    x, y = gnomonic_deg(ra, dec, ra0, dec0)
    return x * 3600, y * 3600


def image_correction(exposure, new_wcs) -> Correction:
    """The move of the first chip's reference pixel and the local rotation and scale there.

    Measured on the sky between ``exposure.chips[0].wcs`` and ``new_wcs[0]``
    with a ±8 pixel cross about the reference pixel, so it holds for any
    WCS (FITS with SIP or GWCS) and sums every stage.
    """
    chip = exposure.chips[0]
    to_pixel = _to_pixel(chip.wcs)
    x0, y0 = reference_pixel(chip, to_pixel)
    d = 8.0
    xs = np.array([x0, x0 + d, x0 - d, x0, x0])
    ys = np.array([y0, y0, y0, y0 + d, y0 - d])
    ra_a, dec_a = _world(chip.wcs, xs, ys)
    ra_b, dec_b = _world(new_wcs[0], xs, ys)
    # both in one tangent plane about the old reference point (east, north arcsec)
    ea, na = _tangent(ra_a, dec_a, ra_a[0], dec_a[0])
    eb, nb = _tangent(ra_b, dec_b, ra_a[0], dec_a[0])
    shift = (float(eb[0]), float(nb[0]))
    # local linear maps pixel -> sky (columns: d/dx, d/dy)
    ja = np.array([[ea[1] - ea[2], ea[3] - ea[4]], [na[1] - na[2], na[3] - na[4]]]) / (2 * d)
    jb = np.array([[eb[1] - eb[2], eb[3] - eb[4]], [nb[1] - nb[2], nb[3] - nb[4]]]) / (2 * d)
    m = jb @ np.linalg.inv(ja)  # old sky offsets -> new sky offsets
    # counter-clockwise in (east, north): the sense of R(θ) in CD' = R(θ) @ CD
    rot = np.degrees(0.5 * (np.arctan2(m[1, 0], m[0, 0]) - np.arctan2(m[0, 1], m[1, 1])))
    scale = float(np.sqrt(abs(np.linalg.det(m))))
    xp, yp = _pixel(to_pixel, ra_b[:1], dec_b[:1])
    return Correction(ref_pixel=(x0, y0), ref_ra=float(ra_a[0]), ref_dec=float(dec_a[0]), shift_arcsec=shift,
                      shift_pix=(float(xp[0] - x0), float(yp[0] - y0)), rotation_deg=float(rot), scale=scale)
