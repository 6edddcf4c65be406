"""What the view needs of a job's output, computed in the worker and remembered per object.

A GWCS footprint costs milliseconds and counting a fit's matches per image a fraction of one;
for 690 images either would hold the GUI thread for a third of a second or more.  After a
load or a run the worker computes them (:func:`with_prefill`); the GUI thread looks them up.
"""

from __future__ import annotations

import logging
import threading
import weakref

log = logging.getLogger(__name__)

__all__ = ["ObjectMemo", "job_parts", "with_prefill"]


class ObjectMemo:
    """A value per object, remembered for the object's life (the engine never changes the
    objects it hands out: WCSs, fits); filled from any thread."""

    def __init__(self, limit: int = 20000):
        self._items: dict[int, tuple] = {}  # id(obj) -> (weak reference, tag, value)
        self._lock = threading.Lock()
        self._limit = limit

    def lookup(self, obj, tag, default=None):
        """The value remembered for ``obj`` and ``tag``, else ``default``."""
        hit = self._items.get(id(obj))
        return hit[2] if hit is not None and hit[0]() is obj and hit[1] == tag else default

    def get(self, obj, tag, compute):
        """The value remembered for ``obj`` and ``tag``, else ``compute()`` (remembered when
        ``obj`` takes weak references)."""
        hit = self._items.get(id(obj))
        if hit is not None and hit[0]() is obj and hit[1] == tag:
            return hit[2]
        value = compute()
        try:
            ref = weakref.ref(obj)
        except TypeError:
            return value
        with self._lock:
            if len(self._items) > self._limit:  # forget the objects that are gone
                for k in [k for k, v in self._items.items() if v[0]() is None]:
                    del self._items[k]
            self._items[id(obj)] = (ref, tag, value)
        return value


def job_parts(out):
    """The objects of a job's output: a Visit, the parts of a (visit, stored results) pair, a
    VisitResult (also the one an ExcludedRun holds)."""
    if isinstance(out, tuple):
        for part in out:
            yield from job_parts(part)
        return
    yield getattr(out, "result", out)


def with_prefill(job):
    """``job`` followed, in the worker, by the footprints, the fits' per-image numbers and
    residual components of what it returns."""
    from tweakgui.gui.fit_components import prefill_components
    from tweakgui.gui.fit_numbers import prefill_fit_numbers
    from tweakgui.gui.footprints import prefill_footprints

    def run(*args, **kwargs):
        out = job(*args, **kwargs)
        for part in job_parts(out):
            for prefill in (prefill_footprints, prefill_fit_numbers, prefill_components):
                try:
                    prefill(part)
                except Exception as exc:  # noqa: BLE001 - computed (or not) in the GUI thread then
                    log.debug("%s failed: %s", prefill.__name__, exc)
        return out
    return run
