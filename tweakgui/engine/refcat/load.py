"""The absolute reference catalog of a run: read, selected, moved to the visit, in its frame.

1. read: a file (columns named by ``abs_refcat_racol``... or recognised) or
   Gaia from the catalog service;
2. proper motions (``abs_pm_policy``, ``abs_max_pm_error``);
3. positions moved to the visit's epoch (its first dated exposure, or
   ``abs_epoch``); each fit moves them on to its own exposures' epoch
   (:func:`tweakgui.engine.refcat.motion.at_epoch`);
4. sources far beyond the visit dropped; magnitude range
   (``abs_refcat_minmag``, ``abs_refcat_maxmag``), then the
   ``abs_refcat_nbright`` brightest over the visit;
5. the images' celestial frame; at least ``abs_minobj`` sources, or a refusal
   naming the cuts.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.tables import is_file
from tweakgui.engine.model import InputError, Visit
from tweakgui.engine.refcat import files, gaia, motion, select

__all__ = ["load_refcat"]

log = logging.getLogger(__name__)


def _from_service(visit: Visit, cat: str, params, epoch: float | None) -> Table:
    policy = params.abs_pm_policy
    query = None if policy == "ignore" else motion.decimal_year(epoch)
    raw = gaia.reference_catalog_for_visit(visit, cat, epoch=query, keep_no_pm=policy == "keep_no_pm")
    # the service's columns are fixed: no column options, every column recognised
    ref = files.reference_table(raw, f"abs_refcat {cat}")
    # the service moved the positions to the query's epoch; its errors hold at the release's epoch
    ref["ref_epoch"] = np.full(len(ref), gaia.CATALOG_EPOCHS[cat])
    ref.meta.update(name=cat, catalog=cat, url=raw.meta.get("url"))
    ref = select.record(ref, "read")
    ref = select.apply_pm_policy(ref, policy, params.abs_max_pm_error, f"abs_refcat {cat}", moving=query is not None)
    ref.meta["epoch"] = epoch if query is not None else gaia.CATALOG_EPOCHS[cat]
    return ref


def _from_file(path: Path, params, epoch: float | None, cone=None) -> Table:
    if not is_file(path):
        raise InputError(f"abs_refcat: {path}: file not found")
    ref = files.read_refcat(path, params, cone)
    if "rows_in_file" in ref.meta:  # a big file: only its rows near the visit were read
        ref.meta["selection"] = [("read", ref.meta["rows_in_file"])]
        ref = select.record(ref, "in the visit's cone")
    else:
        ref = select.record(ref, "read")
    ref = select.apply_pm_policy(ref, params.abs_pm_policy, params.abs_max_pm_error, path.name,
                                 moving=epoch is not None)
    ref = motion.to_epoch(ref, epoch)
    if motion.has_motion(ref) and epoch is not None:
        log.info("%s: %d sources moved to epoch %.4f", path.name, len(ref), epoch)
    return ref


def load_refcat(visit: Visit, params) -> Table | None:
    """The absolute reference catalog of ``params.abs_refcat`` (file or Gaia), or None.

    Returns
    -------
    Table or None
        A normalised reference table (:mod:`.columns`) with ``RA``/``DEC`` at
        ``meta['epoch']`` (Julian year, None when unknown); ``meta['selection']``
        lists each step and the sources it left.

    Raises
    ------
    InputError
        The file or a named column is missing, the service cannot be reached,
        ``abs_weights='errors'`` without position errors, or fewer than
        ``abs_minobj`` sources are left (the message names the cuts).
    """
    name = (params.abs_refcat or "").strip()
    if not name:
        return None
    epoch = motion.first_epoch(visit.exposures, params.abs_epoch)
    footprint = _footprint(visit)  # every chip's corners through its WCS: once per load
    if name.upper() in gaia.GAIA_CATALOGS:
        source = name.upper()
        ref = _from_service(visit, source, params, epoch)
    else:
        source = Path(name).name
        ref = _from_file(Path(name), params, epoch, _read_cone(footprint, params))
    if epoch is None and motion.has_motion(ref):
        log.warning("%s: no observation date and no abs_epoch: proper motions not applied, the catalog is "
                    "used at its own epoch", source)
    if params.abs_weights == "errors" and not _has_errors(ref):
        raise InputError(f"abs_weights=errors: {source} has no position error columns (such as ra_error, "
                         "dec_error); name them with abs_refcat_errcols")
    ref = select.record(files.drop_far_sources(ref, visit, footprint=footprint), "near the visit")
    ref = select.cut_magnitudes(ref, params.abs_refcat_minmag, params.abs_refcat_maxmag, source)
    if params.abs_refcat_nbright is not None:
        ref = select.keep_brightest(ref, params.abs_refcat_nbright, _cone(footprint, params), source)
    ref = files.to_visit_frame(ref, visit)
    ref.meta.setdefault("name", source)
    summary = select.describe(ref)
    log.info("reference catalog %s: %s; epoch %s", ref.meta["name"], summary,
             "unknown" if ref.meta.get("epoch") is None else f"{ref.meta['epoch']:.4f}")
    if len(ref) < params.abs_minobj:
        cuts = f" after the selection ({summary})" if ref.meta["selection"][0][1] != len(ref) else ""
        raise InputError(f"abs_refcat: {source}: {len(ref)} sources{cuts}, fewer than abs_minobj={params.abs_minobj}")
    return ref


def _footprint(visit: Visit):
    """Centre and radius (deg, ICRS) of the visit's footprint cone, or None without a usable footprint."""
    try:
        return gaia.footprint_search_params(visit.exposures)
    except Exception:  # no usable footprint: the whole catalog, brightest of all
        log.debug("no footprint for the reference catalog", exc_info=True)
        return None


def _cone(footprint, params):
    """The footprint cone grown by the absolute search radius; None without a footprint."""
    if footprint is None:
        return None
    ra, dec, radius = footprint
    return ra, dec, radius + (params.abs_searchrad + params.abs_tolerance) / 3600.0


def _read_cone(footprint, params):
    """The cone a big catalog file is read in: the footprint, the search radius and a minute of arc.

    Each source's proper motion widens it further (:mod:`.window`); sources
    beyond it cannot match any image.
    """
    cone = _cone(footprint, params)
    return None if cone is None else (cone[0], cone[1], cone[2] + 1.0 / 60.0)


def _has_errors(ref: Table) -> bool:
    return "ra_error" in ref.colnames and bool(np.isfinite(np.asarray(ref["ra_error"], float)).any())
