"""PySide6 6.12 on Python 3.11 drops references to None and True on signal emissions;
tweakgui.gui pins them so a long session cannot crash in none_dealloc / bool_dealloc."""

import sys

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

import tweakgui.gui  # noqa: F401  (pins the singletons)


class _Emitter(QObject):
    changed = Signal(object)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="immortal singletons since Python 3.12")
def test_singletons_survive_many_emissions(qtbot):
    e = _Emitter()
    e.changed.connect(lambda v: None)
    act = QAction("x")
    act.triggered.connect(lambda _c=False: None)
    for _ in range(20000):
        e.changed.emit(True)
        act.trigger()
    assert sys.getrefcount(True) > 1 << 39
    assert sys.getrefcount(None) > 1 << 39
