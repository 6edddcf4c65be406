"""Catalog inputs in the GUI: added by File ▸ Add or dropped, shown on an empty canvas, aligned, saved.

The catalogs come from ``make_catalog_visit`` (a known true WCS, perturbed in
the catalog's metadata); the real engine aligns them and the saved headerlets
must hold the true WCS to under 1 mas.
"""

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tweakgui.engine.outputs.headerlet import read_headerlet
from tweakgui.engine.synthetic import make_catalog_visit, wcs_error_mas

SHAPE = (512, 512)


@pytest.fixture(scope="module")
def cat_demo(tmp_path_factory):
    return make_catalog_visit(tmp_path_factory.mktemp("gui_cats"), n_catalogs=3, shape=SHAPE, seed=7)


def _drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    widget.dropEvent(ev)


def _shows_canvas(win, n_sources):
    iv = win.image_view
    assert iv.image.image is None and iv.canvas_shown  # no pixels, the chip's outline
    x, y = iv._outline.getData()
    assert (x.min(), x.max(), y.min(), y.max()) == (-0.5, SHAPE[1] - 0.5, -0.5, SHAPE[0] - 0.5)
    (x0, x1), (y0, y1) = iv.plot.viewRange()
    assert x0 <= 0 and x1 >= SHAPE[1] - 1 and y0 <= 0 and y1 >= SHAPE[0] - 1  # the whole extent in view
    assert iv.count("detected") == n_sources
    assert "catalog input: no pixels" in iv.title.text()


def test_dropped_catalogs_shown_aligned_and_saved(qtbot, make_window, cat_demo, tmp_path):
    win = make_window(abs_refcat=str(cat_demo.refcat))
    ctl = win.ctl
    with qtbot.waitSignal(ctl.jobDone, timeout=30000) as b:
        _drop(win.files, cat_demo.paths)
    assert b.args == ["load", True]
    assert win.files.names() == [p.name for p in cat_demo.paths]
    tip = win.files.model.index(0, 0).data(Qt.ToolTipRole)
    assert "catalog input (no pixels); WCS from metadata 'wcs'" in tip
    # before any run: the catalog's own sources on an empty canvas of the chip's size
    n0 = len(Table.read(cat_demo.paths[0]))
    qtbot.waitUntil(lambda: win.image_view.count("detected") == n0, timeout=10000)
    _shows_canvas(win, n0)

    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        win.actions["run"].trigger()
    assert b.args == ["run", True]
    res = ctl.result
    assert [r.status for r in res.images] == ["SUCCESS"] * 3
    for r in res.images:
        assert wcs_error_mas(r.new_wcs[0], cat_demo.truth[r.exposure.name][0], SHAPE) < 1.0

    # inspect the second catalog: its sources, its matches and the reference catalog on the canvas
    name = cat_demo.paths[1].name
    read = []
    engine_read = ctl.engine.read_sources
    ctl.engine.read_sources = lambda *a: read.append(a) or engine_read(*a)
    ctl.select_image(name)
    qtbot.waitUntil(lambda: not win.image_view.loading, timeout=10000)
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    assert read == []  # the run's catalog is shown: the file is not read again
    fit = ctl.shown_fit(name)
    mine = fit.matches[fit.matches["image"] == name]
    _shows_canvas(win, len(res.images[1].catalogs[0]))
    assert win.image_view.count("matched") == int(np.sum(mine["used"])) > 50
    qtbot.waitUntil(lambda: win.image_view.count("refcat") > 50, timeout=10000)  # projected in the background
    assert len(win.matches.model.rows) == len(mine)

    out = tmp_path / "out"
    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        ctl.save(out)
    assert b.args == ["save", True]
    names = {p.name for p in out.iterdir()}
    assert {"demo01_hlet.fits", "demo02_hlet.fits", "demo03_hlet.fits", "tweakreg_report.json"} <= names
    assert not [n for n in names if n.endswith("_tweakreg.fits")]  # no image to write
    for p in cat_demo.paths:
        w = read_headerlet(out / p.name.replace("_cat.ecsv", "_hlet.fits")).wcs[("SCI", 1)]
        assert wcs_error_mas(w, cat_demo.truth[p.name][0], SHAPE) < 1.0

    # a saved session reopens the catalogs with their results
    from tweakgui.gui import menus

    session = tmp_path / "cats.tweakgui.json"
    menus.save_session(win, str(session))
    win2 = make_window()
    with qtbot.waitSignal(win2.ctl.jobDone, timeout=30000) as b:
        menus.open_session(win2, str(session))
    assert b.args == ["load", True]
    assert win2.files.names() == [p.name for p in cat_demo.paths]
    assert [r.status for r in win2.ctl.result.images] == ["SUCCESS"] * 3
    for r in win2.ctl.result.images:
        assert wcs_error_mas(r.new_wcs[0], cat_demo.truth[r.exposure.name][0], SHAPE) < 1.0


def test_add_dialog_takes_catalogs_beside_images(qtbot, make_window, cat_demo, small_demo, monkeypatch):
    """File ▸ Add with an image and a catalog: pixels for the one, an empty canvas for the other."""
    from PySide6.QtWidgets import QFileDialog

    seen = {}

    def choose(parent, caption, folder, filters):
        seen["filters"] = filters
        return [str(small_demo.paths[0]), str(cat_demo.paths[2])], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", choose)
    win = make_window()
    with qtbot.waitSignal(win.ctl.jobDone, timeout=30000) as b:
        win.actions["add"].trigger()
    assert b.args == ["load", True]
    assert "*.ecsv" in seen["filters"]
    assert win.files.names() == [small_demo.paths[0].name, cat_demo.paths[2].name]
    qtbot.waitUntil(lambda: win.image_view.image.image is not None, timeout=10000)
    assert not win.image_view.canvas_shown
    win.ctl.select_image(cat_demo.paths[2].name)
    n = len(Table.read(cat_demo.paths[2]))
    qtbot.waitUntil(lambda: win.image_view.count("detected") == n, timeout=10000)
    _shows_canvas(win, n)
    win.ctl.select_image(small_demo.paths[0].name)  # back to pixels: the outline goes
    qtbot.waitUntil(lambda: win.image_view.image.image is not None, timeout=10000)
    assert win.image_view.image.image.shape == SHAPE and not win.image_view.canvas_shown


def test_samp_send_image_refuses_a_catalog_input(qtbot, make_window, cat_demo, monkeypatch):
    win = make_window()
    with qtbot.waitSignal(win.ctl.jobDone, timeout=30000):
        win.add_inputs([str(cat_demo.paths[0])])
    errors = []
    monkeypatch.setattr(win, "show_error", lambda title, msg, details="": errors.append(msg))
    monkeypatch.setattr(win.samp, "_connected", lambda: pytest.fail("no hub needed"))
    win.samp.send_image()
    assert errors == ["demo01_cat.ecsv is a catalog input: it has no image to send (send its sources instead)."]
