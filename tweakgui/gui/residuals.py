"""Residual viewer: dx, dy against x, y; vector plot; 2D offset histogram.

All three views show one fit's matches (of the selected image, or of its whole
group).  Points are coloured by their role in the fit: used (blue), clipped by
sigma (orange), excluded by the user (red).  Clicking a point or a vector emits
``matchClicked``; clicking the histogram emits ``offsetPicked`` with the
(input − reference) offset in arcsec that the next run starts from.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QWidget,
)

from tweakgui.engine.fit.match import offset_histogram
from tweakgui.engine.fit.residual_frames import (
    detector_components,
    robust_range,
    sky_residuals,
)
from tweakgui.gui.fit_summary import SummaryLabel, correction_text, summary_html, verdict_text
from tweakgui.gui.grid import GridAxis, add_grid
from tweakgui.gui.layouts import bar_above

__all__ = ["ResidualPanel", "match_keys", "rms", "summary_html", "verdict_text", "correction_text",
           "plotted_components", "ROLE_BRUSH", "ROLE_SYMBOL", "match_roles"]

ROLE_BRUSH = {"used": pg.mkBrush(40, 110, 220, 200), "clipped": pg.mkBrush(245, 150, 0, 220),
              "excluded": pg.mkBrush(230, 40, 40, 230)}
ROLE_SYMBOL = {"used": "o", "clipped": "t", "excluded": "x"}
STEP_MS = 10  # between the panels a fit is drawn in, one per turn of the event loop


def rms(v) -> float:
    v = np.asarray(v, float)
    return float(np.sqrt(np.mean(v ** 2))) if v.size else float("nan")


def match_roles(m) -> np.ndarray:
    used = np.asarray(m["used"], bool)
    exc = np.asarray(m["excluded"], bool)
    return np.where(exc, "excluded", np.where(used, "used", "clipped"))


def match_keys(m) -> list[tuple[str, str, int]]:
    """``(image, chip, input_idx)`` of each row of a matches table, read by column (an astropy
    table read a row at a time costs microseconds a field)."""
    if m is None or not len(m):
        return []
    return list(zip(np.asarray(m["image"]).astype(str).tolist(), np.asarray(m["chip"]).astype(str).tolist(),
                    np.asarray(m["input_idx"]).astype(int).tolist()))


def _nice_scale_key(values_mas: np.ndarray) -> float:
    """A round residual length (mas) near the 80th percentile, for the key."""
    p = float(np.percentile(values_mas, 80)) if values_mas.size else 10.0
    if not np.isfinite(p) or p <= 0:
        p = 10.0
    e = 10 ** np.floor(np.log10(p))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * e - p)) * e)


def plotted_components(m, wcs_of):
    """({"dx", "dy"} in mas, frame) of a matches table: along each chip's detector axes
    ("detector") when the sky positions and every chip's WCS are known, else the reference
    tangent plane ("tangent")."""
    if m is None or not len(m):
        return {"dx": np.zeros(0), "dy": np.zeros(0)}, "tangent"
    tangent = {"dx": np.asarray(m["dx"], float) * 1000, "dy": np.asarray(m["dy"], float) * 1000}
    sky = sky_residuals(m)
    if sky is None or wcs_of is None:
        return tangent, "tangent"
    cx, cy = np.full(len(m), np.nan), np.full(len(m), np.nan)
    images, chips = np.asarray(m["image"]).astype(str), np.asarray(m["chip"]).astype(str)
    x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
    for im, ch in set(zip(images, chips)):
        wcs = wcs_of(im, ch)
        if wcs is None:
            return tangent, "tangent"
        sel = (images == im) & (chips == ch)
        try:
            cx[sel], cy[sel] = detector_components(wcs, x[sel], y[sel], sky[0][sel], sky[1][sel])
        except Exception:  # noqa: BLE001 - a WCS that cannot be evaluated: stay in the tangent plane
            return tangent, "tangent"
    if not (np.isfinite(cx).all() and np.isfinite(cy).all()):
        return tangent, "tangent"
    return {"dx": cx * 1000, "dy": cy * 1000}, "detector"


def _kept_range(shown, lo: float, hi: float) -> tuple[float, float]:
    """The x range of a residual panel for sources from ``lo`` to ``hi`` pixels: ``shown`` while it
    holds them with their margin and is at most 10 % wider than it would be made (a mosaic's chips
    have sources over about the same pixels: each new range drew both bottom axes again)."""
    pad = max(0.05 * (hi - lo), 5.0)
    want = (lo - pad, hi + pad)
    s0, s1 = shown
    if s0 <= want[0] and s1 >= want[1] and s1 - s0 <= 1.1 * (want[1] - want[0]):
        return float(s0), float(s1)
    return want


def _clear(item) -> None:
    """Clear a scatter item that holds points: clearing an empty one still repaints its plot
    (with the grid, both axes, ~2 ms each), on every selection."""
    if len(item.data):
        item.clear()


def _set_label(plot, side: str, text: str) -> None:
    """An axis label, set only when it changes: setting one re-measures the axis and lays out the plot."""
    axis = plot.getAxis(side)
    if axis.labelText != text or not axis.label.isVisible():
        plot.setLabel(side, text)


class ResidualPanel(QWidget):
    """Four residual panels, a vector plot and the 2D histogram of one fit."""

    matchClicked = Signal(object)
    excludeRequested = Signal(object)  # a double-click on a point
    offsetPicked = Signal(float, float)
    offsetRefused = Signal(str)  # a click where no offset parameter exists, and why
    scopeChanged = Signal()
    drawn = Signal()  # the last panel of a fit drawn over several turns

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = SummaryLabel("No fit")
        self.fit_choice = QComboBox()
        self.fit_choice.addItems(["last", "relative", "absolute"])
        self.fit_choice.setToolTip("Which fit of the image to inspect: the last successful one, "
                                   "the relative fit or the absolute fit")
        self.fit_choice.currentTextChanged.connect(lambda _t: self.scopeChanged.emit())
        self.whole_group = QCheckBox("whole group")
        self.whole_group.setToolTip("Show the matches of every image of the group, "
                                    "not only the selected image")
        self.whole_group.toggled.connect(lambda _b: self.scopeChanged.emit())
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(QLabel("fit:"))
        top.addWidget(self.fit_choice)
        top.addWidget(self.whole_group)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._build_residuals()
        self._build_vectors()
        self._build_hist()
        bar_above(self, top, self.tabs)
        self.matches = None
        self.keys: list[tuple] = []
        self.rms_mas: dict[str, float] = {}
        self.y_range: dict[str, tuple] = {}
        self.vector_scale = 1.0
        self.fit = None
        self._blank = False  # True while nothing was drawn since the last clear()
        self.frame = "tangent"  # the frame of the plotted components: "detector" or "tangent"
        self.comp = {"dx": np.zeros(0), "dy": np.zeros(0)}
        # (image, chip) -> the chip's WCS, to rotate residuals into its pixel axes
        self.wcs_of = None
        self._steps: list = []  # the drawing left for the coming turns of the event loop
        self._hidden: dict = {}  # {tab: its drawing steps}, for the tabs not shown when the fit was
        self.tabs.currentChanged.connect(self._tab_shown)
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        # a step is due STEP_MS after the last one ended, while the window paints it: timers due
        # before then (other views', a probe's) run first; due at once, the next step ran before
        # them, in the same stretch as the last one's paint
        self._step_timer.setTimerType(Qt.PreciseTimer)
        self._step_timer.setInterval(STEP_MS)
        self._step_timer.timeout.connect(self._next_step)

    # ---------------------------------------------------------------- build
    def _build_residuals(self) -> None:
        self.res_widget = pg.GraphicsLayoutWidget()
        self.res_plots = {}
        self.res_scatter = {}
        self.res_text = {}
        self.res_highlight = {}
        self.res_grid = {}
        for r, comp in enumerate(("dx", "dy")):
            for c, axis in enumerate(("x", "y")):
                p = self.res_widget.addPlot(row=r + 1, col=c, axisItems={"left": GridAxis("left"),
                                                                         "bottom": GridAxis("bottom")})
                p.setLabel("left", f"{comp} (mas)")
                p.setLabel("bottom", f"{axis} (pixels)")
                for ax in ("left", "bottom"):
                    p.getAxis(ax).enableAutoSIPrefix(False)
                    # the space for tick labels only grows: shrunk by the next image's shorter labels,
                    # the column was laid out again and all four panels repainted (~25 ms)
                    p.getAxis(ax).setStyle(autoReduceTextSpace=False)
                p.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(120, 120, 120, width=1.5,
                                                                       style=Qt.DashLine)))
                sc = pg.ScatterPlotItem(size=7, pen=None, hoverable=True, tip=self._tip)
                sc.sigClicked.connect(self._point_clicked)
                p.addItem(sc)
                hl = pg.ScatterPlotItem(size=16, symbol="o", pen=pg.mkPen(255, 200, 0, width=2.5),
                                        brush=pg.mkBrush(0, 0, 0, 0))
                p.addItem(hl)
                txt = pg.TextItem(anchor=(0, 0), color=(60, 60, 60), fill=pg.mkBrush(255, 255, 255, 190))
                txt.setZValue(50)
                txt.hide()
                p.addItem(txt, ignoreBounds=True)
                key = f"{comp}_{axis}"
                self.res_grid[key] = add_grid(p, alpha=0.2)
                self.res_plots[key], self.res_scatter[key] = p, sc
                self.res_text[key], self.res_highlight[key] = txt, hl
                p.sigRangeChanged.connect(lambda *a, k=key: self._place_text(k))
        self.res_plots["dx_y"].setYLink(self.res_plots["dx_x"])
        self.res_plots["dy_y"].setYLink(self.res_plots["dy_x"])
        # what the symbols mean, in a row of its own above the plots (it hides no point)
        self.res_legend = pg.LegendItem(labelTextSize="8pt", colCount=4, horSpacing=6, verSpacing=-4)
        self.res_widget.addItem(self.res_legend, row=0, col=0, colspan=2)
        for role, label in (("used", "used"), ("clipped", "clipped"), ("excluded", "excluded by you")):
            self.res_legend.addItem(pg.ScatterPlotItem(symbol=ROLE_SYMBOL[role], brush=ROLE_BRUSH[role],
                                                       pen=None, size=8), label)
        self.res_legend.addItem(pg.ScatterPlotItem(symbol="t1", brush=pg.mkBrush(120, 120, 120), pen=None,
                                                   size=8), "beyond range (at edge)")
        self.tabs.addTab(self.res_widget, "Residuals")

    def _build_vectors(self) -> None:
        self.vec_widget = pg.PlotWidget()
        p = self.vec_plot = self.vec_widget.getPlotItem()
        p.setAspectLocked(True)
        for ax in ("left", "bottom"):
            p.getAxis(ax).enableAutoSIPrefix(False)
        p.setLabel("bottom", "x (pixels)")
        p.setLabel("left", "y (pixels)")
        self.vec_lines = {role: pg.PlotDataItem(connect="pairs", pen=pg.mkPen(ROLE_BRUSH[role].color(),
                                                                            width=1.6))
                          for role in ROLE_BRUSH}
        for item in self.vec_lines.values():
            p.addItem(item)
        self.vec_points = pg.ScatterPlotItem(size=5, pen=None, hoverable=True, tip=self._tip)
        self.vec_points.sigClicked.connect(self._point_clicked)
        p.addItem(self.vec_points)
        self.vec_key = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(0, 0, 0, width=2.5))
        p.addItem(self.vec_key)
        self.vec_key_text = pg.TextItem(anchor=(0, 1), color=(0, 0, 0))
        p.addItem(self.vec_key_text)
        self.vec_highlight = pg.ScatterPlotItem(size=16, pen=pg.mkPen(255, 200, 0, width=2.5),
                                                brush=pg.mkBrush(0, 0, 0, 0))
        p.addItem(self.vec_highlight)
        self.tabs.addTab(self.vec_widget, "Vectors")

    def _build_hist(self) -> None:
        self.hist_widget = pg.PlotWidget()
        p = self.hist_plot = self.hist_widget.getPlotItem()
        p.setAspectLocked(True)
        for ax in ("left", "bottom"):
            p.getAxis(ax).enableAutoSIPrefix(False)
        p.setLabel("bottom", "x offset, input − reference (arcsec)")
        p.setLabel("left", "y offset (arcsec)")
        self.hist_image = pg.ImageItem(axisOrder="row-major")
        self.hist_image.setColorMap(pg.colormap.get("viridis"))
        p.addItem(self.hist_image)
        self.hist_peak = pg.ScatterPlotItem(symbol="o", size=26, pen=pg.mkPen(255, 60, 60, width=2.5),
                                            brush=pg.mkBrush(0, 0, 0, 0))
        p.addItem(self.hist_peak)
        self.hist_peak_text = pg.TextItem(anchor=(-0.15, 1.2), color=(255, 255, 255),
                                          fill=pg.mkBrush(0, 0, 0, 120))
        p.addItem(self.hist_peak_text)
        self.hist_pick = pg.ScatterPlotItem(symbol="+", size=22, pen=pg.mkPen(255, 255, 255, width=2.5),
                                            brush=pg.mkBrush(255, 255, 255))
        self.hist_pick.setZValue(20)
        p.addItem(self.hist_pick)
        self.hist_note = pg.TextItem(anchor=(0, 0), color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 150))
        p.addItem(self.hist_note, ignoreBounds=True)
        self.hist_widget.scene().sigMouseClicked.connect(self._hist_clicked)
        self.hist_widget.setToolTip("2D histogram of candidate offsets before the fit; "
                                    "click to start the next run from that offset")
        self.tabs.addTab(self.hist_widget, "2D histogram")

    # ------------------------------------------------------------------ data
    def clear(self, message: str = "No fit") -> None:
        self._steps = []
        self._hidden = {}
        self._set_summary(message)
        if self._blank:
            return  # nothing drawn since: clearing again repainted every panel (~7 ms as a load starts)
        self._blank = True
        self.matches = None
        self.keys = []
        self.rms_mas = {}
        for sc in self.res_scatter.values():
            sc.clear()
        for t in self.res_text.values():
            t.setText("")
            t.hide()  # an empty label would still draw its box
        for item in self.vec_lines.values():
            item.setData([], [])
        self.vec_points.clear()
        self.vec_key.setData([], [])
        self.vec_key_text.setText("")
        self.hist_image.clear()
        self.hist_peak.clear()
        self.hist_peak_text.setText("")
        self.hist_note.setText("")
        self.hist_pick.clear()
        self.fit = None
        self.y_range = {}
        self.comp = {"dx": np.zeros(0), "dy": np.zeros(0)}
        self.show_match(None)

    def set_available(self, kinds) -> None:
        """Offer only the fits the image has; a choice that no longer exists falls back to last."""
        want = ["last"] + [k for k in ("relative", "absolute") if k in kinds]
        have = [self.fit_choice.itemText(i) for i in range(self.fit_choice.count())]
        if want == have:
            return
        current = self.fit_choice.currentText()
        self.fit_choice.blockSignals(True)
        self.fit_choice.clear()
        self.fit_choice.addItems(want)
        self.fit_choice.setCurrentText(current if current in want else "last")
        self.fit_choice.blockSignals(False)

    def set_fit(self, fit, image: str | None = None, searchrad: float = 2.0, image_result=None,
                first=()) -> None:
        """Show ``fit`` (a FitResult) restricted to ``image`` unless whole group is checked.

        ``first``: callables drawing the rest of a selection, each in a turn of its own before the
        panels' (now when the panels are drawn at once).
        """
        if fit is None:
            self.clear()
            for step in first:
                step()
            return
        self.fit = fit
        self._blank = False
        self._set_summary(summary_html(fit, image, image_result, whole_group=self.whole_group.isChecked()))
        m = fit.matches
        if m is not None and len(m) and image is not None and not self.whole_group.isChecked():
            m = m[np.asarray(m["image"]).astype(str) == image]
        self.matches = m
        self.keys = match_keys(m)
        self._components(fit, image)
        self._residual_numbers()
        if m is None or not len(m):
            self._steps, self._hidden = [], {}
            for step in first:
                step()
            self._draw_residuals()
            self._draw_vectors()
            self._draw_hist(fit, searchrad)
            return
        # one panel per turn of the event loop, each painted before the next is drawn: all at
        # once (setData, ranges, the axes regenerated, the repaint) held a mosaic's selection
        # 150-270 ms, a row at a time 35-45 ms on a loaded machine
        steps = {self.res_widget: [lambda c=comp, h=half: self._draw_half_row(c, h)
                                   for comp in ("dx", "dy") for half in (0, 1)],
                 self.vec_widget: [self._draw_vectors], self.hist_widget: [lambda: self._draw_hist(fit, searchrad)]}
        # the tabs not on display are drawn when shown: the vectors alone took 5-9 ms of each selection
        self._steps = [*first, *steps.pop(self.tabs.currentWidget(), [])]
        self._hidden = steps
        if self._steps:
            self._step_timer.start()

    def _tab_shown(self, _index: int) -> None:
        steps = self._hidden.pop(self.tabs.currentWidget(), None)
        if steps:
            self._steps += steps
            self._step_timer.start()

    def _set_summary(self, text: str) -> None:
        self.summary.set_summary(text)

    @property
    def drawing(self) -> bool:
        """Whether panels of the last fit shown are still to be drawn (on the coming turns)."""
        return bool(self._steps)

    def finish_drawing(self) -> None:
        """Draw now what is still to be drawn, in every tab (before a screenshot)."""
        self._steps += [step for steps in self._hidden.values() for step in steps]
        self._hidden = {}
        if self._steps:
            while self._steps:
                self._steps.pop(0)()
            self.drawn.emit()

    def _next_step(self) -> None:
        if self._steps:
            self._steps.pop(0)()
            if not self._steps:
                self.drawn.emit()
        if self._steps:
            self._step_timer.start()

    def _components(self, fit=None, image: str | None = None) -> None:
        """Residual components (mas) along the axes they are plotted against; one image's are
        remembered per fit (and computed in the worker after a run)."""
        if fit is not None and image is not None and not self.whole_group.isChecked():
            from tweakgui.gui.fit_components import image_components

            self.comp, self.frame = image_components(fit, image, self.matches, self.wcs_of)
        else:
            self.comp, self.frame = plotted_components(self.matches, self.wcs_of)

    def _residual_numbers(self) -> None:
        """Each component's RMS and plotted range (the used points set it)."""
        m = self.matches
        self.rms_mas = {}
        self.y_range = {}
        if m is None or not len(m):
            return
        roles = match_roles(m)
        used = roles == "used"
        for comp in ("dx", "dy"):
            v = self.comp[comp]
            self.rms_mas[comp] = rms(v[used])
            # the others are drawn at its edge (all used points: sigma clipping already left out the outliers)
            self.y_range[comp] = (robust_range(v[used], margin=0.15, lo=0, hi=100, floor=0.2) if used.any()
                                  else robust_range(v, margin=0.3, floor=0.2)) or (-1.0, 1.0)

    def _draw_residuals(self) -> None:
        m = self.matches
        if m is None or not len(m):
            # an empty plot says nothing: no stale "RMS … (N=…)" of the previous image
            for sc in self.res_scatter.values():
                sc.clear()
            for t in self.res_text.values():
                t.setText("")
                t.hide()  # an empty label would still draw its box
            for hl in self.res_highlight.values():
                hl.clear()
            return
        for key in self.res_plots:
            self._draw_panel(key)

    def _draw_half_row(self, comp: str, half: int) -> None:
        """A row's first panel, which sets the y range the row's panels share, or its second.

        With the first, the second one's points are cleared: they would be painted at the new
        range for a turn (and painting them cost as much as the new ones).
        """
        first, second = f"{comp}_x", f"{comp}_y"
        if half == 0:
            self.res_scatter[second].clear()
            self._draw_panel(first)
        else:
            self._draw_panel(second)
        for key in (first, second) if half == 0 else (second,):
            # the new ranges' transforms now: pyqtgraph applies them while painting, and what they
            # move (axes, grid) asked for a second repaint on the next turn
            self.res_plots[key].vb.prepareForPaint()

    def _draw_panel(self, key: str) -> None:
        """One residual panel: component ``dx``/``dy`` against detector ``x``/``y``."""
        m = self.matches
        comp, axis = key.split("_")
        roles = match_roles(m)
        used = roles == "used"
        det = self.frame == "detector"
        rng = self.y_range[comp]
        shown, symbols = self._clamped(self.comp[comp], rng, roles)
        p = self.res_plots[key]
        xs = np.asarray(m[axis], float)
        self.res_scatter[key].setData(x=xs, y=shown, brush=[ROLE_BRUSH[r] for r in roles],
                                      symbol=symbols, data=list(range(len(m))))
        self.res_text[key].setText(f"RMS {self.rms_mas[comp]:.2f} mas (N={int(used.sum())})")
        self.res_text[key].show()
        along = "x" if comp == "dx" else "y"
        _set_label(p, "left", f"Δ{along} detector (mas)" if det else f"{comp} tangent (mas)")
        p.getAxis("left").setToolTip(
            f"residual component along the chip's {along} axis (the tangent-plane residual "
            "rotated by the local Jacobian of its WCS), mas" if det else
            f"residual {comp} in the reference tangent plane, mas")
        _set_label(p, "bottom", f"{axis} (detector px)")
        p.setRange(xRange=_kept_range(p.viewRange()[0], float(np.nanmin(xs)), float(np.nanmax(xs))),
                   yRange=rng, padding=0)
        self._place_text(key)

    @staticmethod
    def _clamped(v, rng, roles):
        """Values inside ``rng`` and, for points beyond it, the edge with ▲/▼ symbols."""
        lo, hi = rng
        edge = 0.96
        shown = np.clip(v, lo * edge if lo < 0 else lo, hi * edge)
        symbols = [ROLE_SYMBOL[r] for r in roles]
        for i in np.flatnonzero((v > hi * edge) | (v < (lo * edge if lo < 0 else lo))):
            symbols[i] = "t1" if v[i] > 0 else "t"
        return shown, symbols

    def _place_text(self, key: str) -> None:
        (x0, _x1), (_y0, y1) = self.res_plots[key].viewRange()
        self.res_text[key].setPos(x0, y1)

    def _draw_vectors(self) -> None:
        m = self.matches
        for item in self.vec_lines.values():
            item.setData([], [])
        if m is None or not len(m):
            self.vec_points.clear()
            self.vec_key.setData([], [])
            self.vec_key_text.setText("")
            return
        x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
        dx, dy = self.comp["dx"], self.comp["dy"]
        roles = match_roles(m)
        used = roles == "used"
        length = np.hypot(dx, dy)
        key_mas = _nice_scale_key(length[used] if used.any() else length)
        # the field is where the sources are (all of them: clipped ones are real positions)
        x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
        span = max(x1 - x0, y1 - y0, 50.0)
        # a key-length vector spans 8% of the field; clipped vectors are cut at 3 keys
        self.vector_scale = s = 0.08 * span / key_mas
        cut = np.minimum(1.0, 3 * key_mas / np.maximum(length, 1e-12))
        for role, item in self.vec_lines.items():
            sel = roles == role
            xs = np.empty(2 * sel.sum())
            ys = np.empty(2 * sel.sum())
            xs[0::2], xs[1::2] = x[sel], x[sel] + s * dx[sel] * cut[sel]
            ys[0::2], ys[1::2] = y[sel], y[sel] + s * dy[sel] * cut[sel]
            item.setData(xs, ys)
        self.vec_points.setData(x=x, y=y, brush=[ROLE_BRUSH[r] for r in roles], data=list(range(len(m))))
        # the key below the sources, inside the range
        pad = 0.12 * span
        kx, ky = x0, y0 - 0.6 * pad
        self.vec_key.setData([kx, kx + s * key_mas], [ky, ky])
        self.vec_key_text.setText(f"{key_mas:g} mas")
        self.vec_key_text.setPos(kx, ky)
        det = self.frame == "detector"
        _set_label(self.vec_plot, "bottom", "x (detector px)")
        _set_label(self.vec_plot, "left", "y (detector px)")
        title = "residuals along the detector axes" if det else "residuals in the reference tangent plane"
        if self.vec_plot.titleLabel.text != title:
            self.vec_plot.setTitle(title, size="9pt")
        self.vec_plot.setRange(xRange=(x0 - pad, x1 + pad), yRange=(y0 - pad, y1 + pad), padding=0)

    def _draw_hist(self, fit, searchrad: float) -> None:
        off = getattr(fit, "offsets", None)
        if off is None or len(off) == 0:
            self.hist_image.clear()
            self.hist_peak.clear()
            self.hist_peak_text.setText("no candidate offsets")
            self.hist_note.setText("")
            return
        off = np.asarray(off, float)
        engine = getattr(fit, "histogram", None)
        if engine is not None and getattr(engine, "counts", None) is not None:
            # the engine's own histogram (detector-pixel bins, the peak the fit started from)
            h, xe, ye = np.asarray(engine.counts), np.asarray(engine.xedges), np.asarray(engine.yedges)
            r = float(max(abs(xe[0]), abs(xe[-1])))
        else:  # a fit without one (results of another version): the engine's histogram, bins of ~a pixel
            r = float(searchrad)
            hist = offset_histogram(off, r, max(2 * r / 80, 0.06))
            h, xe, ye = hist.counts, hist.xedges, hist.yedges
        self.hist_image.setImage(np.log1p(h.T), autoLevels=True)
        self.hist_image.setRect(xe[0], ye[0], xe[-1] - xe[0], ye[-1] - ye[0])
        self.hist_counts = h
        peak = fit.hist_peak_arcsec
        if peak is not None:
            self.hist_peak.setData(x=[peak[0]], y=[peak[1]])
            self.hist_peak_text.setText(f"peak ({peak[0]:+.3f}\", {peak[1]:+.3f}\")")
            self.hist_peak_text.setPos(peak[0], peak[1])
        self.hist_plot.setRange(xRange=(-r, r), yRange=(-r, r), padding=0.02)
        self._note_hist(fit, r)

    def _note_hist(self, fit, r: float) -> None:
        if fit.kind == "relative":
            self.hist_note.setText("click: start the next run from that offset (xoffset, yoffset)")
            self.hist_widget.setToolTip("2D histogram of candidate offsets before the relative fit; "
                                        "click to set xoffset/yoffset for the next run")
        else:
            self.hist_note.setText("absolute fit: no offset parameter (clicks do nothing)")
            self.hist_widget.setToolTip("2D histogram of candidate offsets before the absolute fit. "
                                        "TweakRegStep has no initial offset for this stage.")
        self.hist_note.setPos(-r, r)

    def _tip(self, x=None, y=None, data=None) -> str:
        """Tooltip of a point: which source, its residuals and role."""
        if self.matches is None or data is None or not 0 <= int(data) < len(self.matches):
            return ""
        r = self.matches[int(data)]
        role = match_roles(self.matches[int(data):int(data) + 1])[0]
        return (f"{r['image']} [{r['chip']}] source #{int(r['input_idx'])} → ref #{int(r['ref_idx'])}\n"
                f"x={float(r['x']):.1f} y={float(r['y']):.1f}  "
                f"dx={float(r['dx']) * 1000:+.2f} dy={float(r['dy']) * 1000:+.2f} mas  ({role})\n"
                "click: show it in the image and the table; double-click: exclude / restore")

    # ------------------------------------------------------------- linking
    def _point_clicked(self, item, points, ev=None) -> None:
        if len(points) and self.keys:
            key = self.keys[int(points[0].data())]
            self.matchClicked.emit(key)
            if ev is not None and hasattr(ev, "double") and ev.double():
                self.excludeRequested.emit(key)

    def hist_pickable(self) -> bool:
        """TweakRegStep's xoffset/yoffset belong to the relative stage only."""
        return self.fit is not None and self.fit.kind == "relative"

    def _hist_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton or self.hist_image.image is None:
            return
        if not self.hist_pickable():
            self.offsetRefused.emit("The absolute stage has no initial-offset parameter in "
                                    "TweakRegStep (xoffset/yoffset are the relative stage's): "
                                    "widen abs_searchrad instead")
            return
        pos = self.hist_plot.vb.mapSceneToView(ev.scenePos())
        self.mark_pick(float(pos.x()), float(pos.y()))
        self.offsetPicked.emit(float(pos.x()), float(pos.y()))

    def mark_pick(self, dx: float | None, dy: float | None = None) -> None:
        """Mark the offset the next run starts from (None clears)."""
        if dx is None:
            self.hist_pick.clear()
            return
        self._blank = False
        self.hist_pick.setData(x=[dx], y=[dy])

    def show_match(self, key) -> None:
        """Ring the point of ``key`` in every panel (or clear)."""
        if key is None or key not in self.keys or self.matches is None:
            for hl in (*self.res_highlight.values(), self.vec_highlight):
                _clear(hl)
            return
        i = self.keys.index(key)
        row = self.matches[i]
        for comp in ("dx", "dy"):
            v = float(self.comp[comp][i])
            if comp in self.y_range:
                lo, hi = self.y_range[comp]
                v = float(np.clip(v, lo, hi))
            for axis in ("x", "y"):
                self.res_highlight[f"{comp}_{axis}"].setData(x=[float(row[axis])], y=[v])
        self.vec_highlight.setData(x=[float(row["x"])], y=[float(row["y"])])
