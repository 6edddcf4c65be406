"""Worker processes of a run: how they start, and that they die with it.

Worker processes are forked from a single-threaded parent (the command
line); from a multithreaded one (the GUI's worker thread) they come from a
``forkserver`` that imported the engine once, since forking a multithreaded
process is not safe and spawning would import photutils again for every
pool.  Detection (:mod:`tweakgui.engine.detect.parallel`) and the fits of
many groups (:mod:`tweakgui.engine.fit.mosaic`) share one forkserver.  A
forked worker finds what the parent registered with :func:`inherited`
without pickling.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import multiprocessing as mp
import os
import pickle
import threading
import time

import numpy as np

__all__ = ["default_jobs", "pool_context", "forkserver_context", "die_with_parent", "freeze_inherited",
           "detection_worker", "keep_freed_memory", "warm_up", "inherited", "inherited_value",
           "single_threaded", "batches", "pickled_in_turns", "unpickled_in_turns"]

log = logging.getLogger(__name__)

_PRELOAD = ["tweakgui.engine.pipeline", "tweakgui.engine.detect.finders", "tweakgui.engine.io.inputs",
            "tweakgui.engine.detect.exclusions", "tweakgui.engine.fit.align", "tweakgui.engine.fit.mosaic",
            "photutils.detection", "photutils.background", "sep", "scipy.ndimage"]


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def single_threaded() -> bool:
    """Whether this process runs one thread only (the command line, not the GUI)."""
    # a QThread running Python is no thread to threading.active_count(): ask who is running too
    return threading.current_thread() is threading.main_thread() and threading.active_count() == 1


def batches(items, n: int) -> list:
    """``items`` cut into at most ``n`` consecutive, non-empty slices of near-equal length."""
    bounds = np.linspace(0, len(items), n + 1).astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def pool_context():
    """The start method for a pool started from this thread."""
    # fork is fast and needs no importable __main__, but forking a process
    # with other threads (the GUI runs this in a QThread) can deadlock the child
    if single_threaded() and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    if "forkserver" in mp.get_all_start_methods():
        return forkserver_context()
    return mp.get_context("spawn")


def die_with_parent(parent: int) -> None:
    """Make a worker exit when the run that started it dies.

    A run killed with SIGKILL cannot stop its pool: the workers would wait for
    work forever.  On Linux the kernel sends SIGKILL to a forked or spawned
    worker when its parent, the run, goes away; a forkserver's worker (the
    GUI's case) has the forkserver as parent, which outlives the run, so a
    daemon thread also checks every second that the run is still there.
    """
    import sys

    from tweakgui.engine.interrupts import worker_setup

    # Ctrl-C reaches the whole process group: the run, not each worker, handles it
    worker_setup()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
    if not _running(parent):  # the run died before this worker started
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="tweakgui-watch-run", daemon=True).start()
    freeze_inherited()


def freeze_inherited() -> None:
    """Keep the cyclic garbage collector off what the worker inherited (``gc.freeze``).

    A forked worker inherits its parent's heap (a mosaic's GWCS and results,
    millions of objects); each full collection walked all of it again while
    the worker unpickled its tasks: 9 ms per GWCS instead of ~2.5 ms.
    """
    import gc

    gc.freeze()


def detection_worker(parent: int) -> None:
    """Initializer of a detection process: it dies with the run and reuses its arrays' memory."""
    die_with_parent(parent)
    keep_freed_memory()


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Let this process reuse the memory of its large temporary arrays (glibc; elsewhere a no-op).

    glibc gives every allocation above its mmap threshold (at most 32 MiB) pages of its own and
    hands them back when it is freed: each 2048x2048 temporary of a detection (about twenty
    per image) then costs the kernel 4000 page faults and 16 MB of zeroing, a sixth of the
    detection's CPU and more on a busy machine.  With large blocks kept on the heap the next
    image reuses them.  The peak memory is that of one image's temporaries, as before; it is
    only held between images.  Returns whether the allocator took the settings.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc: its own allocator's defaults
        return False


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's (the pid was reused)
        return False
    return True


def _watch(parent: int) -> None:
    while _running(parent):
        time.sleep(1.0)
    os._exit(1)


def warm_up() -> threading.Thread | None:
    """Start the forkserver (and its imports of the detection code) in the background.

    An application that runs alignments from a worker thread (the GUI) calls
    this once at start-up, so its first detection neither waits ~2 s for the
    server's imports nor pauses the event loop while the server is forked.
    Returns the thread doing it, or None where there is no forkserver.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return None

    def start():
        from multiprocessing import forkserver

        forkserver_context()
        try:
            forkserver.ensure_running()
        except Exception:  # a failure here only means a slower first run
            log.debug("forkserver warm-up failed", exc_info=True)

    t = threading.Thread(target=start, name="tweakgui-forkserver-warm-up", daemon=True)
    t.start()
    return t


def forkserver_context():
    """The forkserver context, its server importing the engine once."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


_INHERITED: dict[int, object] = {}
_inherited_keys = itertools.count()


@contextlib.contextmanager
def inherited(obj, ctx):
    """A key under which processes ``ctx`` forks from this one find ``obj``, or None (other start methods).

    A forked worker has the parent's memory: what it needs need not be pickled
    by the parent and unpickled by the worker (a mosaic stage's GWCS, catalogs
    and reference catalog: ~3 + ~5 ms per image).  The pool must fork its
    workers inside the block (a fork pool starts them all at its first task);
    they see ``obj`` as it was then, and their changes stay theirs.
    """
    if ctx.get_start_method() != "fork":
        yield None
        return
    key = next(_inherited_keys)
    _INHERITED[key] = obj
    try:
        yield key
    finally:
        _INHERITED.pop(key, None)


def inherited_value(key):
    """In a forked worker: the object the parent registered under ``key`` (:func:`inherited`)."""
    return _INHERITED[key]


def pickled_in_turns(objs) -> bytes:
    """``objs`` pickled one after another into one stream with one memo (what they share is pickled once).

    For a pool's task from a multithreaded parent: its feeder thread pickled a mosaic chunk's entries
    in one call, and GWCS models pickle in C, so the GIL was held up to ~20 ms at a time (the GUI thread
    waited).  Here each object is a call of its own, with a turn for other threads between them; the
    bytes the feeder then pickles are only copied.  Read with :func:`unpickled_in_turns`.
    """
    from multiprocessing.reduction import ForkingPickler

    buf = io.BytesIO()
    pickler = ForkingPickler(buf, pickle.HIGHEST_PROTOCOL)
    for obj in objs:
        pickler.dump(obj)
    return buf.getvalue()


def unpickled_in_turns(data: bytes) -> list:
    """The objects :func:`pickled_in_turns` wrote, in order, sharing what they shared."""
    f = io.BytesIO(data)
    unpickler = pickle.Unpickler(f)
    out = []
    while f.tell() < len(data):
        out.append(unpickler.load())
    return out
