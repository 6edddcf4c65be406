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
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QTabWidget,
                               QVBoxLayout, QWidget)

__all__ = ["ResidualPanel", "rms"]

ROLE_BRUSH = {"used": pg.mkBrush(40, 110, 220, 200), "clipped": pg.mkBrush(245, 150, 0, 220),
              "excluded": pg.mkBrush(230, 40, 40, 230)}
ROLE_SYMBOL = {"used": "o", "clipped": "t", "excluded": "x"}


def rms(v) -> float:
    v = np.asarray(v, float)
    return float(np.sqrt(np.mean(v ** 2))) if v.size else float("nan")


def _roles(m) -> np.ndarray:
    used = np.asarray(m["used"], bool)
    exc = np.asarray(m["excluded"], bool)
    return np.where(exc, "excluded", np.where(used, "used", "clipped"))


def _nice_scale_key(values_mas: np.ndarray) -> float:
    """A round residual length (mas) near the 80th percentile, for the key."""
    p = float(np.percentile(values_mas, 80)) if values_mas.size else 10.0
    if not np.isfinite(p) or p <= 0:
        p = 10.0
    e = 10 ** np.floor(np.log10(p))
    return float(min((1, 2, 5, 10), key=lambda m: abs(m * e - p)) * e)


class ResidualPanel(QWidget):
    """Four residual panels, a vector plot and the 2D histogram of one fit."""

    matchClicked = Signal(object)
    excludeRequested = Signal(object)  # a double-click on a point
    offsetPicked = Signal(float, float)
    scopeChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("No fit")
        self.summary.setWordWrap(True)
        self.summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.summary.setMinimumWidth(120)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
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
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)
        self.matches = None
        self.keys: list[tuple] = []
        self.rms_mas: dict[str, float] = {}
        self.vector_scale = 1.0

    # ---------------------------------------------------------------- build
    def _build_residuals(self) -> None:
        self.res_widget = pg.GraphicsLayoutWidget()
        self.res_plots = {}
        self.res_scatter = {}
        self.res_text = {}
        self.res_highlight = {}
        for r, comp in enumerate(("dx", "dy")):
            for c, axis in enumerate(("x", "y")):
                p = self.res_widget.addPlot(row=r, col=c)
                p.setLabel("left", f"{comp} (mas)")
                p.setLabel("bottom", f"{axis} (pixels)")
                p.showGrid(x=True, y=True, alpha=0.2)
                for ax in ("left", "bottom"):
                    p.getAxis(ax).enableAutoSIPrefix(False)
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
                p.addItem(txt, ignoreBounds=True)
                key = f"{comp}_{axis}"
                self.res_plots[key], self.res_scatter[key] = p, sc
                self.res_text[key], self.res_highlight[key] = txt, hl
                p.sigRangeChanged.connect(lambda *a, k=key: self._place_text(k))
        self.res_plots["dx_y"].setYLink(self.res_plots["dx_x"])
        self.res_plots["dy_y"].setYLink(self.res_plots["dy_x"])
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
        self.hist_widget.scene().sigMouseClicked.connect(self._hist_clicked)
        self.hist_widget.setToolTip("2D histogram of candidate offsets before the fit; "
                                    "click to start the next run from that offset")
        self.tabs.addTab(self.hist_widget, "2D histogram")

    # ------------------------------------------------------------------ data
    def clear(self, message: str = "No fit") -> None:
        self.summary.setText(message)
        self.matches = None
        self.keys = []
        self.rms_mas = {}
        for sc in self.res_scatter.values():
            sc.clear()
        for t in self.res_text.values():
            t.setText("")
        for item in self.vec_lines.values():
            item.setData([], [])
        self.vec_points.clear()
        self.vec_key.setData([], [])
        self.vec_key_text.setText("")
        self.hist_image.clear()
        self.hist_peak.clear()
        self.hist_peak_text.setText("")
        self.show_match(None)

    def set_fit(self, fit, image: str | None = None, searchrad: float = 2.0) -> None:
        """Show ``fit`` (a FitResult) restricted to ``image`` unless whole group is checked."""
        if fit is None:
            self.clear()
            return
        self.summary.setText(f"<b>{fit.kind} fit of group {fit.group_id}</b>: {fit.summary()}")
        m = fit.matches
        if m is not None and len(m) and image is not None and not self.whole_group.isChecked():
            m = m[np.asarray(m["image"]) == image]
        self.matches = m
        self.keys = ([(str(r["image"]), str(r["chip"]), int(r["input_idx"])) for r in m]
                     if m is not None else [])
        self._draw_residuals()
        self._draw_vectors()
        self._draw_hist(fit, searchrad)

    def _draw_residuals(self) -> None:
        m = self.matches
        self.rms_mas = {}
        if m is None or not len(m):
            # an empty plot says nothing: no stale "RMS … (N=…)" of the previous image
            for sc in self.res_scatter.values():
                sc.clear()
            for t in self.res_text.values():
                t.setText("")
            for hl in self.res_highlight.values():
                hl.clear()
            return
        roles = _roles(m)
        brushes = [ROLE_BRUSH[r] for r in roles]
        symbols = [ROLE_SYMBOL[r] for r in roles]
        used = roles == "used"
        for comp in ("dx", "dy"):
            v = np.asarray(m[comp], float) * 1000.0
            self.rms_mas[comp] = rms(v[used])
            for axis in ("x", "y"):
                key = f"{comp}_{axis}"
                self.res_scatter[key].setData(x=np.asarray(m[axis], float), y=v, brush=brushes,
                                              symbol=symbols, data=list(range(len(m))))
                self.res_text[key].setText(f"RMS {self.rms_mas[comp]:.2f} mas (N={int(used.sum())})")
        for key, p in self.res_plots.items():
            p.enableAutoRange()
            p.autoRange()
            self._place_text(key)

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
            return
        x, y = np.asarray(m["x"], float), np.asarray(m["y"], float)
        dx, dy = np.asarray(m["dx"], float) * 1000, np.asarray(m["dy"], float) * 1000
        roles = _roles(m)
        length = np.hypot(dx, dy)
        key_mas = _nice_scale_key(length[roles == "used"] if (roles == "used").any() else length)
        span = max(np.ptp(x) if len(x) > 1 else 100.0, np.ptp(y) if len(y) > 1 else 100.0, 50.0)
        # a key-length vector spans 8% of the field
        self.vector_scale = s = 0.08 * span / key_mas
        for role, item in self.vec_lines.items():
            sel = roles == role
            xs = np.empty(2 * sel.sum())
            ys = np.empty(2 * sel.sum())
            xs[0::2], xs[1::2] = x[sel], x[sel] + s * dx[sel]
            ys[0::2], ys[1::2] = y[sel], y[sel] + s * dy[sel]
            item.setData(xs, ys)
        self.vec_points.setData(x=x, y=y, brush=[ROLE_BRUSH[r] for r in roles], data=list(range(len(m))))
        kx, ky = float(x.min()), float(y.min()) - 0.08 * span
        self.vec_key.setData([kx, kx + s * key_mas], [ky, ky])
        self.vec_key_text.setText(f"{key_mas:g} mas")
        self.vec_key_text.setPos(kx, ky)
        self.vec_plot.autoRange()

    def _draw_hist(self, fit, searchrad: float) -> None:
        off = getattr(fit, "offsets", None)
        if off is None or len(off) == 0:
            self.hist_image.clear()
            self.hist_peak.clear()
            self.hist_peak_text.setText("no candidate offsets")
            return
        off = np.asarray(off, float)
        r = float(searchrad)
        # bins of about a pixel (tweakwcs uses the pixel scale), at most 80 across
        nb = int(np.clip(2 * r / 0.06, 21, 80))
        h, xe, ye = np.histogram2d(off[:, 0], off[:, 1], bins=nb, range=[[-r, r], [-r, r]])
        self.hist_image.setImage(np.log1p(h.T), autoLevels=True)
        self.hist_image.setRect(-r, -r, 2 * r, 2 * r)
        self.hist_counts = h
        peak = fit.hist_peak_arcsec
        if peak is not None:
            self.hist_peak.setData(x=[peak[0]], y=[peak[1]])
            self.hist_peak_text.setText(f"peak ({peak[0]:+.3f}\", {peak[1]:+.3f}\")")
            self.hist_peak_text.setPos(peak[0], peak[1])
        self.hist_plot.setRange(xRange=(-r, r), yRange=(-r, r), padding=0.02)

    def _tip(self, x=None, y=None, data=None) -> str:
        """Tooltip of a point: which source, its residuals and role."""
        if self.matches is None or data is None or not 0 <= int(data) < len(self.matches):
            return ""
        r = self.matches[int(data)]
        role = _roles(self.matches[int(data):int(data) + 1])[0]
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

    def _hist_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton or self.hist_image.image is None:
            return
        pos = self.hist_plot.vb.mapSceneToView(ev.scenePos())
        self.offsetPicked.emit(float(pos.x()), float(pos.y()))

    def show_match(self, key) -> None:
        """Ring the point of ``key`` in every panel (or clear)."""
        if key is None or key not in self.keys or self.matches is None:
            for hl in self.res_highlight.values():
                hl.clear()
            self.vec_highlight.clear()
            return
        row = self.matches[self.keys.index(key)]
        for comp in ("dx", "dy"):
            for axis in ("x", "y"):
                self.res_highlight[f"{comp}_{axis}"].setData(x=[float(row[axis])],
                                                             y=[float(row[comp]) * 1000])
        self.vec_highlight.setData(x=[float(row["x"])], y=[float(row["y"])])
