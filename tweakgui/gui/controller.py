"""The session controller: owns the state of one alignment session.

It holds the inputs, the parameters, per-chip regions, excluded matches, the
last result and the accept/reject choice per image; it starts one worker at a
time (load, run, refit or save), tags each job with a serial number and drops
results of outdated jobs.  Jobs run through a :class:`~tweakgui.gui.jobs.JobRunner`.
The engine functions are passed in (see
:class:`EngineApi`), so the controller is tested with a fake engine and a
``Mock(spec=SessionView)``.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from tweakgui.engine import model
from tweakgui.engine.detect.exclusion_keys import (
    ExcludedRun,
    SourceExclusion,
    make_exclusion,
    result_catalogs,
    rows_for,
    run_with_exclusions,
    tolerance_pix,
)
from tweakgui.engine.params.spec import ParameterError, TweakRegParams
from tweakgui.gui.jobs import JobRunner
from tweakgui.gui.prefill import with_prefill
from tweakgui.gui.region_shapes import Shape, apply_regions, import_exclusions
from tweakgui.gui.view import SessionView
from tweakgui.gui.worker import describe_error

log = logging.getLogger(__name__)

__all__ = ["EngineApi", "SessionController", "MatchKey"]

NEXT_TURN_MS = 10  # a job's result shown, its selected image this long after (timers due meanwhile first)

MatchKey = tuple  # (image name, chip name, input_idx)


@dataclass
class EngineApi:
    """The engine functions the controller calls (injected, silx FitWidget style)."""

    load_visit: Callable
    run: Callable
    save_outputs: Callable
    read_pixels: Callable
    # (catalog path, (column, chip) or None) -> table with x, y: a catalog input's sources
    read_sources: Callable | None = None

    @classmethod
    def default(cls) -> "EngineApi":
        from tweakgui.engine import pipeline
        from tweakgui.engine.detect.custom import read_custom_catalog
        from tweakgui.engine.io import inputs
        from tweakgui.engine.visit import load_visit

        return cls(load_visit=load_visit, run=pipeline.run, save_outputs=pipeline.save_outputs,
                   read_pixels=inputs.read_pixels, read_sources=read_custom_catalog)


def load_with_results(load_visit: Callable, specs, params, path):
    """Load the inputs, then bind the saved results of ``path`` to them (in the worker).
    A results file that cannot be read is returned as its exception: the inputs still load."""
    from tweakgui.engine.outputs.result_store import read_results

    visit = load_visit(specs, params)
    try:
        return visit, read_results(path, visit, params)
    except Exception as exc:  # noqa: BLE001 - reported, the session opens without results
        return visit, ValueError(f"{path}: {describe_error(exc)}")


def snapshot_visit(visit: model.Visit) -> model.Visit:
    """A copy of the visit's structure for a job: edits in the GUI during a run
    (order, groups, catalogs, regions) do not reach the worker's visit.  WCS
    objects are shared; the engine builds its correctors afresh and does not
    modify them."""
    exposures = [dataclasses.replace(e, meta=dict(e.meta),
                                     chips=[dataclasses.replace(c, meta=dict(c.meta)) for c in e.chips])
                 for e in visit.exposures]
    return dataclasses.replace(visit, exposures=exposures)


class SessionController(QObject):
    """One session: state, jobs and the links between the panels."""

    # emitted after a job's result has been handed to the view (tests, automation)
    jobDone = Signal(str, bool)  # kind, ok
    stateChanged = Signal()  # regions, exclusions, acceptance, overrides

    def __init__(self, view: SessionView, engine: EngineApi | None = None,
                 params: TweakRegParams | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.engine = engine or EngineApi.default()
        self.params = params or TweakRegParams()
        self.inputs: list[str] = []  # input specs as given (files, wildcards, @lists, ASNs)
        self.removed: set[str] = set()  # exposures the user removed from the inputs
        self.order: list[str] = []  # exposure names in the user's order, once reordered
        self.visit: model.Visit | None = None
        self.result: model.VisitResult | None = None
        self.group_overrides: dict[str, str] = {}
        self.catalog_overrides: dict[str, str] = {}
        self.regions: dict[tuple[str, str], list[Shape]] = {}
        # the user's exclusions, tied to the source's sky position; their rows in the
        # shown result and those no longer found after re-detection
        self.exclusions: list[SourceExclusion] = []
        self.exclusion_rows: dict[SourceExclusion, int] = {}
        self.dropped: list[SourceExclusion] = []
        # what the last finished job did, kept for the status bar
        self.outcome = ""
        self.saved_stale = ""  # a session saved with stale results says why
        self.results_path: Path | None = None  # saved results to show once the inputs are loaded
        self.stale = ""  # why the shown results no longer match inputs/parameters ("" if they do)
        self._selected_source: SourceExclusion | None = None
        self.accepted: dict[str, bool] = {}
        self.rejected: set[str] = set()  # images the user rejected
        self.selected: str | None = None
        self.selected_chip = 0
        self.selected_match: MatchKey | None = None
        self.fit_choice = "last"  # "last", "relative" or "absolute"
        self.session_summary: list[dict] | None = None
        self.last_saved: list[Path] = []
        self.jobs = JobRunner(self)
        self.jobs.started.connect(self._on_started)
        self.jobs.progress.connect(self._on_progress)
        self.jobs.ended.connect(self._on_ended)
        self.jobs.finished.connect(self._on_finished)
        self.jobs.errored.connect(self._on_errored)
        self._file_exclusions: dict[tuple[str, str], str] = {}  # from params.exclusions
        self._workdir: Path | None = None  # region files handed to the engine

    # ------------------------------------------------------------------ jobs
    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def _start(self, kind: str, fn: Callable, *args, with_callbacks=True, **kwargs) -> None:
        self.jobs.start(kind, fn, *args, with_callbacks=with_callbacks, **kwargs)

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        if self.jobs.cancel():
            self.view.show_status("Cancelling…")

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel any job and wait for its thread (window closing). True if stopped."""
        stopped = self.jobs.shutdown(timeout_ms)
        if stopped and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        return stopped

    @Slot(str)
    def _on_started(self, kind: str) -> None:
        self.view.show_busy(True, kind)

    @Slot(str, int, int, str)
    def _on_progress(self, stage: str, done: int, total: int, message: str) -> None:
        self.view.show_progress(stage, done, total, message)

    @Slot(str)
    def _on_ended(self, kind: str) -> None:
        self.view.show_busy(False, kind)

    @Slot(str, object)
    def _on_finished(self, kind: str, result: Any) -> None:
        handler = {"load": self._loaded, "run": self._ran, "refit": self._ran,
                   "save": self._saved}[kind]
        if not self._show(kind, handler, result):
            return
        if kind in ("run", "refit", "load"):
            # the files table of a run's result and the selected image's plots are shown on later
            # turns of the event loop, so the window repaints in between instead of pausing for all
            # of it at once (a mosaic's result: ~40 ms); timers, not queued calls: those run before
            # any timer, and the turns were one stretch for timers due
            steps = [self._select_loaded] if kind == "load" else [self._show_files, self._show_selected]
            self._in_turns(kind, steps)
            return
        self.jobDone.emit(kind, True)

    def _in_turns(self, kind: str, steps: list) -> None:
        """``steps`` of showing a job's result, each on a turn of its own; then ``jobDone``."""
        def step():
            if self._show(kind, steps[0], None):
                if len(steps) > 1:
                    self._in_turns(kind, steps[1:])
                else:
                    self.jobDone.emit(kind, True)

        QTimer.singleShot(NEXT_TURN_MS, self, step)

    def _show_files(self, _arg=None) -> None:
        self.view.show_visit(self.visit)

    def _show(self, kind: str, handler: Callable, arg: Any) -> bool:
        try:
            handler(arg)
        except Exception as exc:  # noqa: BLE001 - a display bug must not lose the session
            import traceback

            log.exception("showing the %s result failed", kind)
            self.view.show_error(f"Cannot show the {kind} result", describe_error(exc),
                                 traceback.format_exc())
            self.jobDone.emit(kind, False)
            return False
        return True

    @Slot(str, object, str)
    def _on_errored(self, kind: str, exc: Any, tb: str) -> None:
        if isinstance(exc, model.Cancelled):
            log.info("%s cancelled", kind)
            self.view.show_status(f"{kind.capitalize()} cancelled")
        elif isinstance(exc, (model.InputError, ParameterError)):
            log.error("%s", exc)
            self.view.show_error(f"Cannot {kind}", str(exc))
        else:
            log.error("%s failed: %s\n%s", kind, describe_error(exc), tb)
            self.view.show_error(f"{kind.capitalize()} failed", describe_error(exc), tb)
        self.jobDone.emit(kind, False)

    # ---------------------------------------------------------------- inputs
    def set_inputs(self, specs: list[str]) -> None:
        """Replace the inputs and load them (in the worker)."""
        self.inputs = [str(s) for s in specs]
        self.removed, self.order = set(), []
        self._load()

    def add_inputs(self, specs: list[str]) -> None:
        """Add inputs; an image already loaded is refused (named in the status bar) and
        the results of the loaded images stay, marked stale when the visit changes."""
        specs = [str(s) for s in specs]
        loaded = {e.name for e in self.visit.exposures} if self.visit is not None else set()
        loaded_paths = {str(e.path.resolve()) for e in self.visit.exposures} if self.visit else set()
        dup = [s for s in specs if not s.startswith("@") and not any(ch in s for ch in "*?,")
               and (Path(s).name in loaded or str(Path(s).resolve()) in loaded_paths)]
        if dup:
            names = ", ".join(Path(s).name for s in dup)
            log.warning("already loaded, not added again: %s", names)
            self.view.show_status(f"Already loaded: {names}")
        specs = [s for s in specs if s not in dup]
        if not specs:
            return
        self.removed -= {Path(s).name for s in specs}  # adding a removed file brings it back
        new = [s for s in specs if s not in self.inputs]
        if new:
            self.inputs += new
        self._load(keep_result=True)

    def _load(self, keep_result: bool = False) -> None:
        if keep_result and self.result is not None:
            self.mark_stale("images were added")
        else:
            self.result = None
            self.stale = ""
            self.view.show_result(None)
        if not self.inputs:
            self.visit = None
            self.view.show_visit(None)
            return
        stored, self.results_path = self.results_path, None
        if stored is not None:
            self._start("load", with_prefill(load_with_results), self.engine.load_visit,
                        list(self.inputs), self.params, stored, with_callbacks=False)
            return
        self._start("load", with_prefill(self.engine.load_visit), list(self.inputs), self.params,
                    with_callbacks=False)

    def _loaded(self, visit) -> None:
        stored = None
        if isinstance(visit, tuple):  # a session's inputs with its saved results
            visit, stored = visit
        # the user's removals and order outlive reloads (inputs may be ASNs or wildcards)
        visit.exposures = [e for e in visit.exposures if e.name not in self.removed]
        spec_order = {Path(s).name: i for i, s in enumerate(self.inputs)}
        user_order = {n: i for i, n in enumerate(self.order)}
        visit.exposures.sort(key=lambda e: (user_order.get(e.name, len(user_order)),
                                            spec_order.get(e.name, len(spec_order))))
        self.visit = visit
        self._apply_overrides()
        self._file_exclusions = import_exclusions(visit, self.regions)
        n = len(visit.exposures)
        log.info("loaded %d exposure%s, %d chip%s", n, "" if n == 1 else "s",
                 sum(len(e.chips) for e in visit.exposures),
                 "" if sum(len(e.chips) for e in visit.exposures) == 1 else "s")
        if stored is not None:
            self._restore(stored)
        self.view.show_visit(visit)
        if stored is None:
            self.view.show_status(f"Loaded {n} exposures")

    def _select_loaded(self, _arg=None) -> None:
        """After a load: the first image, or the one selected before, is shown."""
        visit = self.visit
        if visit is None:
            return
        if visit.exposures and (self.selected is None or self.exposure(self.selected) is None):
            self.select_image(visit.exposures[0].name)
        elif self.selected is not None:
            self.select_image(self.selected, self.selected_chip)

    def _restore(self, stored) -> None:
        """Show a session's saved results as they were, without running."""
        if isinstance(stored, Exception):
            log.error("cannot read the saved results: %s", stored)
            self.view.show_error("Cannot read the saved results", str(stored))
            return
        result = stored.result
        rows, self.dropped = rows_for(self.exclusions, self.visit, result_catalogs(result),
                                      tolerance_pix(self.params))
        self.result, self.exclusion_rows = result, rows
        self.session_summary = None
        nok = sum(r.status != model.STATUS_FAILED for r in result.images)
        self.outcome = f"Reopened: {nok}/{len(result.images)} images aligned (saved results)"
        self.view.show_result(result)
        self.stale = ""
        self.view.show_status(self.outcome)
        self.view.show_outcome(self.outcome)
        why = "; ".join(w for w in (self.saved_stale, stored.stale) if w)
        self.saved_stale = ""
        if why:
            self.mark_stale(why)
        log.info("%s", self.outcome + (f"; stale: {stored.stale}" if stored.stale else ""))

    def _apply_overrides(self) -> None:
        for e in self.visit.exposures if self.visit else []:
            if e.name in self.group_overrides:
                e.group_id = self.group_overrides[e.name]
            if e.name in self.catalog_overrides:
                for c in e.chips:
                    c.catalog_path = Path(self.catalog_overrides[e.name])

    def exposure(self, name: str | None) -> model.Exposure | None:
        for e in self.visit.exposures if self.visit else []:
            if e.name == name:
                return e
        return None

    def remove_exposure(self, name: str) -> None:
        e = self.exposure(name)
        if e is None:
            return
        self.visit.exposures.remove(e)
        self.removed.add(name)
        self.order = [x.name for x in self.visit.exposures]
        self.regions = {k: v for k, v in self.regions.items() if k[0] != name}
        self.exclusions = [x for x in self.exclusions if x.image != name]
        self.exclusion_rows = {x: r for x, r in self.exclusion_rows.items() if x.image != name}
        self.dropped = [x for x in self.dropped if x.image != name]
        if self.selected == name:
            self.selected = None
        self.view.show_visit(self.visit)
        if self.visit.exposures and self.selected is None:
            self.select_image(self.visit.exposures[0].name)
        self.mark_stale(f"{name} removed")
        self.stateChanged.emit()

    def move_exposure(self, name: str, delta: int) -> None:
        """Move an exposure up (-1) or down (+1) in the order used by ``enforce_user_order``."""
        ex = self.visit.exposures if self.visit else []
        e = self.exposure(name)
        if e is None:
            return
        i = ex.index(e)
        j = max(0, min(len(ex) - 1, i + delta))
        ex.insert(j, ex.pop(i))
        self.order = [x.name for x in ex]
        self.view.show_visit(self.visit)

    def set_reference(self, name: str) -> None:
        """Make ``name`` the reference: first in the list, with ``enforce_user_order`` on."""
        e = self.exposure(name)
        if e is None:
            return
        self.visit.exposures.remove(e)
        self.visit.exposures.insert(0, e)
        self.order = [x.name for x in self.visit.exposures]
        if not self.params.enforce_user_order:
            self.params = self.params.replace(enforce_user_order=True)
            self.view.show_params(self.params)
        self.view.show_visit(self.visit)
        self.view.show_status(f"{name} is the reference image (user order enforced)")

    def set_group_id(self, name: str, group_id: str) -> None:
        group_id = str(group_id).strip()
        e = self.exposure(name)
        if e is None or not group_id:
            return
        e.group_id = group_id
        self.group_overrides[name] = group_id
        self.view.show_visit(self.visit)
        self.mark_stale(f"group of {name} changed")
        self.stateChanged.emit()

    def set_catalog(self, name: str, path: str | None) -> None:
        """Use a custom catalog for every chip of ``name`` (None: detect)."""
        e = self.exposure(name)
        if e is None:
            return
        if path:
            self.catalog_overrides[name] = str(path)
        else:
            self.catalog_overrides.pop(name, None)
        for c in e.chips:
            c.catalog_path = Path(path) if path else None
        self.mark_stale(f"catalog of {name} changed")
        if path and not self.params.use_custom_catalogs:
            self.params = self.params.replace(use_custom_catalogs=True)
            self.view.show_params(self.params)
        self.view.show_visit(self.visit)
        self.stateChanged.emit()

    # ---------------------------------------------------------------- params
    def set_params(self, params: TweakRegParams) -> None:
        changed = params != self.params
        self.params = params
        self.view.show_params(params)
        if changed:
            self.mark_stale("parameters changed")

    def reset_params(self, keep=("catfile", "abs_refcat", "exclusions")) -> None:
        """Defaults for every parameter but the files named (a reference catalog is data, not a
        setting: resetting the finder must not drop it)."""
        kept = {n: getattr(self.params, n) for n in keep if getattr(self.params, n)}
        self.set_params(TweakRegParams(**kept))
        if kept:
            self.view.show_status("Parameters reset to their defaults; kept "
                                  + ", ".join(f"{n}={Path(str(v)).name}" for n, v in kept.items()))

    def update_param(self, name: str, value: Any) -> None:
        """Change one parameter; raises ParameterError naming it when invalid."""
        new = self.params.replace(**{name: value})
        if new != self.params:
            self.params = new
            self.mark_stale(f"{name} changed")

    def mark_stale(self, reason: str) -> None:
        """The shown results no longer follow from the inputs and parameters."""
        if self.result is None:
            return
        if not self.stale:
            log.info("results are stale: %s", reason)
        self.stale = reason
        self.view.show_outcome(f"{self.outcome} — stale: {reason}; run again (F5)")

    def set_offset_from_histogram(self, dx: float, dy: float) -> None:
        """A click in the 2D histogram: the initial offset (arcsec) of the next run."""
        self.params = self.params.replace(xoffset=round(float(dx), 4), yoffset=round(float(dy), 4),
                                          use2dhist=False)
        self.view.show_params(self.params)
        self.mark_stale("xoffset/yoffset picked")
        # said, not silent: the histogram search would otherwise pick its own peak again
        msg = (f"Next run starts from xoffset={dx:+.3f}\", yoffset={dy:+.3f}\" (relative stage); "
               "use2dhist turned off so that this offset is used")
        log.info("%s", msg)
        self.view.show_status(msg)

    # --------------------------------------------------------------- regions
    def set_regions(self, name: str, chip: str, shapes: list[Shape]) -> None:
        key = (name, chip)
        if list(shapes) == self.regions.get(key, []):
            return
        if shapes:
            self.regions[key] = list(shapes)
        else:
            self.regions.pop(key, None)
        self.mark_stale(f"regions of {name} changed")
        self.stateChanged.emit()

    def regions_for(self, name: str, chip: str) -> list[Shape]:
        return list(self.regions.get((name, chip), []))

    # ------------------------------------------------------------------ runs
    def run(self) -> None:
        """Detect and align the whole visit (in the worker)."""
        if self.visit is None:
            self.view.show_error("Nothing to align", "Add images first (File ▸ Add Images…)")
            return
        try:
            if self._workdir is None and self.regions:
                self._workdir = Path(tempfile.mkdtemp(prefix="tweakgui-regions-"))
            apply_regions(self.visit, self.regions, self._file_exclusions,
                          (self._workdir or Path(tempfile.gettempdir())) / "regions")
        except OSError as exc:
            self.view.show_error("Cannot run", f"cannot write the region files: {exc}")
            return
        known = result_catalogs(self.result) if self.result is not None else None
        self._remember_selected_source()
        self._start("run", with_prefill(run_with_exclusions), self.engine.run, snapshot_visit(self.visit),
                    self.params, list(self.exclusions), known=known)

    def refit(self) -> None:
        """Fit again with the catalogs of the last run (no detection)."""
        if self.result is None:
            self.run()
            return
        self._remember_selected_source()
        self._start("refit", with_prefill(run_with_exclusions), self.engine.run, snapshot_visit(self.visit),
                    self.params, list(self.exclusions),
                    catalogs=result_catalogs(self.result) or None)

    @property
    def excluded(self) -> set[MatchKey]:
        """The user's exclusions as rows of the shown result's catalogs."""
        return {(x.image, x.chip, r) for x, r in self.exclusion_rows.items()}

    def _source_at(self, key: MatchKey, stage: str = "") -> SourceExclusion | None:
        """The sky position of catalog row ``key`` of the shown result."""
        r = self.image_result(key[0])
        e = self.exposure(key[0])
        if r is None or e is None:
            return None
        for ci, c in enumerate(e.chips):
            if c.name == key[1] and ci < len(r.catalogs) and 0 <= key[2] < len(r.catalogs[ci]):
                row = r.catalogs[ci][key[2]]
                return make_exclusion(e, c, float(row["x"]), float(row["y"]), stage)
        return None

    def _remember_selected_source(self) -> None:
        # a rerun may renumber the catalogs: the selected match is followed by position
        key = self.selected_match
        self._selected_source = (self._source_at(key) if key is not None and len(key) == 3
                                 and self.result is not None else None)

    def _ran(self, result) -> None:
        if isinstance(result, ExcludedRun):
            self.exclusion_rows, self.dropped = dict(result.rows), list(result.dropped)
            result = result.result
        else:
            self.exclusion_rows, self.dropped = {}, list(self.exclusions)
        self.result = result
        self.stale = ""
        src = getattr(self, "_selected_source", None)
        if src is not None and self.visit is not None:
            found = rows_for([src], self.visit, result_catalogs(result), tolerance_pix(self.params))[0]
            self.selected_match = (src.image, src.chip, found[src]) if src in found else None
        self._selected_source = None
        for x in self.dropped:
            log.warning("exclusion of %s [%s] at x=%.1f y=%.1f dropped: no source there after "
                        "detecting again", x.image, x.chip, x.x, x.y)
        self.session_summary = None
        for r in result.images:
            name = r.exposure.name
            self.accepted[name] = r.status != model.STATUS_FAILED and name not in self.rejected
        nok = sum(r.status != model.STATUS_FAILED for r in result.images)
        log.info("alignment finished: %d of %d images aligned", nok, len(result.images))
        # one record, not one per fit: a mosaic has ~1400 fits and each record costs the GUI thread
        log.info("\n".join(f"group {f.group_id} ({f.kind}): {f.summary()}" for f in result.fits))
        self.view.show_result(result)  # the files table on the next turn (_show_files)
        failed = result.n_failed
        self.outcome = (f"Aligned {nok}/{len(result.images)} images"
                        + (f", {failed} failed" if failed else "")
                        + (f"; {len(self.dropped)} exclusion{'s' if len(self.dropped) != 1 else ''}"
                           " dropped (source not found again)" if self.dropped else ""))
        self.view.show_status(self.outcome)
        self.view.show_outcome(self.outcome)

    def _show_selected(self, _arg=None) -> None:
        if self.selected is not None:
            self.view.show_selection(self.selected, self.selected_chip)
        if self.selected_match is not None:
            self.view.show_match(self.selected_match)

    def toggle_exclude(self, key, refit: bool = True) -> None:
        """Exclude a match from the fit, or restore it, and fit again at once.

        ``key`` is a row ``(image, chip, input_idx)`` of the shown result or a
        :class:`SourceExclusion` (restore it, e.g. one dropped after re-detection).
        """
        if isinstance(key, SourceExclusion):
            ex = key if key in self.exclusions else None
        else:
            key = (str(key[0]), str(key[1]), int(key[2]))
            ex = next((x for x, r in self.exclusion_rows.items() if (x.image, x.chip, r) == key), None)
        if ex is not None:
            self.exclusions.remove(ex)
            self.exclusion_rows.pop(ex, None)
            if ex in self.dropped:
                self.dropped.remove(ex)
            log.info("restored source %s [%s] at x=%.1f y=%.1f", ex.image, ex.chip, ex.x, ex.y)
        elif isinstance(key, SourceExclusion):
            return
        else:
            fit = self.shown_fit(key[0])
            ex = self._source_at(key, fit.kind if fit is not None else "")
            if ex is None:
                log.warning("cannot exclude %s [%s] #%d: no such source", *key)
                return
            self.exclusions.append(ex)
            self.exclusion_rows[ex] = key[2]
            log.info("excluded source %s [%s] #%d at x=%.1f y=%.1f", *key, ex.x, ex.y)
        self.stateChanged.emit()
        if refit:
            self.refit()

    # ------------------------------------------------------------- selection
    def select_image(self, name: str | None, chip_index: int = 0) -> None:
        if self.selected_match is not None and self.selected_match[0] != name:
            self.selected_match = None
        self.selected = name
        e = self.exposure(name)
        self.selected_chip = max(0, min(chip_index, len(e.chips) - 1)) if e else 0
        self.view.show_selection(name, self.selected_chip)
        if e is not None:
            c = e.chips[self.selected_chip]
            self.view.show_regions((e.name, c.name), self.regions_for(e.name, c.name))

    def select_match(self, key: MatchKey | None) -> None:
        """Highlight one match everywhere; switches image and chip if needed."""
        self.selected_match = key
        if key is not None:
            e = self.exposure(key[0])
            if e is not None:
                idx = next((i for i, c in enumerate(e.chips) if c.name == key[1]), 0)
                if key[0] != self.selected or idx != self.selected_chip:
                    self.select_image(key[0], idx)
        self.view.show_match(key)

    def image_result(self, name: str | None) -> model.ImageResult | None:
        for r in self.result.images if self.result else []:
            if r.exposure.name == name:
                return r
        return None

    def shown_fit(self, name: str | None = None) -> model.FitResult | None:
        """The fit to inspect for an image, following ``fit_choice``."""
        r = self.image_result(name if name is not None else self.selected)
        if r is None or not r.fits:
            return None
        if self.fit_choice in ("relative", "absolute"):
            for f in reversed(r.fits):
                if f.kind == self.fit_choice:
                    return f
            return None
        return r.fit or r.fits[-1]

    def review_step(self, accept: bool | None = None, step: int = 1) -> None:
        """Review mode: accept or reject the selected image (None: leave it), then go to the
        next (``step`` 1) or previous (-1) image, with its verdict in the status bar."""
        names = [e.name for e in self.visit.exposures] if self.visit is not None else []
        if not names:
            return
        if accept is not None and self.selected in names:
            self.set_accepted(self.selected, accept)
            self.view.show_visit(self.visit)
        i = names.index(self.selected) if self.selected in names else -step
        name = names[(i + step) % len(names)]
        self.select_image(name)
        r = self.image_result(name)
        verdict = "not aligned yet" if r is None else r.status + (f": {r.reason}" if r.reason else "")
        fit = r.fit if r is not None else None
        if fit is not None:
            verdict += f" ({fit.kind} {fit.fitgeom}, rmse {fit.rmse_arcsec * 1000:.2f} mas)"
        choice = "rejected" if name in self.rejected else "accepted" if self.accepted.get(name, True) else "rejected"
        self.view.show_status(f"Review {names.index(name) + 1}/{len(names)}: {name} — {verdict}; {choice}. "
                              "A accept, R reject, N next, P previous")

    # ---------------------------------------------------------------- saving
    def set_accepted(self, name: str, accepted: bool) -> None:
        """Accept or reject an image's fit for saving; a rejection outlives refits."""
        self.accepted[name] = bool(accepted)
        if accepted:
            self.rejected.discard(name)
        else:
            self.rejected.add(name)
        self.stateChanged.emit()

    def save(self, output_dir: str | Path, kinds=None, only: set[str] | None = None,
             in_place: bool = False) -> None:
        """Write outputs of accepted images (restricted to ``only`` if given)."""
        if self.result is None:
            self.view.show_error("Nothing to save", "Run the alignment first.")
            return
        selected = {n for n, ok in self.accepted.items() if ok}
        if only is not None:
            selected &= set(only)
        if not selected:
            self.view.show_error("Nothing to save", "No accepted image is selected.")
            return
        kw = {"in_place": in_place, "selected": selected}
        if kinds is not None:
            kw["kinds"] = tuple(kinds)
        self._start("save", self.engine.save_outputs, self.result, Path(output_dir), self.params,
                    with_callbacks=False, **kw)

    def _saved(self, paths) -> None:
        self.last_saved = [Path(p) for p in paths or []]
        log.info("wrote %d files", len(self.last_saved))
        for p in self.last_saved:
            log.info("  %s", p)
        self.view.show_status(f"Wrote {len(self.last_saved)} files")
