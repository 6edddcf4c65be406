"""The Files / ASN panel: the exposures of the visit with their chips.

One row per exposure (status icon, group, custom catalog, number of sources,
accept-for-saving box and fit summary) with one child row per chip, from a
:class:`~tweakgui.gui.files_model.FilesModel` in a tree view.  Files can be
added by dialog, by typing a spec (wildcard, comma list, ``@list``, ASN json) or
by dropping them on the panel.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QStyle,
    QToolButton,
    QTreeView,
    QWidget,
)

from tweakgui.gui.files_model import (  # noqa: F401 - short_names, short_summary: imported from here too
    C_CAT,
    C_FIT,
    C_GROUP,
    C_NAME,
    C_NSRC,
    C_SAVE,
    COLUMNS,
    FilesModel,
    catalog_text,
    short_summary,
    short_names,
)
from tweakgui.gui.icons import icon
from tweakgui.gui.layouts import bar_above

__all__ = ["COLUMNS", "FilesPanel"]

_FIT_TO_TEXT = (C_CAT, C_NSRC, C_SAVE)  # columns as wide as their text


class _Advances(dict):
    """Text widths, each measured by ``measure`` when first asked for."""

    def __init__(self, measure):
        super().__init__()
        self.measure = measure

    def __missing__(self, text: str) -> int:
        width = self[text] = self.measure(text)
        return width


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
        self._filling = False
        self._advance_font, self._advances, self._char_advances = None, {}, {}
        self.model = FilesModel(self)
        self.model.groupEdited.connect(self.groupEdited)
        self.model.acceptToggled.connect(self.acceptToggled)
        self.tree = self._make_tree()
        self.spec = QLineEdit()
        self.spec.setPlaceholderText("wildcard, comma list, @list.txt or asn.json — Enter adds")
        self.spec.setToolTip("Add inputs as on the command line: a file, a wildcard "
                             "(e.g. data/*_flt.fits), a comma-separated list, @list.txt or an ASN json")
        self.spec.returnPressed.connect(self._add_spec)
        bar = self._buttons()
        bar.addWidget(self.spec, 1)
        bar_above(self, bar, self.tree)

    def _make_tree(self) -> QTreeView:
        tree = QTreeView()
        tree.setObjectName("files")
        tree.setModel(self.model)
        tree.setSelectionMode(QAbstractItemView.SingleSelection)
        tree.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        hdr = tree.header()
        hdr.setStretchLastSection(True)
        # long names (JWST: jw01345001001_02201_00001_nrca1_cal.fits) keep their distinct end
        tree.setTextElideMode(Qt.ElideMiddle)
        # sized from the rows' texts in set_visit: a column sized to its contents by the view
        # measures every row (690) on each change
        for c in range(len(COLUMNS) - 1):
            hdr.setSectionResizeMode(c, QHeaderView.Interactive)
        tree.setContextMenuPolicy(Qt.CustomContextMenu)
        tree.customContextMenuRequested.connect(self._context_menu)
        tree.selectionModel().currentChanged.connect(self._current_changed)
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
        """Fill the table from a Visit and the last VisitResult (the same rows, e.g. a run's
        result, are updated in place: the current row and the scroll position stay)."""
        self._filling = True
        try:
            rebuilt = self.model.set_rows(visit, result, accepted)
            rows = self.model.rows
            if rebuilt:
                multi = [i for i, r in enumerate(rows) if len(r.exposure.chips) > 1]
                if multi and len(multi) == len(rows):
                    self.tree.expandAll()
                else:
                    for i in multi:
                        self.tree.setExpanded(self.model.index(i, 0), True)
            if visit is None:
                return
            self._size_columns()
            # the catalog column only when some image has a custom catalog
            self.tree.setColumnHidden(C_CAT, not any(r.catalogs() for r in rows))
            if selected is not None:
                self.select(*selected)
        finally:
            self._filling = False

    def _size_columns(self) -> None:
        """Name and group columns as wide as their text, but never more than a share of the
        panel (the fit column stays in view and long names are elided in the middle); the
        counts' and the save box's columns as wide as their text or header."""
        rows = self.model.rows
        width = max(self.tree.viewport().width(), 300)
        widest = self._widest
        for col, texts, share in ((C_NAME, {r.shown for r in rows}, 0.5),
                                  (C_GROUP, {r.group_shown for r in rows}, 0.18)):
            want = max(widest(texts), 60) + (48 if col == C_NAME else 16)
            self.tree.setColumnWidth(col, int(min(want, share * width)))
        hdr = self.tree.header()
        margin = 2 * (self.tree.style().pixelMetric(QStyle.PM_FocusFrameHMargin, None, self.tree) + 1) + 4
        box = self.tree.style().pixelMetric(QStyle.PM_IndicatorWidth, None, self.tree) + margin
        for col, texts in ((C_CAT, {catalog_text(r) for r in rows}), (C_NSRC, {r.nsrc for r in rows}),
                           (C_SAVE, ())):
            text = widest({t for t in texts if t}) + margin
            self.tree.setColumnWidth(col, max(hdr.sectionSizeHint(col), text, box if col == C_SAVE else 0))

    def _widest(self, texts, measured: int = 4) -> int:
        """The widest of ``texts`` in the table's font (0 for none).

        Each text is estimated as the sum of its characters' advances (each character measured
        once) and only the ``measured`` widest estimates are measured whole; any other text is
        taken as wide as the largest estimate among them, so kerning (which narrows a text more
        often than it widens it) does not make a column too narrow.  Measuring all of a mosaic's
        690 names, groups and catalogs took 20-40 ms of the GUI thread at each load.
        """
        font = self.tree.font()
        if font != self._advance_font:
            metrics = self.tree.fontMetrics()
            self._advance_font, self._advances = font, _Advances(metrics.horizontalAdvance)
            self._char_advances = _Advances(metrics.horizontalAdvance)
        chars, whole = self._char_advances, self._advances
        estimate = {t: sum(map(chars.__getitem__, t)) for t in texts}
        if not estimate:
            return 0
        ranked = sorted(estimate, key=estimate.__getitem__)
        top, rest = ranked[-measured:], ranked[:-measured]
        return max([whole[t] for t in top] + [estimate[t] for t in rest[-1:]])

    def select(self, name: str, chip_index: int = 0) -> None:
        top = self.model.exposure_index(name)
        if not top.isValid():
            return
        n_chips = self.model.rowCount(top)
        target = self.model.index(chip_index, 0, top) if n_chips > 1 else top
        if self.tree.currentIndex() != target:
            was = self._filling
            self._filling = True
            self.tree.setCurrentIndex(target)
            self._filling = was

    def names(self) -> list[str]:
        return [r.exposure.name for r in self.model.rows]

    def current_name(self) -> str | None:
        at = self.model.name_of(self.tree.currentIndex())
        return at[0] if at is not None else None

    def _context_menu(self, pos) -> None:
        index = self.tree.indexAt(pos)
        at = self.model.name_of(index)
        if at is None:
            return
        name = at[0]
        row = self.model.row_of(name)
        save = self.model.index(row, C_SAVE)
        menu = QMenu(self)
        menu.addAction(icon("reference"), "Make Reference", lambda: self.referenceRequested.emit(name))
        menu.addAction(icon("up"), "Move Up", lambda: self.moveRequested.emit(name, -1))
        menu.addAction(icon("down"), "Move Down", lambda: self.moveRequested.emit(name, +1))
        menu.addAction(icon("catalog"), "Custom Catalog…", self._choose_catalog)
        menu.addAction("Edit Group", lambda: self.tree.edit(self.model.index(row, C_GROUP)))
        ok = save.data(Qt.CheckStateRole) == Qt.Checked
        menu.addAction("Reject for Saving" if ok else "Accept for Saving",
                       lambda: self.model.setData(save, Qt.Unchecked if ok else Qt.Checked, Qt.CheckStateRole))
        menu.addSeparator()
        menu.addAction(icon("remove"), "Remove", lambda: self.removeRequested.emit(name))
        self.context_menu = menu  # kept for tests
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def _with_current(self, fn) -> None:
        name = self.current_name()
        if name is not None:
            fn(name)

    def _current_changed(self, current: QModelIndex, _previous) -> None:
        at = self.model.name_of(current)
        if self._filling or at is None:
            return
        self.imageSelected.emit(*at)

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
