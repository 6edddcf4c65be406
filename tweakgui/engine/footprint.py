"""Footprints of chips on the sky, and why an image found no matches when it overlaps nothing.

:func:`chip_footprint` is the one footprint of a chip (its corners through
its WCS, astropy or gwcs) used by the Gaia query, the overlap checks and the
GUI's visit view.

tweakwcs reports only "not enough matches" for an image whose starting WCS puts
it away from every other image (or from every reference source).  The user's
fix then is not ``searchrad`` but the image's WCS (or ``xoffset``/``yoffset``),
so the pipeline names the cause.  Footprints are bounding circles on the sky of
each exposure's chips, from the WCS the run started with: an image is said not
to overlap only when even those generous circles, widened by ``searchrad``, do
not touch.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from tweakgui.engine.geometry import gwcs_forward

__all__ = ["chip_footprint", "sky_circle", "no_overlap_reason", "unit_vectors"]

# {id(gwcs): (weak reference, shape, corners)}: a GWCS is never changed in place by tweakgui (a
# corrected one is a new object), so its corners hold as long as it lives
_GWCS_CORNERS: dict = {}
_CORNERS_LOCK = threading.Lock()

_ARCSEC = np.pi / 180.0 / 3600.0


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    """Unit vectors (N, 3) of sky positions in degrees: for KD-trees and angles on the sphere."""
    ra, dec = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def chip_footprint(wcs, shape) -> np.ndarray:
    """(4, 2) longitude, latitude (deg) of the chip's outer pixel corners, in the WCS's own frame.

    The corners are those of the pixel edges (-0.5 and n - 0.5), as astropy's
    ``calc_footprint`` and gwcs' bounding box give them.
    """
    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    if not hasattr(wcs, "pipeline"):
        lon, lat = wcs.pixel_to_world_values(x, y)[:2]
        return np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])
    # gwcs: ~2.5 ms to evaluate, and a mosaic asks for each chip's several times
    key = id(wcs)
    with _CORNERS_LOCK:
        known = _GWCS_CORNERS.get(key)
    if known is not None and known[0]() is wcs and known[1] == (ny, nx):
        return known[2].copy()
    lon, lat = gwcs_forward(wcs)(x, y)[:2]  # the edges may lie on the bounding box: no NaN
    corners = np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])
    try:
        ref = weakref.ref(wcs, lambda _, k=key: _forget_corners(k))
    except TypeError:
        return corners
    with _CORNERS_LOCK:
        _GWCS_CORNERS[key] = (ref, (ny, nx), corners)
    return corners.copy()


def _forget_corners(key) -> None:
    with _CORNERS_LOCK:
        known = _GWCS_CORNERS.get(key)
        if known is not None and known[0]() is None:
            del _GWCS_CORNERS[key]


def sky_circle(exposure) -> tuple[np.ndarray, float] | None:
    """Centre (unit vector) and radius (arcsec) of a circle holding every chip, or None.

    The corners of each chip (:func:`chip_footprint`); None when none of
    them lands on the sky.
    """
    pts = []
    for chip in exposure.chips:
        try:
            corners = chip_footprint(chip.wcs, chip.shape)
        except Exception:  # a WCS that cannot project its own corners: no claim
            continue
        pts.append(unit_vectors(corners[:, 0], corners[:, 1]))
    if not pts:
        return None
    v = np.concatenate(pts)
    v = v[np.all(np.isfinite(v), axis=1)]
    if not len(v):
        return None
    centre = v.mean(axis=0)
    centre /= np.linalg.norm(centre)
    radius = float(np.max(np.arccos(np.clip(v @ centre, -1.0, 1.0)))) / _ARCSEC
    return centre, radius


def _sep_arcsec(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.arccos(np.clip(b @ a, -1.0, 1.0)) / _ARCSEC


def no_overlap_reason(visit, index: int, others: list[int], params, refcat=None) -> str | None:
    """A one-line reason when exposure ``index`` cannot overlap, else None.

    Parameters
    ----------
    visit : Visit
    index : int
        The exposure that failed.
    others : list of int
        Exposures it could have matched in the relative fit (empty: skip that test).
    params : TweakRegParams
    refcat : astropy.table.Table, optional
        The absolute reference catalog (``RA``, ``DEC`` in degrees).
    """
    me = sky_circle(visit.exposures[index])
    if me is None:
        return None
    centre, radius = me
    circles = [c for c in (sky_circle(visit.exposures[j]) for j in others if j != index) if c is not None]
    if circles:
        gaps = [float(_sep_arcsec(centre, c[None, :])[0]) - radius - r for c, r in circles]
        gap = min(gaps)
        if gap > params.searchrad:
            return (f"does not overlap any other image of the visit (the nearest is {_fmt(gap)} "
                    "away by its WCS): check its WCS or set xoffset/yoffset")
    if refcat is not None and len(refcat):
        d = _sep_arcsec(centre, unit_vectors(refcat["RA"], refcat["DEC"])) - radius
        if float(np.min(d)) > params.abs_searchrad:
            return (f"no reference catalog source on the image (the nearest is {_fmt(float(np.min(d)))} "
                    "beyond its edge): check its WCS or the reference catalog")
    return None


def _fmt(arcsec: float) -> str:
    if arcsec >= 3600:
        return f"{arcsec / 3600:.2f} deg"
    if arcsec >= 60:
        return f"{arcsec / 60:.1f} arcmin"
    return f"{arcsec:.1f} arcsec"
