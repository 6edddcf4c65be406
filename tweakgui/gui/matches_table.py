"""The table of matched pairs of the fit on display, with exclude / restore."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QWidget,
)

from tweakgui.gui.icons import icon
from tweakgui.gui.layouts import bar_above
from tweakgui.gui.residuals import match_keys

__all__ = ["MatchesPanel", "MatchesModel"]

COLUMNS = [("image", "image"), ("chip", "chip"), ("input_idx", "#"), ("ref_idx", "ref #"),
           ("x", "x (px)"), ("y", "y (px)"), ("dx", "dx tan. (mas)"), ("dy", "dy tan. (mas)"), ("state", "state")]
HEADER_TIPS = {"input_idx": "row of the source in its chip's catalog",
               "ref_idx": "row of the matched source in the reference catalog",
               "x": "source position on its chip, 0-based detector pixels",
               "y": "source position on its chip, 0-based detector pixels",
               "dx": "residual after the fit, input − reference, in the reference tangent plane (mas)",
               "dy": "residual after the fit, input − reference, in the reference tangent plane (mas)"}
STATE_COLOR = {"used": None, "clipped": QColor(245, 150, 0, 60), "excluded": QColor(230, 40, 40, 60),
               "excluded by you": QColor(230, 40, 40, 60), "dropped": QColor(150, 150, 150, 60)}
# resolved once: PySide6 looks a short name like ``Qt.DisplayRole`` up in every Qt enum (~2-10 µs),
# and data() runs several hundred times a repaint
_DISPLAY, _TIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
_BACKGROUND, _ALIGN = Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.TextAlignmentRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_BRUSH = {state: QBrush(c) for state, c in STATE_COLOR.items() if c is not None}
_HORIZONTAL = Qt.Orientation.Horizontal


class MatchesModel(QAbstractTableModel):
    """Rows of a FitResult.matches table."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple] = []
        self.keys: list[tuple] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def set_matches(self, m, extra=()) -> None:
        """Rows of ``m``, then ``extra`` rows ``(key, image, chip, row, x, y, state)`` of the
        user's exclusions that ``m`` does not hold (excluded in another stage, or dropped)."""
        self.beginResetModel()
        self.rows, self.keys = [], []
        if m is not None and len(m):
            # read by column: an astropy table read a row at a time costs microseconds a field
            used = np.asarray(m["used"], bool)
            exc = np.asarray(m["excluded"], bool)
            states = np.where(exc, "excluded", np.where(used, "used", "clipped")).tolist()
            self.keys = match_keys(m)
            ref = np.ma.asarray(m["ref_idx"]).filled(-1).astype(int).tolist()
            x, y = (np.asarray(m[c], float).tolist() for c in ("x", "y"))
            dx, dy = ((np.asarray(m[c], float) * 1000).tolist() for c in ("dx", "dy"))
            self.rows = [(*key, *rest) for key, rest in zip(self.keys, zip(ref, x, y, dx, dy, states))]
        nan = float("nan")
        for key, image, chip, row, x, y, state in extra:
            self.rows.append((image, chip, row, -1, x, y, nan, nan, state))
            self.keys.append(key)
        if self._sort is not None:
            self._order(*self._sort)
        self.endResetModel()

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        # sorting here (not in a proxy) keeps a reset cheap: Qt then reads visible rows only
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._order(column, order)
        self.layoutChanged.emit()

    def _order(self, column: int, order) -> None:
        if not self.rows:
            return
        idx = sorted(range(len(self.rows)), key=lambda i: self.rows[i][column],
                     reverse=order == Qt.DescendingOrder)
        self.rows = [self.rows[i] for i in idx]
        self.keys = [self.keys[i] for i in idx]

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()):
        return len(COLUMNS)

    def headerData(self, section, orientation, role=_DISPLAY):
        if role == _DISPLAY and orientation == _HORIZONTAL:
            return COLUMNS[section][1]
        if role == _TIP and orientation == _HORIZONTAL:
            return HEADER_TIPS.get(COLUMNS[section][0])
        return None

    def data(self, index, role=_DISPLAY):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        v = row[index.column()]
        if role == _DISPLAY:
            if isinstance(v, float):
                if not math.isfinite(v):
                    return "—"
                return f"{v:.2f}" if index.column() in (4, 5, 6, 7) else f"{v:g}"
            return "—" if isinstance(v, int) and v < 0 else str(v)
        if role == _TIP and row[-1] in ("excluded by you", "dropped"):
            return ("Excluded by you in another stage or not in this fit's matches: "
                    "left out of every fit; Exclude / restore puts it back"
                    if row[-1] != "dropped" else
                    "Excluded by you, but no source was found there after detecting again; "
                    "Exclude / restore forgets it")
        if role == _BACKGROUND:
            return _BRUSH.get(row[-1].split(" (")[0])
        if role == _ALIGN and isinstance(v, (int, float)):
            return _RIGHT
        return None


class MatchesPanel(QWidget):
    """Matches of the fit on display; select a row to highlight, exclude or restore it."""

    matchSelected = Signal(object)
    excludeRequested = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = MatchesModel(self)
        self.view = QTableView()
        self.view.setObjectName("matches")
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.view.verticalHeader().setVisible(False)
        self.view.setTextElideMode(Qt.ElideMiddle)  # long image names keep their distinct end
        self.view.verticalHeader().setDefaultSectionSize(20)
        # sizing columns to contents reads every row on each reset: size them once
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        for col, width in enumerate((170, 60, 50, 55, 70, 70, 95, 95, 120)):
            self.view.setColumnWidth(col, width)
        self.view.selectionModel().currentRowChanged.connect(self._row_changed)
        self.view.doubleClicked.connect(lambda _i: self.toggle_current())
        self.info = QLabel("")
        self.button = QPushButton(icon("exclude"), "Exclude / restore")
        self.button.setToolTip("Leave the selected match out of the fit, or put it back, "
                               "and fit again at once without detecting again (Del)")
        self.button.clicked.connect(self.toggle_current)
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        bar.addWidget(self.button)
        bar_above(self, bar, self.view)
        self._quiet = False

    def set_matches(self, m, extra=()) -> None:
        self._quiet = True
        self.model.set_matches(m, extra)
        self._quiet = False
        states = [r[-1].split(" (")[0] for r in self.model.rows]
        n = len(states) - len(extra)
        text = (f"{n} matches: {states.count('used')} used, {states.count('clipped')} clipped, "
                f"{states.count('excluded')} excluded" if n else "No matches")
        if extra:
            text += f"; {len(extra)} more excluded by you (not in this fit)"
        self.info.setText(text)

    def current_key(self):
        idx = self.view.currentIndex()
        if not idx.isValid():
            return None
        return self.model.keys[idx.row()]

    def toggle_current(self) -> None:
        key = self.current_key()
        if key is not None:
            self.excludeRequested.emit(key)

    def select_key(self, key) -> None:
        if key not in self.model.keys:
            self.view.clearSelection()
            return
        idx = self.model.index(self.model.keys.index(key), 0)
        self._quiet = True
        self.view.setCurrentIndex(idx)
        self.view.scrollTo(idx)
        self._quiet = False

    def _row_changed(self, current, _previous) -> None:
        if self._quiet or not current.isValid():
            return
        self.matchSelected.emit(self.model.keys[current.row()])
