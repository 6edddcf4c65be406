"""SIGINT and SIGTERM for the command line: stop soon, cleanly, with nothing left behind.

:func:`handle_signals` installs handlers that, at the first signal, set a
``threading.Event`` (the run's cancel event, checked between stages and
while waiting for workers) and raise :class:`Interrupted` in the main thread
once.  Later signals only set the flag: a second Ctrl-C never interrupts the
clean-up of the first (temporary files removed, workers terminated).

Inside :func:`deferred` blocks (starting worker processes, creating a
temporary file, swapping files in) the exception waits until the block ends:
an exception raised half-way through ``fork`` or ``mkstemp`` would leave a
worker nobody terminates or a temporary file nobody removes.

A forked worker inherits the handlers; it ignores SIGINT (its run stops it)
and exits at once on SIGTERM (that is how its run terminates it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["Interrupted", "handle_signals", "deferred", "check", "pending", "worker_setup"]

_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")


class _State:
    def __init__(self):
        self.active = False
        self.pid = os.getpid()
        self.signum: int | None = None
        self.raised = False
        self.depth = 0
        self.cancel = threading.Event()


_state = _State()


def _handler(signum, frame):
    if os.getpid() != _state.pid:  # a forked worker before its initializer ran
        if signum == getattr(signal, "SIGTERM", None):
            os._exit(128 + signum)
        return
    if _state.signum is None:
        _state.signum = signum
    _state.cancel.set()
    if _state.depth == 0 and not _state.raised:
        _state.raised = True
        raise Interrupted(signum)


def pending() -> int | None:
    """The signal received during the current :func:`handle_signals` block, if any."""
    return _state.signum if _state.active else None


def check() -> None:
    """Raise :class:`Interrupted` if a signal came (e.g. its exception was swallowed by a library)."""
    if _state.active and _state.signum is not None:
        _state.raised = True
        raise Interrupted(_state.signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the exception of a signal until the block ends (the cancel event is still set)."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
    if _state.depth == 0 and _state.active and _state.signum is not None and not _state.raised:
        _state.raised = True
        raise Interrupted(_state.signum)


@contextlib.contextmanager
def handle_signals(restore: bool = True) -> Iterator[threading.Event]:
    """Install the handlers for the block; yields the cancel event.  Main thread only.

    ``restore``: put the previous handlers back afterwards (in-process
    callers).  A process about to exit passes False: a signal after the block
    then ends it at once, quietly, instead of with Python's traceback.
    Elsewhere (a thread, or a platform without these signals) the block runs
    with a cancel event nobody sets.
    """
    if threading.current_thread() is not threading.main_thread() or _state.active:
        yield threading.Event() if not _state.active else _state.cancel
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    _state.__init__()
    _state.active = True
    try:
        for s in _SIGNALS:
            signal.signal(s, _handler)
        yield _state.cancel
    finally:
        for s, h in previous.items():
            signal.signal(s, (h if h is not None else signal.SIG_DFL) if restore else _late_handler)
        _state.active = False


def _late_handler(signum, frame):
    import sys

    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(128 + signum)


def worker_setup() -> None:
    """In a worker process: ignore SIGINT (its run stops it), die at once on SIGTERM."""
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM at the OS level for a short critical step (swapping files in)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    except (AttributeError, ValueError, OSError):
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
