"""What an empty window shows: the ways to start, one click each."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from tweakgui.gui.icons import icon

__all__ = ["StartPage"]


class StartPage(QWidget):
    """Guidance on an empty start: open images, an ASN, a session, or the demo visit."""

    openFiles = Signal()
    openAsn = Signal()
    openSession = Signal()
    openDemo = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("StartPage")
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        title = QLabel("<h2>Align the images of a visit</h2>")
        title.setAlignment(Qt.AlignCenter)
        lay.addWidget(title)
        text = QLabel("Add HST FITS images (flt/flc) or JWST _cal.fits files, or open an association. "
                      "Then Detect and Align (F5), inspect the residuals, and save.\n"
                      "Images can also be dropped on the window.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignCenter)
        lay.addWidget(text)
        self.buttons = {}
        for key, label, tip, sig, icon_name in (
            ("files", "Open Images…", "FITS images, a wildcard or an @list (Ctrl+O)", self.openFiles, "add"),
            ("asn", "Open ASN…", "An association (ASN json): its images and groups", self.openAsn, "add"),
            ("session", "Open Session…", "A saved tweakgui session with its results", self.openSession,
             "session"),
            ("demo", "Open the Demo Visit", "Four generated images with a reference catalog", self.openDemo,
             "run"),
        ):
            b = QPushButton(icon(icon_name), label)
            b.setObjectName(f"start_{key}")
            b.setToolTip(tip)
            b.setMinimumWidth(220)
            b.clicked.connect(sig.emit)
            lay.addWidget(b, 0, Qt.AlignHCenter)
            self.buttons[key] = b
        lay.addStretch(2)
