"""The Files / ASN panel: the exposures of the visit with their chips.

One row per exposure (status icon, group, custom catalog, number of sources,
accept-for-saving box and fit summary) with one child row per chip.  Files can
be added by dialog, by typing a spec (wildcard, comma list, ``@list``, ASN
json) or by dropping them on the panel.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from tweakgui.engine import model
from tweakgui.engine.fit.residual_frames import image_numbers
from tweakgui.gui.fit_numbers import fit_numbers
from tweakgui.gui.icons import icon
from tweakgui.gui.layouts import bar_above
from tweakgui.gui.residuals import correction_text, verdict_text

__all__ = ["FilesPanel", "COLUMNS"]

COLUMNS = ("Image", "Group", "Catalog", "Sources", "Save", "Fit")
C_NAME, C_GROUP, C_CAT, C_NSRC, C_SAVE, C_FIT = range(len(COLUMNS))
_FIT_TO_TEXT = (C_CAT, C_NSRC, C_SAVE)  # columns as wide as their text
STATUS_ICON = {model.STATUS_SUCCESS: "status-ok", model.STATUS_REFERENCE: "status-ref",
               model.STATUS_FAILED: "status-failed", None: "status-pending"}


_STATUS_ICONS: dict = {}


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


def _short_summary(fit, r=None) -> str:
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


class FilesPanel(QWidget):
    """Table of exposures and chips; every edit becomes a request signal."""

    addRequested = Signal(list)
    openRequested = Signal(list)  # replace the inputs
    removeRequested = Signal(str)
    moveRequested = Signal(str, int)
    referenceRequested = Signal(str)
    groupEdited = Signal(str, str)
    catalogRequested = Signal(str, object)  # name, path or None
    acceptToggled = Signal(str, bool)
    imageSelected = Signal(str, int)  # exposure name, chip index

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.last_dir = ""
        self.tree = self._make_tree()
        self.spec = QLineEdit()
        self.spec.setPlaceholderText("wildcard, comma list, @list.txt or asn.json — Enter adds")
        self.spec.setToolTip("Add inputs as on the command line: a file, a wildcard "
                             "(e.g. data/*_flt.fits), a comma-separated list, @list.txt or an ASN json")
        self.spec.returnPressed.connect(self._add_spec)
        bar = self._buttons()
        bar.addWidget(self.spec, 1)
        bar_above(self, bar, self.tree)
        self._filling = False

    def _make_tree(self) -> QTreeWidget:
        tree = QTreeWidget()
        tree.setObjectName("files")
        tree.setColumnCount(len(COLUMNS))
        tree.setHeaderLabels(COLUMNS)
        tree.setSelectionMode(QAbstractItemView.SingleSelection)
        tree.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        hdr = tree.header()
        hdr.setStretchLastSection(True)
        # long names (JWST: jw01345001001_02201_00001_nrca1_cal.fits) keep their distinct end
        tree.setTextElideMode(Qt.ElideMiddle)
        for c in _FIT_TO_TEXT:
            hdr.setSectionResizeMode(c, QHeaderView.ResizeToContents)
        for c in (C_NAME, C_GROUP):
            hdr.setSectionResizeMode(c, QHeaderView.Interactive)
        tips = ("Input file; its icon shows the fit status", "Group: images of a group get one "
                "correction (double-click to edit)", "Custom source catalog (empty: detect)",
                "Sources detected or read", "Save this image's outputs (accept the fit)",
                "This image's own numbers in its last fit: used/matched sources, RMS of its residuals "
                "(reference tangent plane), and its total correction of all stages (shift ΔRA·cosδ, ΔDec "
                "in arcsec, rotation)")
        for c, t in enumerate(tips):
            tree.headerItem().setToolTip(c, t)
        tree.itemChanged.connect(self._item_changed)
        tree.setContextMenuPolicy(Qt.CustomContextMenu)
        tree.customContextMenuRequested.connect(self._context_menu)
        tree.currentItemChanged.connect(self._current_changed)

        return tree

    def _buttons(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        for name, tip, slot in (
            ("add", "Add images or an ASN (Ctrl+O)", self.add_dialog),
            ("remove", "Remove the selected image", lambda: self._with_current(self.removeRequested.emit)),
            ("up", "Move the selected image up (the order used with enforce_user_order)",
             lambda: self._with_current(lambda n: self.moveRequested.emit(n, -1))),
            ("down", "Move the selected image down",
             lambda: self._with_current(lambda n: self.moveRequested.emit(n, +1))),
            ("reference", "Make the selected image the reference (first, user order enforced)",
             lambda: self._with_current(self.referenceRequested.emit)),
            ("catalog", "Use a custom source catalog for the selected image (cancel: detect)",
             self._choose_catalog),
        ):
            b = QToolButton()
            b.setIcon(icon(name))
            b.setToolTip(tip)
            b.setObjectName(f"files_{name}")
            b.clicked.connect(slot)
            bar.addWidget(b)
        return bar

    # ------------------------------------------------------------- content
    def set_visit(self, visit, result=None, accepted=None, selected=None) -> None:
        """Fill the table from a Visit and the last VisitResult."""
        self._filling = True
        self.tree.setUpdatesEnabled(False)
        # a column sized to its contents measures every row on each change: once at the end instead
        hdr = self.tree.header()
        for c in _FIT_TO_TEXT:
            hdr.setSectionResizeMode(c, QHeaderView.Interactive)
        try:
            # the same rows (e.g. a run's result): updated in place, not built again
            old = self._rows_of(visit)
            if old is None:
                self.tree.clear()
            if visit is None:
                return
            by_name = {r.exposure.name: r for r in result.images} if result is not None else {}
            shown = short_names([e.name for e in visit.exposures])
            groups = short_names(sorted({str(e.group_id) for e in visit.exposures}))
            items = [self._exposure_item(e, by_name.get(e.name), shown[e.name], groups[str(e.group_id)],
                                         (accepted or {}).get(e.name, True), old[i] if old else None)
                     for i, e in enumerate(visit.exposures)]
            if old is None:
                self.tree.addTopLevelItems(items)  # at once: one insertion, not 690
                for e, item in zip(visit.exposures, items):
                    if len(e.chips) > 1:
                        item.setExpanded(True)
            self._size_name_columns(visit)
            # the catalog column only when some image has a custom catalog
            self.tree.setColumnHidden(C_CAT, not any(c.catalog_path for e in visit.exposures
                                                     for c in e.chips))
            if selected is not None:
                self.select(*selected)
        finally:
            for c in _FIT_TO_TEXT:
                hdr.setSectionResizeMode(c, QHeaderView.ResizeToContents)
            self._filling = False
            self.tree.setUpdatesEnabled(True)

    def _rows_of(self, visit) -> list[QTreeWidgetItem] | None:
        """The table's rows when they are those of ``visit`` (same images and chips, in order)."""
        if visit is None or self.tree.topLevelItemCount() != len(visit.exposures):
            return None
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        for item, e in zip(items, visit.exposures):
            if item.data(C_NAME, Qt.UserRole)[0] != e.name or item.childCount() != len(e.chips):
                return None
        return items

    def _exposure_item(self, e, r, shown_name: str, group_name: str, ok: bool,
                       item: QTreeWidgetItem | None = None) -> QTreeWidgetItem:
        """The row of one exposure (its fit, verdicts and correction in tooltips) with a child per chip;
        ``item``: the row to update in place."""
        item = item if item is not None else QTreeWidgetItem()
        item.setData(C_NAME, Qt.UserRole, (e.name, 0))
        item.setText(C_NAME, shown_name)
        item.setToolTip(C_NAME, _input_tip(e) + (f"\n{r.status}{': ' + r.reason if r.reason else ''}"
                                                  if r else ""))
        item.setIcon(C_NAME, _status_icon(r.status if r else None))
        item.setText(C_GROUP, group_name)
        item.setToolTip(C_GROUP, str(e.group_id))
        cats = {str(c.catalog_path) for c in e.chips if c.catalog_path}
        item.setText(C_CAT, ", ".join(Path(c).name for c in sorted(cats)))
        item.setToolTip(C_CAT, "\n".join(sorted(cats)) or "detect sources")
        item.setText(C_NSRC, str(sum(len(c) for c in r.catalogs)) if r is not None and r.catalogs else "")
        item.setFlags(item.flags() | Qt.ItemIsEditable | Qt.ItemIsUserCheckable)
        item.setCheckState(C_SAVE, Qt.Checked if ok else Qt.Unchecked)
        if r is not None:
            fit = r.fit
            text = (_short_summary(fit, r) if fit is not None
                    else f"{r.status}: {r.reason}" if r.reason else r.status)
            if r.status == model.STATUS_REFERENCE and fit is None:
                text = "reference"
            if not ok and r.status != model.STATUS_FAILED:  # failed ones are never saved
                text = "rejected by you · " + text
            item.setText(C_FIT, text)
            # every stage's verdict (the group's fit), then the image's own total correction
            tip = [f"{f.kind} fit of group {f.group_id}: " + _plain(verdict_text(f)) for f in r.fits]
            if r.status != model.STATUS_REFERENCE:
                tip.append(_plain(correction_text(r.correction)))
            item.setToolTip(C_FIT, "\n".join(tip) or text)
        else:
            item.setText(C_FIT, "")
            item.setToolTip(C_FIT, "")
        self._chip_rows(item, e, r)
        return item

    @staticmethod
    def _chip_rows(item: QTreeWidgetItem, e, r) -> None:
        """A child row per chip (those of an updated row reused)."""
        for ci, c in enumerate(e.chips):
            child = item.child(ci) if ci < item.childCount() else QTreeWidgetItem(item)
            child.setData(C_NAME, Qt.UserRole, (e.name, ci))
            child.setText(C_NAME, c.name)
            child.setToolTip(C_NAME, f"{c.name}: {c.shape[1]}×{c.shape[0]} pixels")
            child.setText(C_CAT, Path(c.catalog_path).name if c.catalog_path else "")
            child.setText(C_NSRC, str(len(r.catalogs[ci])) if r is not None and ci < len(r.catalogs) else "")
            child.setFlags(child.flags() & ~Qt.ItemIsEditable)

    def _size_name_columns(self, visit) -> None:
        """Name and group columns as wide as their text, but never more than a share of the
        panel: the fit column stays in view and long names are elided in the middle."""
        fm = self.tree.fontMetrics()
        width = max(self.tree.viewport().width(), 300)
        names = short_names([e.name for e in visit.exposures])
        groups = short_names(sorted({str(e.group_id) for e in visit.exposures}))
        for col, texts, share in ((C_NAME, list(names.values()), 0.5), (C_GROUP, list(groups.values()), 0.18)):
            want = max([fm.horizontalAdvance(t) for t in texts] + [60]) + (48 if col == C_NAME else 16)
            self.tree.setColumnWidth(col, int(min(want, share * width)))

    def select(self, name: str, chip_index: int = 0) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(C_NAME, Qt.UserRole)[0] == name:
                target = item.child(chip_index) if item.childCount() > 1 else item
                if self.tree.currentItem() is not target:
                    was = self._filling
                    self._filling = True
                    self.tree.setCurrentItem(target)
                    self._filling = was
                return

    def names(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(C_NAME, Qt.UserRole)[0]
                for i in range(self.tree.topLevelItemCount())]

    def current_name(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(C_NAME, Qt.UserRole)[0] if item is not None else None

    def _context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        name = item.data(C_NAME, Qt.UserRole)[0]
        top = item if item.parent() is None else item.parent()
        menu = QMenu(self)
        menu.addAction(icon("reference"), "Make Reference", lambda: self.referenceRequested.emit(name))
        menu.addAction(icon("up"), "Move Up", lambda: self.moveRequested.emit(name, -1))
        menu.addAction(icon("down"), "Move Down", lambda: self.moveRequested.emit(name, +1))
        menu.addAction(icon("catalog"), "Custom Catalog…", self._choose_catalog)
        menu.addAction("Edit Group", lambda: self.tree.editItem(top, C_GROUP))
        ok = top.checkState(C_SAVE) == Qt.Checked
        menu.addAction("Reject for Saving" if ok else "Accept for Saving",
                       lambda: top.setCheckState(C_SAVE, Qt.Unchecked if ok else Qt.Checked))
        menu.addSeparator()
        menu.addAction(icon("remove"), "Remove", lambda: self.removeRequested.emit(name))
        self.context_menu = menu  # kept for tests
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def _with_current(self, fn) -> None:
        name = self.current_name()
        if name is not None:
            fn(name)

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or item.parent() is not None:
            return
        name = item.data(C_NAME, Qt.UserRole)[0]
        if column == C_GROUP:
            self.groupEdited.emit(name, item.text(C_GROUP))
        elif column == C_SAVE:
            self.acceptToggled.emit(name, item.checkState(C_SAVE) == Qt.Checked)

    def _current_changed(self, current, _previous) -> None:
        if self._filling or current is None:
            return
        name, chip = current.data(C_NAME, Qt.UserRole)
        self.imageSelected.emit(name, chip)

    # --------------------------------------------------------------- adding
    def add_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add images, catalogs or an ASN", self.last_dir,
            "Images, catalogs and associations (*.fits *.fits.gz *.fit *.json *.txt *.lst *.ecsv *.cat *.csv "
            "*.xml *.vot);;Catalogs with a WCS, no pixels (*.ecsv *.cat *.csv *.xml *.vot *.fits);;All files (*)")
        if paths:
            self.last_dir = str(Path(paths[0]).parent)
            self.addRequested.emit([("@" + p) if p.endswith((".txt", ".lst")) else p for p in paths])

    def open_asn_dialog(self) -> None:
        """Open an association (ASN json): it replaces the current inputs."""
        path, _ = QFileDialog.getOpenFileName(self, "Open an association", self.last_dir,
                                              "Associations (*.json);;All files (*)")
        if path:
            self.last_dir = str(Path(path).parent)
            self.openRequested.emit([path])

    def _add_spec(self) -> None:
        text = self.spec.text().strip()
        if text:
            self.addRequested.emit([text])
            self.spec.clear()

    def _choose_catalog(self) -> None:
        name = self.current_name()
        if name is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Source catalog for {name}", self.last_dir,
                                              "Catalogs (*.ecsv *.csv *.cat *.txt *.fits);;All files (*)")
        self.catalogRequested.emit(name, path or None)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.addRequested.emit([("@" + p) if p.endswith((".txt", ".lst")) else p for p in paths])
            ev.acceptProposedAction()
