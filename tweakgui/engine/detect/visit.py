"""Source catalogs of a visit: reused, custom, cached or detected, per exposure and chip."""

from __future__ import annotations

import logging
import threading

from astropy.table import Table

from tweakgui.engine.detect import parallel
from tweakgui.engine.detect.cache import default_cache
from tweakgui.engine.detect.custom import read_custom_catalog
from tweakgui.engine.model import Cancelled, InputError, ProgressFn, Visit

__all__ = ["catalog_key", "detect_visit"]

log = logging.getLogger(__name__)


def catalog_key(exposure, chip) -> tuple[str, str]:
    return (exposure.name, chip.name)


def detect_visit(visit: Visit, params, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, reuse: dict | None = None,
                 jobs: int | None = None, scheduler=None, cache="default"):
    """Source catalogs per exposure and chip; errors per exposure (None where fine).

    Catalogs come, in this order, from ``reuse``, the custom catalog, the
    ``cache`` (a :class:`~tweakgui.engine.detect.cache.CatalogCache`; ``"default"``
    is the process-wide one, None disables it) or detection, which runs on
    ``jobs`` processes or on the Dask ``scheduler`` (see
    :mod:`tweakgui.engine.detect.parallel`) and fills the cache.
    """
    reuse = reuse or {}
    if isinstance(cache, str) and cache == "default":
        cache = default_cache()
    n = len(visit.exposures)
    cats: list[list] = [[None] * len(e.chips) for e in visit.exposures]
    errs: list[list] = [[None] * len(e.chips) for e in visit.exposures]
    keys: dict[tuple[int, int], str] = {}
    tasks, task_of = [], []
    ready = 0
    for ei, exp in enumerate(visit.exposures):
        todo = []
        for ci, chip in enumerate(exp.chips):
            key = catalog_key(exp, chip)
            try:
                if key in reuse:
                    cats[ei][ci] = reuse[key]
                elif params.use_custom_catalogs and chip.catalog_path is not None:
                    cats[ei][ci] = read_custom_catalog(chip.catalog_path)
                else:
                    if cache is not None:
                        keys[(ei, ci)] = cache.key(exp, chip, params)
                        cats[ei][ci] = cache.get(keys[(ei, ci)])
                    if cats[ei][ci] is None:
                        todo.append(ci)
            except InputError as e:
                errs[ei][ci] = str(e)
            except Exception as e:  # one image's failure never stops the others
                log.debug("catalog failed", exc_info=True)
                errs[ei][ci] = f"{chip.name}: {e}"
        if todo:
            tasks.append((exp, todo))
            task_of.append(ei)
        else:  # reused, custom or cached: reported as the serial loop would
            Cancelled.check(cancel)
            if progress:
                progress("detect", ready, n, exp.name)
            ready += 1
    if tasks:
        log.info("detecting sources in %d of %d images", len(tasks), n)
    results = parallel.run_detection(tasks, params, jobs=jobs, scheduler=scheduler, progress=progress,
                                     cancel=cancel, done_before=ready, total=n)
    for ei, res in zip(task_of, results):
        for ci, cat, err in res:
            cats[ei][ci], errs[ei][ci] = cat, err
            if err is None and cache is not None and (ei, ci) in keys:
                cache.put(keys[(ei, ci)], cat)
    errors: list[str | None] = []
    for ei, exp in enumerate(visit.exposures):
        err = None
        for ci in range(len(exp.chips)):
            if errs[ei][ci] is not None:
                err = errs[ei][ci]
                cats[ei][ci] = Table(names=("x", "y"), dtype=(float, float))
        if err is None and sum(len(c) for c in cats[ei]) == 0:
            err = "no sources found (lower snr_threshold, check the image or the exclusions)"
        log.info("%s: %d sources%s", exp.name, sum(len(c) for c in cats[ei]), f" ({err})" if err else "")
        errors.append(err)
    if progress:
        progress("detect", n, n, "done")
    return cats, errors

