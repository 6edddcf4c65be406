"""One fitting stage (relative or absolute) for any number of groups: the single fit path.

tweakwcs works in the tangent plane of a reference corrector: pixels of the
reference image for a ``FITSWCSCorrector``, arcsec for a ``JWSTWCSCorrector``.
Every group is matched, fitted, refined and judged by
:func:`tweakgui.engine.fit.group.fit_group` in that plane, against

- the reference catalog near its footprint (absolute stage), or
- the sources of the first group with sources (relative stage), grown by
  every fitted group's unmatched sources when ``expand_refcat`` is on (a
  group is never matched against its own sources).

Each group's correction goes to every chip of the group, chips without
sources included, through tweakwcs' ``set_correction`` (for a GWCS, that of
:class:`~tweakgui.engine.fit.corrector.SharedJWSTCorrector`: the same WCS
without copies).
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree
from tweakwcs.correctors import FITSWCSCorrector

from tweakgui.engine.fit.corrector import SharedJWSTCorrector
from tweakgui.engine.fit.group import ChipSources, GroupFit, fit_group
from tweakgui.engine.fit.stage import Stage
from tweakgui.engine.footprint import unit_vectors
from tweakgui.engine.geometry import (
    pixel_scale_arcsec,
    proper_rotation_deg,
    scale_from_steps,
    separation_arcsec,
)
from tweakgui.engine.model import (
    STATUS_FAILED,
    STATUS_REFERENCE,
    STATUS_SUCCESS,
    Exposure,
    FitResult,
)
from tweakgui.engine.refcat import motion

__all__ = ["ChipCatalog", "make_corrector", "tanp_scale_arcsec", "run_alignment", "ReferenceIndex",
           "image_pixel_scale"]

log = logging.getLogger(__name__)


@dataclass
class ChipCatalog:
    """One chip's sources as handed to the fit, with the map back to catalog rows."""

    exp_index: int
    chip_index: int
    exposure: Exposure
    catalog: Table  # x, y[, weight] (filtered)
    rows: np.ndarray  # original row index of each catalog entry
    wcs: object  # the WCS to start from
    group_id: str = ""
    # the sources of the coarse match (``brightest``); None: all
    bright: np.ndarray | None = None

    @property
    def chip(self):
        return self.exposure.chips[self.chip_index]

    @property
    def label(self) -> str:
        return f"{self.exposure.name}[{self.chip.name}]"


def make_corrector(chip_wcs, exposure: Exposure, chip_meta: dict, catalog: Table | None, name: str):
    """A fresh tweakwcs corrector for one chip (never shared between runs)."""
    meta = {"name": name, "group_id": exposure.group_id}
    if catalog is not None:
        meta["catalog"] = catalog
    if exposure.kind == "jwst":
        wcsinfo = chip_meta["wcsinfo"]
        info = {k: wcsinfo[k] for k in ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")}
        # shares the GWCS's transforms and never changes the one given (fit/corrector.py)
        return SharedJWSTCorrector(chip_wcs, info, meta=meta)
    return FITSWCSCorrector(chip_wcs.deepcopy(), meta=meta)


def tanp_scale_arcsec(corrector) -> float:
    """Arcsec per unit of the corrector's tangent plane, measured at its centre."""
    bb = corrector.bounding_box
    xc, yc = (0.5 * sum(bb[0]), 0.5 * sum(bb[1])) if bb is not None else (0.0, 0.0)
    tx, ty = corrector.det_to_tanp(xc, yc)
    return pixel_scale_arcsec(corrector.tanp_to_world, tx, ty)


def image_pixel_scale(corrector) -> float:
    """Arcsec per detector pixel at the chip centre (cached for the corrector's current WCS)."""
    cached = corrector.meta.get("_pixel_scale")
    if cached is not None and cached[0]() is corrector.wcs:
        return cached[1]
    (x0, x1), (y0, y1) = corrector.bounding_box
    scale = pixel_scale_arcsec(corrector.det_to_world, 0.5 * (x0 + x1), 0.5 * (y0 + y1))
    corrector.meta["_pixel_scale"] = (weakref.ref(corrector.wcs), scale)
    return scale


class ReferenceIndex:
    """A spatial index of a reference list (RA, DEC in degrees)."""

    def __init__(self, ra, dec, weight=None, bright=None, key=None, origin=None):
        self.ra = np.asarray(ra, float)
        self.dec = np.asarray(dec, float)
        self.weight = None if weight is None else np.asarray(weight, float)
        # the sources of the coarse match; None: all
        self.bright = None if bright is None else np.asarray(bright, bool)
        # brightness (larger is brighter) for the pattern matcher; None: the catalog's order
        self.key = None if key is None else np.asarray(key, float)
        # where each source comes from, {"image", "chip", "row"} arrays (a relative stage's
        # image sources); None: the rows of a reference catalog
        self.origin = origin
        self.tree = cKDTree(unit_vectors(self.ra, self.dec)) if len(self.ra) else None

    @classmethod
    def of(cls, table: Table) -> "ReferenceIndex":
        w = table["weight"] if "weight" in table.colnames else None
        return cls(table["RA"], table["DEC"], w, key=brightness(table))

    def near(self, ra, dec, grow_arcsec: float) -> np.ndarray:
        """Rows of the sources within the cap around points (ra, dec), grown by ``grow_arcsec``."""
        if self.tree is None:
            return np.zeros(0, int)
        pts = unit_vectors(np.ravel(ra), np.ravel(dec))
        centre = pts.mean(axis=0)
        centre /= np.linalg.norm(centre)
        radius = float(np.max(np.linalg.norm(pts - centre, axis=1))) + np.radians(grow_arcsec / 3600.0)
        return np.sort(np.asarray(self.tree.query_ball_point(centre, radius), dtype=int))

    def origin_of(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image, chip, catalog row) of sources ``rows``: ("", "", row) for a reference catalog."""
        rows = np.asarray(rows, int)
        if self.origin is None:
            blank = np.full(len(rows), "", dtype=str)
            return blank, blank, rows
        return self.origin["image"][rows], self.origin["chip"][rows], self.origin["row"][rows]

    def table(self) -> Table:
        """The list as a table: RA, DEC and, for image sources, their image, chip and catalog row."""
        t = Table({"RA": self.ra, "DEC": self.dec})
        t["image"], t["chip"], t["row"] = self.origin_of(np.arange(len(self.ra)))
        return t


def brightness(table: Table) -> np.ndarray | None:
    """A brightness key of a catalog (larger is brighter): its flux, or minus a magnitude."""
    for name in ("flux", "FLUX"):
        if name in table.colnames:
            return np.nan_to_num(np.asarray(table[name], float), nan=-np.inf)
    for name in ("mag", "MAG", "phot_g_mean_mag"):
        if name in table.colnames:
            return -np.nan_to_num(np.asarray(table[name], float), nan=np.inf)
    return None


@dataclass
class _Chip:
    """A chip during a stage: its corrector, its sources in the plane, its starting footprint."""

    entry: ChipCatalog
    corrector: object
    xy: np.ndarray  # sources in the tangent plane (starting WCS)
    footprint: tuple  # (ra, dec) of a 5×5 grid over the chip, starting WCS
    weight: np.ndarray | None
    bright: np.ndarray | None = None
    key: np.ndarray | None = None


def _grid(corrector, n=5):
    """An n×n grid of detector points over the corrector's bounding box, and its centre."""
    (x0, x1), (y0, y1) = corrector.bounding_box
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return xx.ravel(), yy.ravel(), 0.5 * (x0 + x1), 0.5 * (y0 + y1)


def _prepare(entries, ref_tpwcs) -> list[_Chip]:
    chips = []
    for e in entries:
        c = make_corrector(e.wcs, e.exposure, e.chip.meta, None, e.label)
        xx, yy, xc, yc = _grid(c)
        cx = np.asarray(e.catalog["x"], float) if len(e.catalog) else np.zeros(0)
        cy = np.asarray(e.catalog["y"], float) if len(e.catalog) else np.zeros(0)
        # one evaluation of the (G)WCS for the footprint, the pixel scale and the sources
        ra, dec = c.det_to_world(np.concatenate([xx, [xc, xc + 1, xc], cx]),
                                 np.concatenate([yy, [yc, yc, yc + 1], cy]))
        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        c.meta["_pixel_scale"] = (weakref.ref(c.wcs), scale_from_steps(ra[25:28], dec[25:28]))
        xy = np.column_stack(ref_tpwcs.world_to_tanp(ra[28:], dec[28:])) if len(cx) else np.zeros((0, 2))
        w = np.asarray(e.catalog["weight"], float) if len(cx) and "weight" in e.catalog.colnames else None
        bright = None if e.bright is None or len(e.bright) != len(cx) else np.asarray(e.bright, bool)
        key = brightness(e.catalog) if len(cx) else None
        chips.append(_Chip(e, c, xy, (ra[:25], dec[:25]), w, bright, key))
    return chips


def _centroid_weights(chip: _Chip) -> np.ndarray:
    """``1/sigma_img^2`` (mas^-2) from the catalog's ``x_err``, ``y_err`` (pixels); no error: a point."""
    cat = chip.entry.catalog
    n = len(chip.xy)
    sigma = np.zeros(n)
    if n and "x_err" in cat.colnames and "y_err" in cat.colnames:
        px_mas = image_pixel_scale(chip.corrector) * 1000.0
        ex, ey = np.asarray(cat["x_err"], float), np.asarray(cat["y_err"], float)
        sigma = np.nan_to_num(np.sqrt(0.5 * (ex ** 2 + ey ** 2)) * px_mas, nan=0.0)
    # tweakwcs adds the two catalogs' variances (1/w = 1/w_ref + 1/w_img): a tiny one is no error
    return 1.0 / np.maximum(sigma, 1e-3) ** 2


def _groups(entries) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(e.group_id, []).append(i)
    return groups


def _names(entries, idx):
    return list(dict.fromkeys(entries[i].exposure.name for i in idx))


def run_alignment(entries: list[ChipCatalog], params, kind: str, refcat: Table | None = None,
                  ref_entry: int = 0, tanp_entry: ChipCatalog | None = None
                  ) -> tuple[list[FitResult], list]:
    """Align the groups of ``entries`` (relative when ``refcat`` is None, else absolute).

    Every entry's ``group_id`` defines the groups; for the visit-wide
    absolute mode the caller gives all entries one group.  Returns one fit
    per group (REFERENCE for the reference group of a relative alignment)
    and the corrected WCS per entry (the starting WCS where the group
    failed).  ``tanp_entry`` fixes the tangent plane (the entry of one
    process's chunk, :mod:`tweakgui.engine.fit.mosaic`).
    """
    stage = Stage.of(params, kind)
    groups = _groups(entries)
    with_sources = [g for g, idx in groups.items() if any(len(entries[i].catalog) for i in idx)]
    if refcat is None and not with_sources:
        fits = [FitResult(group_id=g, kind=kind, status=STATUS_FAILED, reason="no sources",
                          fitgeom=stage.fitgeometry, images=_names(entries, idx)) for g, idx in groups.items()]
        return fits, [e.wcs for e in entries]
    ref_gid = None if refcat is not None else with_sources[0]
    anchor = tanp_entry if tanp_entry is not None else (
        entries[groups[ref_gid][0]] if ref_gid is not None else entries[ref_entry])
    ref_tpwcs = make_corrector(anchor.wcs, anchor.exposure, anchor.chip.meta, None, "tangent plane")
    scale = tanp_scale_arcsec(ref_tpwcs)
    chips = _prepare(entries, ref_tpwcs)
    runner = _StageRun(stage, entries, chips, ref_tpwcs, scale, params)
    if refcat is not None:
        fits = runner.absolute(groups, refcat)
    else:
        fits = runner.relative(groups, ref_gid)
    status = {f.group_id: f.status for f in fits}
    new_wcs = [ch.corrector.wcs if status[ch.entry.group_id] == STATUS_SUCCESS else ch.entry.wcs for ch in chips]
    return fits, new_wcs


def search_grow_arcsec(stage: Stage) -> float:
    """How far beyond a group's footprint its reference sources are looked for (arcsec)."""
    return stage.searchrad + stage.tolerance + max(abs(stage.xoffset), abs(stage.yoffset)) + 1.0


def reference_group_name(entries, idx) -> str:
    """How a relative stage names its reference group in the other groups' reasons."""
    return f"reference group {', '.join(_names(entries, idx))}"


def no_overlap_fit(entries, gid, idx, stage: Stage, ref_name: str) -> FitResult:
    """The FAILED relative fit of group ``gid`` (``entries[idx]``) with no source of the reference group near it."""
    return FitResult(group_id=gid, kind=stage.kind, status=STATUS_FAILED, fitgeom=stage.fitgeometry,
                     images=_names(entries, idx),
                     reason=f"no overlap with the {ref_name} (not even within {stage.prefix}searchrad)")


# moves above this (arcsec) are refitted from the corrected GWCS: the error of one linear step
# grows as the move squared (19 mas at 20", measured on CEERS; 0.05 mas at 1")
POLISH_ABOVE_ARCSEC = 1.0


class _StageRun:
    """The groups of one stage, fitted one after the other in one tangent plane."""

    def __init__(self, stage: Stage, entries, chips, ref_tpwcs, scale, params):
        self.stage, self.entries, self.chips = stage, entries, chips
        self.ref_tpwcs, self.scale, self.params = ref_tpwcs, scale, params

    def absolute(self, groups, refcat: Table) -> list[FitResult]:
        """Each group against the reference moved to its own exposures' epoch (:mod:`tweakgui.engine.refcat.motion`)."""
        name = refcat.meta.get("name", "reference catalog")
        if getattr(self.params, "abs_weights", "none") == "errors":
            for ch in self.chips:  # in the units of the reference's weights, mas^-2
                ch.weight = _centroid_weights(ch)
        indexes: dict = {}
        fits = []
        for gid, idx in groups.items():
            exposures = list({id(self.entries[i].exposure): self.entries[i].exposure for i in idx}.values())
            epoch = motion.group_epoch(exposures, getattr(self.params, "abs_epoch", None))
            if epoch not in indexes:
                ref = motion.at_epoch(refcat, epoch, self.params)
                indexes[epoch] = (ReferenceIndex.of(ref), ref.meta.get("epoch"))
            index, shown = indexes[epoch]
            fit = self._fit(gid, idx, index, name)
            fit.ref_epoch = shown
            fits.append(fit)
        return fits

    def relative(self, groups, ref_gid) -> list[FitResult]:
        st = self.stage
        ra, dec, w, bright, key, origin = self._sky_sources(groups[ref_gid])
        index = ReferenceIndex(ra, dec, w, bright, key, origin)
        ref_name = reference_group_name(self.entries, groups[ref_gid])
        fits = {ref_gid: FitResult(group_id=ref_gid, kind=st.kind, status=STATUS_REFERENCE,
                                   fitgeom=st.fitgeometry, images=_names(self.entries, groups[ref_gid]))}
        todo = [g for g in groups if g != ref_gid]
        expand = bool(self.params.expand_refcat)
        while todo:
            gid = (todo[0] if (not expand or self.params.enforce_user_order)
                   else self._most_overlap(todo, groups, index))
            todo.remove(gid)
            fit = self._fit(gid, groups[gid], index, ref_name, relative_to=ref_gid)
            fits[gid] = fit
            if expand and fit.status == STATUS_SUCCESS:
                index = self._expanded(index, groups[gid], fit.matches)
        if expand:  # the reference list as the stage ended it (written by save_match_files)
            fits[ref_gid].expanded_refcat = index.table()
        return [fits[g] for g in groups]

    def _sky_sources(self, idx):
        ra, dec, w, b, k, o = [], [], [], [], [], []
        for i in idx:
            ch = self.chips[i]
            if len(ch.entry.catalog):
                r, d = ch.corrector.det_to_world(np.asarray(ch.entry.catalog["x"], float),
                                                 np.asarray(ch.entry.catalog["y"], float))
                ra.append(np.asarray(r, float))
                dec.append(np.asarray(d, float))
                w.append(ch.weight)
                b.append(ch.bright if ch.bright is not None else np.ones(len(ch.xy), bool))
                k.append(ch.key)
                o.append((np.full(len(ch.xy), ch.entry.exposure.name), np.full(len(ch.xy), ch.entry.chip.name),
                          np.asarray(ch.entry.rows, int)))
        origin = {n: np.concatenate([x[j] for x in o]) for j, n in enumerate(("image", "chip", "row"))}
        weight = np.concatenate(w) if w and all(x is not None for x in w) else None
        key = np.concatenate(k) if k and all(x is not None for x in k) else None
        return np.concatenate(ra), np.concatenate(dec), weight, np.concatenate(b), key, origin

    def _expanded(self, index: ReferenceIndex, idx, matches: Table | None) -> ReferenceIndex:
        """The reference list grown by the group's sources that matched nothing (as corrected)."""
        ra, dec, w, b, k, o = self._sky_sources(idx)
        matched = []
        for i in idx:  # in the order of _sky_sources: chips with sources
            e = self.chips[i].entry
            if len(e.catalog):
                own = (np.asarray(matches["image"]) == e.exposure.name) & (np.asarray(matches["chip"]) == e.chip.name)
                matched.append(np.isin(e.rows, np.asarray(matches["input_idx"])[own]))
        matched = np.concatenate(matched)
        new_w = None
        if index.weight is not None and w is not None:
            new_w = np.concatenate([index.weight, w[~matched]])
        old_b = index.bright if index.bright is not None else np.ones(len(index.ra), bool)
        new_k = None if index.key is None or k is None else np.concatenate([index.key, k[~matched]])
        origin = {n: np.concatenate([index.origin[n], o[n][~matched]]) for n in o}
        return ReferenceIndex(np.concatenate([index.ra, ra[~matched]]), np.concatenate([index.dec, dec[~matched]]),
                              new_w, np.concatenate([old_b, b[~matched]]), new_k, origin)

    def _most_overlap(self, todo, groups, index: ReferenceIndex) -> str:
        """The group whose footprint holds the most reference sources (tweakwcs' order)."""

        def count(gid):
            n = 0
            for i in groups[gid]:
                fp = self.chips[i].footprint
                n += len(index.near(fp[0], fp[1], 0.0))
            return n

        return max(todo, key=count)

    def _fit(self, gid, idx, index: ReferenceIndex, ref_name: str, relative_to=None) -> FitResult:
        st, scale = self.stage, self.scale
        names = _names(self.entries, idx)
        result = FitResult(group_id=gid, kind=st.kind, status=STATUS_FAILED, fitgeom=st.fitgeometry, images=names)
        members = [i for i in idx if len(self.chips[i].xy)]
        if not members:
            result.reason = "no sources"
            return result
        grow = search_grow_arcsec(st)
        fp_ra = np.concatenate([self.chips[i].footprint[0] for i in members])
        fp_dec = np.concatenate([self.chips[i].footprint[1] for i in members])
        rows = index.near(fp_ra, fp_dec, grow)
        if len(rows) == 0:
            if relative_to is not None:
                return no_overlap_fit(self.entries, gid, idx, st, ref_name)
            result.reason = f"no source of {ref_name} within {grow:.3g}\" of the image"
            return result
        ref_xy = np.column_stack(self.ref_tpwcs.world_to_tanp(index.ra[rows], index.dec[rows]))
        ref_w = None if index.weight is None else index.weight[rows]
        ref_bright = None if index.bright is None else index.bright[rows]
        pix_tp = image_pixel_scale(self.chips[members[0]].corrector) / scale
        ref_key = None if index.key is None else index.key[rows]
        gf = fit_group([ChipSources(self.chips[i].xy, self.chips[i].weight, self.chips[i].bright,
                                    self.chips[i].key) for i in members],
                       ref_xy, ref_w, st, scale, pix_tp, ref_bright=ref_bright, ref_key=ref_key)
        if gf.status != "SUCCESS":
            self._fill(result, gf, members, rows, index, px=pix_tp * scale)
            result.reason = gf.reason
            log.info("%s %s fit: FAILED: %s", gid, st.kind, gf.reason)  # the image's line says it
            return result
        for i in idx:  # every chip of the group, with or without sources
            self.chips[i].corrector.set_correction(gf.matrix, gf.shift, ref_tpwcs=self.ref_tpwcs)
        gf, xy = self._polish(gf, idx, members, ref_xy, ref_w, pix_tp)
        self._fill(result, gf, members, rows, index, xy, px=pix_tp * scale)
        moved = max(self._moved_arcsec(self.chips[i]) for i in idx)
        limit = st.max_correction()
        if moved > limit:
            result.status = STATUS_FAILED
            result.reason = (f"correction of {moved:.3g}\" exceeds the plausible limit of {limit:.3g}\" "
                             f"(reject_large_corrections, or 2×({st.prefix}searchrad+{st.prefix}tolerance)); "
                             f"check {st.prefix}searchrad or x/yoffset")
            log.info("%s: %s", gid, result.reason)
            return result
        result.status = STATUS_SUCCESS
        log.info("%s %s fit: %s", gid, st.kind, result.summary())
        return result

    @staticmethod
    def _moved_arcsec(chip: _Chip) -> float:
        """How far the correction moved the chip's footprint grid on the sky (largest move)."""
        after = chip.corrector.det_to_world(*_grid(chip.corrector)[:2])
        return float(separation_arcsec(*chip.footprint, *after).max())

    def _polish(self, gf: GroupFit, idx, members, ref_xy, ref_w, pix_tp):
        """Refit once from the corrected WCS: a GWCS corrected by a large move is not linear in it.

        Returns the fit of the whole stage (both steps composed, the first
        step's matcher and verdict) and the members' sources in the plane as
        the second step saw them, or the first fit alone when the move was
        small against the matching radius.
        """
        if isinstance(self.chips[members[0]].corrector, FITSWCSCorrector):
            return gf, None  # a FITS WCS takes a linear correction exactly
        xy0 = np.concatenate([self.chips[i].xy for i in members])
        moved = float(np.hypot(*(xy0 @ gf.matrix.T + gf.shift - xy0).T).max()) * self.scale
        if moved <= POLISH_ABOVE_ARCSEC:
            return gf, None
        xy = {}
        for i in members:
            ch = self.chips[i]
            ra, dec = ch.corrector.det_to_world(np.asarray(ch.entry.catalog["x"], float),
                                                np.asarray(ch.entry.catalog["y"], float))
            xy[i] = np.column_stack(self.ref_tpwcs.world_to_tanp(ra, dec))
        tol = min(self.stage.tolerance, max(4 * gf.radius, 2 * pix_tp) * self.scale)
        ratio = self.stage.separation / self.stage.tolerance if self.stage.tolerance > 0 else 0.0
        st = dataclasses.replace(self.stage, use2dhist=False, xoffset=0.0, yoffset=0.0, tolerance=tol,
                                 separation=ratio * tol)
        gf2 = fit_group([ChipSources(xy[i], self.chips[i].weight) for i in members], ref_xy, ref_w, st, self.scale,
                        pix_tp, pattern=False)
        if gf2.status != "SUCCESS":
            log.info("second step skipped (%s); keeping the first", gf2.reason)
            return gf, None
        for i in idx:
            self.chips[i].corrector.set_correction(gf2.matrix, gf2.shift, ref_tpwcs=self.ref_tpwcs)
        whole = dataclasses.replace(gf2, matcher=gf.matcher, histogram=gf.histogram, offsets=gf.offsets,
                                    coarse_offset=gf.coarse_offset, checks=gf.checks, n_chance=gf.n_chance,
                                    significance=gf.significance, fitgeom=gf.fitgeom)
        whole.step = (gf2.matrix, gf2.shift)
        whole.matrix = gf2.matrix @ gf.matrix
        whole.shift = gf2.matrix @ gf.shift + gf2.shift
        return whole, xy

    def _fill(self, result: FitResult, gf: GroupFit, members, rows, index, xy=None, px=None):
        """``px``: arcsec per pixel before the fit (what the fit's own scale change does to it is
        ~1e-5, and measuring it again means evaluating the corrected WCS)."""
        scale = self.scale
        result.matcher = gf.matcher
        result.fitgeom = gf.fitgeom or result.fitgeom
        result.match_radius_arcsec = float(gf.radius * scale)
        result.n_chance = gf.n_chance
        result.significance = gf.significance
        result.checks = gf.checks
        if gf.offsets is not None:
            # the user's sense (tweakwcs', x/yoffset's): input − reference, in arcsec
            result.offsets = -gf.offsets * scale
            h = gf.histogram
            if h is not None:
                peak = None if h.peak is None else (-h.peak[0] * scale, -h.peak[1] * scale)
                result.hist_peak_arcsec = peak
                result.histogram = dataclasses.replace(
                    h, counts=h.counts[::-1, ::-1], xedges=-h.xedges[::-1] * scale, yedges=-h.yedges[::-1] * scale,
                    binsize=h.binsize * scale, peak=peak)
        if not gf.pairs:
            return
        result.nmatch = gf.nmatch
        result.matches = self._matches_table(result.group_id, gf, members, rows, index, xy)
        used = np.asarray(result.matches["used"], bool)
        result.nused = int(used.sum())
        if not gf.info:
            return
        m = np.asarray(gf.matrix, float)
        result.matrix = m
        result.shift_arcsec = (float(gf.shift[0] * scale), float(gf.shift[1] * scale))
        if px is None:
            px = image_pixel_scale(self.chips[members[0]].corrector)
        result.shift_pix = (result.shift_arcsec[0] / px, result.shift_arcsec[1] / px)
        # from the whole stage's matrix (both steps of a polished fit), as tweakwcs decomposes it
        result.rotation_deg, result.scale, result.skew_deg, result.proper_rot_deg = _decompose(m)
        r = np.hypot(result.matches["dx"], result.matches["dy"])[used]
        result.rmse_arcsec = float(np.sqrt(np.mean(r ** 2))) if r.size else float("nan")
        result.mae_arcsec = float(np.mean(r)) if r.size else float("nan")

    def _matches_table(self, gid, gf: GroupFit, members, rows, index, xy=None) -> Table:
        cols = {k: [] for k in ("image", "chip", "input_idx", "ref_idx", "x", "y", "tx", "ty", "used", "t0")}
        for i, (mr, mi, used) in zip(members, gf.pairs):
            e = self.chips[i].entry
            cols["image"] += [e.exposure.name] * len(mi)
            cols["chip"] += [e.chip.name] * len(mi)
            cols["input_idx"].append(e.rows[mi])
            cols["ref_idx"].append(rows[mr])
            cols["x"].append(np.asarray(e.catalog["x"], float)[mi])
            cols["y"].append(np.asarray(e.catalog["y"], float)[mi])
            if xy is None:
                moved = self.chips[i].xy[mi] @ gf.matrix.T + gf.shift
            else:  # the second step's sources and transform
                moved = xy[i][mi] @ gf.step[0].T + gf.step[1]
            cols["tx"].append(moved[:, 0])
            cols["ty"].append(moved[:, 1])
            cols["used"].append(np.asarray(used, bool))
            cols["t0"].append(self.chips[i].xy[mi].reshape(-1, 2))  # before the stage's fit
        cat = {k: (np.concatenate(v) if k not in ("image", "chip") else np.array(v, dtype=str))
               for k, v in cols.items()}
        ref_idx = cat["ref_idx"].astype(int)
        ref_ra, ref_dec = index.ra[ref_idx], index.dec[ref_idx]
        ra, dec = self.ref_tpwcs.tanp_to_world(cat["tx"], cat["ty"])
        rx, ry = self.ref_tpwcs.world_to_tanp(ref_ra, ref_dec)
        t = Table()
        t["group_id"] = np.array([gid] * len(ref_idx), dtype=str)
        t["image"] = cat["image"] if len(ref_idx) else np.array([], dtype=str)
        t["chip"] = cat["chip"] if len(ref_idx) else np.array([], dtype=str)
        t["input_idx"] = cat["input_idx"].astype(int)
        t["ref_idx"] = ref_idx
        t["x"], t["y"] = cat["x"], cat["y"]
        t["ra"], t["dec"] = np.asarray(ra, float), np.asarray(dec, float)
        t["ref_ra"], t["ref_dec"] = ref_ra, ref_dec
        t["dx"] = (cat["tx"] - np.asarray(rx)) * self.scale
        t["dy"] = (cat["ty"] - np.asarray(ry)) * self.scale
        t["used"] = cat["used"].astype(bool)
        t["excluded"] = np.zeros(len(ref_idx), bool)
        # for the match files: the source before this stage's fit, and where the reference came from
        t["ra0"], t["dec0"] = (np.asarray(v, float) for v in self.ref_tpwcs.tanp_to_world(*cat["t0"].T))
        t["ref_image"], t["ref_chip"], t["ref_row"] = index.origin_of(ref_idx)
        return t


def _decompose(m: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation (deg, mean of both axes), scale (geometric mean), skew (deg), proper rotation (deg).

    tweakwcs' definitions (``<rot>``, ``<scale>``, ``skew``, ``proper_rot``) for
    a matrix ``m`` of the form ``xy_ref = m @ xy_in + shift``.
    """
    rx = np.degrees(np.arctan2(-m[1, 0], m[0, 0]))
    ry = np.degrees(np.arctan2(m[0, 1], m[1, 1]))
    sx = np.hypot(m[0, 0], m[1, 0])
    sy = np.hypot(m[0, 1], m[1, 1])
    return float(0.5 * (rx + ry)), float(np.sqrt(sx * sy)), float(ry - rx), proper_rotation_deg(m)

