"""Each image's residual components along its chips' axes, computed once per fit and image
and, for a run's result, in the worker (:func:`tweakgui.gui.prefill.with_prefill`).

Taking a residual to a chip's detector axes evaluates the chip's WCS four times per match
(its local Jacobian); a JWST GWCS builds its transform again on every call, so selecting a
mosaic image held the GUI thread for tens of milliseconds for this alone.
"""

from __future__ import annotations

import numpy as np

from tweakgui.gui.prefill import ObjectMemo
from tweakgui.gui.residuals import plotted_components

__all__ = ["image_components", "prefill_components"]

_COMPONENTS = ObjectMemo()


def image_components(fit, image: str, matches, wcs_of):
    """``plotted_components(matches, wcs_of)`` of ``image``'s own rows of ``fit``'s matches,
    remembered for the life of ``fit`` (its images' fitted WCSs are those of its result)."""
    per_image = _COMPONENTS.get(fit, None, dict)
    hit = per_image.get(image)
    if hit is None:
        hit = per_image[image] = plotted_components(matches, wcs_of)
    return hit


def prefill_components(out) -> None:
    """The components of every image in the fit shown first (its last successful one), for one
    part of a job's output (in the worker): a run's VisitResult."""
    images = getattr(out, "images", None) or []
    fitted = {}
    for r in images:
        for ci, c in enumerate(r.exposure.chips):
            new = r.new_wcs[ci] if r.new_wcs and ci < len(r.new_wcs) else None
            fitted[(r.exposure.name, c.name)] = new if new is not None else c.wcs

    def wcs_of(image, chip):
        return fitted.get((image, chip))

    for r in images:
        fit = r.fit or (r.fits[-1] if r.fits else None)
        if fit is None or fit.matches is None or not len(fit.matches):
            continue
        name = r.exposure.name
        m = fit.matches
        image_components(fit, name, m[np.asarray(m["image"]).astype(str) == name], wcs_of)
