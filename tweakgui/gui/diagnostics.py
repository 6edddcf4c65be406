"""Views no other alignment tool shows live.

:class:`DiagnosticsView`: an image's residuals against its sources' magnitude,
peak, sharpness and roundness (those its catalog has), with the finder's cut
lines: a bad match locus (faint sources matched by chance) or a bad cut shows
at once.  :class:`SystematicsView`: the residuals of every image of the visit
binned on the detector grid of each chip and averaged over exposures, as a
vector field: what is left is residual distortion.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from tweakgui.engine.fit.residual_frames import bin_residuals
from tweakgui.gui.residuals import (
    ROLE_BRUSH,
    ROLE_SYMBOL,
    match_roles,
    plotted_components,
)

__all__ = ["DiagnosticsView", "SystematicsView", "catalog_quantities"]

# (quantity, axis label, parameters drawn as cut lines)
QUANTITIES = (("mag", "mag (−2.5 log flux)", ()),
              ("sharpness", "sharpness", ("sharplo", "sharphi")),
              ("roundness", "roundness", ("roundlo", "roundhi")),
              ("peak", "peak (data units)", ("peakmax",)))
MAX_COLUMNS = 3  # more would not fit beside the image


def catalog_quantities(cat, rows) -> dict:
    """Per matched row: the quantities the catalog has (mag from flux when not given)."""
    rows = np.asarray(rows, int)
    out = {}
    if cat is None or not len(rows):
        return out
    names = cat.colnames
    if "mag" in names:
        out["mag"] = np.asarray(cat["mag"], float)[rows]
    elif "flux" in names:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.asarray(cat["flux"], float)[rows]
            out["mag"] = np.where(f > 0, -2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)
    for q in ("peak", "sharpness"):
        if q in names:
            out[q] = np.asarray(cat[q], float)[rows]
    for name in ("roundness", "roundness1", "roundness2"):
        if name in names:
            out["roundness"] = np.asarray(cat[name], float)[rows]
            break
    return out


class _PlotsWithNote(QWidget):
    """A line of explanation above a grid of plots."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.widget = pg.GraphicsLayoutWidget()
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.note)
        lay.addWidget(self.widget, 1)


class DiagnosticsView(_PlotsWithNote):
    """dx, dy (as plotted in the residual panels) against catalog quantities of one image."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plots: dict[tuple[str, str], pg.PlotItem] = {}
        self.scatter: dict[tuple[str, str], pg.ScatterPlotItem] = {}
        self.cuts: dict[tuple[str, str], list] = {}
        self.shown: list[str] = []

    def set_data(self, matches, comp: dict, frame: str, catalog_of, params, y_range=None) -> None:
        """``comp``: plotted components; ``catalog_of(image, chip)``: that chip's catalog."""
        self.widget.clear()
        self.plots, self.scatter, self.cuts, self.shown = {}, {}, {}, []
        if matches is None or not len(matches) or catalog_of is None:
            self.note.setText("No matches to diagnose")
            return
        images = np.asarray(matches["image"]).astype(str)
        chips = np.asarray(matches["chip"]).astype(str)
        rows = np.asarray(matches["input_idx"], int)
        values: dict[str, np.ndarray] = {}
        for im, ch in set(zip(images, chips)):
            sel = (images == im) & (chips == ch)
            cat = catalog_of(im, ch)
            ok = cat is not None and len(cat) and rows[sel].max() < len(cat)
            q = catalog_quantities(cat, rows[sel]) if ok else {}
            for name in [n for n, _l, _c in QUANTITIES]:
                if name in q:
                    values.setdefault(name, np.full(len(matches), np.nan))[sel] = q[name]
        self.shown = [n for n, _l, _c in QUANTITIES
                      if n in values and np.isfinite(values[n]).any()][:MAX_COLUMNS]
        if not self.shown:
            self.note.setText("The catalog has no flux, peak, sharpness or roundness to plot against")
            return
        missing = [n for n, _l, _c in QUANTITIES if n not in self.shown]
        self.note.setText("Residuals against source properties, along the detector axes"
                          if frame == "detector" else "Residuals against source properties, tangent plane")
        if missing:
            self.note.setText(self.note.text() + f" (not shown: {', '.join(missing)})")
        role = match_roles(matches)
        brushes = [ROLE_BRUSH[r] for r in role]
        symbols = [ROLE_SYMBOL[r] for r in role]
        labels = {n: lab for n, lab, _c in QUANTITIES}
        cuts = {n: c for n, _l, c in QUANTITIES}
        for r, c_name in enumerate(("dx", "dy")):
            for col, q in enumerate(self.shown):
                p = self.widget.addPlot(row=r, col=col)
                p.showGrid(x=True, y=True, alpha=0.2)
                for ax in ("left", "bottom"):
                    p.getAxis(ax).enableAutoSIPrefix(False)
                p.setLabel("left", f"Δ{c_name[1]} {'detector' if frame == 'detector' else 'tangent'} (mas)")
                p.setLabel("bottom", labels[q])
                sc = pg.ScatterPlotItem(x=values[q], y=comp[c_name], brush=brushes, symbol=symbols,
                                        size=6, pen=None)
                p.addItem(sc)
                lines = []
                for name in cuts[q]:
                    v = getattr(params, name, None) if params is not None else None
                    if v is None:
                        continue
                    line = pg.InfiniteLine(pos=float(v), angle=90, label=name,
                                           pen=pg.mkPen(200, 60, 60, width=1.5, style=Qt.DashLine),
                                           labelOpts={"position": 0.9, "color": (200, 60, 60)})
                    p.addItem(line, ignoreBounds=True)
                    lines.append((name, float(v)))
                if y_range and c_name in y_range:
                    p.setYRange(*y_range[c_name], padding=0)
                self.plots[(c_name, q)] = p
                self.scatter[(c_name, q)] = sc
                self.cuts[(c_name, q)] = lines


class SystematicsView(_PlotsWithNote):
    """The visit's residuals binned on each chip's detector grid, averaged, as vectors."""

    def __init__(self, parent=None, nbin: int = 6):
        super().__init__(parent)
        self.nbin = nbin
        self.binned: dict[str, tuple] = {}  # chip name -> (cx, cy, mean dx, mean dy, counts)
        self.plots: dict[str, pg.PlotItem] = {}
        self.scale = 1.0

    def set_visit(self, result, wcs_of, shape_of, detector_of=lambda image: "") -> None:
        """Bin the used matches of every image's last fit on each detector's chips.

        ``shape_of(image, chip)``: (ny, nx); ``detector_of(image)``: the detector's name (JWST
        chips are all "SCI": NRCA1 and NRCA2 must not share a grid)."""
        self.widget.clear()
        self.binned, self.plots = {}, {}
        per_chip, shapes, n_img = self._used_residuals(result, wcs_of, shape_of, detector_of)
        if not per_chip:
            self.note.setText("No residuals along detector axes to bin yet: run the alignment")
            return
        means = []
        for ch, parts in per_chip.items():
            x, y, dx, dy = (np.concatenate([p[i] for p in parts]) for i in range(4))
            b = bin_residuals(x, y, dx, dy, shapes[ch], self.nbin)
            self.binned[ch] = b
            means.append(np.hypot(b[2], b[3]))
        lengths = np.concatenate(means)
        key = float(np.nanpercentile(lengths, 80)) if np.isfinite(lengths).any() else 1.0
        key = float(f"{max(key, 1e-3):.1g}")
        self.note.setText(f"Used residuals of {n_img} images binned {self.nbin}×{self.nbin} on each "
                          f"chip and averaged, along the detector axes; black bar: {key:g} mas")
        for col, (ch, binned) in enumerate(sorted(self.binned.items())):
            self.plots[ch] = self._chip_plot(col, ch, binned, shapes[ch], key)

    @staticmethod
    def _used_residuals(result, wcs_of, shape_of, detector_of) -> tuple[dict, dict, int]:
        """Used residuals along the detector axes per chip key: ``{key: [(x, y, dx, dy), ...]}``, shapes, images."""
        per_chip: dict[str, list] = {}
        shapes: dict[str, tuple] = {}
        n_img = 0
        for r in result.images if result is not None else []:
            fit = r.fit
            if fit is None or fit.matches is None or not len(fit.matches):
                continue
            m = fit.matches[np.asarray(fit.matches["image"]).astype(str) == r.exposure.name]
            m = m[np.asarray(m["used"], bool)]
            if not len(m):
                continue
            n_img += 1
            comp, frame = plotted_components(m, wcs_of)
            if frame != "detector":
                continue
            chips = np.asarray(m["chip"]).astype(str)
            det = str(detector_of(r.exposure.name) or "").strip()
            for ch in set(chips):
                sel = chips == ch
                key = f"{det} {ch}".strip()
                shapes[key] = shape_of(r.exposure.name, ch)
                per_chip.setdefault(key, []).append((np.asarray(m["x"], float)[sel], np.asarray(m["y"], float)[sel],
                                                    comp["dx"][sel], comp["dy"][sel]))
        return per_chip, shapes, n_img

    def _chip_plot(self, col: int, ch: str, binned, shape, key: float) -> pg.PlotItem:
        cx, cy, mdx, mdy, cnt = binned
        ny, nx = shape
        p = self.widget.addPlot(row=col // 4, col=col % 4, title=ch)
        p.setAspectLocked(True)
        p.setLabel("bottom", "x (detector px)")
        p.setLabel("left", "y (detector px)")
        # a key-length vector spans most of a bin
        self.scale = s = 0.8 * (nx / self.nbin) / key
        ok = cnt > 0
        xs, ys = np.empty(2 * ok.sum()), np.empty(2 * ok.sum())
        xs[0::2], xs[1::2] = cx[ok], cx[ok] + s * mdx[ok]
        ys[0::2], ys[1::2] = cy[ok], cy[ok] + s * mdy[ok]
        p.addItem(pg.PlotDataItem(xs, ys, connect="pairs", pen=pg.mkPen(40, 110, 220, width=2)))
        p.addItem(pg.ScatterPlotItem(x=cx[ok], y=cy[ok], size=4, brush=pg.mkBrush(40, 110, 220), pen=None))
        p.addItem(pg.PlotDataItem([0, s * key], [-0.08 * ny, -0.08 * ny], pen=pg.mkPen(0, 0, 0, width=2.5)))
        p.addItem(pg.PlotDataItem([0, nx, nx, 0, 0], [0, 0, ny, ny, 0], pen=pg.mkPen(150, 150, 150)))
        p.setRange(xRange=(-0.05 * nx, 1.05 * nx), yRange=(-0.15 * ny, 1.05 * ny), padding=0)
        return p
