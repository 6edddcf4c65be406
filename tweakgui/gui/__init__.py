"""The Qt desktop application (the only place Qt is imported)."""

import sys


def _pin_singletons() -> None:
    """Keep ``None``, ``True`` and ``False`` alive whatever extension code does to their refcount.

    On Python 3.11, PySide6 6.12 drops a reference to ``True`` on every signal
    emission and to ``None`` on every QAction trigger or checkbox toggle (and
    pyqtgraph emits hundreds of signals per plot update), so a session of a
    few minutes ends in "Fatal Python error: bool_dealloc / none_dealloc".
    Python 3.12 makes these objects immortal; this gives 3.11 the same
    safety by adding a very large count of references once.
    """
    if sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return
    import ctypes

    for obj in (None, True, False):
        # ob_refcnt is the first field of every object in release builds
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


_pin_singletons()
