"""A logging handler that hands records to the GUI thread in batches (the fit log)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

__all__ = ["LogEmitter", "QtLogHandler"]


class LogEmitter(QObject):
    """Says that records wait in the handler; connected with a queued connection across threads."""

    ready = Signal()  # emitted when the first record of a batch arrives


class QtLogHandler(logging.Handler):
    """Keep formatted records until :meth:`take`; ``emitter.ready`` when the first one arrives.

    Safe to call from the worker thread.  A signal per record was a queued call per record:
    the detection stage logs each image's source count, and 690 calls, each waiting for the GIL
    while the worker built the next stage's catalogs, held the GUI thread ~60 ms.  Now a burst
    costs one call, which takes every record waiting.
    """

    def __init__(self, level=logging.INFO):
        super().__init__(level)
        self.emitter = LogEmitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                            "%H:%M:%S"))
        self._records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            with self.lock:
                first = not self._records
                self._records.append((record.levelno, text))
            if first:
                self.emitter.ready.emit()
        except RuntimeError:
            # the emitter was deleted when the window closed; drop the record
            pass
        except Exception:  # noqa: BLE001
            self.handleError(record)

    def take(self) -> list[tuple[int, str]]:
        """The records waiting, ``(level, text)`` in the order logged; the handler keeps none."""
        with self.lock:
            records, self._records = self._records, []
        return records
