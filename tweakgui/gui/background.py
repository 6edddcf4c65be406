"""Short background calls whose latest answer wins (reading and stretching pixels).

Alignment jobs go through :class:`~tweakgui.gui.jobs.JobRunner`; this is for
the small things that must not block the event loop either, such as opening a
2048×2048 chip and stretching it when the user clicks another image.  Calls
run one at a time in a private thread pool; an answer is delivered (in the GUI
thread) only if no newer call was submitted meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from tweakgui.gui.priority import lower_this_thread
from tweakgui.gui.worker import describe_error

log = logging.getLogger(__name__)

__all__ = ["LatestCall"]


class _Relay(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    def __init__(self, serial: int, fn: Callable[[], Any], relay: _Relay):
        super().__init__()
        self.serial, self.fn, self.relay = serial, fn, relay

    def run(self) -> None:
        lower_this_thread()
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - reported to the GUI
            log.debug("background call failed", exc_info=True)
            self.relay.failed.emit(self.serial, describe_error(exc))
        else:
            self.relay.done.emit(self.serial, result)


class LatestCall(QObject):
    """Run ``fn`` off the GUI thread; only the answer of the latest call is delivered."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.serial = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._done)
        self._relay.failed.connect(self._failed)
        self._callbacks: dict[int, tuple[Callable, Callable | None]] = {}

    @property
    def pending(self) -> bool:
        return self.serial in self._callbacks

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[str], None] | None = None) -> int:
        self.serial += 1
        self._callbacks = {self.serial: (on_done, on_error)}  # older answers are dropped
        self._pool.start(_Task(self.serial, fn, self._relay))
        return self.serial

    def cancel(self) -> None:
        """Drop the answer of any call on its way (the call itself runs to its end)."""
        self.serial += 1
        self._callbacks = {}

    def wait(self, timeout_ms: int = 10000) -> bool:
        """Block until the pool is idle (closing, tests)."""
        return self._pool.waitForDone(timeout_ms)

    @Slot(int, object)
    def _done(self, serial: int, result: Any) -> None:
        cbs = self._callbacks.pop(serial, None)
        if cbs is not None:
            cbs[0](result)

    @Slot(int, str)
    def _failed(self, serial: int, message: str) -> None:
        cbs = self._callbacks.pop(serial, None)
        if cbs is not None and cbs[1] is not None:
            cbs[1](message)
