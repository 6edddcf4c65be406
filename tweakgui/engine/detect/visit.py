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
                 jobs: int | None = None, scheduler=None, cache="default", meanwhile=None):
    """Source catalogs per exposure and chip; errors per exposure (None where fine).

    Catalogs come, in this order, from ``reuse``, the custom catalog, the
    ``cache`` (a :class:`~tweakgui.engine.detect.cache.CatalogCache`; ``"default"``
    is the process-wide one, None disables it) or detection, which runs on
    ``jobs`` processes or on the Dask ``scheduler`` (see
    :mod:`tweakgui.engine.detect.parallel`) and fills the cache.
    ``meanwhile``: called once in this process while the detection runs
    elsewhere (see :func:`~tweakgui.engine.detect.parallel.run_detection`).
    """
    if isinstance(cache, str) and cache == "default":
        cache = default_cache()
    n = len(visit.exposures)
    cats: list[list] = [[None] * len(e.chips) for e in visit.exposures]
    errs: list[list] = [[None] * len(e.chips) for e in visit.exposures]
    keys: dict[tuple[int, int], str] = {}
    tasks, task_of = [], []
    ready = 0
    for ei, exp in enumerate(visit.exposures):
        todo = [ci for ci in range(len(exp.chips))
                if not _known_catalog(exp, (ei, ci), params, reuse or {}, cache, cats[ei], errs[ei], keys)]
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
                                     cancel=cancel, done_before=ready, total=n, meanwhile=meanwhile)
    for ei, res in zip(task_of, results):
        for ci, cat, err in res:
            cats[ei][ci], errs[ei][ci] = cat, err
            if err is None and cache is not None and (ei, ci) in keys:
                cache.put(keys[(ei, ci)], cat)
    errors = [_exposure_error(exp, cats[ei], errs[ei]) for ei, exp in enumerate(visit.exposures)]
    if progress:
        progress("detect", n, n, "done")
    return cats, errors


def _known_catalog(exp, index, params, reuse, cache, cats, errs, keys) -> bool:
    """Fill ``cats[ci]`` from ``reuse``, the custom catalog or the cache; False when it must be detected.

    ``index`` is (exposure, chip) index; the cache key of a chip to detect goes to ``keys[index]``.
    """
    ci = index[1]
    chip = exp.chips[ci]
    key = catalog_key(exp, chip)
    try:
        if key in reuse:
            cats[ci] = reuse[key]
        elif chip.catalog_path is not None and (params.use_custom_catalogs or exp.meta.get("catalog_input")):
            cats[ci] = read_custom_catalog(chip.catalog_path, chip.meta.get("catalog_select"))
        elif not exp.has_pixels:
            raise InputError(f"{exp.name}: no pixels to detect sources in; give it a custom catalog "
                             "(catfile or use_custom_catalogs)")
        elif cache is not None:
            keys[index] = cache.key(exp, chip, params)
            cats[ci] = cache.get(keys[index])
    except InputError as e:
        errs[ci] = str(e)
    except Exception as e:  # one image's failure never stops the others
        log.debug("catalog failed", exc_info=True)
        errs[ci] = f"{chip.name}: {e}"
    return cats[ci] is not None or errs[ci] is not None


def _exposure_error(exp, cats: list, errs: list) -> str | None:
    """The exposure's error (its chips' catalogs emptied), or None; logged with the source count."""
    err = None
    for ci in range(len(exp.chips)):
        if errs[ci] is not None:
            err = errs[ci]
            cats[ci] = Table(names=("x", "y"), dtype=(float, float))
    if err is None and sum(len(c) for c in cats) == 0:
        err = "no sources found (lower snr_threshold, check the image or the exclusions)"
    log.info("%s: %d sources%s", exp.name, sum(len(c) for c in cats), f" ({err})" if err else "")
    return err
