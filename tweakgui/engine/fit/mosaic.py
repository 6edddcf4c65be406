"""Many independent groups fitted in processes, with the result of one process.

Groups fitted to a reference catalog, or to a relative alignment's first
group without ``expand_refcat``, do not interact: they are cut into
consecutive chunks, each fitted by :func:`tweakgui.engine.fit.align.run_alignment`
in the tangent plane of one fixed entry (a relative alignment's reference
group goes with every chunk).  From the command line the workers are forked
after the stage's entries are registered (:func:`~tweakgui.engine.processes.inherited`):
they find them in their memory, and freeze what they inherit so that their
collector does not walk the parent's heap (which made forked workers 1.5x
slower per image); from the GUI's thread they come from a forkserver and get
their chunk pickled, one entry at a time (:func:`~tweakgui.engine.processes.pickled_in_turns`).
A corrected GWCS comes back as its new correction step only and is put
together again around the parent's own transforms
(:func:`~tweakgui.engine.fit.corrector.wcs_delta`): unpickling whole GWCS
took 5-7 % of the CPU of a 690-image mosaic.  The last stage of a run has
the workers measure each image's total correction too
(:func:`~tweakgui.engine.fit.correction.image_correction`, ~25 ms of GWCS
evaluations per image that the parent would otherwise spend one after the other).

A relative stage sends the workers only the groups that may overlap the
reference group: a group whose chips' corners (known from the reference
catalog's footprint, :func:`~tweakgui.engine.footprint.chip_footprint`) put
it, with a generous margin, away from every reference source certainly has
none of them near its footprint, and gets the FAILED fit the worker would
have given it (a CEERS mosaic: most of its 689 groups).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial import cKDTree

from tweakgui.engine.fit.align import (
    no_overlap_fit,
    reference_group_name,
    run_alignment,
    search_grow_arcsec,
)
from tweakgui.engine.fit.corrector import apply_wcs_delta, wcs_delta
from tweakgui.engine.geometry import sky_function
from tweakgui.engine.processes import (
    batches,
    freeze_inherited,
    inherited,
    inherited_value,
    pickled_in_turns,
    pool_context,
    unpickled_in_turns,
)

__all__ = ["align_groups", "align_in_processes", "MIN_GROUPS_PER_JOB"]

log = logging.getLogger(__name__)

MIN_GROUPS_PER_JOB = 16  # below this, starting processes costs more than it saves


def align_groups(entries, params, kind: str, refcat=None, jobs: int = 1, corrections: dict | None = None):
    """:func:`~tweakgui.engine.fit.align.run_alignment`, in ``jobs`` processes when many groups make it worth it.

    ``corrections``: when given and the groups are fitted in processes, filled
    with ``{exp_index: (new WCS of chip 0, its image_correction)}`` measured
    by the workers against ``entry.exposure``'s own WCS (for a run's last stage).
    """
    out = align_in_processes(entries, params, kind, refcat, jobs, corrections) if jobs > 1 else None
    return out if out is not None else run_alignment(entries, params, kind, refcat)


def _align_chunk(entries, params, kind, refcat, tanp_entry, corrections=False):
    fits, new = run_alignment(entries, params, kind, refcat, tanp_entry=tanp_entry)
    measured = None
    if corrections:
        from tweakgui.engine.fit.correction import image_correction

        measured = [image_correction(e.exposure, [w]) if e.chip_index == 0 else None for w, e in zip(new, entries)]
    # a corrected GWCS goes back as its correction step, not as the whole pipeline again
    return fits, [wcs_delta(w, e.wcs) for w, e in zip(new, entries)], measured


def _align_inherited(key, chunk, params, kind, corrections=False):
    entries, refcat, anchor = inherited_value(key)
    return _align_chunk([entries[i] for i in chunk], params, kind, refcat, anchor, corrections)


def _align_pickled(data: bytes, params, kind, corrections=False):
    *entries, refcat, anchor = unpickled_in_turns(data)
    return _align_chunk(entries, params, kind, refcat, anchor, corrections)


def align_in_processes(entries, params, kind, refcat, jobs, corrections: dict | None = None):
    """``(fits, new_wcs)`` in the order of one process, or None when processes are not worth it."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if jobs < 2 or (refcat is None and params.expand_refcat) or "forkserver" not in mp.get_all_start_methods():
        return None
    order: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        order.setdefault(e.group_id, []).append(i)
    gids = list(order)
    head: list[int] = []
    if refcat is None:
        ref_gid = next((g for g in gids if any(len(entries[i].catalog) for i in order[g])), None)
        if ref_gid is None:
            return None
        head = order[ref_gid]
        gids.remove(ref_gid)
    apart = _apart_from_reference(entries, head, order, gids, params) if head else {}
    gids = [g for g in gids if g not in apart]
    jobs = min(jobs, len(gids) // MIN_GROUPS_PER_JOB)
    if jobs < 2 and not apart:
        return None
    new = [None] * len(entries)
    fits_by_gid = dict(apart)
    for g in apart:
        for i in order[g]:
            new[i] = entries[i].wcs
    anchor = entries[head[0]] if head else entries[0]
    if jobs < 2:  # the few groups left by the set-aside ones: fitted here, in the same tangent plane
        idx = head + [i for g in gids for i in order[g]]
        fits, sub = run_alignment([entries[i] for i in idx], params, kind, refcat, tanp_entry=anchor)
        for i, w in zip(idx, sub):
            new[i] = w
        fits_by_gid.update((f.group_id, f) for f in fits)
        return [fits_by_gid[g] for g in order], new
    # forked from the command line (the workers inherit the entries), the forkserver from the GUI's thread
    ctx = pool_context()
    chunks = [head + [i for g in part for i in order[g]] for part in batches(gids, 4 * jobs)]
    log.info("fitting %d groups in %d processes", len(gids), jobs)
    with inherited((entries, refcat, anchor), ctx) as key, \
            ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=freeze_inherited) as pool:
        futures = [pool.submit(_align_inherited, key, chunk, params, kind, corrections is not None) if key is not None
                   else pool.submit(_align_pickled, pickled_in_turns([*(entries[i] for i in chunk), refcat, anchor]),
                                    params, kind, corrections is not None)
                   for chunk in chunks]
        for chunk, fut in zip(chunks, futures):
            fits, deltas, measured = fut.result()
            for i, d in zip(chunk, deltas):
                new[i] = apply_wcs_delta(d, entries[i].wcs)
            if measured is not None:  # kept with the WCS measured: the pipeline uses it only for that one
                for i, m in zip(chunk, measured):
                    if m is not None:
                        corrections[entries[i].exp_index] = (new[i], m)
            for f in fits:
                fits_by_gid[f.group_id] = f
    return [fits_by_gid[g] for g in order], new


# a group's corner cap, grown by this factor, holds its 5×5 fitting grid even when the WCS's bounding box
# is a quarter larger than the chip
_GRID_IN_CORNER_CAPS = 1.25


def _corner_caps(corners: list, grow: float):
    """Each group's corner centre (unit vector), the reach of its worker's search around it
    (radians, see :func:`_apart_from_reference`) and whether all its corners are finite.

    All groups at once: ~700 groups' few numpy calls each took ~70 ms, and the GUI thread
    waited for the GIL through much of it.
    """
    from tweakgui.engine.footprint import unit_vectors

    n = np.array([len(c) for c in corners])
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    allc = np.vstack(corners)
    v = unit_vectors(allc[:, 0], allc[:, 1])
    finite = np.logical_and.reduceat(np.isfinite(v).all(axis=1), starts)
    with np.errstate(invalid="ignore"):
        centre = np.add.reduceat(v, starts) / n[:, None]
        centre /= np.linalg.norm(centre, axis=1)[:, None]
        spread = np.maximum.reduceat(np.linalg.norm(v - np.repeat(centre, n, axis=0), axis=1), starts)
    return centre, 3.0 * _GRID_IN_CORNER_CAPS * spread + grow, finite


def _apart_from_reference(entries, head, order, gids, params) -> dict:
    """``{gid: FAILED fit}`` of the groups that certainly have no reference group source near them.

    The worker looks for reference sources within a cap around the group's
    5×5 grid, grown by the search radius (``ReferenceIndex.near``).  With D
    the largest distance from the group's corner centre to a corner, and the
    grid inside k·D of that centre, that cap lies within 3·k·D + grow of it:
    no reference source there, no overlap.
    """
    from tweakgui.engine.fit.stage import Stage
    from tweakgui.engine.footprint import chip_footprint, unit_vectors

    stage = Stage.of(params, "relative")
    grow = np.radians(search_grow_arcsec(stage) / 3600.0)
    ra, dec = [], []
    for i in head:
        cat = entries[i].catalog
        if len(cat):
            r, d = sky_function(entries[i].wcs)(np.asarray(cat["x"], float), np.asarray(cat["y"], float))
            ra.append(np.asarray(r, float))
            dec.append(np.asarray(d, float))
    if not ra:
        return {}
    pts = unit_vectors(np.concatenate(ra), np.concatenate(dec))
    tree = cKDTree(pts[np.isfinite(pts).all(axis=1)])
    ref_name = reference_group_name(entries, head)
    groups, corners = [], []
    for g in gids:
        members = [i for i in order[g] if len(entries[i].catalog)]
        if not members:
            continue  # "no sources": the worker's words
        try:
            corners.append(np.vstack([chip_footprint(entries[i].wcs, entries[i].chip.shape) for i in members]))
        except Exception:  # a WCS that cannot project its corners: the worker decides
            continue
        groups.append(g)
    if not groups:
        return {}
    centre, reach, finite = _corner_caps(corners, grow)
    near = np.ones(len(groups), int)  # a WCS that gives no finite corners: the worker decides
    near[finite] = tree.query_ball_point(centre[finite], reach[finite], return_length=True)
    apart = {g: no_overlap_fit(entries, g, order[g], stage, ref_name)
             for g, k in zip(groups, near) if not k}
    if apart:
        log.info("%d of %d groups have no source of the reference group near them", len(apart), len(gids))
    return apart
