"""Grid lines of a plot drawn as one item beneath its data, at its axes' ticks.

pyqtgraph's own grid (``PlotItem.showGrid``) extends every tick line of an axis over the
view inside the axis's picture: the axis's bounding rectangle then covers the view, so any
change of the data repaints every axis, and replaying a picture of ~50 translucent lines
took ~2 ms an axis (a row of two residual panels: ~10 ms of a selection's repaint).  Here
the axes draw ticks and labels only; :class:`GridLines` draws the lines of both axes with
one ``drawLines`` call per tick level, at the tick values the axes computed for their own
picture, with pyqtgraph's alphas.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF
from PySide6.QtGui import QColor, QPainter, QPen, QPicture

__all__ = ["GridAxis", "GridLines", "add_grid"]


class GridAxis(pg.AxisItem):
    """An axis that remembers the tick levels of its current picture (for :class:`GridLines`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.levels = []  # [(spacing, values)] of the current picture, major level first

    def tickValues(self, minVal, maxVal, size):
        self.levels = super().tickValues(minVal, maxVal, size)
        return self.levels

    def current_levels(self) -> list:
        """The tick levels of the axis as it is drawn now (its picture made first if due)."""
        if self.picture is None:
            picture = QPicture()
            painter = QPainter(picture)
            try:
                self.paint(painter, None, None)  # pyqtgraph makes the picture on its first paint
            finally:
                painter.end()
        return self.levels


class GridLines(pg.GraphicsObject):
    """Lines across a plot's view at its bottom and left axes' ticks, under the data."""

    def __init__(self, plot: pg.PlotItem, alpha: float = 0.2):
        super().__init__()
        self.vb = plot.vb
        self.axes = (plot.getAxis("bottom"), plot.getAxis("left"))
        self.alpha = alpha
        self.color = QColor(self.axes[0].pen().color())
        self.setParentItem(self.vb)  # view pixels, not data: the lines stay one pixel wide
        self.setZValue(-1e5)  # above the view's background, below its items
        self.vb.sigTransformChanged.connect(lambda _vb: self.update())
        self.vb.sigResized.connect(lambda _vb: self.prepareGeometryChange())

    def boundingRect(self):
        return self.vb.rect()

    def paint(self, p, *args):
        rect = self.vb.rect()
        to_view = self.vb.childGroup.transform()
        p.setRenderHint(QPainter.Antialiasing, False)
        for axis, vertical in zip(self.axes, (True, False)):
            if not isinstance(axis, GridAxis):
                continue
            levels = axis.current_levels()
            pixels = rect.width() if vertical else rect.height()
            for i, (_spacing, values) in enumerate(levels):
                v = np.asarray(values, float)
                at = to_view.m11() * v + to_view.m31() if vertical else to_view.m22() * v + to_view.m32()
                lo, hi = (rect.left(), rect.right()) if vertical else (rect.top(), rect.bottom())
                at = at[(at >= lo) & (at <= hi)]
                if not len(at):
                    continue
                p.setPen(self._pen(i, pixels / (len(values) + 1)))
                if vertical:
                    p.drawLines([QLineF(x, rect.top(), x, rect.bottom()) for x in at.tolist()])
                else:
                    p.drawLines([QLineF(rect.left(), y, rect.right(), y) for y in at.tolist()])

    def _pen(self, level: int, pixels_per_tick: float) -> QPen:
        """pyqtgraph's grid alpha: fainter for finer levels and for dense ones."""
        alpha = 255 / (level + 1) * self.alpha * float(np.clip(0.05 * pixels_per_tick, 0, 1))
        color = QColor(self.color)
        color.setAlpha(int(alpha))
        pen = QPen(color)
        pen.setCosmetic(True)
        pen.setWidth(1)
        return pen


def add_grid(plot: pg.PlotItem, alpha: float = 0.2) -> GridLines:
    """Grid lines on ``plot``, whose bottom and left axes are :class:`GridAxis`."""
    return GridLines(plot, alpha)
