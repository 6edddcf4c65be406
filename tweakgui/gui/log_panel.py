"""The fit log: live engine messages with copy, save and clear."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QColor, QGuiApplication, QTextCharFormat
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QToolButton,
    QWidget,
)

from tweakgui.gui.icons import icon
from tweakgui.gui.layouts import bar_above

__all__ = ["LogPanel"]

FLUSH_AFTER_MS = 60  # records arriving meanwhile are inserted together
FLUSH_BUDGET_S = 0.008  # of inserting per turn of the event loop
NEXT_BATCH_MS = 10

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
        bar_above(self, bar, self.text)
        self.last_dir = ""
        # records arrive in bursts (a fit logs dozens of lines): insert them in
        # batches so the event loop never stalls on the log
        self._pending: list[tuple[int, str]] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._flush_batch)

    def follow(self, handler) -> None:
        """Show the records of ``handler`` (a :class:`~tweakgui.gui.loghandler.QtLogHandler`)."""
        self._handler = handler
        handler.emitter.ready.connect(self._take)

    @Slot()
    def _take(self) -> None:
        for level, text in self._handler.take():
            self.append(level, text)

    def append(self, level: int, text: str) -> None:
        self._pending.append((level, text))
        if not self._flush_timer.isActive():
            self._flush_timer.start(FLUSH_AFTER_MS)

    def _flush_batch(self) -> None:
        self.flush(FLUSH_BUDGET_S)

    def flush(self, budget_s: float | None = None) -> None:
        """Insert the pending records; those left after ``budget_s`` (None: no limit) on the next turn.

        The absolute stage of a mosaic logs a few thousand lines in bursts: inserting one whole
        burst held the window 30 ms and more.
        """
        if not self._pending:
            return
        start = time.perf_counter()
        cursor = self.text.textCursor()
        cursor.beginEditBlock()
        cursor.movePosition(cursor.MoveOperation.End)
        plain = QTextCharFormat()
        done = 0
        for level, text in self._pending:
            if not self.text.document().isEmpty():
                cursor.insertBlock()
            fmt = plain
            color = LEVEL_COLOR.get(level)
            if color is not None:
                fmt = QTextCharFormat()
                fmt.setForeground(color)
            cursor.insertText(text, fmt)
            done += 1
            if budget_s is not None and done % 16 == 0 and time.perf_counter() - start > budget_s:
                break
        cursor.endEditBlock()
        del self._pending[:done]
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())
        if self._pending:
            self._flush_timer.start(NEXT_BATCH_MS)

    def plain_text(self) -> str:
        self.flush()
        return self.text.toPlainText()

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())

    def save(self, path: str) -> None:
        from tweakgui.engine.io.atomic import atomic_write_text

        atomic_write_text(path, self.plain_text() + "\n")

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save log", self.last_dir, "Text (*.txt *.log)")
        if path:
            self.save(path)
