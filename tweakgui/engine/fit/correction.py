"""An image's total correction of all stages, measured from its starting and final WCS."""

from __future__ import annotations

import weakref

import numpy as np

from tweakgui.engine.geometry import gnomonic_deg, separation_arcsec, sky_function
from tweakgui.engine.model import Correction

__all__ = ["image_correction", "reference_pixel"]


def _world(to_world, x, y):
    ra, dec = to_world(np.atleast_1d(x), np.atleast_1d(y))
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


class _LazyToPixel:
    """:func:`_to_pixel` of a WCS, made on the first call."""

    def __init__(self, wcs):
        self.wcs, self.fn = wcs, None

    def __call__(self, ra, dec):
        if self.fn is None:
            self.fn = _to_pixel(self.wcs)
        return self.fn(ra, dec)


def _pixel(to_pixel, ra, dec):
    x, y = to_pixel(np.atleast_1d(ra), np.atleast_1d(dec))
    return np.asarray(x, float), np.asarray(y, float)


def reference_pixel(chip, to_pixel=None) -> tuple[float, float]:
    """0-based pixel of the chip's reference point: CRPIX for FITS, the V2/V3 reference for JWST.

    ``to_pixel``: the chip WCS's world -> pixel function when the caller has it.
    """
    x, y, checked = _reference_pixel(chip, to_pixel)
    if checked:
        return x, y
    ra, dec = _world(sky_function(chip.wcs), x, y)
    return _checked_reference_pixel(chip, to_pixel, x, y, ra[0], dec[0])


# {(id(distortion), v2_ref, v3_ref): (weak reference to the distortion, (x, y))}
_DISTORTION_REF_PIXELS: dict = {}
# the V2/V3 reference through the distortion alone must land within this of (ra_ref, dec_ref)
_REF_CHECK_ARCSEC = 1e-3


def _reference_pixel(chip, to_pixel=None) -> tuple[float, float, bool]:
    """``(x, y, checked)``: the reference pixel, False when it still has to be checked on the sky.

    A JWST GWCS without a tangent-plane correction maps its V2/V3 reference
    point to (``ra_ref``, ``dec_ref``) (the V2/V3 → sky step is built on
    them, and a velocity aberration scale keeps that point), so its reference
    pixel is the distortion's inverse at (``v2_ref``, ``v3_ref``): the same
    for every image of a detector, which share that transform.  That pixel is
    unchecked; the caller evaluates the WCS there (see
    :func:`_checked_reference_pixel`).  Otherwise: the whole GWCS inverted.
    """
    wcs = chip.wcs
    if hasattr(wcs, "wcs") and hasattr(wcs.wcs, "crpix"):
        return float(wcs.wcs.crpix[0] - 1), float(wcs.wcs.crpix[1] - 1), True
    info = chip.meta.get("wcsinfo") or {}
    if "ra_ref" in info and "dec_ref" in info:
        known = _distortion_reference_pixel(wcs, info)
        if known is not None:
            return known[0], known[1], False
    return (*_inverted_reference_pixel(chip, to_pixel), True)


def _inverted_reference_pixel(chip, to_pixel=None) -> tuple[float, float]:
    """(``ra_ref``, ``dec_ref``) through the whole WCS's inverse; the chip's centre without them."""
    info = chip.meta.get("wcsinfo") or {}
    if "ra_ref" in info and "dec_ref" in info:
        x, y = _pixel(to_pixel or _to_pixel(chip.wcs), info["ra_ref"], info["dec_ref"])
        if np.isfinite(x[0]) and np.isfinite(y[0]):
            return float(x[0]), float(y[0])
    ny, nx = chip.shape
    return (nx - 1) / 2.0, (ny - 1) / 2.0


def _distortion_reference_pixel(wcs, info) -> tuple[float, float] | None:
    frames = getattr(wcs, "available_frames", None) or []
    if len(frames) < 3 or frames[1] != "v2v3" or "v2v3corr" in frames or "v2_ref" not in info:
        return None
    distortion = wcs.pipeline[0].transform
    key = (id(distortion), float(info["v2_ref"]), float(info["v3_ref"]))
    known = _DISTORTION_REF_PIXELS.get(key)
    if known is not None and known[0]() is distortion:
        return known[1]
    try:
        x, y = distortion.inverse(info["v2_ref"], info["v3_ref"])  # the V2/V3 frame is in arcsec
        ref = weakref.ref(distortion, lambda _, k=key: _DISTORTION_REF_PIXELS.pop(k, None))
    except Exception:  # no inverse, or odd units: the whole GWCS is inverted instead
        return None
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    _DISTORTION_REF_PIXELS[key] = (ref, (float(x), float(y)))
    return float(x), float(y)


def _checked_reference_pixel(chip, to_pixel, x, y, ra, dec) -> tuple[float, float]:
    """(x, y) if the WCS puts it at (``ra_ref``, ``dec_ref``), else the inverse's; (``ra``, ``dec``): where it puts it."""
    info = chip.meta["wcsinfo"]
    if float(separation_arcsec(ra, dec, info["ra_ref"], info["dec_ref"])) <= _REF_CHECK_ARCSEC:
        return x, y
    return _inverted_reference_pixel(chip, to_pixel)


def _tangent(ra, dec, ra0, dec0):
    """Gnomonic projection (arcsec, east and north) about (ra0, dec0)."""
    x, y = gnomonic_deg(ra, dec, ra0, dec0)
    return x * 3600, y * 3600


def _moved_pixel(to_world, to_pixel, x0, y0, jac, ra0, dec0, ra, dec, tol_pix=1e-6, steps=8):
    """The old WCS's pixel at (ra, dec), near its reference pixel (x0, y0).

    Newton steps from (x0, y0) with the local map ``jac`` (tangent-plane
    arcsec about (ra0, dec0) per pixel): one or two evaluations of the
    forward transform instead of building a GWCS's inverse.  Steps that do
    not settle leave it to ``to_pixel``.
    """
    e, n = _tangent(np.atleast_1d(ra), np.atleast_1d(dec), ra0, dec0)
    target = np.array([e[0], n[0]])
    inv = np.linalg.inv(jac)
    x, y = x0, y0
    here = np.zeros(2)  # the tangent-plane position of (x, y): (x0, y0) is the origin
    for _ in range(steps):
        dx, dy = inv @ (target - here)
        x, y = x + dx, y + dy
        if not (np.isfinite(x) and np.isfinite(y)):
            break
        if abs(dx) < tol_pix and abs(dy) < tol_pix:
            return np.array([x]), np.array([y])
        r, d = _world(to_world, x, y)
        here = np.array([v[0] for v in _tangent(r, d, ra0, dec0)])
    return _pixel(to_pixel, ra, dec)


def image_correction(exposure, new_wcs) -> Correction:
    """The move of the first chip's reference pixel and the local rotation and scale there.

    Measured on the sky between ``exposure.chips[0].wcs`` and ``new_wcs[0]``
    with a ±8 pixel cross about the reference pixel, so it holds for any
    WCS (FITS with SIP or GWCS) and sums every stage.
    """
    chip = exposure.chips[0]
    old_to_world = sky_function(chip.wcs)
    to_pixel = _LazyToPixel(chip.wcs)  # a GWCS's inverse is built only when needed
    d = 8.0
    x0, y0, checked = _reference_pixel(chip, to_pixel)

    def cross(x0, y0):
        return np.array([x0, x0 + d, x0 - d, x0, x0]), np.array([y0, y0, y0, y0 + d, y0 - d])

    xs, ys = cross(x0, y0)
    ra_a, dec_a = _world(old_to_world, xs, ys)
    if not checked:
        x1, y1 = _checked_reference_pixel(chip, to_pixel, x0, y0, ra_a[0], dec_a[0])
        if (x1, y1) != (x0, y0):
            x0, y0 = x1, y1
            xs, ys = cross(x0, y0)
            ra_a, dec_a = _world(old_to_world, xs, ys)
    ra_b, dec_b = _world(sky_function(new_wcs[0]), xs, ys)
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
    xp, yp = _moved_pixel(old_to_world, to_pixel, x0, y0, ja, ra_a[0], dec_a[0], ra_b[0], dec_b[0])
    return Correction(ref_pixel=(x0, y0), ref_ra=float(ra_a[0]), ref_dec=float(dec_a[0]), shift_arcsec=shift,
                      shift_pix=(float(xp[0] - x0), float(yp[0] - y0)), rotation_deg=float(rot), scale=scale)
