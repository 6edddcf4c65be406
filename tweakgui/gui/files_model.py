"""The files table's model: one row per exposure, a child row per chip.

A 690-image mosaic's result changes every row at once; written into a QTreeWidget item by
item that held the GUI thread for a fifth of a second.  Here a row keeps what it was given
(the exposure, its result, whether it is accepted) and formats its cells only when the view
asks for them, that is for the rows in view; a new result is announced in one ``dataChanged``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal

from tweakgui.engine import model
from tweakgui.engine.fit.residual_frames import image_numbers
from tweakgui.gui.fit_numbers import fit_numbers
from tweakgui.gui.icons import icon
from tweakgui.gui.residuals import correction_text, verdict_text

__all__ = ["COLUMNS", "FilesModel", "catalog_text", "short_names", "short_summary"]

COLUMNS = ("Image", "Group", "Catalog", "Sources", "Save", "Fit")
C_NAME, C_GROUP, C_CAT, C_NSRC, C_SAVE, C_FIT = range(len(COLUMNS))
HEADER_TIPS = (
    "Input file; its icon shows the fit status",
    "Group: images of a group get one correction (double-click to edit)",
    "Custom source catalog (empty: detect)",
    "Sources detected or read",
    "Save this image's outputs (accept the fit)",
    ("This image's own numbers in its last fit: used/matched sources, RMS of its residuals "
     "(reference tangent plane), and its total correction of all stages (shift ΔRA·cosδ, ΔDec "
     "in arcsec, rotation)"))
STATUS_ICON = {model.STATUS_SUCCESS: "status-ok", model.STATUS_REFERENCE: "status-ref",
               model.STATUS_FAILED: "status-failed", None: "status-pending"}
_STATUS_ICONS: dict = {}
_ROOT = QModelIndex()
# resolved once: PySide6 looks a short name like ``Qt.DisplayRole`` up in every Qt enum (~2-10 µs),
# and data() and flags() run a few thousand times a repaint of a mosaic's table
_DISPLAY, _EDIT, _TIP = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.ToolTipRole
_DECORATION, _CHECK = Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.CheckStateRole
_CHECKED, _UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_FLAGS_OF = {C_GROUP: _FLAGS | Qt.ItemFlag.ItemIsEditable, C_SAVE: _FLAGS | Qt.ItemFlag.ItemIsUserCheckable}
_TOP = 0  # internal id of an exposure's row; a chip's row holds its exposure's row + 1


def _status_icon(status):
    """The status icon, one QIcon per status (not one per row)."""
    if status not in _STATUS_ICONS:
        _STATUS_ICONS[status] = icon(STATUS_ICON.get(status, "status-pending"))
    return _STATUS_ICONS[status]


def short_names(names: list[str], min_prefix: int = 8) -> dict[str, str]:
    """Names without the prefix they all share (cut at an underscore), shown as "…rest": JWST
    names differ only past "jw01345001001_02201_"; the full name stays in the tooltip."""
    names = [str(n) for n in names]
    if len(set(names)) < 2:
        return {n: n for n in names}
    prefix = os.path.commonprefix(names)
    cut = prefix.rfind("_") + 1
    if cut < min_prefix:
        return {n: n for n in names}
    return {n: "…" + n[cut:] for n in names}


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _input_tip(e) -> str:
    """The input's path; for a catalog input, that it has no pixels and where its WCS came from."""
    if not e.meta.get("catalog_input"):
        return str(e.path)
    return f"{e.path}\ncatalog input (no pixels); WCS from {e.meta.get('wcs_source') or 'its file'}"


def short_summary(fit, r=None) -> str:
    """The image's own numbers: its matches and RMS in ``fit``, its total correction."""
    if fit.status != model.STATUS_SUCCESS:
        return fit.summary()
    name = r.exposure.name if r is not None else None
    if fit.matches is None:
        n = None
    elif name is None:
        n = image_numbers(fit.matches, None)
    else:
        n = fit_numbers(fit).get(name)  # counted in the worker after a run
    corr = getattr(r, "correction", None)
    text = f"{fit.kind[:3]} {fit.fitgeom}"
    if n is not None and n.nmatch:
        text += f" n={n.nused}/{n.nmatch} rms={np.hypot(n.rms_dx_mas, n.rms_dy_mas):.2f} mas"
    else:
        text += f" group n={fit.nmatch} rmse={fit.rmse_arcsec * 1000:.2f} mas"
    if corr is not None:
        sx, sy = corr.shift_arcsec
        text += f" total shift=({sx:+.3f}\", {sy:+.3f}\") rot={corr.rotation_deg:+.4f}°"
    return text


def source_count(r, chip_index: int | None = None) -> str:
    """Sources detected or read: the exposure's (``chip_index`` None) or one chip's."""
    if r is None or not r.catalogs:
        return ""
    if chip_index is None:
        return str(sum(len(c) for c in r.catalogs))
    return str(len(r.catalogs[chip_index])) if chip_index < len(r.catalogs) else ""


def catalog_text(row) -> str:
    """The Catalog column of an exposure's row: its chips' custom catalogs, by file name (a string's
    basename: parsing 690 paths again took ~10 ms of each load's and run's result)."""
    return ", ".join(os.path.basename(c) for c in row.catalogs())


class _Row:
    """One exposure as given; its fit's texts are formatted when first asked for."""

    __slots__ = ("_fit_text", "_fit_tip", "accepted", "exposure", "group_shown", "nsrc", "result", "shown")

    def __init__(self, e, r, shown: str, group_shown: str, accepted: bool):
        self.exposure, self.result, self.shown, self.group_shown = e, r, shown, group_shown
        self.accepted = accepted
        self.nsrc = source_count(r)
        self._fit_text = self._fit_tip = None

    def fit_text(self) -> str:
        if self._fit_text is None:
            self._fit_text = self._format_fit()
        return self._fit_text

    def fit_tip(self) -> str:
        """Formatted when asked for, not with the text: each row scrolled into view took ~0.35 ms."""
        if self._fit_tip is None:
            r = self.result
            if r is None:
                self._fit_tip = ""
            else:
                # every stage's verdict (the group's fit), then the image's own total correction
                tip = [f"{f.kind} fit of group {f.group_id}: " + _plain(verdict_text(f)) for f in r.fits]
                if r.status != model.STATUS_REFERENCE:
                    tip.append(_plain(correction_text(r.correction)))
                self._fit_tip = "\n".join(tip) or self.fit_text()
        return self._fit_tip

    def forget_texts(self) -> None:
        self._fit_text = self._fit_tip = None

    def _format_fit(self) -> str:
        r = self.result
        if r is None:
            return ""
        fit = r.fit
        text = (short_summary(fit, r) if fit is not None
                else f"{r.status}: {r.reason}" if r.reason else r.status)
        if r.status == model.STATUS_REFERENCE and fit is None:
            text = "reference"
        if not self.accepted and r.status != model.STATUS_FAILED:  # failed ones are never saved
            text = "rejected by you · " + text
        return text

    def catalogs(self) -> list[str]:
        return sorted({str(c.catalog_path) for c in self.exposure.chips if c.catalog_path})


class FilesModel(QAbstractItemModel):
    """Exposures (top-level rows) and their chips (child rows); edits of the group and of the
    save box become signals, the panel turns them into requests."""

    groupEdited = Signal(str, str)
    acceptToggled = Signal(str, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[_Row] = []
        self._names: list[str] = []
        self._row_of: dict[str, int] = {}

    # ------------------------------------------------------------ content
    def set_rows(self, visit, result=None, accepted=None) -> bool:
        """Show ``visit`` with ``result``.  The same images and chips in the same order (a run's
        result, an edit) are updated in place and announced in one ``dataChanged``; returns
        whether the rows were rebuilt instead."""
        exposures = list(visit.exposures) if visit is not None else []
        names = [e.name for e in exposures]  # each a pathlib call: asked once (690 images: ~3 ms)
        by_name = {r.exposure.name: r for r in result.images} if result is not None else {}
        shown = short_names(names)
        groups = short_names(sorted({str(e.group_id) for e in exposures}))
        accepted = accepted or {}
        rows = [_Row(e, by_name.get(name), shown[name], groups[str(e.group_id)], accepted.get(name, True))
                for e, name in zip(exposures, names)]
        same = (names == self._names
                and all(len(a.exposure.chips) == len(b.exposure.chips) for a, b in zip(rows, self.rows)))
        if not same:
            self.beginResetModel()
        self.rows, self._names = rows, names
        self._row_of = {name: i for i, name in enumerate(names)}
        if not same:
            self.endResetModel()
        elif rows:
            # one signal: a view repaints all it shows of a multi-row change, the chips' rows with
            # it (they hold no data of their own but their counts); one more per exposure made the
            # tree view look every exposure up (~0.2 ms each, 150 ms for a mosaic)
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
        return not same

    def row_of(self, name: str) -> int | None:
        return self._row_of.get(name)

    def name_of(self, index: QModelIndex) -> tuple[str, int] | None:
        """(exposure name, chip index) of a row; an exposure's own row is chip 0."""
        if not index.isValid():
            return None
        if index.internalId() == _TOP:
            return self.rows[index.row()].exposure.name, 0
        return self.rows[index.internalId() - 1].exposure.name, index.row()

    def exposure_index(self, name: str, column: int = 0) -> QModelIndex:
        i = self._row_of.get(name)
        return self.index(i, column) if i is not None else QModelIndex()

    # ----------------------------------------------------- item model API
    def index(self, row: int, column: int, parent: QModelIndex = _ROOT) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _TOP) if row < len(self.rows) else QModelIndex()
        if parent.internalId() != _TOP or row >= len(self.rows[parent.row()].exposure.chips):
            return QModelIndex()
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: QModelIndex | None = None):
        if index is None:  # QObject.parent()
            return super().parent()
        if not index.isValid() or index.internalId() == _TOP:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, _TOP)

    def rowCount(self, parent: QModelIndex = _ROOT) -> int:
        if not parent.isValid():
            return len(self.rows)
        if parent.column() != 0 or parent.internalId() != _TOP:
            return 0
        return len(self.rows[parent.row()].exposure.chips)

    def columnCount(self, parent: QModelIndex = _ROOT) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = _DISPLAY):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == _DISPLAY:
            return COLUMNS[section]
        if role == _TIP:
            return HEADER_TIPS[section]
        return None

    def flags(self, index: QModelIndex):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if index.internalId() == _TOP:
            return _FLAGS_OF.get(index.column(), _FLAGS)
        return _FLAGS

    def data(self, index: QModelIndex, role: int = _DISPLAY):
        if not index.isValid():
            return None
        if index.internalId() != _TOP:
            return self._chip_data(self.rows[index.internalId() - 1], index.row(), index.column(), role)
        row, col = self.rows[index.row()], index.column()
        e, r = row.exposure, row.result
        if role in (_DISPLAY, _EDIT):
            if col == C_NAME:
                return row.shown
            if col == C_GROUP:
                return row.group_shown if role == _DISPLAY else str(e.group_id)
            if col == C_CAT:
                return catalog_text(row)
            if col == C_NSRC:
                return row.nsrc
            if col == C_FIT:
                return row.fit_text()
            return None
        if role == _TIP:
            if col == C_NAME:
                return _input_tip(e) + (f"\n{r.status}{': ' + r.reason if r.reason else ''}" if r else "")
            if col == C_GROUP:
                return str(e.group_id)
            if col == C_CAT:
                return "\n".join(row.catalogs()) or "detect sources"
            if col == C_FIT:
                return row.fit_tip()
            return None
        if role == _DECORATION and col == C_NAME:
            return _status_icon(r.status if r else None)
        if role == _CHECK and col == C_SAVE:
            return _CHECKED if row.accepted else _UNCHECKED
        return None

    @staticmethod
    def _chip_data(row: _Row, ci: int, col: int, role: int):
        c = row.exposure.chips[ci]
        if role == _DISPLAY:
            if col == C_NAME:
                return c.name
            if col == C_CAT:
                return Path(c.catalog_path).name if c.catalog_path else ""
            if col == C_NSRC:
                return source_count(row.result, ci)
            return None
        if role == _TIP and col == C_NAME:
            return f"{c.name}: {c.shape[1]}×{c.shape[0]} pixels"
        return None

    def setData(self, index: QModelIndex, value, role: int = Qt.EditRole) -> bool:
        if not index.isValid() or index.internalId() != _TOP:
            return False
        row = self.rows[index.row()]
        name = row.exposure.name
        if index.column() == C_GROUP and role == Qt.EditRole:
            text = str(value).strip()
            if not text:
                return False
            self.groupEdited.emit(name, text)
            return True
        if index.column() == C_SAVE and role == Qt.CheckStateRole:
            ok = Qt.CheckState(value) == Qt.Checked if not isinstance(value, Qt.CheckState) else value == Qt.Checked
            if ok != row.accepted:
                row.accepted = ok
                row.forget_texts()
                self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(COLUMNS) - 1))
                self.acceptToggled.emit(name, ok)
            return True
        return False
