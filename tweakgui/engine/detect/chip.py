"""Sources of one chip: its pixels less bad pixels and the user's exclusions, then the finder."""

from __future__ import annotations

from astropy.table import Table

from tweakgui.engine.detect import finders
from tweakgui.engine.detect.exclusions import exclusion_mask
from tweakgui.engine.io.inputs import read_pixels

__all__ = ["detect_chip"]


def detect_chip(exposure, chip, params) -> Table:
    """Sources of one chip: its pixels, less bad pixels and the user's exclusions."""
    data, mask = read_pixels(exposure, chip)
    spec = chip.meta.get("exclusion")
    if spec:
        ex = exclusion_mask(spec, data.shape, chip.wcs)
        if ex is not None:
            mask = mask | ex
    if mask.all():  # the readers mask non-finite pixels: nothing left to detect on
        raise ValueError("no valid pixels (all NaN or masked)")
    return finders.detect_sources(data, params, mask=mask)
