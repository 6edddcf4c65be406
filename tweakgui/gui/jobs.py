"""One job at a time in a worker thread, with serial numbers and cancel.

:class:`JobRunner` starts each job with the worker recipe of
:mod:`tweakgui.gui.worker`, numbers it, and forwards only the signals of the
current job: a result whose serial is not the latest is dropped (ginga's
Pick plugin does the same).  A job requested while another runs cancels the
running one and starts when it has ended, so at most one worker computes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from tweakgui.gui.worker import Job, start_job

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "GUI_SWITCH_INTERVAL"]

# While a worker thread computes in pure Python (astropy models, GWCS), the GUI thread waits for the
# GIL on every return from Qt; at CPython's default 5 ms each wait, painting a view took hundreds of
# ms.  With 0.5 ms the worst gap of the 100-image mosaic's run fell from 367 to 161 ms.  At 690 images
# a painting turn takes the GIL ~300 times while the worker computes the result's footprints: 0.1 ms
# gave a worst run gap of 57 ms where 0.5 ms gave 170-528 ms, the run no slower (25-27 s).
GUI_SWITCH_INTERVAL = 0.0001
START_AFTER_MS = 10  # a job's function starts on the GUI thread's turn this long after (see Job.go)


class JobRunner(QObject):
    """Runs jobs one after the other; all its signals arrive in the GUI thread."""

    started = Signal(str)  # kind
    progress = Signal(str, int, int, str)  # stage, done, total, message
    ended = Signal(str)  # kind: emitted before finished / errored
    finished = Signal(str, object)  # kind, result
    errored = Signal(str, object, str)  # kind, exception, traceback text

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), GUI_SWITCH_INTERVAL))
        self.serial = 0
        self.job: Job | None = None
        self.threads: dict[int, tuple] = {}
        self._pending: tuple | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None

    def start(self, kind: str, fn: Callable, *args, with_callbacks: bool = True, **kwargs) -> None:
        """Run ``fn`` in a worker thread (after the running job, which is cancelled)."""
        if self.job is not None:
            self._pending = (kind, fn, args, with_callbacks, kwargs)
            self.job.cancel.set()
            self.job.go.set()
            return
        self.serial += 1
        job = Job(kind, self.serial, fn, *args, with_callbacks=with_callbacks, **kwargs)
        self.job = job
        self.started.emit(kind)
        thread, worker = start_job(job, self, self._on_started, self._on_progress,
                                   self._on_finished, self._on_errored)
        QTimer.singleShot(START_AFTER_MS, self, lambda: job.go.set())
        # keep the Python wrappers alive until the thread has really ended
        self.threads[job.serial] = (thread, worker)
        thread.finished.connect(self._forget_finished_threads)

    def cancel(self) -> bool:
        """Ask the running job to stop at its next check; False if nothing runs."""
        self._pending = None
        if self.job is None:
            return False
        self.job.cancel.set()
        self.job.go.set()
        return True

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel and wait for every worker thread (window closing). True if all stopped."""
        self.cancel()
        ok = True
        for thread, _worker in list(self.threads.values()):
            try:
                thread.quit()
                ok = thread.wait(timeout_ms) and ok
            except RuntimeError:  # already deleted: it had finished
                pass
        return bool(ok)

    @Slot()
    def _forget_finished_threads(self) -> None:
        for serial, (thread, _worker) in list(self.threads.items()):
            if thread.isFinished():
                # finished is emitted before the thread has run its deferred
                # deletes (the worker's deleteLater): let it end, then drop it
                thread.wait()
                del self.threads[serial]

    def _current(self, serial: int) -> bool:
        return self.job is not None and serial == self.job.serial

    def _end(self, serial: int) -> str | None:
        """The kind of the ending job, or None when it is outdated (or superseded)."""
        if not self._current(serial):
            log.debug("dropping the result of outdated job %d", serial)
            return None
        kind = self.job.kind
        self.job = None
        self.ended.emit(kind)
        if self._pending is not None:  # a newer request supersedes this result
            kind_, fn, args, cb, kwargs = self._pending
            self._pending = None
            self.start(kind_, fn, *args, with_callbacks=cb, **kwargs)
            return None
        return kind

    @Slot(int)
    def _on_started(self, serial: int) -> None:
        pass  # the job counts as started when it was queued (``started`` above)

    @Slot(int, str, int, int, str)
    def _on_progress(self, serial: int, stage: str, done: int, total: int, message: str) -> None:
        if self._current(serial):
            self.progress.emit(stage, done, total, message)

    @Slot(int, str, object)
    def _on_finished(self, serial: int, kind: str, result: Any) -> None:
        if self._end(serial) is not None:
            self.finished.emit(kind, result)

    @Slot(int, str, object, str)
    def _on_errored(self, serial: int, kind: str, exc: Any, tb: str) -> None:
        if self._end(serial) is not None:
            self.errored.emit(kind, exc, tb)
