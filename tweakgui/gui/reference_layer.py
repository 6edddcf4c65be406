"""The reference catalog's sources on the chip on display, projected off the GUI thread.

Projecting them through a JWST chip's GWCS (``world_to_pixel``: gwcs builds its inverse
compound transform on every call) held the GUI thread ~50 ms per selected image of a
mosaic.  The projection now runs in a background thread of its own (not the run's worker)
and the layer is drawn when it arrives; an answer for a chip no longer on display is
dropped.  Answers are remembered per WCS object, so showing a chip again draws at once.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, QTimer

from tweakgui.gui.background import LatestCall
from tweakgui.gui.footprints import chip_footprint, near_footprint
from tweakgui.gui.prefill import ObjectMemo

log = logging.getLogger(__name__)

__all__ = ["ReferenceLayer", "reference_pixels", "SETTLE_MS"]

# a projection starts when its chip has stood this long (its panels drawn): clicking through a
# mosaic's images, each GWCS inverse (~50-150 ms of Python in the thread) took the GIL in turns
# with the next selection's drawing and doubled it
SETTLE_MS = 150

_PIXELS = ObjectMemo()
_MISSING = object()


def reference_pixels(refcat, wcs, shape):
    """(x, y) chip pixels (0-based) of the reference sources that fall on the chip, or None
    when its WCS cannot project them."""
    ra, dec = near_footprint(np.asarray(refcat["RA"], float), np.asarray(refcat["DEC"], float),
                             chip_footprint(wcs, shape))
    try:
        x, y = wcs.world_to_pixel_values(ra, dec)
    except Exception as exc:  # noqa: BLE001 - the layer stays empty
        log.debug("refcat projection failed: %s", exc)
        return None
    x, y = np.asarray(x, float), np.asarray(y, float)
    ny, nx = shape
    inside = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    return x[inside], y[inside]


class ReferenceLayer(QObject):
    """Draws ``draw(xy or None)`` for the chip last asked for, now if known, else when projected."""

    def __init__(self, draw, parent: QObject | None = None):
        super().__init__(parent)
        self._draw = draw
        self._calls = LatestCall(self)
        self._shown = None  # what was asked for last: (refcat, wcs, shape)
        self._held = None  # a projection to start at start_held()
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._submit_held)

    @property
    def pending(self) -> bool:
        return self._held is not None or self._calls.pending

    def show(self, refcat, wcs, shape, hold: bool = False) -> None:
        """Show ``refcat`` projected through ``wcs`` on a chip of ``shape`` (None: no layer).

        With ``hold`` a projection to be made starts only at :meth:`start_held`: the GWCS
        evaluation holds the GIL in turns with the GUI thread, and while the selection's panels
        are drawn and painted each of the GUI thread's calls into Python waited for it.
        """
        shape = tuple(shape)
        self._held = None
        self._settle.stop()
        self._shown = asked = (refcat, wcs, shape)
        if refcat is None or wcs is None:
            self.clear()
            return
        tag = (id(refcat), len(refcat), shape)
        xy = _PIXELS.lookup(wcs, tag, _MISSING)
        if xy is not _MISSING:
            self._calls.cancel()
            self._draw(xy)
            return
        self._draw(None)

        def project():
            return _PIXELS.get(wcs, tag, lambda: reference_pixels(refcat, wcs, shape))

        def done(xy):
            if self._shown is asked:
                self._draw(xy)

        self._held = (project, done)
        if hold:
            self._calls.cancel()
        else:
            self.start_held()

    def start_held(self) -> None:
        """Start the projection :meth:`show` held, if any, when no other chip is asked for
        within :data:`SETTLE_MS`."""
        if self._held is not None:
            self._settle.start()

    def _submit_held(self) -> None:
        if self._held is not None:
            project, done = self._held
            self._held = None
            self._calls.submit(project, done, lambda message: log.debug("refcat projection failed: %s", message))

    def clear(self) -> None:
        """No layer; an answer on its way is dropped."""
        self._held = None
        self._settle.stop()
        self._shown = None
        self._calls.cancel()
        self._draw(None)

    def wait(self, timeout_ms: int = 10000) -> bool:
        return self._calls.wait(timeout_ms)
