"""Chip footprints for the visit view, computed once per WCS object and, for a job's
result, in the worker: a GWCS footprint costs milliseconds, and 690 images (1380
outlines before and after a run) would otherwise stall the window."""

from __future__ import annotations

import logging
import threading
import weakref

import numpy as np

from tweakgui.engine import footprint

log = logging.getLogger(__name__)

__all__ = ["chip_footprint", "near_footprint", "job_parts", "prefill_footprints", "with_footprints"]

# id(wcs) -> (weak reference to the WCS, shape, footprint or None): filled in the worker
# (a GWCS footprint costs milliseconds, 690 of them would stall the window)
_FOOTPRINTS: dict[int, tuple] = {}
_FOOTPRINTS_LOCK = threading.Lock()


def chip_footprint(wcs, shape) -> np.ndarray | None:
    """The engine's footprint of a chip, or None where its WCS cannot give one (drawn as far as possible).

    Remembered for the life of the WCS object (the engine never modifies one).
    """
    key, shape = id(wcs), tuple(shape)
    hit = _FOOTPRINTS.get(key)
    if hit is not None and hit[0]() is wcs and hit[1] == shape:
        return hit[2]
    try:
        fp = footprint.chip_footprint(wcs, shape)
    except Exception as exc:  # noqa: BLE001 - draw what can be drawn
        log.debug("no footprint: %s", exc)
        fp = None
    try:
        ref = weakref.ref(wcs)
    except TypeError:
        return fp
    with _FOOTPRINTS_LOCK:
        if len(_FOOTPRINTS) > 20000:  # forget the WCS objects that are gone
            for k in [k for k, v in _FOOTPRINTS.items() if v[0]() is None]:
                del _FOOTPRINTS[k]
        _FOOTPRINTS[key] = (ref, shape, fp)
    return fp


def job_parts(out):
    """The objects of a job's output: a Visit, the parts of a (visit, stored results) pair, a
    VisitResult (also the one an ExcludedRun holds)."""
    if isinstance(out, tuple):
        for part in out:
            yield from job_parts(part)
        return
    yield getattr(out, "result", out)


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


def with_footprints(job):
    """``job`` followed by :func:`prefill_footprints` of what it returns, and the per-image
    numbers of its fits (:func:`~tweakgui.gui.fit_numbers.prefill_fit_numbers`), in the worker."""
    from tweakgui.gui.fit_numbers import prefill_fit_numbers

    def run(*args, **kwargs):
        out = job(*args, **kwargs)
        for part in job_parts(out):
            for prefill in (prefill_footprints, prefill_fit_numbers):
                try:
                    prefill(part)
                except Exception as exc:  # noqa: BLE001 - computed (or not) in the GUI thread then
                    log.debug("%s failed: %s", prefill.__name__, exc)
        return out
    return run


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
