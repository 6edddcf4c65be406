"""The reference sources of the selected chip, projected in a background thread."""

import threading

import numpy as np
import pytest
from astropy.table import Table

from tweakgui.gui.reference_layer import ReferenceLayer, reference_pixels


class _ShiftWcs:
    """A WCS whose pixels are the sky positions shifted by ``dx``; it waits for ``gate``."""

    def __init__(self, dx, gate=None):
        self.dx, self.gate, self.calls = dx, gate, 0

    def world_to_pixel_values(self, ra, dec):
        self.calls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        return np.asarray(ra) + self.dx, np.asarray(dec)


REFCAT = Table({"RA": [10.0, 20.0, 30.0, 120.0], "DEC": [5.0, 6.0, 7.0, 8.0]})
SHAPE = (50, 100)


def test_reference_pixels_keeps_the_sources_on_the_chip():
    x, y = reference_pixels(REFCAT, _ShiftWcs(-15.0), SHAPE)
    assert x.tolist() == [5.0, 15.0] and y.tolist() == [6.0, 7.0]  # x -5 and 105: off the chip


@pytest.fixture
def layer(qtbot):
    drawn = []
    lay = ReferenceLayer(drawn.append)
    yield lay, drawn
    lay.wait(5000)


def test_layer_drawn_when_the_projection_arrives_and_remembered(qtbot, layer):
    lay, drawn = layer
    gate = threading.Event()
    wcs = _ShiftWcs(1.0, gate)
    lay.show(REFCAT, wcs, SHAPE)
    assert drawn == [None] and lay.pending  # nothing of another chip meanwhile
    gate.set()
    qtbot.waitUntil(lambda: len(drawn) == 2, timeout=5000)
    assert drawn[1][0].tolist() == [11.0, 21.0, 31.0]
    lay.show(REFCAT, wcs, SHAPE)  # shown again: at once, not projected again
    assert drawn[2][0].tolist() == [11.0, 21.0, 31.0] and wcs.calls == 1 and not lay.pending


def test_answer_for_a_chip_no_longer_shown_is_dropped(qtbot, layer):
    lay, drawn = layer
    gate = threading.Event()
    slow, fast = _ShiftWcs(1.0, gate), _ShiftWcs(2.0)
    lay.show(REFCAT, slow, SHAPE)
    qtbot.waitUntil(lambda: slow.calls == 1, timeout=5000)  # projecting (it waits for the gate)
    lay.show(REFCAT, fast, SHAPE)  # the user selected another chip meanwhile
    gate.set()
    qtbot.waitUntil(lambda: not lay.pending, timeout=5000)
    qtbot.wait(50)
    assert [d[0].tolist() for d in drawn if d is not None] == [[12.0, 22.0, 32.0]]
    assert slow.calls == 1  # it ran; its answer was not drawn
    # a remembered chip drawn at once also drops the answer on its way
    gate.clear()
    slow2 = _ShiftWcs(3.0, gate)
    lay.show(REFCAT, slow2, SHAPE)
    lay.show(REFCAT, fast, SHAPE)
    gate.set()
    lay.wait(5000)
    qtbot.wait(50)
    assert drawn[-1][0].tolist() == [12.0, 22.0, 32.0]
    lay.clear()
    assert drawn[-1] is None


def test_held_projection_starts_when_released_and_only_the_latest(qtbot, layer):
    """A selection's projection waits while its panels are drawn; another chip asked for meanwhile
    replaces it, and the released one is the latest chip's."""
    lay, drawn = layer
    first, second = _ShiftWcs(1.0), _ShiftWcs(2.0)
    lay.show(REFCAT, first, SHAPE, hold=True)
    lay.show(REFCAT, second, SHAPE, hold=True)
    qtbot.wait(50)
    assert drawn == [None, None] and lay.pending and first.calls == second.calls == 0
    lay.start_held()
    qtbot.waitUntil(lambda: len(drawn) == 3, timeout=5000)
    assert drawn[2][0].tolist() == [12.0, 22.0, 32.0] and (first.calls, second.calls) == (0, 1)
    assert not lay.pending
    lay.start_held()  # nothing held any more
    qtbot.wait(20)
    assert len(drawn) == 3


def test_window_projects_the_reference_after_the_residual_panels(qtbot, make_window, small_demo, load_and_run):
    """The selected chip's reference sources are projected once its residual panels are drawn."""
    win = make_window(abs_refcat=str(small_demo.refcat))
    load_and_run(win, small_demo.paths)
    qtbot.waitUntil(lambda: not win.residuals.drawing and not win.ref_layer.pending, timeout=10000)
    started = []
    win.ref_layer._calls.submit = (lambda submit: lambda *a: (started.append(win.residuals.drawing),
                                                              submit(*a))[1])(win.ref_layer._calls.submit)
    win.ctl.select_image(small_demo.paths[2].name)
    assert win.residuals.drawing and win.ref_layer.pending
    qtbot.waitUntil(lambda: not win.ref_layer.pending, timeout=10000)
    assert started == [False]  # submitted once, after the last panel
    assert win.image_view.count("refcat") > 0


def test_quick_selections_start_no_projection_until_one_stands(qtbot, layer):
    """Chips shown one after another within SETTLE_MS start no projection but the last one's: each
    GWCS inverse took the GIL in turns with the next selection's drawing."""
    from tweakgui.gui.reference_layer import SETTLE_MS

    lay, drawn = layer
    first, second, third = _ShiftWcs(1.0), _ShiftWcs(2.0), _ShiftWcs(3.0)
    lay.show(REFCAT, first, SHAPE)
    qtbot.wait(SETTLE_MS // 3)
    lay.show(REFCAT, second, SHAPE, hold=True)
    lay.start_held()  # its panels drawn
    qtbot.wait(SETTLE_MS // 3)
    lay.show(REFCAT, third, SHAPE)
    qtbot.waitUntil(lambda: not lay.pending, timeout=5000)
    assert (first.calls, second.calls, third.calls) == (0, 0, 1)
    assert drawn[-1][0].tolist() == [13.0, 23.0, 33.0]
