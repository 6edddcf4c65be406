"""The main window: dock panels around the image, menus, status bar.

The window is the passive view of :class:`SessionController`: panels turn
user actions into controller calls, and the controller calls back the
:class:`~tweakgui.gui.view.SessionView` methods implemented here.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QToolButton,
)

from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.gui import menus
from tweakgui.gui.controller import EngineApi, SessionController
from tweakgui.gui.diagnostics import DiagnosticsView, SystematicsView
from tweakgui.gui.files_panel import FilesPanel
from tweakgui.gui.icons import icon
from tweakgui.gui.image_view import ImageView
from tweakgui.gui.log_panel import LogPanel
from tweakgui.gui.loghandler import QtLogHandler
from tweakgui.gui.matches_table import MatchesPanel
from tweakgui.gui.params_panel import ParamsPanel
from tweakgui.gui.reference_layer import ReferenceLayer
from tweakgui.gui.residuals import ResidualPanel
from tweakgui.gui.start_page import StartPage
from tweakgui.gui.view import SessionView
from tweakgui.gui.visit_view import VisitView

log = logging.getLogger(__name__)

__all__ = ["MainWindow"]

LOGGERS = ("tweakgui", "tweakwcs")
SHOW_VIEW_AFTER_MS = 10  # a load's image view shown this long after the load starts


class MainWindow(QMainWindow, SessionView):
    """The tweakgui desktop window."""

    def __init__(self, settings: QSettings, engine: EngineApi | None = None,
                 params: TweakRegParams | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("MainWindow")
        self.setWindowTitle("tweakgui")
        self._fit_to_screen()
        self.setDockNestingEnabled(True)
        self._shown_once = False
        self.errors: list[tuple[str, str]] = []  # (title, message) of shown failures

        self._dialog = None

        self._build_panels(engine, params)
        self._build_docks()
        self._build_status_bar()
        self.actions = menus.build(self)
        self._connect()
        self._attach_log()
        self.default_state = self.saveState()  # for View ▸ Reset Layout
        self._restore_settings()
        self.show_busy(False, "")
        self.setAcceptDrops(True)

    def _build_panels(self, engine, params) -> None:
        self.image_view = ImageView()
        self.ref_layer = ReferenceLayer(self.image_view.set_reference, self)
        self.start_page = StartPage()
        self.central = QStackedWidget()
        self.central.addWidget(self.start_page)
        self.central.addWidget(self.image_view)
        self.setCentralWidget(self.central)
        self.files = FilesPanel()
        self.log_panel = LogPanel()
        self.residuals = ResidualPanel()
        self.residuals.drawn.connect(self.ref_layer.start_held)
        self.diagnostics = DiagnosticsView()
        self.systematics = SystematicsView()
        self.residuals.tabs.addTab(self.diagnostics, "Diagnostics")
        self.residuals.tabs.addTab(self.systematics, "Systematics")
        self._systematics_dirty = True
        self._diagnostics_dirty = True
        self.matches = MatchesPanel()
        self.visit_view = VisitView()
        self.ctl = SessionController(self, engine, params, parent=self)
        self.ctl.jobDone.connect(self._job_done)
        self.params_panel = ParamsPanel(self.ctl.update_param)
        self.params_panel.set_params(self.ctl.params)

    def _build_docks(self) -> None:
        self.docks = {}
        for key, title, widget, area in (
            ("files", "Files / ASN", self.files, Qt.LeftDockWidgetArea),
            ("settings", "Detection settings", self.params_panel, Qt.LeftDockWidgetArea),
            ("residuals", "Residuals", self.residuals, Qt.RightDockWidgetArea),
            ("visit", "Visit footprints", self.visit_view, Qt.RightDockWidgetArea),
            ("matches", "Matches", self.matches, Qt.BottomDockWidgetArea),
            ("log", "Fit log", self.log_panel, Qt.BottomDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.docks["visit"].visibilityChanged.connect(self.visit_view.became_visible)
        self.splitDockWidget(self.docks["files"], self.docks["settings"], Qt.Vertical)
        self.tabifyDockWidget(self.docks["residuals"], self.docks["visit"])
        self.tabifyDockWidget(self.docks["matches"], self.docks["log"])
        self.docks["residuals"].raise_()
        self.docks["matches"].raise_()
        self._size_docks()

    def _attach_log(self) -> None:
        """The fit log shows tweakgui's and tweakwcs' INFO records while the window lives."""
        self.log_handler = QtLogHandler()
        self.log_panel.follow(self.log_handler)
        self._log_levels = {}
        for name in LOGGERS:
            lg = logging.getLogger(name)
            lg.addHandler(self.log_handler)
            if lg.getEffectiveLevel() > logging.INFO:
                self._log_levels[name] = lg.level  # restored when the window closes
                lg.setLevel(logging.INFO)

    def _size_docks(self) -> None:
        """Dock sizes for the window's size: on a small screen the files list keeps room for its rows."""
        small = self.height() < 900
        self.resizeDocks([self.docks["files"], self.docks["residuals"]],
                         [380, 500] if small else [430, 560], Qt.Horizontal)
        self.resizeDocks([self.docks["files"], self.docks["settings"]],
                         [250, 300] if small else [230, 570], Qt.Vertical)
        self.resizeDocks([self.docks["matches"]], [150 if small else 190], Qt.Vertical)

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if not self._shown_once:
            self._shown_once = True
            if self.settings.value("window/state") is None:
                # sizes take effect once the window has its real size
                QTimer.singleShot(0, self._size_docks)

    def _fit_to_screen(self) -> None:
        """1500×950, or the screen's available area when smaller (a 1366×768 laptop)."""
        from PySide6.QtGui import QGuiApplication

        screen = QGuiApplication.primaryScreen()
        # the offscreen platform's nominal screen is no real limit (scripted screenshots)
        offscreen = QGuiApplication.platformName() == "offscreen"
        avail = screen.availableGeometry() if screen is not None and not offscreen else None
        w, h = 1500, 950
        if avail is not None and avail.width() > 200 and avail.height() > 200:
            w, h = min(w, avail.width()), min(h, avail.height() - 30)
        self.resize(w, h)

    # ----------------------------------------------------------- wiring
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.ctl.cancel)
        self.cancel_button.hide()
        self.status_counts = QLabel("")
        # the last run's outcome stays in view while other messages come and go
        self.status_outcome = QLabel("")
        self.status_outcome.setObjectName("status_outcome")
        sb.addPermanentWidget(self.status_outcome)
        sb.addPermanentWidget(self.status_counts)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

    def _connect(self) -> None:
        c, f = self.ctl, self.files
        self.start_page.openFiles.connect(f.add_dialog)
        self.start_page.openAsn.connect(f.open_asn_dialog)
        self.start_page.openSession.connect(lambda: menus.open_session(self))
        self.start_page.openDemo.connect(self.open_demo)
        f.addRequested.connect(self.add_inputs)
        f.openRequested.connect(self.open_inputs)
        f.removeRequested.connect(c.remove_exposure)
        f.moveRequested.connect(c.move_exposure)
        f.referenceRequested.connect(c.set_reference)
        f.groupEdited.connect(c.set_group_id)
        f.catalogRequested.connect(c.set_catalog)
        f.acceptToggled.connect(c.set_accepted)
        f.imageSelected.connect(c.select_image)
        self.image_view.matchClicked.connect(c.select_match)
        self.image_view.regionsEdited.connect(self._regions_edited)
        self.image_view.regionsLoadRequested.connect(self.load_regions)
        self.image_view.regionsSaveRequested.connect(self.save_regions)
        self.image_view.hint.connect(lambda text: self.statusBar().showMessage(text))
        self.image_view.loadFailed.connect(lambda msg: log.error("cannot read pixels: %s", msg))
        self.residuals.matchClicked.connect(c.select_match)
        self.residuals.excludeRequested.connect(c.toggle_exclude)
        self.visit_view.imageClicked.connect(c.select_image)
        self.residuals.offsetPicked.connect(c.set_offset_from_histogram)
        self.residuals.offsetRefused.connect(self.show_status)
        self.residuals.wcs_of = self._fitted_wcs
        self.residuals.tabs.currentChanged.connect(self._tab_changed)
        self.residuals.scopeChanged.connect(self._scope_changed)
        self.matches.matchSelected.connect(self._table_selected)
        self.matches.excludeRequested.connect(c.toggle_exclude)
        self.params_panel.loadRequested.connect(self.load_params)
        self.params_panel.saveRequested.connect(self.save_params)
        self.params_panel.resetRequested.connect(c.reset_params)

    def _restore_settings(self) -> None:
        geo = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geo is not None:
            self.restoreGeometry(geo)
        if state is not None:
            self.restoreState(state)
        last = str(self.settings.value("dirs/last", "") or "")
        for w in (self.files, self.params_panel, self.image_view, self.log_panel):
            w.last_dir = last

    def remember_dir(self, path: str | Path) -> None:
        p = Path(path)
        d = str(p if p.is_dir() else p.parent)
        self.settings.setValue("dirs/last", d)
        for w in (self.files, self.params_panel, self.image_view, self.log_panel):
            w.last_dir = d

    def closeEvent(self, ev) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        if self.ctl.busy:
            self.statusBar().showMessage("Stopping the running job…")
        stopped = self.ctl.shutdown(20000)
        self.image_view.loader.wait(10000)
        self.ref_layer.wait(10000)
        if not stopped:
            log.warning("the worker did not stop in time")
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self.log_handler)
        for name, level in self._log_levels.items():
            logging.getLogger(name).setLevel(level)

        super().closeEvent(ev)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        """Dropped images, lists or ASNs are added; a dropped session file is opened."""
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        sessions = [p for p in paths if p.endswith(".tweakgui.json")]
        if sessions:
            menus.open_session(self, sessions[0])
        elif paths:
            self.add_inputs([("@" + p) if p.endswith((".txt", ".lst")) else p for p in paths])
        ev.acceptProposedAction()

    # ------------------------------------------------------ user actions
    def add_inputs(self, specs: list[str]) -> None:
        if specs:
            self.remember_dir(str(specs[0]).lstrip("@"))
            menus.add_recent(self, "inputs", list(specs))
        self.ctl.add_inputs(specs)

    def open_demo(self) -> None:
        """Load the generated demo visit with its reference catalog."""
        from tweakgui.gui.app import demo_inputs

        try:
            specs, over = demo_inputs()
        except OSError as exc:
            self.show_error("Cannot write the demo visit", str(exc))
            return
        for k, v in over.items():
            self.ctl.update_param(k, v)
        self.params_panel.set_params(self.ctl.params)
        self.ctl.set_inputs(specs)

    def open_inputs(self, specs: list[str]) -> None:
        """Replace the inputs (an ASN, a recent list)."""
        if specs:
            self.remember_dir(str(specs[0]).lstrip("@"))
            menus.add_recent(self, "inputs", list(specs))
        self.ctl.set_inputs(specs)

    def _regions_edited(self, shapes) -> None:
        e = self.ctl.exposure(self.ctl.selected)
        if e is not None:
            self.ctl.set_regions(e.name, e.chips[self.ctl.selected_chip].name, shapes)

    def load_regions(self, path: str) -> None:
        from tweakgui.gui.region_shapes import shapes_from_ds9

        e = self.ctl.exposure(self.ctl.selected)
        if e is None:
            return
        chip = e.chips[self.ctl.selected_chip]
        try:
            shapes = shapes_from_ds9(path, chip.wcs)
        except ValueError as exc:
            self.show_error("Cannot load regions", str(exc))
            return
        self.remember_dir(path)
        self.ctl.set_regions(e.name, chip.name, self.ctl.regions_for(e.name, chip.name) + shapes)
        self.image_view.set_regions(self.ctl.regions_for(e.name, chip.name))
        self.show_status(f"Loaded {len(shapes)} regions from {Path(path).name}")

    def save_regions(self, path: str, sky: bool = False) -> None:
        from tweakgui.gui.region_shapes import save_ds9

        e = self.ctl.exposure(self.ctl.selected)
        wcs = e.chips[self.ctl.selected_chip].wcs if (sky and e is not None) else None
        try:
            save_ds9(self.image_view.regions.shapes(), path, wcs=wcs)
        except (OSError, ValueError) as exc:
            self.show_error("Cannot save regions", str(exc))
            return
        self.remember_dir(path)

    def load_params(self, path: str, section) -> None:
        from tweakgui.engine.params.files import load_params_file

        try:
            if isinstance(section, Exception):
                raise section
            values = load_params_file(path, section)
            params = TweakRegParams(**values)
        except Exception as exc:  # noqa: BLE001 - shown with its reason
            self.show_error("Cannot load parameters", str(exc).splitlines()[0])
            return
        self.remember_dir(path)
        self.ctl.set_params(params)
        self.show_status(f"Parameters loaded from {Path(path).name}"
                         + (f" [{section}]" if section else ""))

    def save_params(self, path: str, section) -> None:
        from tweakgui.engine.params import files as paramfiles

        try:
            if section:
                paramfiles.save_cfg(self.ctl.params, path, section)
            else:
                paramfiles.save_asdf_pars(self.ctl.params, path)
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot save parameters", str(exc).splitlines()[0])
            return
        self.remember_dir(path)
        self.show_status(f"Parameters saved to {Path(path).name}")

    def _fitted_wcs(self, image: str, chip: str):
        """The chip's WCS after the fits (its input WCS where not aligned)."""
        e = self.ctl.exposure(image)
        if e is None:
            return None
        r = self.ctl.image_result(image)
        for ci, c in enumerate(e.chips):
            if c.name == chip:
                return r.new_wcs[ci] if r is not None and r.new_wcs and r.new_wcs[ci] is not None else c.wcs
        return None

    def _catalog_of(self, image: str, chip: str):
        e, r = self.ctl.exposure(image), self.ctl.image_result(image)
        if e is None or r is None:
            return None
        for ci, c in enumerate(e.chips):
            if c.name == chip and ci < len(r.catalogs):
                return r.catalogs[ci]
        return None

    def _chip_shape(self, image: str, chip: str):
        e = self.ctl.exposure(image)
        for c in e.chips if e is not None else []:
            if c.name == chip:
                return c.shape
        return (1, 1)

    def _detector(self, image: str) -> str:
        e = self.ctl.exposure(image)
        return str(e.meta.get("detector") or e.meta.get("DETECTOR") or "") if e is not None else ""

    def _update_diagnostics(self, force: bool = False) -> None:
        # its plots are built when the tab is shown: selecting an image stays quick
        self._diagnostics_dirty = True
        if self.residuals.tabs.currentWidget() is not self.diagnostics and not force:
            return
        self._diagnostics_dirty = False
        res = self.residuals
        self.diagnostics.set_data(res.matches, res.comp, res.frame, self._catalog_of, self.ctl.params,
                                  res.y_range)

    def _tab_changed(self, _index: int) -> None:
        if self._diagnostics_dirty:
            self._update_diagnostics()
        self._update_systematics()

    def _update_systematics(self, force: bool = False) -> None:
        # binned over the whole visit: computed when the tab is shown, once per result
        if self.residuals.tabs.currentWidget() is not self.systematics and not force:
            return
        if self._systematics_dirty or force:
            self._systematics_dirty = False
            self.systematics.set_visit(self.ctl.result, self._fitted_wcs, self._chip_shape, self._detector)

    def _table_selected(self, key) -> None:
        if isinstance(key, tuple):
            self.ctl.select_match(key)
        else:  # an exclusion not in this fit's matches: show where it is
            self.ctl.selected_match = None
            self.residuals.show_match(None)
            self.image_view.show_highlight((key.x, key.y))

    def exclude_selected(self) -> None:
        """Exclude or restore what is selected: the table's row (which may be an exclusion of
        another stage) or the highlighted match."""
        key = self.matches.current_key()
        if key is not None and not isinstance(key, tuple):
            self.ctl.toggle_exclude(key)
        elif self.ctl.selected_match is not None:
            self.ctl.toggle_exclude(self.ctl.selected_match)

    def _exclusion_rows(self, name: str) -> list[tuple]:
        """Rows for the table: the user's exclusions of the image(s) shown that the fit's
        matches do not list (excluded in another stage, or dropped after re-detection)."""
        shown = set(self.residuals.keys)
        whole = self.residuals.whole_group.isChecked()
        fit = self.ctl.shown_fit(name)
        images = set(fit.images) if whole and fit is not None and fit.images else {name}
        out = []
        for x in self.ctl.exclusions:
            if x.image not in images:
                continue
            row = self.ctl.exclusion_rows.get(x)
            if row is not None and (x.image, x.chip, row) in shown:
                continue
            state = ("dropped" if row is None else "excluded by you") + (f" ({x.stage})" if x.stage else "")
            out.append((x, x.image, x.chip, -1 if row is None else int(row), x.x, x.y, state))
        return out

    def _scope_changed(self) -> None:
        self.ctl.fit_choice = self.residuals.fit_choice.currentText()
        self.show_selection(self.ctl.selected, self.ctl.selected_chip)

    # ---------------------------------------------------- SessionView API
    def show_visit(self, visit) -> None:
        sel = (self.ctl.selected, self.ctl.selected_chip) if self.ctl.selected else None
        self.files.set_visit(visit, self.ctl.result, self.ctl.accepted, sel)
        self.visit_view.set_visit(visit, self.ctl.result)
        menus.update_save_actions(self, visit)
        self._show_central(visit)
        n = len(visit.exposures) if visit else 0
        self.status_counts.setText(f"{n} image{'s' if n != 1 else ''}" if n else "")
        if visit is None:
            self.image_view.clear()
            self.ref_layer.clear()

    def show_params(self, params) -> None:
        self.params_panel.set_params(params)

    def _show_central(self, visit) -> None:
        """The image view once there are images, else the start page."""
        self.central.setCurrentWidget(self.image_view if visit is not None and visit.exposures
                                      else self.start_page)

    def _job_done(self, kind: str, ok: bool) -> None:
        if kind == "load" and not ok:  # the image view shown while loading, for nothing
            self._show_central(self.ctl.visit)

    def show_busy(self, busy: bool, kind: str) -> None:
        self._loading = busy and kind == "load"
        if self._loading:
            # the image view's first layout and paint while the files are read, not in the turn that
            # shows the loaded visit with the files table's rows (~15 ms of a mosaic's), nor in the
            # load's first turn with the window's repaint for the busy state (~40 ms together)
            self.later(SHOW_VIEW_AFTER_MS, lambda: self._loading and self.central.setCurrentWidget(self.image_view))
        for name in ("run", "refit", "save_outputs", "save_session", "open_session", "exclude"):
            if name in getattr(self, "actions", {}):
                self.actions[name].setEnabled(not busy)
        if "cancel" in getattr(self, "actions", {}):
            self.actions["cancel"].setEnabled(busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.progress.setFormat(kind)
            self.statusBar().showMessage(f"{kind.capitalize()}…")
        else:
            self.progress.setRange(0, 1)

    def show_progress(self, stage: str, done: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{stage} {done}/{total}")
        self.statusBar().showMessage(f"{stage}: {message}")

    def show_result(self, result) -> None:
        self.visit_view.set_visit(self.ctl.visit, result)
        self._systematics_dirty = True
        self._update_systematics()
        if result is None:
            self.residuals.clear()
            self.matches.set_matches(None)

    def show_selection(self, name, chip_index: int) -> None:
        e = self.ctl.exposure(name)
        if e is None:
            self.image_view.clear()
            self.ref_layer.clear()
            self.residuals.clear()
            self.matches.set_matches(None)
            self._update_diagnostics()
            return
        self.files.select(name, chip_index)
        chip = e.chips[chip_index]
        r = self.ctl.image_result(name)
        detected = matches = None
        if r is not None and chip_index < len(r.catalogs):
            cat = r.catalogs[chip_index]
            if len(cat) and "x" in cat.colnames:
                detected = (np.asarray(cat["x"], float), np.asarray(cat["y"], float))
        self._show_chip(e, chip, read_sources=detected is None or not len(detected[0]))
        # a fit that no longer exists (e.g. no absolute stage since) is not offered any more
        self.residuals.set_available({f.kind for f in r.fits} if r is not None else set())
        self.ctl.fit_choice = self.residuals.fit_choice.currentText()
        fit = self.ctl.shown_fit(name)
        if fit is not None and fit.matches is not None and len(fit.matches):
            m = fit.matches
            matches = m[(np.asarray(m["image"]) == name) & (np.asarray(m["chip"]) == chip.name)]
        searchrad = self.ctl.params.abs_searchrad if fit is not None and fit.kind == "absolute" \
            else self.ctl.params.searchrad
        # the run's sources and the matches table drawn in a turn of their own, before the residual
        # rows (a mosaic's selection drew them in its own turn); sources read from a catalog at once
        later = detected is not None and len(detected[0]) > 0
        show_sources = partial(self._show_sources, name, detected, matches)
        if later:
            self.image_view.set_sources(None)  # not the last image's meanwhile
        self.residuals.set_fit(fit, name, searchrad, r, first=[show_sources] if later else ())
        self._update_diagnostics()
        p = self.ctl.params
        picked = fit is not None and fit.kind == "relative" and not p.use2dhist
        self.residuals.mark_pick(p.xoffset if picked else None, p.yoffset)
        if fit is None and r is not None:
            self.residuals.clear(f"{name}: {r.status}" + (f" — {r.reason}" if r.reason else ""))
        # projected in a thread of its own, once the residual panels are drawn; drawn when it arrives
        self.ref_layer.show(self.ctl.result.refcat if self.ctl.result is not None else None,
                            r.new_wcs[chip_index] if r is not None and r.new_wcs else chip.wcs, chip.shape,
                            hold=self.residuals.drawing)
        if not later:
            show_sources()
        self.show_match(self.ctl.selected_match)

    def _show_sources(self, name: str, detected, matches) -> None:
        """The image's source layers and the table of the fit's matches shown."""
        self.image_view.set_sources(detected, matches)
        self.matches.set_matches(self.residuals.matches, self._exclusion_rows(name))
        self.matches.select_key(self.ctl.selected_match)

    def _show_chip(self, e, chip, read_sources: bool = True) -> None:
        """The chip's pixels, or for a catalog input an empty canvas of its extent with its sources
        (read from its catalog unless the run's are shown: reading one in a thread at each selection
        took the GIL in turns with the GUI thread's painting)."""
        key, title = (str(e.path), chip.name), f"{e.name} [{chip.name}]  group {e.group_id}"
        if e.has_pixels:
            read = self.ctl.engine.read_pixels
            self.image_view.show_chip(key, title, lambda: read(e, chip))
            return
        sources = self.ctl.engine.read_sources
        load = None if sources is None or chip.catalog_path is None or not read_sources else (
            lambda: sources(chip.catalog_path, chip.meta.get("catalog_select")))
        self.image_view.show_canvas(key, f"{title}  (catalog input: no pixels)", chip.shape, load)

    def show_match(self, key) -> None:
        self.residuals.show_match(key)
        self.matches.select_key(key)
        xy = None
        m = self.residuals.matches
        if key is not None and m is not None and key in self.residuals.keys:
            row = m[self.residuals.keys.index(key)]
            xy = (float(row["x"]), float(row["y"]))
        self.image_view.show_highlight(xy)
        if key is not None:
            self.statusBar().showMessage(f"Match {key[0]} [{key[1]}] source #{key[2]}"
                                         + (" (excluded)" if key in self.ctl.excluded else ""))
        elif self.statusBar().currentMessage().startswith("Match "):
            self.statusBar().clearMessage()

    def show_regions(self, key, shapes) -> None:
        self.image_view.set_regions(shapes)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        self.errors.append((title, message))
        self.statusBar().showMessage(f"{title}: {message}")
        box = QMessageBox(QMessageBox.Critical, title, message, QMessageBox.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # window-modal, does not block the event loop
        self._dialog = box

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def show_outcome(self, message: str) -> None:
        stale = bool(self.ctl.stale)
        self.status_outcome.setStyleSheet("QLabel { color: #b35900; font-weight: bold; }" if stale else "")
        self.status_outcome.setText(message)
        self.status_outcome.setToolTip(f"Last run: {message}")

    # ------------------------------------------------------------ misc
    def grab_to(self, path: str | Path) -> bool:
        """Save a PNG of the whole window (after pending paints)."""
        from PySide6.QtWidgets import QApplication

        self.residuals.finish_drawing()
        QApplication.processEvents()
        return self.grab().save(str(path), "PNG")

    def later(self, ms: int, fn) -> None:
        QTimer.singleShot(ms, self, fn)
