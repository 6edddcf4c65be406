"""Cyclic garbage collection in the GUI thread only.

Python's cyclic collector runs in whichever thread happens to allocate; when
that is the worker thread it may destroy Qt objects (pyqtgraph items of a
closed window, caught in reference cycles) outside the GUI thread, and Qt
crashes.  While a window is open, automatic collection is off and a timer in
the GUI thread collects with the interpreter's usual thresholds (the recipe of
pyqtgraph's ``GarbageCollector``); the last window to close turns automatic
collection back on.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["acquire", "release"]

_users = 0
_timer: QTimer | None = None
_was_enabled = True


def _check() -> None:
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 > t0:
        gc.collect(2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0)


def acquire(parent: QObject) -> None:
    """A window opens: collect in the GUI thread from now on."""
    global _users, _timer, _was_enabled
    _users += 1
    if _timer is None:
        _was_enabled = gc.isenabled()
        gc.disable()
        _timer = QTimer(parent)
        _timer.setInterval(500)
        _timer.timeout.connect(_check)
        _timer.start()


def release() -> None:
    """A window closed: the last one restores automatic collection."""
    global _users, _timer
    _users = max(0, _users - 1)
    if _users == 0 and _timer is not None:
        _timer.stop()
        _timer.deleteLater()
        _timer = None
        gc.collect()
        if _was_enabled:
            gc.enable()
