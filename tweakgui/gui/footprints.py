"""Chip footprints for the visit view, computed once per WCS object and, for a job's
result, in the worker (:func:`tweakgui.gui.prefill.with_prefill`): a GWCS footprint costs
milliseconds, and 690 images (1380 outlines before and after a run) would otherwise stall
the window."""

from __future__ import annotations

import logging

import numpy as np

from tweakgui.engine import footprint
from tweakgui.gui.prefill import ObjectMemo

log = logging.getLogger(__name__)

__all__ = ["chip_footprint", "near_footprint", "prefill_footprints"]

_FOOTPRINTS = ObjectMemo()


def chip_footprint(wcs, shape) -> np.ndarray | None:
    """The engine's footprint of a chip, or None where its WCS cannot give one (drawn as far as possible).

    Remembered for the life of the WCS object (the engine never modifies one).
    """
    return _FOOTPRINTS.get(wcs, tuple(shape), lambda: _footprint(wcs, shape))


def _footprint(wcs, shape):
    try:
        return footprint.chip_footprint(wcs, shape)
    except Exception as exc:  # noqa: BLE001 - draw what can be drawn
        log.debug("no footprint: %s", exc)
        return None


def prefill_footprints(out) -> None:
    """Compute the footprints one part of a job's output will draw (in the worker): the chips
    of a Visit and the fitted WCSs of a run's result."""
    for e in getattr(out, "exposures", None) or []:
        for c in e.chips:
            chip_footprint(c.wcs, c.shape)
    for r in getattr(out, "images", None) or []:
        for c, w in zip(r.exposure.chips, r.new_wcs or []):
            chip_footprint(c.wcs, c.shape)
            if w is not None:
                chip_footprint(w, c.shape)


def near_footprint(ra, dec, fp, margin: float = 0.25):
    """The positions of ``ra``, ``dec`` (deg) inside the footprint's bounding box widened by
    ``margin`` of its size on each side: a large reference catalog is then projected through
    a chip's WCS for its few sources only.  All of them when there is no usable footprint."""
    if fp is None or not np.all(np.isfinite(fp)) or np.max(np.abs(fp[:, 1])) > 80:
        return ra, dec  # near a pole a box in RA is no bound
    ra0, dec0 = float(np.mean(fp[:, 0])), float(np.mean(fp[:, 1]))
    cosd = max(np.cos(np.radians(dec0)), 1e-3)
    fx = ((fp[:, 0] - ra0 + 180.0) % 360.0 - 180.0) * cosd
    fy = fp[:, 1] - dec0
    wx, wy = margin * (fx.max() - fx.min()) + 1e-3, margin * (fy.max() - fy.min()) + 1e-3
    x = ((ra - ra0 + 180.0) % 360.0 - 180.0) * cosd
    y = dec - dec0
    keep = (x > fx.min() - wx) & (x < fx.max() + wx) & (y > fy.min() - wy) & (y < fy.max() + wy)
    return ra[keep], dec[keep]
