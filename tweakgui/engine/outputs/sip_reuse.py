"""FITS SIP approximations of many GWCS of one detector, from one full fit.

gwcs' ``to_fits_sip`` fits polynomials of degree 1..6 to the GWCS on a grid,
~60 ms per image. For the GWCS of one detector and filter the fit's SIP
polynomials are the same whatever the pointing: they are written in pixels,
before the CD matrix, and the pixel → tangent-plane map of two such GWCS
differs (to second order in the field's size) by a linear map and a shift,
which the CD matrix and CRVAL take up. So the first GWCS of a detector is
fitted by gwcs and the others get its SIP keys with their own CRVAL
(the sky at CRPIX) and CD (the template's, times the linear map between the
two GWCS near CRPIX). Every header made this way is checked against its own
GWCS on a grid and used only when it is within ``sip_max_pix_error``;
otherwise gwcs fits that GWCS in full.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from tweakgui.engine.geometry import gnomonic_deg, gwcs_forward, pixel_bounds, remembered, separation_arcsec

__all__ = ["sip_header", "clear_templates"]

_TEMPLATES: dict = {}
_MAX_TEMPLATES = 256
_PROBE = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9], [0.5, 0.3]])  # bounding-box fractions
_CHECK_POINTS = 9  # per axis


def clear_templates() -> None:
    _TEMPLATES.clear()


def sip_header(wcs, kw: dict) -> fits.Header:
    """``wcs.to_fits_sip(**kw)``, from a template of the same detector when one fits well enough."""
    key = _template_key(wcs, kw)
    template = _TEMPLATES.get(key) if key is not None else None
    if template is not None:
        hdr = _from_template(wcs, kw, template, key[0])
        if hdr is not None:
            return hdr
    hdr = wcs.to_fits_sip(**kw)
    if key is not None and len(_TEMPLATES) < _MAX_TEMPLATES:
        from astropy.wcs import WCS

        got = _jacobian_and_check(wcs, hdr, key[0])
        if got is not None:
            _TEMPLATES[key] = (hdr.copy(), got[1], WCS(hdr))
    return hdr


def _template_key(wcs, kw: dict):
    """The detector's first step sampled at fixed pixels, with the fit's settings: equal keys mean
    the same distortion (the check of each header stays the safeguard)."""
    b = pixel_bounds(wcs)
    if b is None or not getattr(wcs, "pipeline", None) or wcs.pipeline[0].transform is None:
        return None
    x0, x1, y0, y1 = b
    px = x0 + _PROBE[:, 0] * (x1 - x0)
    py = y0 + _PROBE[:, 1] * (y1 - y0)
    try:
        out = remembered(wcs.pipeline[0].transform)(px, py)  # the same pixels for every file of a detector
    except Exception:  # noqa: BLE001
        return None
    sample = tuple(np.round(np.concatenate([np.ravel(np.asarray(o, float)) for o in out]), 9))
    settings = tuple(sorted((k, str(v)) for k, v in kw.items()))
    return b, sample, settings


def _jacobian_and_check(wcs, hdr, bounds):
    """One GWCS evaluation: the sky at CRPIX, d(tangent plane at it)/d(pixel) at CRPIX by central
    differences over ±8 px, and the sky on a grid over the chip (for the check)."""
    cx, cy = hdr["CRPIX1"] - 1.0, hdr["CRPIX2"] - 1.0
    h = 8.0
    x0, x1, y0, y1 = bounds
    gx, gy = np.meshgrid(np.linspace(x0 + 0.5, x1 - 0.5, _CHECK_POINTS),
                         np.linspace(y0 + 0.5, y1 - 0.5, _CHECK_POINTS))
    px = np.concatenate([[cx, cx + h, cx - h, cx, cx], gx.ravel()])
    py = np.concatenate([[cy, cy, cy, cy + h, cy - h], gy.ravel()])
    ra, dec = (np.asarray(v, float) for v in gwcs_forward(wcs, bounding_box=True)(px, py)[:2])
    xi, eta = gnomonic_deg(ra[1:5], dec[1:5], ra[0], dec[0])
    jac = np.array([[xi[0] - xi[1], xi[2] - xi[3]], [eta[0] - eta[1], eta[2] - eta[3]]]) / (2 * h)
    if not np.all(np.isfinite(jac)):
        return None
    return (ra[0], dec[0]), jac, (px[5:], py[5:], ra[5:], dec[5:])


def _from_template(wcs, kw: dict, template, bounds) -> fits.Header | None:
    """The template's header with this GWCS's CRVAL and CD, or None when it misses the tolerance
    (the key holds the bounding box and ``kw``, CRPIX included: they are the template's)."""
    tmpl, jac0, approx = template
    got = _jacobian_and_check(wcs, tmpl, bounds)
    if got is None:
        return None
    (ra0, dec0), jac, (gx, gy, gra, gdec) = got
    cd = (jac @ np.linalg.inv(jac0)) @ np.array([[tmpl["CD1_1"], tmpl["CD1_2"]], [tmpl["CD2_1"], tmpl["CD2_2"]]])
    # the template's astropy WCS (made once) given this image's CRVAL and CD: its SIP terms are the same
    approx.wcs.crval = [ra0 % 360.0, dec0]
    approx.wcs.cd = cd
    approx.wcs.set()
    ra2, dec2 = approx.all_pix2world(gx, gy, 0)
    err = float(np.nanmax(separation_arcsec(ra2, dec2, gra, gdec))) / 3600.0 if len(gx) else float("nan")
    limit = kw.get("max_pix_error", 0.25) * np.sqrt(abs(np.linalg.det(cd)))
    if not np.isfinite(err) or err > limit:
        return None
    hdr = tmpl.copy()
    hdr["CRVAL1"], hdr["CRVAL2"], hdr["LATPOLE"] = ra0 % 360.0, dec0, dec0
    for (i, j), v in np.ndenumerate(cd):
        hdr[f"CD{i + 1}_{j + 1}"] = float(v)
    return hdr  # SIPMXERR/SIPIVERR: the template's, whose polynomials these are
