"""Computations yield the CPU to the GUI thread.

On two busy cores a run's worker thread, its reading and fitting processes and the GUI
thread share the CPU: the GUI thread got about half of a core, and each of its longer
moments (a collection, a repaint) took twice as long on the clock.  The threads that
compute for the GUI lower their own priority; on Linux niceness belongs to each thread
and what a thread starts (its threads, its processes, a forkserver and what that forks)
inherits it, so the GUI thread alone keeps the process's priority.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["BACKGROUND_NICENESS", "lower_this_thread", "thread_niceness"]

# above the GUI thread's: at 10 a thread weighs a tenth of the GUI thread with the scheduler
BACKGROUND_NICENESS = 10


def thread_niceness() -> int | None:
    """The calling thread's niceness (None where threads have none of their own)."""
    if not sys.platform.startswith("linux"):
        return None
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def lower_this_thread(increment: int = BACKGROUND_NICENESS) -> bool:
    """Give the calling thread ``increment`` more niceness than the main thread's (once; Linux only).

    Returns whether the thread now runs at that lower priority.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + increment)
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
        return True
    except OSError:  # not permitted: the default priority
        return False
