"""Relative and absolute alignment on tweakwcs, with honest per-fit results.

tweakwcs works in the tangent plane of a reference corrector: pixels of the
reference image for a ``FITSWCSCorrector``, arcsec for a ``JWSTWCSCorrector``.
All radii and offsets of the parameter model are in arcsec, so they are
converted with the measured scale of that plane; the reference corrector is
passed explicitly so that the plane (and its units) is known.  tweakwcs does
not return residuals: they are recomputed from the matched indices and the
clip mask after each fit.
"""

from __future__ import annotations

import copy
import logging
import weakref
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree
from tweakwcs import align_wcs
from tweakwcs.correctors import FITSWCSCorrector, JWSTWCSCorrector
from tweakwcs.matchutils import MatchCatalogs, XYXYMatch

from .model import STATUS_FAILED, STATUS_REFERENCE, STATUS_SUCCESS, Exposure, FitResult

__all__ = ["ChipCatalog", "make_corrector", "tanp_scale_arcsec", "run_alignment", "offset_peak"]

log = logging.getLogger(__name__)


@dataclass
class ChipCatalog:
    """One chip's sources as handed to tweakwcs, with the map back to catalog rows."""

    exp_index: int
    chip_index: int
    exposure: Exposure
    catalog: Table  # x, y[, weight] (filtered)
    rows: np.ndarray  # original row index of each catalog entry
    wcs: object  # the WCS to start from
    group_id: str = ""


def make_corrector(chip_wcs, exposure: Exposure, chip_meta: dict, catalog: Table | None, name: str):
    """A fresh tweakwcs corrector for one chip (never shared between runs)."""
    meta = {"name": name, "group_id": exposure.group_id}
    if catalog is not None:
        meta["catalog"] = catalog
    if exposure.kind == "jwst":
        wcsinfo = chip_meta["wcsinfo"]
        info = {k: wcsinfo[k] for k in ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")}
        # the corrector keeps a deep copy of the GWCS and never changes the one given
        return JWSTWCSCorrector(chip_wcs, info, meta=meta)
    return FITSWCSCorrector(chip_wcs.deepcopy(), meta=meta)


def tanp_scale_arcsec(corrector) -> float:
    """Arcsec per unit of the corrector's tangent plane, measured at its centre."""
    bb = corrector.bounding_box
    if bb is not None:
        (x0, x1), (y0, y1) = bb
        xc, yc = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    else:
        xc = yc = 0.0
    tx, ty = corrector.det_to_tanp(xc, yc)
    ra, dec = np.array(corrector.tanp_to_world(np.array([tx, tx + 1.0, tx]), np.array([ty, ty, ty + 1.0])))
    steps = _separation_arcsec(ra[0], dec[0], ra[1:], dec[1:])
    return float(0.5 * (steps[0] + steps[1]))


def _separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular distances (arcsec), haversine form: exact for the tiny angles compared here."""
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(s))) * 3600.0


def _match(params, prefix: str, scale: float) -> XYXYMatch:
    g = lambda n: getattr(params, prefix + n)  # noqa: E731
    xo = params.xoffset if prefix == "" else 0.0
    yo = params.yoffset if prefix == "" else 0.0
    return XYXYMatch(
        searchrad=g("searchrad") / scale,
        separation=g("separation") / scale,
        use2dhist=g("use2dhist"),
        tolerance=g("tolerance") / scale,
        xoffset=xo / scale,
        yoffset=yo / scale,
    )


def offset_peak(offsets: np.ndarray, searchrad: float, binsize: float) -> tuple[float, float] | None:
    """Peak (arcsec) of the 2D histogram of pair offsets, smoothed over 3×3 bins."""
    if offsets is None or len(offsets) == 0:
        return None
    nb = max(3, int(np.ceil(2 * searchrad / binsize)))
    h, xe, ye = np.histogram2d(offsets[:, 0], offsets[:, 1], bins=nb,
                               range=[[-searchrad, searchrad], [-searchrad, searchrad]])
    k = np.ones((3, 3))
    from scipy.ndimage import convolve

    hs = convolve(h, k, mode="constant")
    i, j = np.unravel_index(np.argmax(hs), hs.shape)
    sel = (offsets[:, 0] >= xe[max(i - 1, 0)]) & (offsets[:, 0] < xe[min(i + 2, nb)]) & \
          (offsets[:, 1] >= ye[max(j - 1, 0)]) & (offsets[:, 1] < ye[min(j + 2, nb)])
    if not sel.any():
        return None
    return float(np.median(offsets[sel, 0])), float(np.median(offsets[sel, 1]))


def _candidate_offsets(in_tp, ref_tp, radius, limit=200000):
    if len(in_tp) == 0 or len(ref_tp) == 0:
        return np.zeros((0, 2))
    tree = cKDTree(ref_tp)
    pairs = tree.query_ball_point(in_tp, radius * np.sqrt(2))
    ii = np.repeat(np.arange(len(in_tp)), [len(p) for p in pairs])
    if len(ii) == 0:
        return np.zeros((0, 2))
    jj = np.concatenate([p for p in pairs if p])
    d = in_tp[ii] - ref_tp[jj]
    keep = (np.abs(d[:, 0]) <= radius) & (np.abs(d[:, 1]) <= radius)
    d = d[keep]
    return d[:limit]


def _footprint(corrector, n=3):
    bb = corrector.bounding_box
    (x0, x1), (y0, y1) = bb
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.array(corrector.det_to_world(xx.ravel(), yy.ravel()))


def _max_move_arcsec(before, after) -> float:
    return float(_separation_arcsec(before[0], before[1], after[0], after[1]).max())


def run_alignment(entries: list[ChipCatalog], params, kind: str, refcat: Table | None = None,
                  ref_entry: int = 0, jobs: int = 1, tanp_entry: ChipCatalog | None = None
                  ) -> tuple[list[FitResult], list]:
    """Align the chips of ``entries`` (relative when ``refcat`` is None, else absolute).

    Every entry's ``group_id`` (its exposure's) defines the groups; for the
    visit-wide absolute mode the caller gives all entries one group.

    Returns the fits (one per group, with REFERENCE for the reference group of
    a relative alignment) and the corrected WCS per entry (the starting WCS
    where the group failed or was rejected).

    With a reference catalog, or in a relative alignment without
    ``expand_refcat``, the groups are independent (each is fitted to the
    catalog or to the first group): with ``jobs`` > 1 and many groups they
    are fitted in ``jobs`` processes (see
    :func:`tweakgui.engine.mosaic.align_in_processes`), all in the tangent
    plane of ``entries[ref_entry]`` (``tanp_entry``, when given, sets it).
    """
    prefix = "abs_" if kind == "absolute" else ""
    fitgeom = getattr(params, prefix + "fitgeometry")
    if refcat is None and not params.expand_refcat:
        from .mosaic import far_from_reference_group

        far = far_from_reference_group(entries, params)
        if far:
            # groups that cannot reach the reference group's sources fail
            # as tweakwcs would fail them, without building their correctors
            near = [k for k, e in enumerate(entries) if e.group_id not in far]
            fits, new_near = run_alignment([entries[k] for k in near], params, kind, None,
                                           near.index(ref_entry) if ref_entry in near else 0, jobs=jobs,
                                           tanp_entry=tanp_entry or entries[ref_entry])
            new = [e.wcs for e in entries]
            for k, w in zip(near, new_near):
                new[k] = w
            for gid, ref_gid in far.items():
                idx = [k for k, e in enumerate(entries) if e.group_id == gid]
                fits.append(FitResult(group_id=gid, kind=kind, status=STATUS_FAILED, fitgeom=fitgeom,
                                      images=_names(entries, idx),
                                      reason=f"no overlap with the reference group {ref_gid} "
                                             f"(not even within searchrad)"))
            return fits, new
    if jobs > 1 and (refcat is not None or not params.expand_refcat):
        from .mosaic import align_in_processes

        out = align_in_processes(entries, params, kind, refcat, ref_entry, jobs)
        if out is not None:
            return out
    correctors = [
        make_corrector(e.wcs, e.exposure, e.exposure.chips[e.chip_index].meta, e.catalog,
                       f"{e.exposure.name}[{e.exposure.chips[e.chip_index].name}]")
        for e in entries
    ]
    for c, e in zip(correctors, entries):
        c.meta["group_id"] = e.group_id
    if tanp_entry is not None:
        ref_tpwcs = make_corrector(tanp_entry.wcs, tanp_entry.exposure,
                                   tanp_entry.exposure.chips[tanp_entry.chip_index].meta, None, "tanp")
    else:
        ref_tpwcs = copy.deepcopy(correctors[ref_entry])
    scale = tanp_scale_arcsec(ref_tpwcs)
    # one evaluation of each GWCS (a few ms, whatever the number of points)
    # for its footprint, its grid, its pixel scale and its sources
    start = [_start_positions(c, e.catalog) for c, e in zip(correctors, entries)]
    before = [st[0] for st in start]
    in_tp_pre = [np.column_stack(ref_tpwcs.world_to_tanp(*st[2])) if len(e.catalog) else np.zeros((0, 2))
                 for st, e in zip(start, entries)]

    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e.group_id, []).append(i)
    start_grid = {idx[0]: start[idx[0]][1] for idx in groups.values()}
    align_kw = dict(
        ref_tpwcs=ref_tpwcs,
        enforce_user_order=params.enforce_user_order,
        expand_refcat=params.expand_refcat if kind == "relative" else False,
        minobj=getattr(params, prefix + "minobj"),
        match=_match(params, prefix, scale),
        fitgeom=fitgeom,
        nclip=getattr(params, prefix + "nclip"),
        sigma=(getattr(params, prefix + "sigma"), "rmse"),
        group_bb_policy=_bb_policy(params, kind),
    )
    failed: dict[str, str] = {}
    if refcat is None and len(groups) > 2 and not params.expand_refcat:
        # tweakwcs takes the first group as the reference and fits every
        # other group to its catalog alone: the same, group by group
        from .mosaic import ReferenceIndex, fit_groups_to_reference, reference_group_catalog

        ref_gid = next((gid for gid, idx in groups.items() if any(len(entries[i].catalog) for i in idx)), None)
        if ref_gid is None:
            fits = [FitResult(group_id=gid, kind=kind, status=STATUS_FAILED, reason="no sources",
                              fitgeom=fitgeom, images=_names(entries, idx)) for gid, idx in groups.items()]
            return fits, [e.wcs for e in entries]
        ref_cat = reference_group_catalog([i for i in groups[ref_gid] if len(entries[i].catalog)], entries,
                                          correctors)
        others = {gid: idx for gid, idx in groups.items() if gid != ref_gid}
        refs = fit_groups_to_reference(others, entries, correctors, in_tp_pre, before, ReferenceIndex(ref_cat),
                                       ref_tpwcs, scale, params, prefix, align_kw["match"], failed)
        for i in groups[ref_gid]:
            correctors[i].meta["fit_info"] = {"status": STATUS_REFERENCE}
        refs[ref_gid] = (ref_cat, np.arange(len(ref_cat)))
    elif refcat is not None and len(groups) > 1:
        # groups fit to a reference catalog are independent: each is fitted
        # alone to the reference sources around its footprint (see mosaic.py)
        from .mosaic import ReferenceIndex, fit_groups_to_reference

        refs = fit_groups_to_reference(groups, entries, correctors, in_tp_pre, before, ReferenceIndex(refcat),
                                       ref_tpwcs, scale, params, prefix, align_kw["match"], failed)
    else:
        active = [c for c, e in zip(correctors, entries) if len(e.catalog) > 0]
        try:
            eff_refcat = align_wcs(active, refcat=refcat, **align_kw)
        except Exception as e:  # tweakwcs raises for too few catalogs, confusion, etc.
            reason = f"{kind} alignment failed: {e}"
            log.warning(reason)
            fits = [FitResult(group_id=gid, kind=kind, status=STATUS_FAILED, reason=reason, fitgeom=fitgeom,
                              images=_names(entries, idx)) for gid, idx in groups.items()]
            return fits, [e.wcs for e in entries]
        refs = {gid: (eff_refcat, None) for gid in groups}

    max_corr = _max_correction(params, prefix)
    fits_out: dict[str, FitResult] = {}
    for gid, idx in groups.items():
        if gid in failed:
            fits_out[gid] = FitResult(group_id=gid, kind=kind, status=STATUS_FAILED, reason=failed[gid],
                                      fitgeom=fitgeom, images=_names(entries, idx))
            continue
        eff_refcat, rows = refs[gid]
        ref_tp, pass2_ref = _reference_plane(eff_refcat, ref_tpwcs)
        if rows is None and pass2_ref is not None \
                and correctors[idx[0]].meta.get("fit_info", {}).get("status") == STATUS_SUCCESS:
            _refine(gid, idx, entries, correctors, pass2_ref, ref_tpwcs, scale, params, prefix, fitgeom)
        fit = _collect_fit(gid, idx, entries, correctors, eff_refcat if pass2_ref is None else pass2_ref, ref_tp,
                           ref_tpwcs, scale, kind, fitgeom, in_tp_pre, params, prefix)
        if rows is not None and fit.matches is not None:
            fit.matches["ref_idx"] = rows[np.asarray(fit.matches["ref_idx"], int)]
        if fit.status == STATUS_SUCCESS:
            _total_transform(fit, entries[idx[0]], correctors[idx[0]], ref_tpwcs, scale, start_grid[idx[0]])
            moved = max(_max_move_arcsec(before[i], _footprint(correctors[i])) for i in idx)
            if moved > max_corr:
                fit.status = STATUS_FAILED
                fit.reason = (f"correction of {moved:.3g}\" exceeds the plausible limit of {max_corr:.3g}\" "
                              f"(reject_large_corrections, or 2×({prefix}searchrad+{prefix}tolerance)); "
                              f"check {prefix}searchrad or x/yoffset")
                log.warning("%s: %s", gid, fit.reason)
        fits_out[gid] = fit
    new_wcs = []
    for c, e in zip(correctors, entries):
        f = fits_out[e.group_id]
        new_wcs.append(c.wcs if f.status == STATUS_SUCCESS else e.wcs)
    return list(fits_out.values()), new_wcs


def _reference_plane(eff_refcat, ref_tpwcs):
    """The reference sources in the tangent plane and as the table of the refinement fit."""
    if eff_refcat is None:
        return np.zeros((0, 2)), None
    ra, dec = np.asarray(eff_refcat["RA"], float), np.asarray(eff_refcat["DEC"], float)
    ref_tp = np.column_stack(ref_tpwcs.world_to_tanp(ra, dec)) if len(ra) else np.zeros((0, 2))
    pass2_ref = Table({"RA": ra, "DEC": dec})
    if "weight" in eff_refcat.colnames:
        pass2_ref["weight"] = np.asarray(eff_refcat["weight"], float)
    pass2_ref.meta["name"] = eff_refcat.meta.get("name", "reference")
    return ref_tp, pass2_ref


def _bb_policy(params, kind: str):
    """tweakwcs' group_bb_policy: exact polygon unions only where they matter.

    A group's bounding polygon (the union of its images' footprints, ~1 s
    per call for 8 images in spherical_geometry, and growing fast with the
    group size) only orders the groups, which tweakwcs does only in a
    relative alignment with ``expand_refcat`` and without
    ``enforce_user_order``.  Elsewhere the convex hull (policy 0) is enough.
    """
    if kind == "relative" and params.expand_refcat and not params.enforce_user_order:
        return "auto"
    return 0


class NearestMatch(MatchCatalogs):
    """Unique nearest-neighbour matching within a radius (tangent-plane units).

    Used to refine a fit: once the coarse solution is known, every source's
    counterpart is its nearest reference source, and pairs farther than a
    few times the coarse residuals are mismatches.
    """

    def __init__(self, radius: float):
        self.radius = radius

    def __call__(self, refcat, imcat, **kwargs):
        ref = np.column_stack([refcat["TPx"], refcat["TPy"]])
        img = np.column_stack([imcat["TPx"], imcat["TPy"]])
        if len(ref) == 0 or len(img) == 0:
            return np.array([], int), np.array([], int)
        from .mosaic import nearest_pairs

        return nearest_pairs(ref, img, self.radius)


def _refine(gid, idx, entries, correctors, refcat, ref_tpwcs, scale, params, prefix, fitgeom, passes=2):
    """Re-match the group to ``refcat`` by nearest neighbour around the coarse solution and refit."""
    members = [i for i in idx if len(entries[i].catalog) > 0]
    for _ in range(passes):
        info = correctors[members[0]].meta.get("fit_info", {})
        if info.get("status") != STATUS_SUCCESS:
            return
        t = _matches_table(gid, members, entries, correctors, refcat, ref_tpwcs, scale, info)
        r = np.hypot(t["dx"], t["dy"])[np.asarray(t["used"], bool)]
        if r.size == 0:
            return
        pix = _image_pixel_scale(correctors[members[0]])
        radius = float(np.clip(8.0 * np.median(r), pix, getattr(params, prefix + "tolerance")))
        trial = [make_corrector(correctors[i].wcs, entries[i].exposure, entries[i].exposure.chips[entries[i].chip_index].meta,
                                entries[i].catalog, correctors[i].meta["name"]) for i in members]
        for c in trial:
            c.meta["group_id"] = gid
        try:
            align_wcs(trial, refcat=refcat, ref_tpwcs=ref_tpwcs, enforce_user_order=True, expand_refcat=False,
                      minobj=getattr(params, prefix + "minobj"), match=NearestMatch(radius / scale),
                      fitgeom=fitgeom, nclip=getattr(params, prefix + "nclip"),
                      sigma=(getattr(params, prefix + "sigma"), "rmse"), group_bb_policy=0)
        except Exception as e:  # keep the coarse solution
            log.info("%s: refinement skipped (%s)", gid, e)
            return
        if trial[0].meta.get("fit_info", {}).get("status") != STATUS_SUCCESS:
            log.info("%s: refinement did not converge; keeping the coarse fit", gid)
            return
        for i, c in zip(members, trial):
            correctors[i] = c
        log.info("%s: refined with nearest-neighbour matching within %.1f mas: %d matches",
                 gid, radius * 1000, trial[0].meta["fit_info"].get("nmatches", 0))


def _decompose(m: np.ndarray):
    """Rotation (deg, mean of both axes), scale (geometric mean), skew (deg) of tweakwcs' matrix form."""
    rx = np.degrees(np.arctan2(-m[1, 0], m[0, 0]))
    ry = np.degrees(np.arctan2(m[0, 1], m[1, 1]))
    sx = np.hypot(m[0, 0], m[1, 0])
    sy = np.hypot(m[0, 1], m[1, 1])
    return 0.5 * (rx + ry), float(np.sqrt(sx * sy)), float(ry - rx)


def _grid_world(corrector, n=5):
    (x0, x1), (y0, y1) = corrector.bounding_box
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return xx.ravel(), yy.ravel(), corrector.det_to_world(xx.ravel(), yy.ravel())


def _total_transform(fit: FitResult, entry: ChipCatalog, final, ref_tpwcs, scale: float, start_grid=None) -> None:
    """Shift/rotation/scale of the whole correction (all passes), about the reference tangent point.

    ``start_grid``: :func:`_grid_world` of the starting corrector, when the caller has it.
    """
    if start_grid is None:
        start = make_corrector(entry.wcs, entry.exposure, entry.exposure.chips[entry.chip_index].meta, None, "s")
        start_grid = _grid_world(start)
    xx, yy, world0 = start_grid
    p0 = np.column_stack(ref_tpwcs.world_to_tanp(*world0))
    p1 = np.column_stack(ref_tpwcs.world_to_tanp(*final.det_to_world(xx, yy)))
    a = np.column_stack([p0, np.ones(len(p0))])
    coef, *_ = np.linalg.lstsq(a, p1, rcond=None)
    m = coef[:2].T
    t = coef[2]
    rot, sc, skew = _decompose(m)
    fit.matrix = m
    fit.shift_arcsec = (float(t[0] * scale), float(t[1] * scale))
    px = _image_pixel_scale(final)
    fit.shift_pix = (fit.shift_arcsec[0] / px, fit.shift_arcsec[1] / px)
    fit.rotation_deg = float(rot)
    fit.scale = sc
    fit.skew_deg = skew


def _names(entries, idx):
    return list(dict.fromkeys(entries[i].exposure.name for i in idx))


def _max_correction(params, prefix):
    if params.reject_large_corrections > 0:
        return float(params.reject_large_corrections)
    g = lambda n: getattr(params, prefix + n)  # noqa: E731
    if g("use2dhist"):
        return 2.0 * (g("searchrad") + g("tolerance"))
    xo = params.xoffset if prefix == "" else 0.0
    yo = params.yoffset if prefix == "" else 0.0
    return 2.0 * (max(abs(xo), abs(yo)) + g("tolerance"))


def _collect_fit(gid, idx, entries, correctors, eff_refcat, ref_tp, ref_tpwcs, scale, kind, fitgeom,
                 in_tp_pre, params, prefix) -> FitResult:
    names = _names(entries, idx)
    members = [i for i in idx if len(entries[i].catalog) > 0]
    info = correctors[members[0]].meta.get("fit_info", {}) if members else {}
    status = info.get("status", "FAILED: no sources")
    searchrad = getattr(params, prefix + "searchrad")
    pre = np.concatenate([in_tp_pre[i] for i in idx]) if idx else np.zeros((0, 2))
    offsets = _candidate_offsets(pre, ref_tp, searchrad / scale) * scale
    fit = FitResult(group_id=gid, kind=kind, status=STATUS_FAILED, fitgeom=fitgeom, images=names, offsets=offsets)
    binsize = max(scale, searchrad / 50.0)
    fit.hist_peak_arcsec = offset_peak(offsets, searchrad, binsize)
    if status == STATUS_REFERENCE:
        fit.status = STATUS_REFERENCE
        return fit
    if status != STATUS_SUCCESS:
        fit.reason = status.split(":", 1)[1].strip() if ":" in status else status
        if fit.reason == "not enough matches":
            fit.reason = (f"not enough matches (< {prefix}minobj={getattr(params, prefix + 'minobj')}); "
                          f"if the offset exceeds {prefix}searchrad={searchrad}\", raise it or set x/yoffset")
        return fit
    fit.status = STATUS_SUCCESS
    shift = np.asarray(info["shift"], dtype=float)
    fit.shift_arcsec = (float(shift[0] * scale), float(shift[1] * scale))
    px = _image_pixel_scale(correctors[idx[0]])
    fit.shift_pix = (fit.shift_arcsec[0] / px, fit.shift_arcsec[1] / px)
    fit.rotation_deg = float(info.get("<rot>", 0.0))
    fit.proper_rot_deg = float(info.get("proper_rot", 0.0))
    fit.scale = float(info.get("<scale>", 1.0))
    fit.skew_deg = float(info.get("skew", 0.0))
    fit.rmse_arcsec = float(info.get("rmse", np.nan)) * scale
    fit.mae_arcsec = float(info.get("mae", np.nan)) * scale
    fit.matrix = np.asarray(info.get("matrix"))
    fit.matches = _matches_table(gid, members, entries, correctors, eff_refcat, ref_tpwcs, scale, info)
    fit.nmatch = int(info.get("nmatches", len(fit.matches)))
    return fit


def _start_positions(corrector, catalog):
    """(3x3 footprint, :func:`_grid_world`, catalog RA/DEC) from one evaluation; caches the pixel scale."""
    (x0, x1), (y0, y1) = corrector.bounding_box
    xx, yy = np.meshgrid(np.linspace(x0, x1, 5), np.linspace(y0, y1, 5))
    xx, yy = xx.ravel(), yy.ravel()
    xc, yc = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    cx = np.asarray(catalog["x"], float) if len(catalog) else np.zeros(0)
    cy = np.asarray(catalog["y"], float) if len(catalog) else np.zeros(0)
    ra, dec = corrector.det_to_world(np.concatenate([xx, [xc, xc + 1, xc], cx]),
                                     np.concatenate([yy, [yc, yc, yc + 1], cy]))
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    corrector.meta["_pixel_scale"] = (weakref.ref(corrector.wcs), _scale_from(ra[25:28], dec[25:28]))
    fp = np.array([ra[:25], dec[:25]]).reshape(2, 5, 5)[:, ::2, ::2].reshape(2, 9)
    return fp, (xx, yy, (ra[:25], dec[:25])), (ra[28:], dec[28:])


def _scale_from(ra, dec) -> float:
    c = np.cos(np.radians(dec[0]))
    d1 = np.hypot((ra[1] - ra[0]) * c, dec[1] - dec[0])
    d2 = np.hypot((ra[2] - ra[0]) * c, dec[2] - dec[0])
    return float(np.sqrt(d1 * d2) * 3600)


def _image_pixel_scale(corrector) -> float:
    """Arcsec per detector pixel at the chip centre (cached for the corrector's current WCS)."""
    cached = corrector.meta.get("_pixel_scale")
    if cached is not None and cached[0]() is corrector.wcs:
        return cached[1]
    (x0, x1), (y0, y1) = corrector.bounding_box
    xc, yc = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    ra, dec = corrector.det_to_world(np.array([xc, xc + 1, xc]), np.array([yc, yc, yc + 1]))
    corrector.meta["_pixel_scale"] = (weakref.ref(corrector.wcs), _scale_from(ra, dec))
    return corrector.meta["_pixel_scale"][1]


def _matches_table(gid, members, entries, correctors, eff_refcat, ref_tpwcs, scale, info) -> Table:
    # tweakwcs' group catalog is the concatenation of the members' catalogs in order
    image, chip, row, xs, ys, owner = [], [], [], [], [], []
    for i in members:
        e = entries[i]
        n = len(e.catalog)
        image += [e.exposure.name] * n
        chip += [e.exposure.chips[e.chip_index].name] * n
        row.append(e.rows)
        xs.append(np.asarray(e.catalog["x"], float))
        ys.append(np.asarray(e.catalog["y"], float))
        owner.append(np.full(n, i))
    row = np.concatenate(row)
    xs = np.concatenate(xs)
    ys = np.concatenate(ys)
    owner = np.concatenate(owner)
    mi = np.asarray(info["matched_input_idx"], dtype=int)
    mr = np.asarray(info["matched_ref_idx"], dtype=int)
    used = np.asarray(info.get("fitmask", np.ones(len(mi), bool)), dtype=bool).ravel()
    if used.size != mi.size:
        used = np.ones(mi.size, bool)
    ra = np.empty(mi.size)
    dec = np.empty(mi.size)
    for i in np.unique(owner[mi]) if mi.size else []:
        sel = owner[mi] == i
        r, d = correctors[i].det_to_world(xs[mi][sel], ys[mi][sel])
        ra[sel], dec[sel] = r, d
    ref_ra = np.asarray(eff_refcat["RA"], float)[mr]
    ref_dec = np.asarray(eff_refcat["DEC"], float)[mr]
    tx, ty = ref_tpwcs.world_to_tanp(ra, dec)
    rx, ry = ref_tpwcs.world_to_tanp(ref_ra, ref_dec)
    t = Table()
    t["group_id"] = np.array([gid] * mi.size, dtype=str)
    t["image"] = np.array([image[k] for k in mi], dtype=str)
    t["chip"] = np.array([chip[k] for k in mi], dtype=str)
    t["input_idx"] = row[mi]
    t["ref_idx"] = mr
    t["x"] = xs[mi]
    t["y"] = ys[mi]
    t["ra"] = ra
    t["dec"] = dec
    t["ref_ra"] = ref_ra
    t["ref_dec"] = ref_dec
    t["dx"] = (np.asarray(tx) - np.asarray(rx)) * scale
    t["dy"] = (np.asarray(ty) - np.asarray(ry)) * scale
    t["used"] = used
    t["excluded"] = np.zeros(mi.size, bool)
    return t
