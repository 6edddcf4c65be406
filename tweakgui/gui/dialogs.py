"""Dialogs: saving outputs, About."""

from __future__ import annotations

import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
)

from tweakgui import __version__

__all__ = ["SaveDialog", "about_text", "show_about", "shortcuts_text", "OUTPUT_KINDS"]

OUTPUT_KINDS = (
    ("images", "Updated images (<root>_tweakreg.fits)"),
    ("headerlets", "Headerlets (<root>_hlet.fits)"),
    ("wcs", "WCS files (<root>_tweakreg.asdf)"),
    ("shiftfile", "Shiftfile (drizzlepac format)"),
    ("report", "Report (tweakreg_report.json)"),
    ("catalogs", "Source catalogs and match files (when save_catalogs, save_match_files are on)"),
)


class SaveDialog(QDialog):
    """Where and what to save, for all accepted images or the selected one."""

    def __init__(self, directory: str, kinds=None, selected_name: str | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Save outputs")
        self.dir_edit = QLineEdit(directory)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.dir_edit, 1)
        row.addWidget(browse)
        box = QGroupBox("Outputs")
        bl = QVBoxLayout(box)
        self.kind_boxes = {}
        for k, text in OUTPUT_KINDS:
            cb = QCheckBox(text)
            cb.setChecked(kinds is None or k in kinds)
            self.kind_boxes[k] = cb
            bl.addWidget(cb)
        scope = QGroupBox("Images")
        sl = QVBoxLayout(scope)
        self.all_images = QRadioButton("All accepted images (ticked in the Files panel)")
        self.selected_only = QRadioButton(f"Only the selected image ({selected_name})"
                                          if selected_name else "Only the selected image")
        self.selected_only.setEnabled(selected_name is not None)
        self.all_images.setChecked(True)
        sl.addWidget(self.all_images)
        sl.addWidget(self.selected_only)
        self.in_place = QCheckBox("Update the input files in place (the previous WCS is archived)")
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(box)
        lay.addWidget(scope)
        lay.addWidget(self.in_place)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output directory", self.dir_edit.text())
        if d:
            self.dir_edit.setText(d)

    def choices(self) -> tuple[str, list[str], bool, bool]:
        """(directory, kinds, selected only, in place)."""
        kinds = [k for k, cb in self.kind_boxes.items() if cb.isChecked()]
        return self.dir_edit.text(), kinds, self.selected_only.isChecked(), self.in_place.isChecked()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text() -> str:
    libs = [("tweakwcs", "tweakwcs"), ("astropy", "astropy"), ("photutils", "photutils"),
            ("gwcs", "gwcs"), ("numpy", "numpy"), ("sep", "sep"), ("pyqtgraph", "pyqtgraph")]
    rows = "".join(f"<tr><td>{name}</td><td>{_version(dist)}</td></tr>" for name, dist in libs)
    rows += f"<tr><td>PySide6 / Qt</td><td>{pyside_version} / {qVersion()}</td></tr>"
    rows += f"<tr><td>Python</td><td>{platform.python_version()}</td></tr>"
    return (f"<h3>tweakgui {__version__}</h3>"
            "<p>Astrometric alignment of HST and JWST visits with inspectable residuals — "
            "a TweakReg replacement with a real GUI.</p>"
            f"<table>{rows}</table>")


def show_about(parent) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("About tweakgui")
    box.setText(about_text())
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.open()
    return box


def shortcuts_text(actions: dict) -> str:
    """An HTML table of the actions that have a keyboard shortcut."""
    rows = []
    for a in actions.values():
        key = a.shortcut().toString(QKeySequence.NativeText)
        if key:
            rows.append(f"<tr><td><b>{key}</b></td><td>{a.text().replace('&', '')}</td></tr>")
    extra = [("Double-click a match", "exclude or restore it"),
             ("Click a point or vector", "highlight the source everywhere"),
             ("Click the 2D histogram", "start the next run from that offset"),
             ("Right-click / Esc while drawing", "cancel the region tool")]
    rows += [f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in extra]
    return "<h3>Keyboard and mouse</h3><table cellspacing='6'>" + "".join(rows) + "</table>"
