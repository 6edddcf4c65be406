"""Many independent groups fitted in processes, with the result of one process.

Groups fitted to a reference catalog, or to a relative alignment's first
group without ``expand_refcat``, do not interact: they are cut into
consecutive chunks, each fitted by :func:`tweakgui.engine.fit.align.run_alignment`
in the tangent plane of one fixed entry (a relative alignment's reference
group goes with every chunk).  Workers come from a forkserver: forked copies
of a parent holding hundreds of GWCS were measured 1.5x slower per image.
A corrected GWCS comes back as its new correction step only and is put
together again around the parent's own transforms
(:func:`~tweakgui.engine.fit.corrector.wcs_delta`): unpickling whole GWCS
took 5-7 % of the CPU of a 690-image mosaic.  The last stage of a run has
the workers measure each image's total correction too
(:func:`~tweakgui.engine.fit.correction.image_correction`, ~25 ms of GWCS
evaluations per image that the parent would otherwise spend one after the other).
"""

from __future__ import annotations

import logging

import numpy as np

from tweakgui.engine.fit.align import run_alignment
from tweakgui.engine.fit.corrector import apply_wcs_delta, wcs_delta
from tweakgui.engine.processes import forkserver_context

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
    jobs = min(jobs, len(gids) // MIN_GROUPS_PER_JOB)
    if jobs < 2:
        return None
    ctx = forkserver_context()  # one forkserver for detection and fits
    bounds = np.linspace(0, len(gids), 4 * jobs + 1).astype(int)
    chunks = [head + [i for g in gids[a:b] for i in order[g]] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    anchor = entries[head[0]] if head else entries[0]
    log.info("fitting %d groups in %d processes", len(gids), jobs)
    new = [None] * len(entries)
    fits_by_gid = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_align_chunk, [entries[i] for i in chunk], params, kind, refcat, anchor,
                               corrections is not None)
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
    if head:
        gids.insert(0, entries[head[0]].group_id)
    return [fits_by_gid[g] for g in gids], new
