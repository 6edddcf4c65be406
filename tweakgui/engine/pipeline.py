"""One alignment run: detect → relative fit → absolute fit → results.

``run`` is called by the command line and by the GUI's worker thread.  It
reports progress through a plain callback and checks a ``threading.Event``
between stages; it never touches Qt.  Problems that stop the run before it
starts (bad reference catalog, offline catalog service) raise
:class:`~tweakgui.engine.model.InputError`; problems of one image mark that
image ``FAILED`` with its reason and the others go on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.detect.visit import detect_visit
from tweakgui.engine.footprint import no_overlap_reason
from tweakgui.engine.model import (
    STATUS_FAILED,
    STATUS_REFERENCE,
    STATUS_SUCCESS,
    Cancelled,
    FitResult,
    ImageResult,
    ProgressFn,
    Visit,
    VisitResult,
)
from tweakgui.engine.processes import default_jobs
from tweakgui.engine.refcat.load import load_refcat

__all__ = ["run", "save_outputs"]

log = logging.getLogger(__name__)

VISIT_GROUP = "visit"


def _import_fit_code() -> None:
    """Import the fit stage (scipy.spatial, scipy.optimize, tweakwcs, gwcs: 0.2 s of CPU).

    Called while the detection processes work, so that this time overlaps
    theirs instead of delaying their start; the fit stage is imported where it
    is used, never at the top of this module.
    """
    import tweakgui.engine.fit.correction  # noqa: F401
    import tweakgui.engine.fit.mosaic  # noqa: F401


def _entries(visit, cats, wcs_of, ok, excluded, brightest=None):
    from tweakgui.engine.fit.align import ChipCatalog

    entries = []
    for ei, exp in enumerate(visit.exposures):
        if not ok[ei]:
            continue
        for ci, chip in enumerate(exp.chips):
            cat = cats[ei][ci]
            rows = np.arange(len(cat))
            if len(cat):
                x = np.asarray(cat["x"], float)
                y = np.asarray(cat["y"], float)
                keep = np.isfinite(x) & np.isfinite(y)
                if excluded:
                    keep &= np.array([(exp.name, chip.name, int(r)) not in excluded for r in rows])
                rows = rows[keep]
                t = Table()
                t["x"] = x[keep]
                t["y"] = y[keep]
                if "weight" in cat.colnames:
                    t["weight"] = np.asarray(cat["weight"], float)[keep]
                for name in ("flux", "x_err", "y_err"):  # centroid errors weigh absolute fits (abs_weights)
                    if name in cat.colnames:
                        t[name] = np.asarray(cat[name], float)[keep]
                t.meta["name"] = f"{exp.name}[{chip.name}]"
                bright = _brightest(cat, keep, brightest)
            else:
                t = Table(names=("x", "y"), dtype=(float, float))
                bright = np.zeros(0, bool)
            entries.append(ChipCatalog(ei, ci, exp, t, rows, wcs_of(ei, ci), exp.group_id, bright))
    return entries


def _resolve_pixel_units(visit: Visit, params):
    """drizzlepac cfg lengths given in pixels, in arcsec of the first image's pixels (its reference)."""
    from tweakgui.engine.params.spec import pixel_unit_names, resolve_pixel_units

    if not pixel_unit_names(params) or not visit.exposures:
        return params
    from tweakgui.engine.fit import align

    exp = visit.exposures[0]
    chip = exp.chips[0]
    scale = align.image_pixel_scale(align.make_corrector(chip.wcs, exp, chip.meta, None, "pixel scale"))
    resolved = resolve_pixel_units(params, scale)
    log.info("lengths given in pixels converted at %.4f\"/px of %s", scale, exp.name)
    return resolved


def _brightest(cat, keep, n) -> np.ndarray:
    """The ``n`` brightest of the kept rows (all where ``n`` is unset or there is no flux)."""
    if not n or "flux" not in cat.colnames:
        return np.ones(int(keep.sum()), bool)
    flux = np.asarray(cat["flux"], float)[keep]
    bright = np.zeros(len(flux), bool)
    bright[np.argsort(-np.nan_to_num(flux, nan=-np.inf), kind="stable")[:n]] = True
    return bright


def _add_excluded_rows(fit: FitResult, entries, new_wcs_by_key, cats, excluded, ref: Table | None, tol):
    """Report the user's excluded sources in the fit's table (nearest reference within tolerance)."""
    if fit.matches is None or not excluded or ref is None or len(ref) == 0:
        return
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    from tweakgui.engine.fit import align

    names = set(fit.images)
    rows = []
    refc = SkyCoord(np.asarray(ref["RA"]) * u.deg, np.asarray(ref["DEC"]) * u.deg)
    for e in entries:
        chip = e.exposure.chips[e.chip_index]
        if e.exposure.name not in names:
            continue
        for (im, ch, r) in excluded:
            if im != e.exposure.name or ch != chip.name or r >= len(cats[e.exp_index][e.chip_index]):
                continue
            x = float(cats[e.exp_index][e.chip_index]["x"][r])
            y = float(cats[e.exp_index][e.chip_index]["y"][r])
            w = new_wcs_by_key[(e.exp_index, e.chip_index)]
            corr = align.make_corrector(w, e.exposure, chip.meta, None, "x")
            ra, dec = corr.det_to_world(np.array([x]), np.array([y]))
            c = SkyCoord(ra * u.deg, dec * u.deg)
            idx, sep, _ = c.match_to_catalog_sky(refc)
            if sep.arcsec[0] > 2 * tol:
                continue
            rows.append((fit.group_id, im, ch, r, int(idx[0]), x, y, float(ra[0]), float(dec[0]),
                         float(ref["RA"][idx[0]]), float(ref["DEC"][idx[0]])))
    if not rows:
        return
    ref_c = align.make_corrector(new_wcs_by_key[(entries[0].exp_index, entries[0].chip_index)],
                                 entries[0].exposure, entries[0].exposure.chips[entries[0].chip_index].meta, None, "r")
    scale = align.tanp_scale_arcsec(ref_c)
    for row in rows:
        tx, ty = ref_c.world_to_tanp(row[7], row[8])
        rx, ry = ref_c.world_to_tanp(row[9], row[10])
        values = list(row) + [float(tx - rx) * scale, float(ty - ry) * scale, False, True]
        fit.matches.add_row(dict(zip(fit.matches.colnames, values)))  # later columns: blank


def run(visit: Visit, params, progress: ProgressFn | None = None, cancel: threading.Event | None = None,
        catalogs: dict | None = None, excluded: set | None = None, jobs: int | None = None,
        scheduler=None, cache="default") -> VisitResult:
    """Align a visit.  See the module docstring.

    Parameters
    ----------
    visit : Visit
    params : TweakRegParams
    progress : callable(stage, done, total, message), optional
    cancel : threading.Event, optional
        Checked between images and stages; when set, :class:`Cancelled` is raised.
    catalogs : dict, optional
        ``{(exposure.name, chip.name): Table}`` of catalogs to reuse instead of detecting.
    excluded : set, optional
        ``{(exposure.name, chip.name, row)}`` sources the user excluded from the fits.
    jobs : int, optional
        Processes for source detection and for the fits of many independent
        groups (default: all cores; 1: no other process).  Processes started
        from a thread, or for 32 groups or more, come from a forkserver,
        which imports the main module again: a script needs the
        ``if __name__ == "__main__":`` guard.
    scheduler : str or distributed.Client, optional
        Detect on a Dask cluster: ``"local"``, a scheduler address or a client.
    cache : CatalogCache, "default" or None
        Detected catalogs kept between runs (keyed by file content and the
        detection parameters): a refit with other matching or fit
        parameters does not detect again.  None: always detect.
    """
    params = _resolve_pixel_units(visit, params)
    refcat = load_refcat(visit, params)
    Cancelled.check(cancel)
    cats, errors = detect_visit(visit, params, progress, cancel, reuse=catalogs, jobs=jobs,
                                scheduler=scheduler, cache=cache, meanwhile=_import_fit_code)
    Cancelled.check(cancel)
    state = _RunState(visit, params, cats, errors, set(excluded or ()),
                      default_jobs() if jobs is None else jobs, progress)
    if len(state.groups_ok) >= 2:
        _relative_stage(state, last=refcat is None)
    Cancelled.check(cancel)
    if refcat is not None:
        _absolute_stage(state, refcat)
    Cancelled.check(cancel)
    images = [_image_result(state, i, refcat) for i in range(len(visit.exposures))]
    for r in images:
        log.info("%s: %s%s", r.exposure.name, r.status, f" ({r.reason})" if r.reason else "")
    return VisitResult(images=images, fits=state.fits, params=params, refcat=refcat,
                       abs_mode=params.abs_mode if refcat is not None else "")


@dataclass
class _RunState:
    """What the stages of one run share: catalogs, the current WCS of every chip, the fits so far."""

    visit: Visit
    params: object
    cats: list
    errors: list
    excluded: set
    jobs: int
    progress: ProgressFn | None
    wcs: dict = field(default_factory=dict)
    fits: list = field(default_factory=list)
    fits_of: dict = field(default_factory=dict)
    # {exp_index: (final WCS of chip 0, its total correction)} measured by the last stage's workers
    corrections: dict = field(default_factory=dict)

    def __post_init__(self):
        exps = self.visit.exposures
        self.ok = [self.errors[i] is None for i in range(len(exps))]
        self.wcs = {(ei, ci): chip.wcs for ei, e in enumerate(exps) for ci, chip in enumerate(e.chips)}
        self.fits_of = {i: [] for i in range(len(exps))}
        self.groups_ok = {exps[i].group_id for i in range(len(exps)) if self.ok[i]}

    def entries(self):
        return _entries(self.visit, self.cats, lambda ei, ci: self.wcs[(ei, ci)], self.ok, self.excluded,
                        self.params.brightest)

    def report(self, stage: str, done: int, message: str) -> None:
        if self.progress:
            self.progress(stage, done, 1, message)

    def take(self, entries, fits, new_wcs, tol, refcat=None) -> dict:
        """Keep a stage's fits and new WCS; the fits by group id."""
        for e, w in zip(entries, new_wcs):
            self.wcs[(e.exp_index, e.chip_index)] = w
        _add_all_excluded(fits, entries, self.wcs, self.cats, self.excluded, tol, refcat)
        self.fits += fits
        return {f.group_id: f for f in fits}


def _relative_stage(state: _RunState, last: bool) -> None:
    from tweakgui.engine.fit.mosaic import align_groups

    state.report("relative", 0, f"aligning {len(state.groups_ok)} groups")
    entries = state.entries()
    fits, new = align_groups(entries, state.params, "relative", jobs=state.jobs,
                             corrections=state.corrections if last else None)  # last: its WCS are final
    by_gid = state.take(entries, fits, new, state.params.tolerance)
    for i, exp in enumerate(state.visit.exposures):
        f = by_gid.get(exp.group_id)
        if state.ok[i] and f is not None:
            state.fits_of[i].append(f)
    state.report("relative", 1, "done")


def _absolute_stage(state: _RunState, refcat: Table) -> None:
    from tweakgui.engine.fit.mosaic import align_groups

    params = state.params
    state.report("absolute", 0, f"fitting to {refcat.meta.get('name', 'reference catalog')} ({params.abs_mode})")
    rel_failed = {i for i, fl in state.fits_of.items()
                  if any(f.kind == "relative" and f.status == STATUS_FAILED for f in fl)}
    if any(state.ok):
        entries = state.entries()
        if params.abs_mode == "visit":
            # one correction for the relatively aligned images; an image the relative
            # stage could not reach is fitted to the catalog on its own
            for e in entries:
                if e.exp_index not in rel_failed:
                    e.group_id = VISIT_GROUP
        fits, new = align_groups(entries, params, "absolute", refcat=refcat, jobs=state.jobs,
                                 corrections=state.corrections)
        by_gid = state.take(entries, fits, new, params.abs_tolerance, refcat)
        for e in entries:  # an image alone in its group: its reason says so (_image_status)
            if e.chip_index == 0:
                state.fits_of[e.exp_index].append(by_gid[e.group_id])
    state.report("absolute", 1, "done")


def _image_result(state: _RunState, i: int, refcat) -> ImageResult:
    from tweakgui.engine.fit.correction import image_correction

    visit, exp = state.visit, state.visit.exposures[i]
    fl = state.fits_of[i]
    reasons = {k: e for k, e in enumerate(state.errors) if e}
    status, reason = _image_status(i, state.ok, reasons, fl, refcat is not None, len(state.groups_ok))
    if status == STATUS_FAILED and state.ok[i]:
        # "not enough matches" may mean the image is nowhere near the others: say so
        others = [j for j in range(len(visit.exposures)) if state.ok[j]]
        reason = no_overlap_reason(visit, i, others, state.params, refcat) or reason
    new_wcs = correction = None
    if status in (STATUS_SUCCESS, STATUS_REFERENCE):
        new_wcs = [state.wcs[(i, ci)] for ci in range(len(exp.chips))]
        measured = state.corrections.get(i)
        correction = measured[1] if measured is not None and measured[0] is new_wcs[0] else \
            image_correction(exp, new_wcs)
    return ImageResult(exposure=exp, status=status, reason=reason, fits=fl, new_wcs=new_wcs,
                       catalogs=state.cats[i], correction=correction)


def _add_all_excluded(fits, entries, wcs, cats, excluded, tol, refcat=None):
    if not excluded:
        return
    for f in fits:
        if f.status != STATUS_SUCCESS or f.matches is None:
            continue
        if refcat is None:
            # relative: reference sources are those of the matched table itself
            ref = Table({"RA": f.matches["ref_ra"], "DEC": f.matches["ref_dec"]})
        else:
            ref = refcat
        _add_excluded_rows(f, entries, wcs, cats, excluded, ref, tol)


def _image_status(i, ok, reasons, fl, absolute, n_groups):
    if not ok[i]:
        return STATUS_FAILED, reasons[i]
    rel = [f for f in fl if f.kind == "relative"]
    ab = [f for f in fl if f.kind == "absolute"]
    if absolute:
        if rel and rel[0].status == STATUS_FAILED and not ab:
            return STATUS_FAILED, f"relative fit: {rel[0].reason}"
        if not ab:
            return STATUS_FAILED, "absolute fit not run"
        if ab[0].status == STATUS_SUCCESS:
            if rel and rel[0].status == STATUS_FAILED:
                return STATUS_SUCCESS, f"relative fit: {rel[0].reason}; aligned to the catalog on its own"
            return STATUS_SUCCESS, ""
        return STATUS_FAILED, f"absolute fit: {ab[0].reason}"
    if not rel:
        if n_groups < 2:
            return STATUS_REFERENCE, "only one exposure group: nothing to align to"
        return STATUS_FAILED, "not aligned"
    f = rel[0]
    if f.status == STATUS_FAILED:
        return STATUS_FAILED, f.reason
    return f.status, ""


def save_outputs(result: VisitResult, output_dir, params, in_place: bool = False, selected: set | None = None,
                 kinds=("images", "headerlets", "wcs", "shiftfile", "report", "catalogs"),
                 report_path=None) -> list[Path]:
    """Write the chosen outputs for the aligned images (all, or the names in ``selected``)."""
    from tweakgui.engine.outputs import save

    return save.save_visit_outputs(result, Path(output_dir), params, in_place=in_place, selected=selected,
                                      kinds=kinds, report_path=report_path)
