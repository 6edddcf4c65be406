"""A logging handler that turns records into a Qt signal (the fit log)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

__all__ = ["LogEmitter", "QtLogHandler"]


class LogEmitter(QObject):
    """Carries formatted records; connected with a queued connection across threads."""

    record = Signal(int, str)  # level, formatted text


class QtLogHandler(logging.Handler):
    """Emit every record as ``emitter.record(level, text)``.

    Safe to call from the worker thread: emitting a signal is thread-safe and
    the receiving widget lives in the GUI thread, so delivery is queued.
    """

    def __init__(self, level=logging.INFO):
        super().__init__(level)
        self.emitter = LogEmitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.emitter.record.emit(record.levelno, text)
        except RuntimeError:
            # the emitter was deleted when the window closed; drop the record
            pass
        except Exception:  # noqa: BLE001
            self.handleError(record)
