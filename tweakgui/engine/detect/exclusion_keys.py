"""A user's exclusions keyed by the source on the sky, not by a catalog row.

The engine's ``run(..., excluded={(image, chip, row)})`` takes catalog rows,
and rows change whenever sources are detected again (another finder or
threshold).  A :class:`SourceExclusion` remembers where the source is, in the
chip's input WCS, and :func:`rows_for` finds it again in a new catalog: the
nearest source within a tolerance (a fraction of the FWHM), or none (dropped).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["SourceExclusion", "make_exclusion", "rows_for", "run_with_exclusions",
           "ExcludedRun", "tolerance_pix"]


@dataclass(frozen=True)
class SourceExclusion:
    """One source the user left out of the fits.

    ``ra``/``dec`` (deg) are its position through the chip's input WCS (the
    WCS before any correction, the same in every run); ``x``/``y`` its 0-based
    pixel position when it was excluded; ``stage`` the fit it was excluded
    from ("relative" or "absolute"), for display only: the engine leaves it
    out of every stage.
    """

    image: str
    chip: str
    ra: float
    dec: float
    x: float
    y: float
    stage: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SourceExclusion":
        return cls(str(d["image"]), str(d["chip"]), float(d["ra"]), float(d["dec"]),
                   float(d["x"]), float(d["y"]), str(d.get("stage", "")))


def tolerance_pix(params) -> float:
    """How far (pixels) a re-detected source may lie from an exclusion: half the FWHM."""
    return 0.5 * float(getattr(params, "kernel_fwhm", 2.5) or 2.5)


def _pixel_to_world(wcs, x, y):
    ra, dec = wcs.pixel_to_world_values(np.atleast_1d(float(x)), np.atleast_1d(float(y)))
    return float(np.ravel(ra)[0]), float(np.ravel(dec)[0])


def make_exclusion(exposure, chip, x: float, y: float, stage: str = "") -> SourceExclusion:
    """The exclusion of the source at chip pixel (x, y) of ``exposure``."""
    ra, dec = _pixel_to_world(chip.wcs, x, y)
    return SourceExclusion(exposure.name, chip.name, ra, dec, float(x), float(y), stage)


def _chip(visit, image, chip_name):
    for e in visit.exposures:
        if e.name == image:
            for c in e.chips:
                if c.name == chip_name:
                    return c
    return None


def rows_for(exclusions, visit, catalogs: dict, tol_pix: float):
    """Rows of ``catalogs`` (``{(image, chip): Table}``) holding each exclusion.

    Returns ``(rows, dropped)``: ``rows`` maps each exclusion found to its row
    (the nearest source within ``tol_pix`` pixels, each row used once, closest
    first); ``dropped`` lists the exclusions with no source there.  An exclusion
    of a chip without a catalog is dropped too.
    """
    rows: dict[SourceExclusion, int] = {}
    candidates = []
    for ex in exclusions:
        chip = _chip(visit, ex.image, ex.chip)
        cat = catalogs.get((ex.image, ex.chip)) if catalogs else None
        if chip is None or cat is None or not len(cat) or "x" not in cat.colnames:
            continue
        try:
            x, y = chip.wcs.world_to_pixel_values(np.atleast_1d(ex.ra), np.atleast_1d(ex.dec))
            x, y = float(np.ravel(x)[0]), float(np.ravel(y)[0])
        except Exception as exc:  # noqa: BLE001 - a WCS that cannot invert: use the pixel position
            log.debug("exclusion %s: WCS inversion failed (%s)", ex, exc)
            x, y = ex.x, ex.y
        if not (np.isfinite(x) and np.isfinite(y)):
            x, y = ex.x, ex.y
        d = np.hypot(np.asarray(cat["x"], float) - x, np.asarray(cat["y"], float) - y)
        for r in np.flatnonzero(d <= tol_pix):
            candidates.append((float(d[r]), ex, int(r)))
    taken: set[tuple[str, str, int]] = set()
    for _d, ex, r in sorted(candidates, key=lambda c: c[0]):
        if ex in rows or (ex.image, ex.chip, r) in taken:
            continue
        rows[ex] = r
        taken.add((ex.image, ex.chip, r))
    dropped = [ex for ex in exclusions if ex not in rows]
    return rows, dropped


@dataclass
class ExcludedRun:
    """A run's result with where each exclusion went."""

    result: object
    rows: dict  # SourceExclusion -> row in the result's catalogs
    dropped: list  # exclusions with no source in the new catalogs


def result_catalogs(result) -> dict:
    return {(r.exposure.name, c.name): cat for r in result.images
            for c, cat in zip(r.exposure.chips, r.catalogs)}


def run_with_exclusions(run: Callable, visit, params, exclusions, catalogs: dict | None = None,
                        known: dict | None = None, progress=None, cancel=None) -> ExcludedRun:
    """``run`` the visit leaving out the sources of ``exclusions``.

    ``catalogs`` are reused instead of detecting (a refit); otherwise the rows
    are first guessed in ``known`` (the last run's catalogs).  If the run
    detected sources again and the rows moved, the visit is fitted once more
    on the new catalogs (no detection) with the right rows, so an exclusion
    always leaves out the same star.
    """
    exclusions = list(exclusions)
    tol = tolerance_pix(params)
    first = catalogs or known
    guess = rows_for(exclusions, visit, first, tol)[0] if first and exclusions else {}
    excluded = {(ex.image, ex.chip, r) for ex, r in guess.items()}
    kw = {"catalogs": catalogs} if catalogs else {}
    result = run(visit, params, progress=progress, cancel=cancel, excluded=excluded or None, **kw)
    if not exclusions:
        return ExcludedRun(result, {}, [])
    cats = result_catalogs(result)
    rows, dropped = rows_for(exclusions, visit, cats, tol)
    want = {(ex.image, ex.chip, r) for ex, r in rows.items()}
    if want != excluded:
        log.info("exclusions follow their sources into the new catalogs: fitting again")
        result = run(visit, params, progress=progress, cancel=cancel, catalogs=cats,
                     excluded=want or None)
    return ExcludedRun(result, rows, dropped)
