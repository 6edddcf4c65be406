"""Per-image source detection on several processes or on a Dask cluster.

Detection is independent per image and CPU-bound (Python holds the GIL in
much of photutils), so it runs in worker processes: each reads one image,
detects, returns the small catalogs and drops the pixels, so no process
holds more than one image.  Results come back in input order whatever the
order of completion.  Progress is reported per image as
``progress("detect", done, total, name)``, ``done`` counting finished
images and ``name`` the first unfinished one: at the start and after each
image, as the serial loop does.  The ``threading.Event`` is checked after
each report and while waiting; a cancelled run stops submitting,
terminates its workers and raises
:class:`~tweakgui.engine.model.Cancelled` at once.

Worker processes are forked from a single-threaded parent (the command
line); from a multithreaded one (the GUI's worker thread) they come from a
``forkserver`` that imported the detection code once, since forking a
multithreaded process is not safe and spawning would import photutils again
for every pool.

With ``scheduler`` the same per-image tasks go to a Dask distributed
cluster (``"local"`` starts a :class:`distributed.LocalCluster`; an address
such as ``"tcp://host:8786"`` connects to a running scheduler; a
``distributed.Client`` is used as is).  The workers must see the input
files under the same paths.  Dask is imported only then.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from .interrupts import deferred
from .model import Cancelled, Exposure, InputError

__all__ = ["default_jobs", "detect_exposure", "run_detection", "warm_up", "DetectTask"]

log = logging.getLogger(__name__)

# (exposure, chip indices to detect)
DetectTask = tuple[Exposure, Sequence[int]]
_POLL = 0.05  # s between cancel checks while waiting for workers
_PRELOAD = ["tweakgui.engine.pipeline", "tweakgui.engine.detect", "tweakgui.engine.inputs",
            "tweakgui.engine.exclusions", "tweakgui.engine.align", "tweakgui.engine.mosaic",
            "photutils.detection", "photutils.background", "sep", "scipy.ndimage"]


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def detect_exposure(exposure: Exposure, chip_indices: Sequence[int], params) -> list:
    """Detect sources in the given chips of one exposure (runs in a worker).

    Returns ``[(chip_index, table, None) | (chip_index, None, error), ...]``;
    errors are one-line messages, as the serial path reports them.
    """
    from .pipeline import _detect_chip

    out = []
    for ci in chip_indices:
        chip = exposure.chips[ci]
        try:
            out.append((ci, _detect_chip(exposure, chip, params), None))
        except InputError as e:
            out.append((ci, None, str(e)))
        except Exception as e:  # one image's failure never stops the others
            log.debug("detection failed", exc_info=True)
            out.append((ci, None, f"{chip.name}: {e}"))
    return out


def _check(cancel):
    if cancel is not None and cancel.is_set():
        raise Cancelled("alignment cancelled")


def run_detection(tasks: list[DetectTask], params, jobs: int | None = None, scheduler=None,
                  progress: Callable | None = None, cancel: threading.Event | None = None,
                  done_before: int = 0, total: int | None = None) -> list[list]:
    """Run :func:`detect_exposure` for every task; results in the order of ``tasks``.

    Parameters
    ----------
    tasks : list of (Exposure, chip indices)
    params : TweakRegParams
    jobs : int, optional
        Worker processes (default: all cores).  One job, or one task,
        detects in this process.
    scheduler : str or distributed.Client, optional
        ``"local"``, a scheduler address, or a client: run on Dask instead.
    progress : callable(stage, done, total, message), optional
    cancel : threading.Event, optional
    done_before, total : int
        Images already done by the caller (e.g. from the cache) and the
        total count, for the progress numbers.
    """
    total = len(tasks) + done_before if total is None else total
    if not tasks:
        return []
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise InputError(f"jobs must be >= 1, got {jobs}")
    if scheduler is not None:
        return _run_on_dask(tasks, params, scheduler, jobs, progress, cancel, done_before, total)
    if jobs == 1 or len(tasks) == 1:
        results = []
        for i, (exp, chips) in enumerate(tasks):
            _check(cancel)
            if progress:
                progress("detect", done_before + i, total, exp.name)
            results.append(detect_exposure(exp, chips, params))
        return results
    return _run_pool(tasks, params, min(jobs, len(tasks)), progress, cancel, done_before, total)


def _context():
    # fork is fast and needs no importable __main__, but forking a process
    # with other threads (the GUI runs this in a QThread) can deadlock the child
    alone = threading.current_thread() is threading.main_thread() and threading.active_count() == 1
    if alone and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    if "forkserver" in mp.get_all_start_methods():
        return _forkserver_context()
    return mp.get_context("spawn")


def _die_with_parent(parent: int) -> None:
    """Make a worker exit when the run that started it dies.

    A run killed with SIGKILL cannot stop its pool: the workers would wait for
    work forever.  On Linux the kernel sends SIGKILL to a forked or spawned
    worker when its parent, the run, goes away; a forkserver's worker (the
    GUI's case) has the forkserver as parent, which outlives the run, so a
    daemon thread also checks every second that the run is still there.
    """
    import sys

    from .interrupts import worker_setup

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

        _forkserver_context()
        try:
            forkserver.ensure_running()
        except Exception:  # a failure here only means a slower first run
            log.debug("forkserver warm-up failed", exc_info=True)

    t = threading.Thread(target=start, name="tweakgui-forkserver-warm-up", daemon=True)
    t.start()
    return t


def _forkserver_context():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _run_pool(tasks, params, workers, progress, cancel, done_before, total):
    results: list = [None] * len(tasks)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    pending: dict = {}
    nxt = done = 0
    ok = False
    try:
        _report(progress, tasks, results, done_before, total)
        _check(cancel)
        while done < len(tasks):
            # keep every worker busy and one task queued, no more: a cancel
            # then has little to throw away and memory stays bounded
            while nxt < len(tasks) and len(pending) < workers + 1:
                exp, chips = tasks[nxt]
                # the first submit forks the workers: a signal half-way would leave
                # one the pool does not know, waiting for work forever
                with deferred():
                    pending[pool.submit(detect_exposure, exp, chips, params)] = nxt
                nxt += 1
            finished, _ = wait(list(pending), timeout=_POLL, return_when=FIRST_COMPLETED)
            _check(cancel)
            for fut in finished:  # one report per image, even when several end together
                i = pending.pop(fut)
                results[i] = fut.result()
                done += 1
                if done < len(tasks):
                    _report(progress, tasks, results, done_before, total)
                    _check(cancel)
        ok = True
        return results
    finally:
        _shutdown(pool, pending, graceful=ok)


def _report(progress, tasks, results, done_before, total):
    if progress:
        done = sum(r is not None for r in results)
        first = next(i for i, r in enumerate(results) if r is None)
        progress("detect", done_before + done, total, tasks[first][0].name)


def _shutdown(pool: ProcessPoolExecutor, pending: dict, graceful: bool) -> None:
    if graceful:
        pool.shutdown(wait=True)
        return
    t0 = time.perf_counter()
    for fut in pending:
        fut.cancel()
    procs = list(getattr(pool, "_processes", {}).values())  # no public handle on the workers
    for p in procs:
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(timeout=1.0)
        if p.is_alive():  # stuck in C code ignoring SIGTERM
            p.kill()
            p.join(timeout=1.0)
    log.info("detection stopped: %d workers terminated in %.2f s", len(procs), time.perf_counter() - t0)


def _dask_client(scheduler, jobs):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("scheduler: Dask is not installed (pip install 'tweakgui[dask]')") from None
    if isinstance(scheduler, Client):
        return scheduler, None, False
    if str(scheduler).strip().lower() == "local":
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster, True
    try:
        return Client(str(scheduler), timeout="5s"), None, True
    except (OSError, TimeoutError, ValueError) as e:
        raise InputError(f"scheduler: cannot connect to {scheduler} ({e})") from None


def _run_on_dask(tasks, params, scheduler, jobs, progress, cancel, done_before, total):
    """Submit one detection task per image to Dask; results in the order of ``tasks``.

    ``scheduler``: ``"local"`` (a LocalCluster of ``jobs`` single-threaded
    worker processes, closed afterwards), an address (the client is closed
    afterwards, the cluster stays) or a ``distributed.Client`` (left open).
    """
    from distributed import wait

    client, cluster, own = _dask_client(scheduler, jobs)
    run_id = uuid.uuid4().hex[:8]
    futures = []
    try:
        nworkers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
        log.info("detecting on Dask (%s, %d workers)", client.scheduler.address, nworkers)
        results = [None] * len(tasks)
        index = {}
        pending = set()
        nxt = done = 0
        _report(progress, tasks, results, done_before, total)
        _check(cancel)
        while done < len(tasks):
            while nxt < len(tasks) and len(pending) < 2 * nworkers:
                exp, chips = tasks[nxt]
                fut = client.submit(detect_exposure, exp, list(chips), params, pure=False,
                                    key=f"tweakgui-detect-{run_id}-{nxt}")
                index[fut.key] = nxt
                futures.append(fut)
                pending.add(fut)
                nxt += 1
            try:
                finished, _ = wait(list(pending), timeout=_POLL, return_when="FIRST_COMPLETED")
            except Exception as e:  # distributed's timeout type varies between versions
                if "timeout" not in type(e).__name__.lower():
                    raise
                finished = set()
            _check(cancel)
            for fut in finished:  # one report per image, even when several end together
                pending.discard(fut)
                results[index[fut.key]] = fut.result()
                done += 1
                if done < len(tasks):
                    _report(progress, tasks, results, done_before, total)
                    _check(cancel)
        return results
    finally:
        if futures:
            client.cancel([f for f in futures if not f.done()])
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
