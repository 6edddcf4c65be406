"""Each fit's per-image numbers (matches, used, RMS), computed once per fit and, for a run's
result, in the worker (:func:`tweakgui.gui.prefill.with_prefill`): the files table shows them
for every image, and for a 690-image mosaic counting them in the GUI thread held it for a third
of a second."""

from __future__ import annotations

from tweakgui.engine.fit.residual_frames import numbers_by_image
from tweakgui.gui.prefill import ObjectMemo

__all__ = ["fit_numbers", "prefill_fit_numbers"]

_NUMBERS = ObjectMemo()


def fit_numbers(fit) -> dict:
    """``numbers_by_image(fit.matches)``, remembered for the life of ``fit``."""
    return _NUMBERS.get(fit, None, lambda: numbers_by_image(fit.matches) if fit.matches is not None else {})


def prefill_fit_numbers(out) -> None:
    """Count the fits of one part of a job's output (in the worker): a run's VisitResult."""
    for r in getattr(out, "images", None) or []:
        for f in r.fits:
            fit_numbers(f)
