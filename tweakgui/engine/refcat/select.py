"""Which reference sources a fit may use: proper-motion policy, magnitude range, brightest N.

Every step records how many sources it left in ``meta['selection']``
(``[(step, n), ...]``, the first being ``("read", n)``), so that a refusal, the
log and the report say which cut removed what.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from tweakgui.engine.model import InputError
from tweakgui.engine.refcat.motion import has_motion

__all__ = ["record", "apply_pm_policy", "cut_magnitudes", "keep_brightest", "describe"]

log = logging.getLogger(__name__)


def record(ref: Table, step: str, keep: np.ndarray | None = None) -> Table:
    """``ref[keep]`` with ``step`` and the count left appended to ``meta['selection']``."""
    meta = dict(ref.meta)
    if keep is not None:
        ref = ref[np.asarray(keep, bool)]
        ref.meta.update(meta)
    ref.meta["selection"] = list(meta.get("selection", [])) + [(step, len(ref))]
    return ref


def describe(ref: Table) -> str:
    """The cuts that removed sources, e.g. ``120 read; abs_refcat_maxmag=18: 8``."""
    steps = ref.meta.get("selection", [])
    shown, last = [], None
    for step, n in steps:
        if step == "read" or n != last:
            shown.append(f"{n} read" if step == "read" else f"{step}: {n}")
        last = n
    return "; ".join(shown)


def apply_pm_policy(ref: Table, policy: str, max_pm_error: float | None, source, moving: bool = True) -> Table:
    """Drop or keep sources without proper motion, and those whose motion error is too large.

    ``ignore`` removes the motion columns: positions stay the catalog's.
    ``drop_no_pm`` drops sources without proper motion only when ``moving``
    (there is an epoch to move to): at the catalog's epoch they are as good
    as the others.
    """
    if policy == "ignore":
        dropped = [c for c in ("pmra", "pmdec", "pmra_error", "pmdec_error") if c in ref.colnames]
        if dropped:
            ref = ref.copy()
            ref.remove_columns(dropped)
            log.info("%s: proper motions ignored (abs_pm_policy=ignore)", ref.meta.get("name", source))
        return ref
    if len(ref) == 0:  # an empty field: abs_minobj says so
        return ref
    if max_pm_error is not None:
        if not has_motion(ref):
            raise InputError(f"abs_max_pm_error: {source} has no proper motions (pmra, pmdec) to cut on")
        if "pmra_error" not in ref.colnames or "pmdec_error" not in ref.colnames:
            raise InputError(f"abs_max_pm_error: {source} has no proper-motion errors "
                             "(pmra_error, pmdec_error)")
    if not has_motion(ref):
        return ref
    pm_ok = np.isfinite(np.asarray(ref["pmra"], float)) & np.isfinite(np.asarray(ref["pmdec"], float))
    if policy == "drop_no_pm" and moving and not pm_ok.all():
        log.info("%s: %d sources without proper motion dropped (abs_pm_policy=drop_no_pm)",
                 ref.meta.get("name", source), int(np.count_nonzero(~pm_ok)))
        ref = record(ref, "abs_pm_policy=drop_no_pm", pm_ok)
        pm_ok = pm_ok[pm_ok]
    if max_pm_error is not None:
        worst = np.fmax(np.asarray(ref["pmra_error"], float), np.asarray(ref["pmdec_error"], float))
        with np.errstate(invalid="ignore"):
            keep = ~pm_ok | (worst <= max_pm_error)
        ref = record(ref, f"abs_max_pm_error={max_pm_error:g}", keep)
    return ref


def _magnitudes(ref: Table, param: str, source) -> np.ndarray:
    if "mag" not in ref.colnames:
        raise InputError(f"{param}: {source} has no magnitude column (name it with abs_refcat_magcol)")
    return np.asarray(ref["mag"], float)


def cut_magnitudes(ref: Table, minmag: float | None, maxmag: float | None, source) -> Table:
    """Sources with ``minmag <= mag <= maxmag`` (either limit may be None); no magnitude: dropped."""
    if minmag is None and maxmag is None:
        return ref
    param = "abs_refcat_minmag" if minmag is not None else "abs_refcat_maxmag"
    mag = _magnitudes(ref, param, source)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(mag)
        if minmag is not None:
            keep &= mag >= minmag
        if maxmag is not None:
            keep &= mag <= maxmag
    step = " ".join(f"{p}={v:g}" for p, v in (("abs_refcat_minmag", minmag), ("abs_refcat_maxmag", maxmag))
                    if v is not None)
    return record(ref, step, keep)


def keep_brightest(ref: Table, n: int | None, cone, source) -> Table:
    """The ``n`` brightest sources (smallest ``mag``) within ``cone`` = (ra, dec, radius deg), or all."""
    if n is None:
        return ref
    mag = _magnitudes(ref, "abs_refcat_nbright", source)
    inside = np.ones(len(ref), bool)
    if cone is not None:
        ra0, dec0, radius = cone
        r1, d1 = np.radians(ra0), np.radians(dec0)
        r2, d2 = np.radians(np.asarray(ref["RA"], float)), np.radians(np.asarray(ref["DEC"], float))
        cos_sep = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r2 - r1)
        inside = np.degrees(np.arccos(np.clip(cos_sep, -1.0, 1.0))) <= radius
    order = np.flatnonzero(inside & np.isfinite(mag))
    order = order[np.argsort(mag[order], kind="stable")][:n]
    keep = np.zeros(len(ref), bool)
    keep[order] = True
    return record(ref, f"abs_refcat_nbright={n}", keep)
