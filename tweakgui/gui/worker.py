"""One worker recipe: a QObject moved to a QThread that runs one engine call.

The engine reports progress through a plain callback and checks a
``threading.Event``; the worker turns the callback into a Qt signal, so only
signals cross the thread boundary.  Each job carries the serial number the
controller gave it, so results of an outdated job can be recognised and
dropped by the receiver.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from tweakgui.gui.priority import lower_this_thread

log = logging.getLogger(__name__)

__all__ = ["Job", "Worker", "start_job", "PROGRESS_EVERY_S"]

PROGRESS_EVERY_S = 0.05
# a job's function waits at most this long for the GUI thread to have repainted for its start
START_WAIT_S = 0.25


class Job:
    """What a worker runs: ``fn(*args, progress=..., cancel=..., **kwargs)``.

    Parameters
    ----------
    kind : str
        A label for the job ("load", "run", "save"), returned with its result.
    serial : int
        Serial number given by the controller; results whose serial is not
        the latest are ignored.
    fn : callable
        The engine function.  When ``with_callbacks`` is true it receives
        ``progress`` and ``cancel`` keyword arguments.
    """

    def __init__(self, kind: str, serial: int, fn: Callable, *args,
                 with_callbacks: bool = True, **kwargs):
        self.kind = kind
        self.serial = serial
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.with_callbacks = with_callbacks
        self.cancel = threading.Event()
        # set on the GUI thread's turn after the start: the window has repainted for the job (its busy
        # state) by then; the worker's first Python (a run reads its reference catalog) took the GIL
        # in turns with that repaint
        self.go = threading.Event()


class Worker(QObject):
    """Runs one :class:`Job` in its thread and reports through signals."""

    started = Signal(int)  # serial
    progress = Signal(int, str, int, int, str)  # serial, stage, done, total, message
    finished = Signal(int, str, object)  # serial, kind, result
    errored = Signal(int, str, object, str)  # serial, kind, exception, traceback text
    done = Signal()  # always last: the thread may quit

    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self._last_progress = ("", -float("inf"))  # stage, time.monotonic() when sent

    def _progress(self, stage: str, done: int, total: int, message: str = "") -> None:
        # a stage's intermediate steps at most every PROGRESS_EVERY_S: each is a queued call the
        # GUI thread runs with the GIL, and the 690 catalogs of a mosaic, read in a moment, were
        # handled in one turn of the event loop while this thread ran Python (~140 ms)
        now = time.monotonic()
        last_stage, last_time = self._last_progress
        if stage == last_stage and done < total and now - last_time < PROGRESS_EVERY_S:
            return
        self._last_progress = (stage, now)
        self.progress.emit(self.job.serial, str(stage), int(done), int(total), str(message))

    @Slot()
    def run(self) -> None:
        job = self.job
        lower_this_thread()  # and the processes the job starts
        self.started.emit(job.serial)
        job.go.wait(START_WAIT_S)
        try:
            kwargs = dict(job.kwargs)
            if job.with_callbacks:
                kwargs.update(progress=self._progress, cancel=job.cancel)
            result = job.fn(*job.args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            tb = traceback.format_exc()
            self.errored.emit(job.serial, job.kind, exc, tb)
        else:
            self.finished.emit(job.serial, job.kind, result)
        finally:
            self.done.emit()


def start_job(job: Job, parent: QObject, on_started: Callable, on_progress: Callable,
              on_finished: Callable, on_errored: Callable) -> tuple[QThread, Worker]:
    """Move a :class:`Worker` for ``job`` to a new QThread, connect it and start it.

    ``done`` quits the thread and the thread's ``finished`` deletes the worker;
    the caller holds the returned references until the thread has finished, so
    nothing is destroyed while its thread still runs.
    """
    # no Qt parent: the caller keeps the thread alive until it has finished
    thread = QThread()
    thread.setObjectName(f"tweakgui-{job.kind}-{job.serial}")
    worker = Worker(job)
    worker.moveToThread(thread)
    worker.started.connect(on_started)
    worker.progress.connect(on_progress)
    worker.finished.connect(on_finished)
    worker.errored.connect(on_errored)
    worker.done.connect(thread.quit)
    thread.started.connect(worker.run)
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread, worker


def describe_error(exc: Any) -> str:
    """One line for a dialog or the status bar."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text}" if text else name
