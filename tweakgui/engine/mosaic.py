"""Fitting many groups to a reference catalog: independent, local, linear in their number.

Groups fitted to a reference catalog do not interact (``expand_refcat`` is
off in absolute alignment), so each group is matched and fitted on its own:

- the reference sources come from a spatial index (a KD-tree of unit
  vectors): only those within the group's footprint grown by the largest
  correction the matching can find, since farther ones cannot be matched;
- matching is tweakwcs' ``XYXYMatch`` in the reference tangent plane, the
  fit tweakwcs' ``iter_linear_fit`` (as ``WCSGroupCatalog.align_to_ref``
  does), refined twice by unique nearest-neighbour matching around the
  solution (as :func:`tweakgui.engine.align._refine` does with extra
  ``align_wcs`` calls);
- the correction is applied once per chip with ``set_correction``.

tweakwcs' ``align_wcs`` on the same groups spends most of its time building
group and reference catalogs (polygons, convex hulls of the whole reference
catalog, copies of every GWCS) for each call; here a group costs one match,
three small fits and one WCS update: a 690-image CEERS mosaic aligns in
seconds instead of many minutes.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree
from tweakwcs.linearfit import iter_linear_fit

from tweakgui.engine.overlap import unit_vectors

__all__ = ["ReferenceIndex", "far_from_reference_group", "fit_group", "fit_groups_to_reference",
           "reference_group_catalog"]

log = logging.getLogger(__name__)


class ReferenceIndex:
    """A spatial index of a reference catalog (RA, DEC in degrees)."""

    def __init__(self, refcat: Table):
        self.refcat = refcat
        self.ra = np.asarray(refcat["RA"], float)
        self.dec = np.asarray(refcat["DEC"], float)
        self.weight = np.asarray(refcat["weight"], float) if "weight" in refcat.colnames else None
        self.tree = cKDTree(unit_vectors(self.ra, self.dec))

    def near(self, ra, dec, grow_arcsec: float) -> np.ndarray:
        """Rows of the sources within the cap around points (ra, dec), grown by ``grow_arcsec``."""
        pts = unit_vectors(np.ravel(ra), np.ravel(dec))
        centre = pts.mean(axis=0)
        centre /= np.linalg.norm(centre)
        radius = float(np.max(np.linalg.norm(pts - centre, axis=1))) + np.radians(grow_arcsec / 3600.0)
        return np.sort(np.asarray(self.tree.query_ball_point(centre, radius), dtype=int))


def _fit(ref_xy, in_xy, ref_w, in_w, fitgeom, nclip, sigma):
    """tweakwcs' fit of the input to the reference positions (as ``WCSGroupCatalog.fit2ref``)."""
    fit = iter_linear_fit(ref_xy, in_xy, ref_w, in_w, fitgeom=fitgeom, nclip=nclip, sigma=sigma,
                          center=None, clip_accum=False)
    fit["shift_ld"] += fit["center_ld"] - np.dot(fit["center_ld"], fit["matrix_ld"].T)
    fit["shift"] = fit["shift_ld"].astype(np.double)
    return fit


def nearest_pairs(ref_xy, xy, radius):
    """Unique nearest-neighbour pairs (ref rows, input rows) within ``radius``."""
    d, j = cKDTree(ref_xy).query(xy, distance_upper_bound=radius)
    i = np.flatnonzero(np.isfinite(d))
    j, d = j[i], d[i]
    # each reference source keeps only its closest input source
    order = np.lexsort((d, j))
    i, j = i[order], j[order]
    first = np.ones(len(j), bool)
    first[1:] = j[1:] != j[:-1]
    return j[first], i[first]


def fit_group(in_xy, in_w, ref_xy, ref_w, match, minobj, fitgeom, nclip, sigma, pix_tp, tol_tp, passes=2,
              match_kw=None):
    """Match and fit one group in the reference tangent plane.

    Returns tweakwcs' ``fit_info`` fields (``status``, ``matrix``, ``shift``,
    ``<rot>``, ``<scale>``, ``rmse``, ``matched_ref_idx``,
    ``matched_input_idx``, ``fitmask``, ...), status ``"FAILED: ..."``
    when there are fewer than ``minobj`` matches.
    """
    if len(in_xy) == 0 or len(ref_xy) == 0:
        return {"status": "FAILED: not enough matches", "nmatches": 0}
    mr, mi = match(Table({"TPx": ref_xy[:, 0], "TPy": ref_xy[:, 1]}),
                   Table({"TPx": in_xy[:, 0], "TPy": in_xy[:, 1]}), **(match_kw or {}))
    mr, mi = np.asarray(mr, int), np.asarray(mi, int)
    if len(mr) < minobj:
        return {"status": "FAILED: not enough matches", "nmatches": int(len(mr))}

    def w(arr, idx):
        return None if arr is None else arr[idx]

    fit = _fit(ref_xy[mr], in_xy[mi], w(ref_w, mr), w(in_w, mi), fitgeom, nclip, sigma)
    for _ in range(passes):
        moved = fit["shift"] + in_xy @ fit["matrix"].T
        used = np.asarray(fit["fitmask"], bool)
        r = np.hypot(*(moved[mi][used] - ref_xy[mr][used]).T)
        if r.size == 0:
            break
        radius = float(np.clip(8.0 * np.median(r), pix_tp, tol_tp))
        mr2, mi2 = nearest_pairs(ref_xy, moved, radius)
        if len(mr2) < minobj:
            break
        try:
            fit2 = _fit(ref_xy[mr2], in_xy[mi2], w(ref_w, mr2), w(in_w, mi2), fitgeom, nclip, sigma)
        except (ValueError, np.linalg.LinAlgError) as e:  # keep the coarse solution
            log.info("refinement skipped (%s)", e)
            break
        fit, mr, mi = fit2, mr2, mi2
    keys = ("matrix", "shift", "center", "fitmask", "proper_rot", "proper", "rot", "<rot>", "scale",
            "<scale>", "skew", "rmse", "mae")
    info = {k: fit[k] for k in keys if k in fit}
    info.update(fitgeom=fitgeom, eff_minobj=minobj, status="SUCCESS", nmatches=int(len(mr)),
                matched_ref_idx=mr, matched_input_idx=mi)
    return info


def reference_group_catalog(members, entries, correctors) -> Table:
    """RA, DEC (and weight) of the sources of a relative alignment's reference group, in member order.

    What tweakwcs uses as the reference catalog of a relative alignment
    without ``expand_refcat``.
    """
    ra, dec, w = [], [], []
    for i in members:
        cat = entries[i].catalog
        r, d = correctors[i].det_to_world(np.asarray(cat["x"], float), np.asarray(cat["y"], float))
        ra.append(np.asarray(r, float))
        dec.append(np.asarray(d, float))
        w.append(np.asarray(cat["weight"], float) if "weight" in cat.colnames else None)
    t = Table({"RA": np.concatenate(ra), "DEC": np.concatenate(dec)})
    if all(x is not None for x in w):
        t["weight"] = np.concatenate(w)
    t.meta["name"] = entries[members[0]].catalog.meta.get("name", "reference image")
    return t


def _wcs_world(wcs, x, y):
    if hasattr(wcs, "all_pix2world"):  # FITS WCS
        return wcs.all_pix2world(x, y, 0)
    return wcs(x, y, with_bounding_box=False)  # GWCS


def _cap(entries, members, n=3):
    """Centre (unit vector) and radius (rad) of a circle holding the members' chips."""
    pts = []
    for i in members:
        ny, nx = entries[i].exposure.chips[entries[i].chip_index].shape
        xx, yy = np.meshgrid(np.linspace(-0.5, nx - 0.5, n), np.linspace(-0.5, ny - 0.5, n))
        pts.append(unit_vectors(*_wcs_world(entries[i].wcs, xx.ravel(), yy.ravel())))
    pts = np.concatenate(pts)
    c = pts.mean(axis=0)
    c /= np.linalg.norm(c)
    return c, float(np.max(np.linalg.norm(pts - c, axis=1)))


def far_from_reference_group(entries, params) -> dict:
    """``{gid: reference gid}`` of the groups of a relative alignment that cannot overlap its reference.

    Without ``expand_refcat`` tweakwcs fits every group to the first group
    with sources; a group whose footprint stays farther from it than the
    largest offset the matching can find gets no match.  Footprints come
    straight from the WCS (no corrector), so a mosaic of hundreds of groups
    spends nothing on them.
    """
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e.group_id, []).append(i)
    if len(groups) < 3:
        return {}
    ref_gid = next((g for g, idx in groups.items() if any(len(entries[i].catalog) for i in idx)), None)
    if ref_gid is None:
        return {}
    c0, r0 = _cap(entries, groups[ref_gid])
    grow = np.radians((2.0 * (params.searchrad + params.tolerance) + abs(params.xoffset) + abs(params.yoffset)
                       + 1.0) / 3600.0)
    far = {}
    for gid, idx in groups.items():
        if gid == ref_gid or not any(len(entries[i].catalog) for i in idx):
            continue
        c, r = _cap(entries, idx)
        if np.linalg.norm(c - c0) > r + r0 + grow:
            far[gid] = ref_gid
    return far


def _match_units(corrector) -> dict:
    """What align_wcs tells the matcher about the tangent plane (bin size of the 2D histogram)."""
    try:
        pscale = corrector.tanp_center_pixel_scale
    except NotImplementedError:
        pscale = 1.0
    return {"tp_pscale": pscale, "tp_units": corrector.units}


def fit_groups_to_reference(groups, entries, correctors, in_tp, footprints, index: ReferenceIndex,
                            ref_tpwcs, scale, params, prefix, match, failed) -> dict:
    """Fit every group of ``groups`` to the reference sources near it.

    Sets ``fit_info`` of the groups' correctors and, on success, their
    correction.  Returns ``{gid: (reference subset, rows in the full catalog)}``;
    groups that cannot be fitted at all get a reason in ``failed``.
    """
    from .align import _image_pixel_scale

    g = lambda n: getattr(params, prefix + n)  # noqa: E731
    grow = 2.0 * (g("searchrad") + g("tolerance")) + 1.0
    if prefix == "":
        grow += abs(params.xoffset) + abs(params.yoffset)
    fitgeom, nclip, sigma, minobj = g("fitgeometry"), g("nclip"), (g("sigma"), "rmse"), g("minobj")
    refs = {}
    for gid, idx in groups.items():
        members = [i for i in idx if len(entries[i].catalog) > 0]
        if not members:
            failed[gid] = "no sources"
            continue
        rows = index.near(*np.concatenate([footprints[i] for i in members], axis=1), grow)
        sub = Table({"RA": index.ra[rows], "DEC": index.dec[rows]})
        if index.weight is not None:
            sub["weight"] = index.weight[rows]
        sub.meta["name"] = index.refcat.meta.get("name", "reference")
        ref_xy = np.column_stack(ref_tpwcs.world_to_tanp(sub["RA"], sub["DEC"])) if len(rows) else np.zeros((0, 2))
        in_xy = np.concatenate([in_tp[i] for i in members])
        in_w = None
        if all("weight" in entries[i].catalog.colnames for i in members):
            in_w = np.concatenate([np.asarray(entries[i].catalog["weight"], float) for i in members])
        ref_w = index.weight[rows] if index.weight is not None else None
        pix_tp = _image_pixel_scale(correctors[members[0]]) / scale
        try:
            info = fit_group(in_xy, in_w, ref_xy, ref_w, match, minobj, fitgeom, nclip, sigma, pix_tp,
                             g("tolerance") / scale, match_kw=_match_units(correctors[members[0]]))
        except Exception as e:  # xyxymatch raises on confusion, the fit on degenerate input
            failed[gid] = f"{'absolute' if prefix else 'relative'} alignment failed: {e}"
            log.warning("%s: %s", gid, failed[gid])
            continue
        if info["status"] == "SUCCESS":
            for i in members:
                correctors[i].set_correction(info["matrix"], info["shift"], ref_tpwcs=ref_tpwcs)
        else:
            log.warning("%s: %s (%d matches, %s%s=%d)", gid, info["status"], info.get("nmatches", 0),
                        prefix, "minobj", minobj)
        for i in members:
            correctors[i].meta["fit_info"] = dict(info)
        refs[gid] = (sub, rows)
    return refs


MIN_GROUPS_PER_JOB = 16  # below this, starting processes costs more than it saves


def _align_chunk(entries, params, kind, refcat, tanp_entry):
    from .align import run_alignment

    return run_alignment(entries, params, kind, refcat, jobs=1, tanp_entry=tanp_entry)


def align_in_processes(entries, params, kind, refcat, ref_entry, jobs):
    """Fit many independent groups in ``jobs`` processes; None when not worth it.

    The groups are cut into consecutive chunks, each fitted in the tangent
    plane of ``entries[ref_entry]`` (a relative alignment's reference group
    goes with every chunk): the result is the one of one process.
    Workers come from a forkserver (clean processes that imported the
    alignment code once): forked copies of a parent holding hundreds of GWCS
    were measured 1.5x slower per image (copy-on-write of every object they
    touch).  Returns ``(fits, new_wcs)`` in the order of one process.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if "forkserver" not in mp.get_all_start_methods():
        return None
    order: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        order.setdefault(e.group_id, []).append(i)
    gids = list(order)
    head: list[int] = []  # a relative alignment's reference group goes into every chunk
    if refcat is None:
        ref_gid = next((g for g in gids if any(len(entries[i].catalog) for i in order[g])), None)
        if ref_gid is None:
            return None
        head = order[ref_gid]
        gids.remove(ref_gid)
    jobs = min(jobs, len(gids) // MIN_GROUPS_PER_JOB)
    if jobs < 2:
        return None
    from .parallel import _forkserver_context

    ctx = _forkserver_context()  # one forkserver for detection and fits
    bounds = np.linspace(0, len(gids), 4 * jobs + 1).astype(int)
    chunks = [head + [i for g in gids[a:b] for i in order[g]] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    log.info("fitting %d groups in %d processes", len(gids), jobs)
    new = [None] * len(entries)
    fits_by_gid = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_align_chunk, [entries[i] for i in chunk], params, kind, refcat,
                               entries[ref_entry]) for chunk in chunks]
        for chunk, fut in zip(chunks, futures):
            fits, wcs = fut.result()
            for i, w in zip(chunk, wcs):
                new[i] = w
            for f in fits:
                fits_by_gid[f.group_id] = f
    if head:
        gids.insert(0, entries[head[0]].group_id)
    return [fits_by_gid[g] for g in gids], new
