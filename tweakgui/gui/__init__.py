"""The Qt desktop application (the only place Qt is imported)."""

import sys


def _pin_bool_singletons() -> None:
    """Keep ``True`` and ``False`` alive whatever extension code does to their refcount.

    PySide6 6.12 drops a reference to ``True`` each time a value that converts
    to true passes through a ``Signal(object)``; pyqtgraph emits such values on
    every view-range change, so on Python 3.11 (where the bool singletons are
    not yet immortal) a long session ends in "Fatal Python error: bool_dealloc".
    Python 3.12 makes these objects immortal; this gives 3.11 the same safety
    by adding a very large count of references once.
    """
    if sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return
    import ctypes

    for obj in (True, False):
        # ob_refcnt is the first field of every object in release builds
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


_pin_bool_singletons()
