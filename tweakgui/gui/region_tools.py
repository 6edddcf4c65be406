"""Exclusion regions drawn on the image as pyqtgraph ROIs.

:class:`RegionLayer` keeps one ROI per :class:`~tweakgui.gui.region_shapes.Shape`
on a plot; editing an ROI (drag, resize, rotate, move a vertex) updates the
shape list and emits ``edited``.  Include regions are drawn green and dashed,
exclude regions red.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from tweakgui.gui.region_shapes import Shape

__all__ = ["RegionLayer", "DrawingViewBox", "roi_for_shape", "shape_from_roi", "shape_from_drag"]

INCLUDE_PEN = pg.mkPen((60, 220, 90), width=2, style=Qt.DashLine)
EXCLUDE_PEN = pg.mkPen((255, 70, 70), width=2)


def _pen(include: bool):
    return INCLUDE_PEN if include else EXCLUDE_PEN


def roi_for_shape(shape: Shape) -> pg.ROI:
    """An editable ROI in data (0-based pixel) coordinates for ``shape``."""
    p = shape.params
    pen = _pen(shape.include)
    if shape.kind == "circle":
        x, y, r = p
        roi = pg.CircleROI((x - r, y - r), (2 * r, 2 * r), pen=pen)
    elif shape.kind == "box":
        x, y, w, h, ang = p
        t = math.radians(ang)
        # an ROI rotates about its corner: place the corner so the centre is (x, y)
        cx = x - (w / 2 * math.cos(t) - h / 2 * math.sin(t))
        cy = y - (w / 2 * math.sin(t) + h / 2 * math.cos(t))
        roi = pg.RectROI((cx, cy), (w, h), pen=pen, angle=ang)
        roi.addRotateHandle([1, 1], [0.5, 0.5])
    else:
        pts = [(p[i], p[i + 1]) for i in range(0, len(p), 2)]
        roi = pg.PolyLineROI(pts, closed=True, pen=pen)
    roi.setZValue(20)
    return roi


def shape_from_roi(roi: pg.ROI, kind: str, include: bool) -> Shape:
    """The shape an ROI now describes."""
    if kind == "circle":
        size = roi.size()
        r = size.x() / 2
        c = roi.mapToParent(QPointF(size.x() / 2, size.y() / 2))
        return Shape("circle", (c.x(), c.y(), r), include)
    if kind == "box":
        size = roi.size()
        c = roi.mapToParent(QPointF(size.x() / 2, size.y() / 2))
        return Shape("box", (c.x(), c.y(), size.x(), size.y(), roi.angle()), include)
    xy = []
    for q in roi.getLocalHandlePositions():
        pt = roi.mapToParent(q[1])
        xy += [pt.x(), pt.y()]
    return Shape("polygon", tuple(xy), include)


class RegionLayer(QObject):
    """The ROIs of the chip on display."""

    edited = Signal(list)  # the current list of shapes
    selected = Signal(int)  # index of the clicked ROI

    def __init__(self, plot: pg.PlotItem, parent=None):
        super().__init__(parent)
        self.plot = plot
        self._rois: list[tuple[pg.ROI, str, bool]] = []
        self.current = -1

    def shapes(self) -> list[Shape]:
        return [shape_from_roi(r, k, inc) for r, k, inc in self._rois]

    def set_shapes(self, shapes: list[Shape]) -> None:
        self.clear(emit=False)
        for s in shapes:
            self._add(s)

    def _add(self, shape: Shape) -> None:
        roi = roi_for_shape(shape)
        self.plot.addItem(roi)
        roi.sigRegionChangeFinished.connect(self._changed)
        roi.setAcceptedMouseButtons(Qt.LeftButton)
        roi.sigClicked.connect(self._clicked)
        self._rois.append((roi, shape.kind, shape.include))
        self.current = len(self._rois) - 1

    def add(self, kind: str, center: tuple[float, float], size: float, include: bool = False) -> None:
        """Draw a new region of ``kind`` centred at ``center``, ``size`` pixels across."""
        x, y = center
        r = size / 2
        if kind == "circle":
            shape = Shape("circle", (x, y, r), include)
        elif kind == "box":
            shape = Shape("box", (x, y, size, size * 0.6, 0.0), include)
        else:
            pts = []
            for k in range(5):
                t = 2 * math.pi * k / 5 + math.pi / 2
                pts += [x + r * math.cos(t), y + r * math.sin(t)]
            shape = Shape("polygon", tuple(pts), include)
        self._add(shape)
        self.edited.emit(self.shapes())

    def add_shape(self, shape: Shape) -> None:
        """Add a drawn shape (it becomes the selected region)."""
        self._add(shape)
        self.edited.emit(self.shapes())

    def _clicked(self, roi, *args) -> None:
        for i, (r, _k, _inc) in enumerate(self._rois):
            if r is roi:
                self.current = i
                self.selected.emit(i)

    def toggle_include(self, index: int | None = None) -> None:
        """Flip the current region between include and exclude."""
        i = self.current if index is None else index
        if not 0 <= i < len(self._rois):
            return
        roi, kind, inc = self._rois[i]
        self._rois[i] = (roi, kind, not inc)
        roi.setPen(_pen(not inc))
        self.edited.emit(self.shapes())

    def remove(self, index: int | None = None) -> None:
        i = self.current if index is None else index
        if not 0 <= i < len(self._rois):
            return
        roi = self._rois.pop(i)[0]
        self.plot.removeItem(roi)
        self.current = len(self._rois) - 1
        self.edited.emit(self.shapes())

    def clear(self, emit: bool = True) -> None:
        for roi, _k, _inc in self._rois:
            self.plot.removeItem(roi)
        self._rois.clear()
        self.current = -1
        if emit:
            self.edited.emit([])

    def _changed(self, *args) -> None:
        self.edited.emit(self.shapes())


def shape_from_drag(kind: str, p0: tuple[float, float], p1: tuple[float, float],
                    include: bool = False) -> Shape | None:
    """A circle (centre p0, through p1) or a box (corners p0, p1) drawn by a drag."""
    (x0, y0), (x1, y1) = p0, p1
    if kind == "circle":
        r = math.hypot(x1 - x0, y1 - y0)
        return Shape("circle", (x0, y0, r), include) if r > 0.5 else None
    w, h = abs(x1 - x0), abs(y1 - y0)
    if w < 0.5 or h < 0.5:
        return None
    return Shape("box", ((x0 + x1) / 2, (y0 + y1) / 2, w, h, 0.0), include)


class DrawingViewBox(pg.ViewBox):
    """A ViewBox on which a region tool draws instead of panning.

    With ``tool`` "circle" a drag draws a circle from its centre, with "box"
    a rectangle from corner to corner; with "polygon" each click adds a vertex
    and a double click (or a click near the first vertex) closes the polygon.
    ``drawn`` is emitted with the new :class:`Shape`; the tool then disarms.
    Escape or a right click cancels.
    """

    drawn = Signal(object)
    toolChanged = Signal(object)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tool: str | None = None
        self.include = False
        self._preview = pg.PlotDataItem(pen=pg.mkPen(255, 220, 0, width=2, style=Qt.DashLine))
        self._preview.setZValue(40)
        self._vertices: list[tuple[float, float]] = []

    def set_tool(self, tool: str | None, include: bool = False) -> None:
        self.tool, self.include = tool, include
        self._vertices = []
        self._show_preview([])
        self.toolChanged.emit(tool)

    def _show_preview(self, pts) -> None:
        if self._preview.scene() is None and pts:
            self.addItem(self._preview, ignoreBounds=True)
        if pts:
            xs, ys = zip(*pts)
            self._preview.setData(list(xs), list(ys))
        else:
            self._preview.setData([], [])

    def _finish(self, shape: Shape | None) -> None:
        tool = self.tool
        self.set_tool(None)
        if shape is not None:
            self.drawn.emit(shape)
        elif tool is not None:
            self.toolChanged.emit(None)

    # the drawing steps, also called by tests
    def drag(self, p0, p1, finish: bool) -> None:
        if finish:
            self._finish(shape_from_drag(self.tool, p0, p1, self.include))
            return
        if self.tool == "circle":
            r = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
            pts = [(p0[0] + r * math.cos(t / 24 * 2 * math.pi), p0[1] + r * math.sin(t / 24 * 2 * math.pi))
                   for t in range(25)]
        else:
            pts = [p0, (p1[0], p0[1]), p1, (p0[0], p1[1]), p0]
        self._show_preview(pts)

    def add_vertex(self, p, close: bool = False) -> None:
        if self._vertices and not close:
            # a click on the first vertex closes the polygon
            (fx, fy) = self._vertices[0]
            px = self.viewPixelSize()
            if len(self._vertices) >= 3 and math.hypot((p[0] - fx) / px[0], (p[1] - fy) / px[1]) < 8:
                close = True
        if not close:
            self._vertices.append((float(p[0]), float(p[1])))
            self._show_preview(self._vertices)
            return
        if len(self._vertices) >= 3:
            xy = tuple(v for pt in self._vertices for v in pt)
            self._finish(Shape("polygon", xy, self.include))
        else:
            self._finish(None)

    def mouseDragEvent(self, ev, axis=None):
        if self.tool in ("circle", "box") and ev.button() == Qt.LeftButton:
            ev.accept()
            p0 = self.mapSceneToView(ev.buttonDownScenePos())
            p1 = self.mapSceneToView(ev.scenePos())
            self.drag((p0.x(), p0.y()), (p1.x(), p1.y()), ev.isFinish())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        if self.tool is not None and ev.button() == Qt.RightButton:
            ev.accept()
            self._finish(None)
            return
        if self.tool == "polygon" and ev.button() == Qt.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.add_vertex((p.x(), p.y()), close=ev.double())
            return
        super().mouseClickEvent(ev)

    def keyPressEvent(self, ev):
        if self.tool is not None and ev.key() == Qt.Key_Escape:
            ev.accept()
            self._finish(None)
            return
        super().keyPressEvent(ev)
