"""Cyclic garbage collection in the GUI thread only."""


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
