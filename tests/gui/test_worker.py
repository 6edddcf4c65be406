"""The worker threads: what they send the GUI thread, and at which priority they compute."""

import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from tweakgui.gui.jobs import JobRunner
from tweakgui.gui.priority import BACKGROUND_NICENESS, thread_niceness

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


@pytest.fixture
def runner():
    jobs = JobRunner()
    yield jobs
    assert jobs.shutdown()  # no QThread outlives its runner


def _run(qtbot, runner, fn, *args, **kwargs):
    with qtbot.waitSignal(runner.finished, timeout=60000) as blocker:
        runner.start("run", fn, *args, **kwargs)
    return blocker.args[1]


def test_a_stage_s_steps_reach_the_gui_thinned_and_its_end_always(qtbot, runner):
    """1000 steps sent at once arrive as a few; the last step of each stage always arrives."""
    got = []
    runner.progress.connect(lambda stage, done, total, message: got.append((stage, done, total)))

    def job(progress=None, cancel=None):
        for stage in ("detect", "fit"):
            for i in range(1000):
                progress(stage, i + 1, 1000, f"{i}")
        return "done"

    assert _run(qtbot, runner, job) == "done"
    qtbot.wait(10)
    assert got[0] == ("detect", 1, 1000)  # the first step shows at once
    assert ("detect", 1000, 1000) in got and got[-1] == ("fit", 1000, 1000)
    assert got.index(("detect", 1000, 1000)) < got.index(("fit", 1, 1000))  # the stages in order
    assert len(got) < 100


@linux_only
def test_jobs_and_the_processes_they_start_compute_below_the_gui_thread(qtbot, runner):
    gui = thread_niceness()

    def job(progress=None, cancel=None):
        # a process started from the job's thread (spawned: a forkserver already running, started
        # by another test from the main thread, would hand out its own priority)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            child = pool.submit(os.nice, 0).result(timeout=60)
        return thread_niceness(), child, threading.current_thread() is threading.main_thread()

    worker, child, in_main = _run(qtbot, runner, job)
    assert not in_main
    assert worker == min(19, gui + BACKGROUND_NICENESS)
    assert child >= worker
    assert thread_niceness() == gui  # the GUI thread keeps its priority


def test_a_burst_of_log_records_is_one_queued_call(qtbot):
    """Records logged in a burst by a worker reach the fit log in one queued call, not one each:
    690 images' source counts, each call waiting for the GIL, held the GUI thread ~60 ms."""
    import logging
    import threading

    from PySide6.QtCore import QEvent, QObject

    from tweakgui.gui.log_panel import LogPanel
    from tweakgui.gui.loghandler import QtLogHandler

    panel = LogPanel()
    qtbot.addWidget(panel)
    handler = QtLogHandler()
    panel.follow(handler)
    log = logging.getLogger("tweakgui.test_log_burst")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)
    calls = []

    class CountCalls(QObject):
        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.MetaCall:
                calls.append(obj)
            return False

    counter = CountCalls()
    panel.installEventFilter(counter)
    try:
        worker = threading.Thread(target=lambda: [log.info("image %d: %d sources", i, 100 + i) for i in range(500)])
        worker.start()
        worker.join()  # the GUI thread handles no event meanwhile
        qtbot.waitUntil(lambda: "image 499: 599 sources" in panel.plain_text(), timeout=3000)
    finally:
        log.removeHandler(handler)
    lines = panel.plain_text().splitlines()
    assert len(lines) == 500 and lines[0].endswith("image 0: 100 sources")
    assert len(calls) == 1


def test_a_job_starts_computing_after_the_gui_thread_s_next_turn(qtbot, runner):
    """The window repaints for a job's start before the job computes: its first Python took the GIL
    in turns with that repaint."""
    import time

    started = threading.Event()
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.start("run", lambda: started.set() or 42, with_callbacks=False)
        time.sleep(0.1)  # the GUI thread busy (no turn of its event loop)
        assert not started.is_set()
    assert started.is_set() and blocker.args == ["run", 42]


def test_a_big_burst_of_log_records_is_inserted_over_several_turns(qtbot, monkeypatch):
    """Thousands of records pending are inserted a time budget's worth per turn of the event loop,
    in order, with timers running in between (a mosaic's burst held the window 30 ms and more);
    copying the log takes them all."""
    import logging

    from PySide6.QtCore import QTimer

    from tweakgui.gui import log_panel
    from tweakgui.gui.log_panel import LogPanel

    monkeypatch.setattr(log_panel, "FLUSH_BUDGET_S", 0.002)
    panel = LogPanel()
    qtbot.addWidget(panel)
    inserted = []
    flush = panel.flush
    panel.flush = lambda *a, **k: (flush(*a, **k), inserted.append(panel.text.document().blockCount()))
    ticks = []
    tick = QTimer()
    tick.timeout.connect(lambda: ticks.append(len(inserted)))
    tick.start(1)
    n = 5000
    for i in range(n):
        panel.append(logging.WARNING if i % 7 == 0 else logging.INFO, f"image {i}: {100 + i} sources")
    qtbot.waitUntil(lambda: not panel._pending, timeout=10000)
    tick.stop()
    assert len(inserted) >= 3 and inserted == sorted(inserted) and inserted[-1] == n
    assert len(set(ticks)) >= 3  # the timer ran between the batches
    lines = panel.plain_text().splitlines()
    assert lines[0] == "image 0: 100 sources" and lines[-1] == f"image {n - 1}: {n + 99} sources"
    panel.append(logging.INFO, "last")
    assert panel.plain_text().splitlines()[-1] == "last"  # pending records taken at once
