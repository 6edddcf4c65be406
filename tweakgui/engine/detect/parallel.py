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

Pools start as :mod:`tweakgui.engine.processes` says (fork, or the shared
forkserver from a thread).

With ``scheduler`` the same per-image tasks go to a Dask distributed
cluster (``"local"`` starts a :class:`distributed.LocalCluster`; an address
such as ``"tcp://host:8786"`` connects to a running scheduler; a
``distributed.Client`` is used as is).  The workers must see the input
files under the same paths.  Dask is imported only then.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from tweakgui.engine.detect.chip import detect_chip
from tweakgui.engine.detect.finders import preload_finders
from tweakgui.engine.interrupts import deferred
from tweakgui.engine.model import Cancelled, Exposure, InputError
from tweakgui.engine.processes import default_jobs, detection_worker, pool_context

__all__ = ["detect_exposure", "for_detection", "run_detection", "DetectTask"]

log = logging.getLogger(__name__)

# (exposure, chip indices to detect)
DetectTask = tuple[Exposure, Sequence[int]]
_POLL = 0.05  # s between cancel checks while waiting for workers


def detect_exposure(exposure: Exposure, chip_indices: Sequence[int], params) -> list:
    """Detect sources in the given chips of one exposure (runs in a worker).

    Returns ``[(chip_index, table, None) | (chip_index, None, error), ...]``;
    errors are one-line messages, as the serial path reports them.
    """
    out = []
    for ci in chip_indices:
        chip = exposure.chips[ci]
        try:
            out.append((ci, detect_chip(exposure, chip, params), None))
        except InputError as e:
            out.append((ci, None, str(e)))
        except Exception as e:  # one image's failure never stops the others
            log.debug("detection failed", exc_info=True)
            out.append((ci, None, f"{chip.name}: {e}"))
    return out


def for_detection(exposure: Exposure) -> Exposure:
    """The exposure as a worker needs it: a chip's WCS only where its exclusion regions need it.

    A worker reads the pixels from the file; the WCS serves exclusion regions
    in sky coordinates only.  Pickling a WCS with SIP for each task costs 4 ms
    there and 5 ms here, a JWST GWCS far more.
    """
    chips = [c if c.meta.get("exclusion") else dataclasses.replace(c, wcs=None) for c in exposure.chips]
    return dataclasses.replace(exposure, chips=chips)


def run_detection(tasks: list[DetectTask], params, jobs: int | None = None, scheduler=None,
                  progress: Callable | None = None, cancel: threading.Event | None = None,
                  done_before: int = 0, total: int | None = None, meanwhile: Callable | None = None) -> list[list]:
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
    meanwhile : callable, optional
        Called once in this process when the workers have their first
        images, so that its time overlaps theirs (the pipeline imports the
        fit stage then); in the serial path, after the detection.
    """
    total = len(tasks) + done_before if total is None else total
    if not tasks:
        return []
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise InputError(f"jobs must be >= 1, got {jobs}")
    meanwhile = meanwhile or (lambda: None)
    if scheduler is not None:
        results = _run_on_dask(tasks, params, scheduler, jobs, progress, cancel, done_before, total)
        meanwhile()
        return results
    if jobs == 1 or len(tasks) == 1:
        results = []
        for i, (exp, chips) in enumerate(tasks):
            Cancelled.check(cancel)
            if progress:
                progress("detect", done_before + i, total, exp.name)
            results.append(detect_exposure(exp, chips, params))
        meanwhile()
        return results
    return _run_pool(tasks, params, min(jobs, len(tasks)), progress, cancel, done_before, total, meanwhile)


def _run_pool(tasks, params, workers, progress, cancel, done_before, total, meanwhile):
    results: list = [None] * len(tasks)
    # what the finders import lazily, imported once here rather than in every forked worker
    preload_finders()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=pool_context(),
                               initializer=detection_worker, initargs=(os.getpid(),))
    pending: dict = {}
    nxt = done = 0
    ok = False
    try:
        _report(progress, tasks, results, done_before, total)
        Cancelled.check(cancel)
        while done < len(tasks):
            # keep every worker busy and one task queued, no more: a cancel
            # then has little to throw away and memory stays bounded
            while nxt < len(tasks) and len(pending) < workers + 1:
                exp, chips = tasks[nxt]
                # the first submit forks the workers: a signal half-way would leave
                # one the pool does not know, waiting for work forever
                with deferred():
                    pending[pool.submit(detect_exposure, for_detection(exp), chips, params)] = nxt
                nxt += 1
            meanwhile()  # the workers are busy: this process's own work overlaps theirs
            meanwhile = _nothing
            Cancelled.check(cancel)
            finished, _ = wait(list(pending), timeout=_POLL, return_when=FIRST_COMPLETED)
            Cancelled.check(cancel)
            for fut in finished:  # one report per image, even when several end together
                i = pending.pop(fut)
                results[i] = fut.result()
                done += 1
                if done < len(tasks):
                    _report(progress, tasks, results, done_before, total)
                    Cancelled.check(cancel)
        ok = True
        return results
    finally:
        _shutdown(pool, pending, graceful=ok)


def _nothing() -> None:
    pass


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
        Cancelled.check(cancel)
        while done < len(tasks):
            while nxt < len(tasks) and len(pending) < 2 * nworkers:
                exp, chips = tasks[nxt]
                fut = client.submit(detect_exposure, for_detection(exp), list(chips), params, pure=False,
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
            Cancelled.check(cancel)
            for fut in finished:  # one report per image, even when several end together
                pending.discard(fut)
                results[index[fut.key]] = fut.result()
                done += 1
                if done < len(tasks):
                    _report(progress, tasks, results, done_before, total)
                    Cancelled.check(cancel)
        return results
    finally:
        if futures:
            client.cancel([f for f in futures if not f.done()])
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
