"""Reference cycles are collected in the GUI thread only, for as long as the application lives.

The cyclic collector runs in whichever thread allocates; in the worker thread it may
destroy Qt objects of a closed window there, and Qt crashes.
"""

import gc
import threading

from tweakgui.gui.app import ensure_gc

_freed_in: list[str] = []  # names of the threads that destroyed a _Node


class _Node:
    """A member of a reference cycle that records the thread that destroys it."""

    def __init__(self):
        self.other = None

    def __del__(self):
        _freed_in.append(threading.current_thread().name)


def _cycles_and_churn(kept, n_cycles=50, n_churn=200_000):
    """Make cycles, then allocate far past every collection threshold.

    The last 5000 allocations stay in ``kept``: the collector's timer collects
    when more containers were allocated than freed since the last collection.
    """
    for _ in range(n_cycles):
        a, b = _Node(), _Node()
        a.other, b.other = b, a
    for i in range(n_churn):  # container allocations are what trigger automatic collection
        kept.append([i])
        if len(kept) > 5000 and i < n_churn - 5000:
            kept.clear()


def test_one_collector_per_application(qapp):
    collector = ensure_gc(qapp)
    assert ensure_gc(qapp) is collector
    assert collector.timer.isActive() and collector.timer.parent() is qapp
    assert collector.timer.thread() is qapp.thread()
    assert not gc.isenabled()


def test_cycles_made_in_a_worker_are_freed_in_the_gui_thread(qapp, qtbot):
    _freed_in.clear()
    kept = []
    worker = threading.Thread(target=_cycles_and_churn, args=(kept,), name="worker")
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    # with automatic collection on, the churn would have freed the cycles in the worker
    assert _freed_in == []
    qtbot.waitUntil(lambda: len(_freed_in) == 100, timeout=5000)
    assert set(_freed_in) == {threading.main_thread().name}


def _checked(collector, rounds, after_check=None) -> list[int]:
    """The generations the interpreter collected while survivors pile up and the collector checks."""
    generations = []

    def record(phase, info):
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(record)
    try:
        kept = []  # survivors, as a worker's loaded GWCS objects are
        for _ in range(rounds):
            kept.extend([i] for i in range(collector.threshold[0] + 10))  # past the young threshold
            n = len(generations)
            collector.check()
            if after_check is not None:
                after_check(generations[n:])
    finally:
        gc.callbacks.remove(record)
    return generations


def test_full_collections_come_in_small_steps(qapp):
    """A full collection (and freeze) follows every ``full_every`` middle-generation collections,
    not the interpreter's ten: each walks fewer of the objects a worker made meanwhile."""
    from tweakgui.gui.app import GuiCollector

    collector = GuiCollector(full_every=2)
    collector.timer.stop()  # checked by hand below, without an event loop
    generations = _checked(collector, 200)
    fulls = [i for i, g in enumerate(generations) if g == 2]
    assert len(fulls) >= 3
    between = [generations[a + 1:b].count(1) for a, b in zip(fulls, fulls[1:])]
    assert between == [2] * len(between)


def test_by_default_every_middle_collection_is_full(qapp):
    """The default collector has no middle generation: after the young collections comes a
    full one (and a freeze), so no collection walks two middle generations' survivors at once."""
    from tweakgui.gui.app import GuiCollector

    collector = GuiCollector()
    collector.timer.stop()
    emptied = []

    def after_check(new):
        if new == [2]:  # survivors frozen: the next full one starts from nothing
            emptied.append(gc.get_objects(1) == [] and gc.get_objects(2) == [])

    generations = _checked(collector, 100, after_check)
    assert emptied and all(emptied)
    assert 1 not in generations
    fulls = [i for i, g in enumerate(generations) if g == 2]
    assert len(fulls) >= 5
    young = [b - a - 1 for a, b in zip(fulls, fulls[1:])]
    # three young collections between full ones, not the interpreter's ten: a full collection after
    # eleven walked their survivors at once (35-50 ms while a mosaic's results came in)
    assert young == [3] * len(young)
