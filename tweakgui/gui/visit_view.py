"""Footprints of every chip on the sky, before and after alignment, by group."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from tweakgui.gui.footprints import chip_footprint
from tweakgui.gui.layouts import bar_above

log = logging.getLogger(__name__)

__all__ = ["VisitView", "chip_footprint", "group_color"]

# a qualitative palette readable on a white background (Tableau 10)
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def group_color(index: int):
    return pg.mkColor(PALETTE[index % len(PALETTE)])




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
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).enableAutoSIPrefix(False)
        self.plot.invertX(True)
        self.plot.setLabel("bottom", "ΔRA cos δ (arcmin, east ←)")
        self.plot.setLabel("left", "ΔDec (arcmin)")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
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
        self._polygons: list[tuple[str, int, np.ndarray, np.ndarray]] = []
        self.plot_widget.scene().sigMouseClicked.connect(self._clicked)
        self.plot_widget.setToolTip("Click a footprint to show that image")

    def set_visit(self, visit, result=None) -> None:
        """Show a visit (and its result); drawn when visible, once per event-loop turn."""
        self._visit, self._result = visit, result
        self._dirty = True
        if self.on_screen() and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self._redraw_if_dirty)

    def on_screen(self) -> bool:
        """Visible and not behind another tab (a tabified dock stays 'visible')."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def became_visible(self, visible: bool = True) -> None:
        """Draw what changed while hidden (connect to the dock's visibilityChanged)."""
        if visible and self._dirty and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self._redraw_if_dirty)

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        self.became_visible()

    def _redraw_if_dirty(self) -> None:
        self._scheduled = False
        if self._dirty and self.on_screen():
            self._redraw()

    def _redraw(self) -> None:
        self._dirty = False
        self._polygons = []
        self.plot.clear()
        self.legend.clear()
        self.n_drawn = {"before": 0, "after": 0}
        if self._visit is None or not self._visit.exposures:
            return
        before = {(e.name, ci): fp for e in self._visit.exposures for ci, c in enumerate(e.chips)
                  if (fp := chip_footprint(c.wcs, c.shape)) is not None}
        if not before:
            return
        allfp = np.concatenate(list(before.values()))
        self._origin = float(np.mean(allfp[:, 0])), float(np.mean(allfp[:, 1]))
        after = {}
        if self._result is not None:
            after = {(r.exposure.name, ci): fp for r in self._result.images
                     for ci, (c, w) in enumerate(zip(r.exposure.chips, r.new_wcs or []))
                     if w is not None and (fp := chip_footprint(w, c.shape)) is not None}
        groups = list(dict.fromkeys(e.group_id for e in self._visit.exposures))
        # one item per colour and state (groups beyond the palette share colours):
        # a 690-image mosaic stays a handful of items
        many = len(groups) > len(PALETTE)
        bucket = {g: (i % len(PALETTE) if many else g) for i, g in enumerate(groups)}
        lines = self._outlines(before, after, bucket)
        self._draw_lines(lines, many)
        if len(self._visit.exposures) <= 30:
            self._draw_labels(before, list(lines), bucket)

    def _xy(self, fp):
        """Closed outline of a footprint in arcmin from the visit's centre (east to the left)."""
        ra0, dec0 = self._origin
        dra = (fp[:, 0] - ra0 + 180.0) % 360.0 - 180.0
        x, y = dra * np.cos(np.radians(dec0)) * 60.0, (fp[:, 1] - dec0) * 60.0
        return np.append(x, x[0]), np.append(y, y[0])

    def _outlines(self, before: dict, after: dict, bucket: dict) -> dict:
        """NaN-separated outlines per colour bucket and state; the "after" ones magnified."""
        k = float(self.exaggerate.currentText().lstrip("×"))
        lines = {b: {"before": ([], []), "after": ([], [])} for b in dict.fromkeys(bucket.values())}
        for e in self._visit.exposures:
            for ci in range(len(e.chips)):
                fp = before.get((e.name, ci))
                if fp is None:
                    continue
                bx, by = self._xy(fp)
                self._polygons.append((e.name, ci, bx, by))
                lines[bucket[e.group_id]]["before"][0].extend([*bx, np.nan])
                lines[bucket[e.group_id]]["before"][1].extend([*by, np.nan])
                self.n_drawn["before"] += 1
                fa = after.get((e.name, ci))
                if fa is not None:
                    ax, ay = self._xy(fa)
                    lines[bucket[e.group_id]]["after"][0].extend([*(bx + k * (ax - bx)), np.nan])
                    lines[bucket[e.group_id]]["after"][1].extend([*(by + k * (ay - by)), np.nan])
                    self.n_drawn["after"] += 1
        return lines

    def _draw_lines(self, lines: dict, many: bool) -> None:
        for gi, g in enumerate(lines):
            color = group_color(gi)
            bx, by = lines[g]["before"]
            ax, ay = lines[g]["after"]
            item_b = pg.PlotDataItem(bx, by, connect="finite",
                                     pen=pg.mkPen(color, width=1.2, style=Qt.DashLine))
            self.plot.addItem(item_b)
            if ax:
                item_a = pg.PlotDataItem(ax, ay, connect="finite", pen=pg.mkPen(color, width=2))
                self.plot.addItem(item_a)
            if not many:
                self.legend.addItem(item_a if ax else item_b, f"group {g}")

    def _draw_labels(self, before: dict, buckets: list, bucket: dict) -> None:
        for e in self._visit.exposures:
            fp = before.get((e.name, 0))
            if fp is not None:
                bx, by = self._xy(fp)
                label = pg.TextItem(e.root, color=group_color(buckets.index(bucket[e.group_id])),
                                    anchor=(0.5, 0.5))
                label.setPos(float(np.mean(bx[:-1])), float(np.mean(by[:-1])))
                self.plot.addItem(label)

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
