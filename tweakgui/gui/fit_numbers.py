"""Each fit's per-image numbers (matches, used, RMS), computed once per fit and, for a run's
result, in the worker: the files table shows them for every image, and for a 690-image mosaic
counting them in the GUI thread held it for a third of a second."""

from __future__ import annotations

import threading
import weakref

from tweakgui.engine.fit.residual_frames import numbers_by_image

__all__ = ["fit_numbers", "prefill_fit_numbers"]

# id(fit) -> (weak reference to the fit, {image: ImageNumbers}); the engine never changes a fit
_NUMBERS: dict[int, tuple] = {}
_LOCK = threading.Lock()


def fit_numbers(fit) -> dict:
    """``numbers_by_image(fit.matches)``, remembered for the life of ``fit``."""
    key = id(fit)
    hit = _NUMBERS.get(key)
    if hit is not None and hit[0]() is fit:
        return hit[1]
    numbers = numbers_by_image(fit.matches) if fit.matches is not None else {}
    try:
        ref = weakref.ref(fit)
    except TypeError:
        return numbers
    with _LOCK:
        if len(_NUMBERS) > 20000:  # forget the fits that are gone
            for k in [k for k, v in _NUMBERS.items() if v[0]() is None]:
                del _NUMBERS[k]
        _NUMBERS[key] = (ref, numbers)
    return numbers


def prefill_fit_numbers(out) -> None:
    """Count the fits of one part of a job's output (in the worker): a run's VisitResult."""
    for r in getattr(out, "images", None) or []:
        for f in r.fits:
            fit_numbers(f)
