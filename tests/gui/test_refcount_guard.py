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


def test_cycles_are_collected_in_the_gui_thread_only(qtbot, fake_engine):
    """The cyclic collector must not run in a worker thread (it could free Qt objects there)."""
    import gc
    import threading
    from unittest.mock import Mock

    from tweakgui.gui.controller import SessionController
    from tweakgui.gui.view import SessionView

    assert gc.isenabled()
    ctl = SessionController(Mock(spec=SessionView), fake_engine.api())
    assert not gc.isenabled()
    collected_in = []
    gc.callbacks.append(lambda phase, info: phase == "start"
                        and collected_in.append(threading.current_thread() is threading.main_thread()))
    try:
        for _ in range(3):  # garbage with cycles: the GUI-thread timer collects it
            junk = [[] for _ in range(5000)]
            for a, b in zip(junk, junk[1:]):
                a.append(b)
                b.append(a)
            del junk
        qtbot.waitUntil(lambda: len(collected_in) > 0, timeout=3000)
        assert all(collected_in)
    finally:
        gc.callbacks.pop()
        assert ctl.shutdown(5000)
    assert gc.isenabled()
