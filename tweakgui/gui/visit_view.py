"""Footprints of every chip on the sky, before and after alignment, by group."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from tweakgui.gui.footprints import chip_footprint
from tweakgui.gui.grid import GridAxis, add_grid
from tweakgui.gui.layouts import bar_above

log = logging.getLogger(__name__)

__all__ = ["VisitView", "chip_footprint", "group_color"]

# before the outlines are prepared, and between preparing and drawing them: a dock raised is
# painted first (a zero timer is a queued call, run before the paint the raise asked for)
STEP_MS = 10

# a qualitative palette readable on a white background (Tableau 10)
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def group_color(index: int):
    return pg.mkColor(PALETTE[index % len(PALETTE)])


def _nan_separated(parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Rows of closed outlines as one x and one y array, each outline followed by NaN (a
    curve drawn with ``connect="finite"``)."""
    if not parts:
        return np.zeros(0), np.zeros(0)
    out = []
    for k in (0, 1):
        rows = np.concatenate([p[k] for p in parts])
        out.append(np.hstack([rows, np.full((len(rows), 1), np.nan)]).ravel())
    return out[0], out[1]


def _inside(px: float, py: float, x: np.ndarray, y: np.ndarray) -> bool:
    """Point in polygon (even-odd rule); x, y closed or open vertex lists."""
    inside = False
    n = len(x)
    for i in range(n):
        j = i - 1
        if (y[i] > py) != (y[j] > py) and px < (x[j] - x[i]) * (py - y[i]) / (y[j] - y[i] + 1e-300) + x[i]:
            inside = not inside
    return inside


class VisitView(QWidget):
    """All chips of the visit on a tangent-plane map (arcmin, east to the left).

    Clicking inside a footprint emits ``imageClicked`` with the exposure name
    and chip index (the smallest footprint under the cursor wins).
    """

    imageClicked = Signal(str, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        # the grid as one item under the outlines: pyqtgraph's grid, drawn in each axis's picture
        # over the whole view, took ~6 ms of every repaint (translucent lines replayed twice)
        self.plot_widget = pg.PlotWidget(axisItems={"left": GridAxis("left"), "bottom": GridAxis("bottom")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).enableAutoSIPrefix(False)
        self.plot.invertX(True)
        self.plot.setLabel("bottom", "ΔRA cos δ (arcmin, east ←)")
        self.plot.setLabel("left", "ΔDec (arcmin)")
        self.grid = add_grid(self.plot, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(8, 8))
        self.exaggerate = QComboBox()
        self.exaggerate.addItems(["×1", "×10", "×100", "×1000"])
        self.exaggerate.setToolTip("Draw the change of each footprint magnified, to see shifts "
                                   "of a fraction of an arcsecond")
        self.exaggerate.currentTextChanged.connect(lambda _t: self._redraw())
        self.info = QLabel("dashed: before, solid: after alignment")
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        bar.addWidget(QLabel("shifts"))
        bar.addWidget(self.exaggerate)
        bar_above(self, bar, self.plot_widget)
        self._visit = None
        self._result = None
        self.n_drawn = {"before": 0, "after": 0}
        self._dirty = False
        self._scheduled = False
        self._generation = 0  # of the outlines last prepared: only those are drawn
        self._polygons: list[tuple[str, int, np.ndarray, np.ndarray]] = []
        # one curve per colour and state, made now: adding 20 items to the plot when the dock is first
        # raised cost the GUI thread ~30 ms then (a mosaic's result waiting to be drawn)
        self._curves: dict[tuple[int, str], pg.PlotDataItem] = {}
        for gi in range(len(PALETTE)):
            for state in ("before", "after"):
                color = group_color(gi)
                # a dashed pen one pixel wide: a wider dashed one took twice as long to paint
                pen = pg.mkPen(color, width=1, style=Qt.DashLine) if state == "before" else pg.mkPen(color, width=2)
                item = self._curves[(gi, state)] = pg.PlotDataItem(connect="finite", pen=pen)
                item.hide()
                self.plot.addItem(item)
        self._labels: list = []
        self.plot_widget.scene().sigMouseClicked.connect(self._clicked)
        self.plot_widget.setToolTip("Click a footprint to show that image")

    def set_visit(self, visit, result=None) -> None:
        """Show a visit (and its result); drawn when visible, once per event-loop turn."""
        self._visit, self._result = visit, result
        self._dirty = True
        self._generation += 1  # outlines prepared for the last visit are not drawn
        if self.on_screen() and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(STEP_MS, self, self._redraw_if_dirty)

    def on_screen(self) -> bool:
        """Visible and not behind another tab (a tabified dock stays 'visible')."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def became_visible(self, visible: bool = True) -> None:
        """Draw what changed while hidden (connect to the dock's visibilityChanged)."""
        if visible and self._dirty and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(STEP_MS, self, self._redraw_if_dirty)

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        self.became_visible()

    def _redraw_if_dirty(self) -> None:
        self._scheduled = False
        if self._dirty and self.on_screen():
            outlines = self._prepare()
            # drawn on a later turn, the window painted in between: a mosaic's 1380 outlines
            # computed, drawn and painted in one turn held the window 50-80 ms when the dock was raised
            QTimer.singleShot(STEP_MS, self, lambda: self._draw(outlines))

    def _redraw(self) -> None:
        self._draw(self._prepare())

    def _prepare(self) -> SimpleNamespace:
        """The outlines of the visit's chips as they are to be drawn (no item is touched)."""
        self._dirty = False
        self._generation += 1
        out = SimpleNamespace(generation=self._generation, lines={}, many=False, before={}, bucket={},
                              polygons=[], n_drawn={"before": 0, "after": 0}, origin=(0.0, 0.0))
        if self._visit is None or not self._visit.exposures:
            return out
        out.before = before = {(e.name, ci): fp for e in self._visit.exposures for ci, c in enumerate(e.chips)
                               if (fp := chip_footprint(c.wcs, c.shape)) is not None}
        if not before:
            return out
        allfp = np.concatenate(list(before.values()))
        out.origin = float(np.mean(allfp[:, 0])), float(np.mean(allfp[:, 1]))
        after = {}
        if self._result is not None:
            after = {(r.exposure.name, ci): fp for r in self._result.images
                     for ci, (c, w) in enumerate(zip(r.exposure.chips, r.new_wcs or []))
                     if w is not None and (fp := chip_footprint(w, c.shape)) is not None}
        groups = list(dict.fromkeys(e.group_id for e in self._visit.exposures))
        # one item per colour and state (groups beyond the palette share colours):
        # a 690-image mosaic stays a handful of items
        out.many = len(groups) > len(PALETTE)
        out.bucket = {g: (i % len(PALETTE) if out.many else g) for i, g in enumerate(groups)}
        out.lines = self._outlines(out, after)
        return out

    def _draw(self, out: SimpleNamespace) -> None:
        if out.generation != self._generation:
            return  # a later drawing is on its way
        self._polygons, self.n_drawn = out.polygons, out.n_drawn
        self.legend.clear()
        for label in self._labels:
            self.plot.removeItem(label)
        self._labels = []
        self._draw_lines(out.lines, out.many)
        if out.lines and len(self._visit.exposures) <= 30:
            self._draw_labels(out)
        # the new range's transform now: pyqtgraph applies it while painting, and what it moves
        # (axes, grid, outlines) asked for a second repaint in the same turn (~10 ms at a mosaic's size)
        self.plot.vb.prepareForPaint()

    @staticmethod
    def _closed(fps: list, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Closed outlines (rows) of footprints with the same number of vertices, in arcmin from
        the visit's centre ``origin`` (RA, Dec; east to the left)."""
        ra0, dec0 = origin
        fp = np.stack(fps)
        dra = (fp[..., 0] - ra0 + 180.0) % 360.0 - 180.0
        x, y = dra * np.cos(np.radians(dec0)) * 60.0, (fp[..., 1] - dec0) * 60.0
        return np.hstack([x, x[:, :1]]), np.hstack([y, y[:, :1]])

    def _outlines(self, out: SimpleNamespace, after: dict) -> dict:
        """NaN-separated outlines per colour bucket and state; the "after" ones magnified.
        Computed for all chips at once per vertex count (a mosaic: 1380 outlines)."""
        k = float(self.exaggerate.currentText().lstrip("×"))
        before, bucket = out.before, out.bucket
        keys = [(e.name, ci, bucket[e.group_id]) for e in self._visit.exposures
                for ci in range(len(e.chips)) if (e.name, ci) in before]
        lines = {b: {"before": [], "after": []} for b in dict.fromkeys(bucket.values())}
        for n in sorted({len(before[key[:2]]) for key in keys}):
            same = [key for key in keys if len(before[key[:2]]) == n]
            bx, by = self._closed([before[key[:2]] for key in same], out.origin)
            out.polygons += [(name, ci, bx[i], by[i]) for i, (name, ci, _b) in enumerate(same)]
            chip_bucket = [b for *_key, b in same]
            moved = [i for i, key in enumerate(same) if len(after.get(key[:2], ())) == n]
            ax, ay = self._closed([after[same[i][:2]] for i in moved], out.origin) if moved else (bx[:0], by[:0])
            ax, ay = bx[moved] + k * (ax - bx[moved]), by[moved] + k * (ay - by[moved])
            out.n_drawn["before"] += len(same)
            out.n_drawn["after"] += len(moved)
            for state, xs, ys, rows in (("before", bx, by, range(len(same))), ("after", ax, ay, moved)):
                of_bucket = np.asarray([chip_bucket[i] for i in rows], dtype=object)
                for b in dict.fromkeys(of_bucket.tolist()):
                    sel = of_bucket == b
                    lines[b][state].append((xs[sel], ys[sel]))
        return {b: {state: _nan_separated(parts) for state, parts in d.items()} for b, d in lines.items()}

    def _draw_lines(self, lines: dict, many: bool) -> None:
        """One curve per colour and state, the same items from one drawing to the next; those of
        colours or states not drawn are hidden."""
        want = {(gi, state) for gi, g in enumerate(lines) for state in ("before", "after")
                if len(lines[g][state][0])}
        for key, item in self._curves.items():
            if key not in want and item.isVisible():
                item.setData([], [])
                item.hide()
        for gi, g in enumerate(lines):
            for state in ("before", "after"):
                if (gi, state) in want:
                    item = self._curves[(gi, state)]
                    item.setData(*lines[g][state], connect="finite")
                    item.show()
            if not many:
                shown = [self._curves[(gi, s)] for s in ("after", "before") if (gi, s) in want]
                if shown:
                    self.legend.addItem(shown[0], f"group {g}")

    def _draw_labels(self, out: SimpleNamespace) -> None:
        buckets = list(out.lines)
        for e in self._visit.exposures:
            fp = out.before.get((e.name, 0))
            if fp is not None:
                bx, by = self._closed([fp], out.origin)
                label = pg.TextItem(e.root, color=group_color(buckets.index(out.bucket[e.group_id])),
                                    anchor=(0.5, 0.5))
                label.setPos(float(np.mean(bx[0, :-1])), float(np.mean(by[0, :-1])))
                self.plot.addItem(label)
                self._labels.append(label)

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton or not self._polygons:
            return
        p = self.plot.vb.mapSceneToView(ev.scenePos())
        self.click_at(p.x(), p.y())

    def click_at(self, x: float, y: float) -> bool:
        """Select the footprint under (x, y) in plot coordinates; False if none."""
        hits = [(abs(np.sum(px[:-1] * py[1:] - px[1:] * py[:-1])), name, ci)
                for name, ci, px, py in self._polygons if _inside(x, y, px, py)]
        if not hits:
            return False
        _area, name, ci = min(hits)
        self.imageClicked.emit(name, ci)
        return True
