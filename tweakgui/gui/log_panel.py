"""The fit log: live engine messages with copy, save and clear."""

from __future__ import annotations

import logging

from PySide6.QtCore import Slot
from PySide6.QtGui import QColor, QGuiApplication, QTextCharFormat
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

from tweakgui.gui.icons import icon

__all__ = ["LogPanel"]

LEVEL_COLOR = {logging.WARNING: QColor(180, 110, 0), logging.ERROR: QColor(200, 30, 30),
               logging.CRITICAL: QColor(200, 30, 30)}


class LogPanel(QWidget):
    """Shows records delivered by :class:`~tweakgui.gui.loghandler.QtLogHandler`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setObjectName("log")
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(20000)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        bar = QHBoxLayout()
        bar.addStretch(1)
        for name, tip, slot in (("copy", "Copy the whole log", self.copy_all),
                                ("save", "Save the log to a text file", self.save_dialog),
                                ("clear", "Clear the log", self.text.clear)):
            b = QToolButton()
            b.setIcon(icon(name))
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.text, 1)
        self.last_dir = ""

    @Slot(int, str)
    def append(self, level: int, text: str) -> None:
        fmt = QTextCharFormat()
        color = LEVEL_COLOR.get(level)
        if color is not None:
            fmt.setForeground(color)
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not self.text.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, fmt)
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())

    def save(self, path: str) -> None:
        from tweakgui.engine.atomic import atomic_write_text

        atomic_write_text(path, self.plain_text() + "\n")

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save log", self.last_dir, "Text (*.txt *.log)")
        if path:
            self.save(path)
