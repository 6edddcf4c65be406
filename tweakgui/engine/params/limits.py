"""Sizes a run may ask for, checked before it starts.

Some parameters set the size of an array: ``kernel_fwhm`` the detection
kernel (about 3.4 × FWHM pixels on a side), ``searchrad`` (and
``abs_searchrad``) tweakwcs' offset histogram, one bin per tangent-plane unit
(a pixel of the reference image for FITS WCS, an arcsec for GWCS) over
±searchrad.  A typo such as ``searchrad 1e6`` would otherwise end, minutes
later, as "Unable to allocate 29.6 PiB"; here it is refused at once, naming
the parameter and the limit.
"""

from __future__ import annotations

import math

import numpy as np

from tweakgui.engine.geometry import pixel_scale_arcsec
from tweakgui.engine.params.spec import ParameterError

__all__ = ["check_limits", "MAX_KERNEL_FWHM", "MAX_HIST_SIDE"]

MAX_KERNEL_FWHM = 100.0  # pixels; stars are 1-10 px wide, galaxies need segmentation, not a kernel
MAX_HIST_SIDE = 4096  # bins on a side of the offset histogram: 128 MiB of float64


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def _finest_scale(visit) -> tuple[float, bool]:
    """(arcsec per tangent-plane unit, gwcs?) for the visit's finest-sampled chip."""
    if visit is None or not visit.exposures:
        return 1.0, True
    if any(e.kind != "fits" for e in visit.exposures):
        return 1.0, True  # JWSTWCSCorrector: the tangent plane is in arcsec
    scales = []
    for e in visit.exposures:
        for c in e.chips:
            try:
                ny, nx = c.shape
                s = pixel_scale_arcsec(c.wcs.pixel_to_world_values, 0.5 * (nx - 1), 0.5 * (ny - 1))
            except Exception:  # the WCS checks of inputs report a bad WCS by name
                continue
            if np.isfinite(s) and s > 0:
                scales.append(s)
    return (min(scales), False) if scales else (1.0, True)


def check_limits(params, visit=None) -> None:
    """Raise :class:`ParameterError` for a size beyond the limits above (one line, the parameter named)."""
    name = getattr(params, "wcsname", "") or ""
    if not (name.isascii() and name.isprintable()) or len(name) > 68:
        raise ParameterError(f"wcsname {name!r}: a FITS WCSNAME must be printable ASCII of at most 68 "
                             "characters")
    fwhm = float(params.kernel_fwhm)
    if not math.isfinite(fwhm) or fwhm > MAX_KERNEL_FWHM:
        side = 2 * math.ceil(4 * fwhm / 2.3548) + 1 if math.isfinite(fwhm) else float("inf")
        raise ParameterError(f"kernel_fwhm {fwhm:g} is too large: at most {MAX_KERNEL_FWHM:g} pixels "
                             f"(a {side:g}-pixel kernel needs {_fmt_bytes(8.0 * side * side)} per image)")
    scale, gwcs = _finest_scale(visit)
    unit = "arcsec" if gwcs else f"pixels of {scale:.4g}\""
    rmax = (MAX_HIST_SIDE - 1) // 2
    for name in ("searchrad", "abs_searchrad"):
        value = float(getattr(params, name, 0.0) or 0.0)
        r = value / scale
        if not math.isfinite(r) or r > rmax:
            side = 2 * math.ceil(r) + 1 if math.isfinite(r) else float("inf")
            raise ParameterError(
                f"{name} {value:g} is too large: at most {rmax * scale:.4g} arcsec here ({rmax} {unit}); "
                f"the offset histogram would need {_fmt_bytes(8.0 * side * side)}")
