"""The image of the selected chip with its sources and exclusion regions.

Detected sources, matched sources used in the fit, sigma-clipped matches,
matches the user excluded and the reference catalog are drawn with distinct
symbols and colours; a legend says which is which.  Clicking a matched source
emits ``matchClicked`` with its key ``(image, chip, input_idx)``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tweakgui.gui.background import LatestCall
from tweakgui.gui.icons import icon
from tweakgui.gui.region_tools import DrawingViewBox, RegionLayer
from tweakgui.gui.residuals import match_keys
from tweakgui.gui.stretch import STRETCHES, stretch_image

log = logging.getLogger(__name__)

__all__ = ["ImageView", "STYLE"]

# symbol, size, pen, brush — one entry per overlay
STYLE = {
    "detected": dict(symbol="o", size=9, pen=pg.mkPen(90, 200, 255, 200, width=1.2), brush=None),
    "matched": dict(symbol="o", size=13, pen=pg.mkPen(60, 230, 90, width=2), brush=None),
    "clipped": dict(symbol="x", size=12, pen=pg.mkPen(255, 170, 0, width=2),
                    brush=pg.mkBrush(255, 170, 0)),
    "excluded": dict(symbol="x", size=14, pen=pg.mkPen(255, 60, 60, width=2),
                     brush=pg.mkBrush(255, 60, 60)),
    "refcat": dict(symbol="+", size=11, pen=pg.mkPen(230, 90, 255, width=1.5),
                   brush=pg.mkBrush(230, 90, 255)),
}
PIXEL_FILTER = "DS9 regions, image pixels (*.reg)"
SKY_FILTER = "DS9 regions, sky coordinates (*.reg)"
LABELS = {"detected": "detected", "matched": "matched (used)", "clipped": "clipped",
          "excluded": "excluded by you", "refcat": "reference catalog"}


class ElidedLabel(QLabel):
    """A one-line label that shortens long text in the middle instead of widening its parent."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.setMinimumWidth(40)

    def paintEvent(self, ev) -> None:
        painter = QPainter(self)
        text = self.fontMetrics().elidedText(self.text(), Qt.ElideMiddle, self.width())
        painter.drawText(self.rect(), int(Qt.AlignLeft | Qt.AlignVCenter), text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)


class ImageView(QWidget):
    """Chip image, source overlays and region tools."""

    matchClicked = Signal(object)  # (image, chip, input_idx)
    regionsEdited = Signal(list)  # shapes of the chip on display
    regionsLoadRequested = Signal(str)
    regionsSaveRequested = Signal(str, bool)  # path, in sky coordinates
    hint = Signal(str)  # what to do next, for the status bar
    imageShown = Signal(object)  # key of the chip whose pixels are on display
    loadFailed = Signal(str)
    layerToggled = Signal(str, bool)  # overlay name, visible

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("ImageView")
        self.vb = DrawingViewBox()
        self.plot_widget = pg.PlotWidget(viewBox=self.vb)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setAspectLocked(True)
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).enableAutoSIPrefix(False)
        self.plot.setLabel("bottom", "x (pixels, 0-based)")
        self.plot.setLabel("left", "y")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.legend = self.plot.addLegend(offset=(8, 8), labelTextColor=(230, 230, 230))
        self.legend.setBrush(pg.mkBrush(0, 0, 0, 150))
        self._add_layers()
        self.highlight = pg.ScatterPlotItem(symbol="o", size=26, pen=pg.mkPen(255, 255, 0, width=3),
                                            brush=pg.mkBrush(0, 0, 0, 0))
        self.highlight.setZValue(30)
        self.plot.addItem(self.highlight)
        self.regions = RegionLayer(self.plot, self)
        self.regions.edited.connect(self.regionsEdited)
        self.vb.drawn.connect(self.regions.add_shape)
        self.vb.toolChanged.connect(self._tool_changed)
        self.tool_buttons: dict[str, QToolButton] = {}

        self.title = ElidedLabel("No image")
        self.stretch = QComboBox()
        self.stretch.addItems(STRETCHES)
        self.stretch.setToolTip("Display stretch: zscale limits with an asinh or linear scale")
        self.stretch.currentTextChanged.connect(self._restretch)

        tools = self._region_tools()
        tools.addStretch(1)
        tools.addWidget(self.stretch)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        # the title on a row of its own: the tool buttons never squeeze it to a few letters
        lay.addWidget(self.title)
        lay.addLayout(tools)
        lay.addWidget(self.plot_widget, 1)
        self._keys: dict[str, list] = {}
        self.last_dir = ""
        self.loader = LatestCall(self)
        self._cache: OrderedDict = OrderedDict()
        self._key = None
        self._ranged = None
        self._title = ""
        self._fit_shape = None  # (ny, nx) while the whole image is shown, None once the user zooms
        self._fitting = False
        self.vb.sigRangeChangedManually.connect(self._user_ranged)

    def _add_layers(self) -> None:
        """One scatter item per overlay (detected, matched, clipped, ...); a legend click toggles it."""
        self.scatter = {}
        for name, st in STYLE.items():
            item = pg.ScatterPlotItem(symbol=st["symbol"], size=st["size"], pen=st["pen"],
                                      brush=st["brush"] or pg.mkBrush(0, 0, 0, 0), pxMode=True,
                                      name=LABELS[name])
            item.setZValue(10 if name != "detected" else 5)
            self.plot.addItem(item)
            self.scatter[name] = item
        for name, item in self.scatter.items():
            # a click on the legend toggles the layer; the View menu follows
            item.visibleChanged.connect(lambda n=name: self.layerToggled.emit(n, self.scatter[n].isVisible()))
        self.scatter["matched"].sigClicked.connect(self._scatter_clicked)
        self.scatter["clipped"].sigClicked.connect(self._scatter_clicked)
        self.scatter["excluded"].sigClicked.connect(self._scatter_clicked)

    def _region_tools(self) -> QHBoxLayout:
        """Buttons that draw, switch, delete, load and save exclusion regions."""
        tools = QHBoxLayout()
        for kind, tip in (("circle", "Draw a circle: drag from its centre"),
                          ("box", "Draw a box: drag from corner to corner"),
                          ("polygon", "Draw a polygon: click its vertices, double-click to close")):
            b = QToolButton()
            b.setIcon(icon(f"region-{kind}"))
            b.setCheckable(True)
            b.setToolTip(f"{tip}. Regions are exclude regions (red) unless switched to include "
                         "(green); detection leaves out what they exclude. Drag handles to edit.")
            b.setObjectName(f"add_{kind}")
            b.toggled.connect(lambda on, k=kind: self._arm(k, on))
            self.tool_buttons[kind] = b
            tools.addWidget(b)
        for name, tip, slot in (
            ("region-toggle", "Switch the selected region between exclude (red) and include (green)",
             lambda: self.regions.toggle_include()),
            ("region-delete", "Delete the selected region", lambda: self.regions.remove()),
            ("open", "Load a DS9 region file (pixel or sky) for this chip", self._load_regions),
            ("save", "Save this chip's regions as a DS9 region file", self._save_regions),
        ):
            b = QToolButton()
            b.setIcon(icon(name))
            b.setToolTip(tip)
            b.setObjectName(name)
            b.clicked.connect(slot)
            tools.addWidget(b)
        return tools

    # ---------------------------------------------------------------- image
    def show_chip(self, key, title: str, load: Callable[[], tuple]) -> None:
        """Show the chip ``key``; ``load()`` returns (data, mask) and runs off the GUI thread.

        Stretched images of the last few chips are kept, so going back to a
        chip (or showing it again after a fit) is immediate and keeps the zoom.
        """
        new = key != self._key
        self._key = key
        self.title.setText(title)
        self._title = title
        mode = self.stretch.currentText()
        entry = self._cache.get(key)
        if entry is not None and mode in entry["stretched"]:
            if new or self.image.image is not entry["stretched"][mode]:
                self._display(key, entry["stretched"][mode], entry["data"].shape, new)
            return
        if new:
            self.image.clear()
        self.title.setText(f"{title}  (loading…)")
        data = entry["data"] if entry is not None else None
        mask = entry["mask"] if entry is not None else None

        def work():
            d, m = (data, mask) if data is not None else load()
            # bytes made here: pyqtgraph maps a float image to bytes while painting (~15 ms a
            # 2048² chip in the GUI thread), a uint8 one it draws as it is
            return d, m, np.round(stretch_image(d, m, mode)[0] * 255).astype(np.uint8)

        def done(res, key=key, mode=mode, new=new):
            d, m, img = res
            e = self._cache.setdefault(key, {"data": d, "mask": m, "stretched": {}})
            e["stretched"][mode] = img
            self._cache.move_to_end(key)
            while len(self._cache) > 4:
                self._cache.popitem(last=False)
            if key == self._key:
                self._display(key, img, d.shape, new)

        def failed(message, key=key):
            if key == self._key:
                self.title.setText(f"{self._title}  (cannot read pixels: {message})")
                self.loadFailed.emit(message)

        self.loader.submit(work, done, failed)

    def show_canvas(self, key, title: str, shape, load: Callable[[], Any] | None = None) -> None:
        """Show a chip without pixels (a catalog input): an empty canvas of its extent, outlined.

        ``load()`` runs off the GUI thread and returns the chip's source table
        (``x``, ``y``); its sources are drawn as detected unless ``set_sources``
        has drawn some already (a run's catalogs).
        """
        new = key != self._key
        self._key, self._title = key, title
        self.title.setText(title)
        self.image.clear()
        ny, nx = shape
        outline = self._canvas_outline()
        outline.setData([-0.5, nx - 0.5, nx - 0.5, -0.5, -0.5], [-0.5, -0.5, ny - 0.5, ny - 0.5, -0.5])
        outline.show()
        if new or self._ranged != key:
            self._fit_shape = (ny, nx)
            self._fit_image()
            self._ranged = key
        self.imageShown.emit(key)
        if load is None:
            self.loader.serial += 1  # drop a pixel answer on its way
            return

        def done(table, key=key):
            if key == self._key and self.count("detected") == 0 and table is not None and len(table):
                self.scatter["detected"].setData(x=np.asarray(table["x"], float), y=np.asarray(table["y"], float))

        def failed(message, key=key):
            if key == self._key:
                self.title.setText(f"{self._title}  (cannot read the catalog: {message})")

        self.loader.submit(load, done, failed)

    def _canvas_outline(self) -> pg.PlotDataItem:
        """The dashed outline of a chip without pixels (made when first needed)."""
        if getattr(self, "_outline", None) is None:
            self._outline = pg.PlotDataItem(pen=pg.mkPen(160, 160, 160, width=1, style=Qt.DashLine))
            self._outline.setZValue(1)
            self.plot.addItem(self._outline)
        return self._outline

    @property
    def canvas_shown(self) -> bool:
        """True while a chip without pixels is on display (its outline drawn, no image)."""
        return getattr(self, "_outline", None) is not None and self._outline.isVisible()

    def _display(self, key, img, shape, new: bool) -> None:
        if getattr(self, "_outline", None) is not None:
            self._outline.hide()
        self.title.setText(self._title)
        self.image.setImage(img, levels=(0, 255), autoLevels=False)
        if new or self._ranged != key:
            self._fit_shape = shape
            self._fit_image()
            self._ranged = key
        self.imageShown.emit(key)

    def _fit_image(self) -> None:
        ny, nx = self._fit_shape
        self._fitting = True
        self.plot.setRange(xRange=(0, nx), yRange=(0, ny), padding=0.02)
        self._fitting = False

    def _user_ranged(self, *args) -> None:
        # the user zoomed or panned: a resize keeps their view
        self._fit_shape = None

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        # a whole image stays whole when the window or a dock changes size
        if self._fit_shape is not None:
            QTimer.singleShot(0, lambda: self._fit_shape is not None and self._fit_image())

    @property
    def loading(self) -> bool:
        return self.loader.pending

    def _restretch(self, *args) -> None:
        if self._key is not None and self._key in self._cache:
            e = self._cache[self._key]
            self.show_chip(self._key, self._title, lambda: (e["data"], e["mask"]))

    def clear(self) -> None:
        self._key = None
        self.loader.serial += 1  # drop any answer on its way
        self.image.clear()
        if getattr(self, "_outline", None) is not None:
            self._outline.hide()
        self.title.setText("No image")
        self.set_sources(None)
        self.set_reference(None)
        self.regions.clear(emit=False)

    # -------------------------------------------------------------- overlays
    def set_sources(self, detected=None, matches=None, ref_xy=None, key_prefix=None) -> None:
        """Draw sources of the chip on display.

        ``detected``: (x, y) arrays; ``matches``: rows of the fit's matches table
        for this chip; ``ref_xy``: reference catalog positions in chip pixels.
        """
        for name, item in self.scatter.items():
            if name != "refcat" or ref_xy is not None:  # the reference layer is set_reference's
                item.clear()
        self._keys = {}
        if detected is not None and len(detected[0]):
            self.scatter["detected"].setData(x=np.asarray(detected[0]), y=np.asarray(detected[1]))
        if matches is not None and len(matches):
            # read by column: a table sliced per layer cost ~1 ms each
            used = np.asarray(matches["used"], bool)
            exc = np.asarray(matches["excluded"], bool)
            x, y = np.asarray(matches["x"], float), np.asarray(matches["y"], float)
            every = match_keys(matches)
            for name, sel in (("matched", used), ("clipped", ~used & ~exc), ("excluded", exc)):
                keys = [every[i] for i in np.flatnonzero(sel)]
                self._keys[name] = keys
                self.scatter[name].setData(x=x[sel], y=y[sel], data=keys)
        if ref_xy is not None and len(ref_xy[0]):
            self.scatter["refcat"].setData(x=np.asarray(ref_xy[0]), y=np.asarray(ref_xy[1]))

    def set_reference(self, ref_xy=None) -> None:
        """Draw the reference sources (chip pixels) alone: they are projected off the GUI thread."""
        if ref_xy is not None and len(ref_xy[0]):
            self.scatter["refcat"].setData(x=np.asarray(ref_xy[0]), y=np.asarray(ref_xy[1]))
        else:
            self.scatter["refcat"].clear()

    @staticmethod
    def layer_labels() -> dict:
        return dict(LABELS)

    def set_layer_visible(self, name: str, on: bool) -> None:
        if self.scatter[name].isVisible() != bool(on):
            self.scatter[name].setVisible(bool(on))

    def count(self, name: str) -> int:
        """Number of points drawn for one overlay (tests, status)."""
        return len(self.scatter[name].data)

    def _scatter_clicked(self, item, points, *args) -> None:
        if len(points):
            self.matchClicked.emit(tuple(points[0].data()))

    def show_highlight(self, xy) -> None:
        if xy is None:
            self.highlight.clear()
            return
        self.highlight.setData(x=[xy[0]], y=[xy[1]])
        # bring the source into view without changing the zoom
        vr = self.plot.viewRange()
        if not (vr[0][0] <= xy[0] <= vr[0][1] and vr[1][0] <= xy[1] <= vr[1][1]):
            w, h = vr[0][1] - vr[0][0], vr[1][1] - vr[1][0]
            self.plot.setRange(xRange=(xy[0] - w / 2, xy[0] + w / 2),
                               yRange=(xy[1] - h / 2, xy[1] + h / 2), padding=0)

    # --------------------------------------------------------------- regions
    def set_regions(self, shapes) -> None:
        self.regions.set_shapes(shapes)

    HINTS = {"circle": "Drag on the image from the centre of the circle (Esc cancels)",
             "box": "Drag on the image from one corner of the box to the other (Esc cancels)",
             "polygon": "Click the vertices of the polygon; double-click to close it (Esc cancels)"}

    def _arm(self, kind: str, on: bool) -> None:
        if on:
            for k, b in self.tool_buttons.items():
                if k != kind and b.isChecked():
                    b.blockSignals(True)
                    b.setChecked(False)
                    b.blockSignals(False)
            self.vb.set_tool(kind)
            self.plot_widget.setFocus()
            self.hint.emit(self.HINTS[kind])
        elif self.vb.tool == kind:
            self.vb.set_tool(None)

    def _tool_changed(self, tool) -> None:
        if tool is None:
            for b in self.tool_buttons.values():
                b.blockSignals(True)
                b.setChecked(False)
                b.blockSignals(False)
            self.hint.emit("")

    def add_region(self, kind: str, include: bool = False) -> None:
        (x0, x1), (y0, y1) = self.plot.viewRange()
        size = max(4.0, min(x1 - x0, y1 - y0) / 6)
        self.regions.add(kind, ((x0 + x1) / 2, (y0 + y1) / 2), size, include)

    def _load_regions(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load DS9 regions", self.last_dir,
                                              "DS9 regions (*.reg *.ds9);;All files (*)")
        if path:
            self.regionsLoadRequested.emit(path)

    def _save_regions(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save DS9 regions", self.last_dir,
            f"{PIXEL_FILTER};;{SKY_FILTER}")
        if path:
            self.regionsSaveRequested.emit(path, chosen == SKY_FILTER)
