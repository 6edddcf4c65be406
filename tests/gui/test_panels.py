"""Panels on their own or in the window with the fake engine: settings, files, regions, polish."""

import numpy as np
import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QLineEdit

from tweakgui.engine.params.spec import SPEC, TweakRegParams
from tweakgui.gui import menus
from tweakgui.gui.dialogs import about_text
from tweakgui.gui.region_shapes import Shape


@pytest.fixture
def win(qtbot, make_window):
    eng = FakeEngine()
    w = make_window(engine=eng.api())
    with qtbot.waitSignal(w.ctl.jobDone, timeout=5000):
        w.add_inputs(["a_flt.fits", "b_flt.fits", "c_flt.fits"])
    return w


def test_settings_built_from_spec(qtbot, win):
    panel = win.params_panel
    assert set(panel.fields) == {s.name for s in SPEC}
    for s in SPEC:
        assert s.doc.split("(")[0].strip()[:30] in panel.fields[s.name].toolTip()
    # only the fields of the chosen starfinder are shown
    assert win.ctl.params.starfinder == "iraf"
    assert panel.is_shown("sharplo") and not panel.is_shown("npixels")
    panel.fields["starfinder"].setCurrentText("segmentation")
    assert win.ctl.params.starfinder == "segmentation"
    assert not panel.is_shown("sharplo") and panel.is_shown("npixels") and panel.is_shown("nlevels")
    panel.fields["starfinder"].setCurrentText("sep")
    assert panel.is_shown("npixels") and not panel.is_shown("connectivity")


def test_validation_at_the_field(qtbot, win):
    panel = win.params_panel
    f = panel.fields["searchrad"]
    f.setText("-1")
    f.editingFinished.emit()
    assert win.ctl.params.searchrad == 2.0  # the previous value stays in force
    assert not panel.errors["searchrad"].isHidden()
    assert "searchrad must be > 0" in panel.errors["searchrad"].text()
    assert "d63031" in f.styleSheet()
    f.setText("3.5")
    f.editingFinished.emit()
    assert win.ctl.params.searchrad == 3.5 and panel.errors["searchrad"].isHidden()
    # a rule over two parameters is reported at the field being edited
    t = panel.fields["separation"]
    t.setText("0.5")
    t.editingFinished.emit()
    assert "separation (0.5) must be > sqrt(2) * tolerance" in panel.errors["separation"].text()
    assert win.ctl.params.separation == 1.0
    # None where allowed
    b = panel.fields["brightest"]
    b.setText("")
    b.editingFinished.emit()
    assert win.ctl.params.brightest is None


def test_parameter_files_roundtrip(qtbot, win, tmp_path):
    win.ctl.update_param("snr_threshold", 7.5)
    win.ctl.update_param("fitgeometry", "rscale")
    win.save_params(str(tmp_path / "p.asdf"), None)
    win.save_params(str(tmp_path / "p.cfg"), "visit1")
    win.ctl.set_params(TweakRegParams())
    win.load_params(str(tmp_path / "p.asdf"), None)
    assert (win.ctl.params.snr_threshold, win.ctl.params.fitgeometry) == (7.5, "rscale")
    assert win.params_panel.fields["snr_threshold"].text() == "7.5"
    win.ctl.set_params(TweakRegParams())
    win.load_params(str(tmp_path / "p.cfg"), "visit1")
    assert (win.ctl.params.snr_threshold, win.ctl.params.fitgeometry) == (7.5, "rscale")
    win.load_params(str(tmp_path / "missing.cfg"), None)
    assert win.errors[-1][0] == "Cannot load parameters" and "missing.cfg" in win.errors[-1][1]


def test_files_panel_edits(qtbot, win):
    f = win.files
    assert f.names() == ["a_flt.fits", "b_flt.fits", "c_flt.fits"]
    f.model.setData(f.model.index(1, 1), "mygroup")  # as the group's editor does
    assert win.ctl.exposure("b_flt.fits").group_id == "mygroup"
    f.model.setData(f.model.index(2, 4), Qt.Unchecked, Qt.CheckStateRole)  # as the save box does
    assert win.ctl.accepted["c_flt.fits"] is False
    f.tree.setCurrentIndex(f.model.index(2, 0))  # as a click does
    assert win.ctl.selected == "c_flt.fits"
    assert win.image_view.title.text().startswith("c_flt.fits")
    for _ in range(2):
        qtbot.mouseClick(f.findChild(object, "files_up"), Qt.LeftButton)
    assert f.names() == ["c_flt.fits", "a_flt.fits", "b_flt.fits"]
    f.select("b_flt.fits")
    qtbot.mouseClick(f.findChild(object, "files_reference"), Qt.LeftButton)
    assert f.names()[0] == "b_flt.fits" and win.ctl.params.enforce_user_order
    assert win.params_panel.fields["enforce_user_order"].isChecked()
    f.select("a_flt.fits")
    qtbot.mouseClick(f.findChild(object, "files_remove"), Qt.LeftButton)
    assert f.names() == ["b_flt.fits", "c_flt.fits"]
    # the context menu offers the same edits
    rect = f.tree.visualRect(f.model.index(1, 0))
    f._context_menu(rect.center())
    labels = [a.text() for a in f.context_menu.actions() if a.text()]
    assert labels[:2] == ["Make Reference", "Move Up"] and "Remove" in labels
    next(a for a in f.context_menu.actions() if a.text() == "Make Reference").trigger()
    assert f.names()[0] == "c_flt.fits"
    f.context_menu.close()
    f.spec.setText("d_flt.fits")
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.keyClick(f.spec, Qt.Key_Return)
    assert "d_flt.fits" in f.names()


def test_regions_drawn_on_the_image(qtbot, win, tmp_path):
    win.ctl.select_image("b_flt.fits")
    iv, vb = win.image_view, win.image_view.vb
    # a tool button arms drawing; the drag (or clicks) on the image make the shape
    qtbot.mouseClick(iv.findChild(object, "add_circle"), Qt.LeftButton)
    assert vb.tool == "circle" and "Drag" in win.statusBar().currentMessage()
    vb.drag((100, 100), (103, 104), finish=False)  # preview while dragging
    vb.drag((100, 100), (106, 108), finish=True)
    assert vb.tool is None and not iv.tool_buttons["circle"].isChecked()
    qtbot.mouseClick(iv.findChild(object, "add_box"), Qt.LeftButton)
    vb.drag((20, 30), (50, 10), finish=True)
    qtbot.mouseClick(iv.findChild(object, "add_polygon"), Qt.LeftButton)
    for p in ((150, 150), (180, 150), (170, 190)):
        vb.add_vertex(p)
    vb.add_vertex((171, 191), close=True)
    shapes = win.ctl.regions[("b_flt.fits", "SCI,1")]
    assert [s.kind for s in shapes] == ["circle", "box", "polygon"]
    assert shapes[0].params == pytest.approx((100, 100, 10))
    assert shapes[1].params == pytest.approx((35, 20, 30, 20, 0))
    assert shapes[2].params == pytest.approx((150, 150, 180, 150, 170, 190))
    assert not any(s.include for s in shapes)
    qtbot.mouseClick(iv.findChild(object, "region-toggle"), Qt.LeftButton)
    assert [s.include for s in win.ctl.regions[("b_flt.fits", "SCI,1")]] == [False, False, True]
    # a tool can be cancelled; an empty drag draws nothing
    qtbot.mouseClick(iv.findChild(object, "add_box"), Qt.LeftButton)
    vb.drag((20, 30), (20, 30), finish=True)
    assert len(win.ctl.regions[("b_flt.fits", "SCI,1")]) == 3 and vb.tool is None
    cx, cy, r = win.ctl.regions[("b_flt.fits", "SCI,1")][0].params
    # save and load back as DS9 (1-based in the file, 0-based in memory)
    path = tmp_path / "b.reg"
    win.save_regions(str(path))
    assert "-circle(" in path.read_text()
    win.ctl.select_image("c_flt.fits")
    win.load_regions(str(path))
    got = win.ctl.regions[("c_flt.fits", "SCI,1")]
    assert [s.kind for s in got] == ["circle", "box", "polygon"]
    assert got[0].params == pytest.approx((cx, cy, r), abs=1e-3)
    # switching images shows each chip's own regions
    win.ctl.select_image("a_flt.fits")
    assert win.image_view.regions.shapes() == []
    win.ctl.select_image("b_flt.fits")
    assert len(win.image_view.regions.shapes()) == 3
    win.load_regions(str(tmp_path / "nope.reg"))
    assert win.errors[-1][0] == "Cannot load regions"


def test_residual_panels_and_vectors(qtbot, win):
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    win.ctl.select_image("b_flt.fits")
    assert win.residuals.drawing  # the panels come on the next turns of the event loop
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    fit = win.ctl.shown_fit()
    used = fit.matches["used"]
    import numpy as np

    rms = np.sqrt(np.mean((np.asarray(fit.matches["dx"])[used] * 1000) ** 2))
    assert win.residuals.rms_mas["dx"] == pytest.approx(rms)
    assert f"RMS {rms:.2f} mas" in win.residuals.res_text["dx_x"].toPlainText()
    # vectors drawn as pairs: one segment per match, from (x, y) to (x + s dx, y + s dy), along the
    # detector axes: this chip's x axis points west (CDELT1 < 0), so dx along x is minus the east one
    assert win.residuals.frame == "detector"
    win.residuals.tabs.setCurrentWidget(win.residuals.vec_widget)  # drawn when shown
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    xs, ys = win.residuals.vec_lines["used"].getData()
    assert len(xs) == 2 * int(used.sum())
    s = win.residuals.vector_scale
    assert xs[1] - xs[0] == pytest.approx(-s * fit.matches["dx"][0] * 1000, rel=1e-4)
    kx, _ky = win.residuals.vec_key.getData()
    key_mas = float(win.residuals.vec_key_text.toPlainText().split()[0])
    assert kx[1] - kx[0] == pytest.approx(s * key_mas)
    # a double-click on a point excludes that match and fits again
    class _DoubleClick:
        def double(self):
            return True

    sc = win.residuals.res_scatter["dy_x"]
    pts = [p for p in sc.points() if p.data() == 2]
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as b:
        sc.sigClicked.emit(sc, pts, _DoubleClick())
    assert b.args == ["refit", True] and ("b_flt.fits", "SCI,1", 2) in win.ctl.excluded
    fit = win.ctl.shown_fit()
    tip = win.residuals._tip(data=0)
    assert tip.startswith("b_flt.fits [SCI,1] source #0") and "mas" in tip
    # the clipped match is drawn as clipped in the image view (a turn after the selection's own)
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    assert win.image_view.count("clipped") == 1
    assert win.files.model.index(1, 0).data(Qt.DecorationRole).isNull() is False


def test_residual_panels_drawn_one_per_turn_for_the_latest_image_only(qtbot, win):
    """A selection draws its residual panels over the next turns of the event loop (the window
    repaints between them); selecting another image meanwhile draws only that image's."""
    from PySide6.QtCore import QTimer

    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    win.ctl.select_image("c_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    turns = []  # panels drawn when each turn of the event loop came round

    def drawn():
        return sum(len(sc.data) > 0 and sc.data["x"][0] == bx0 for sc in res.res_scatter.values())

    ticker = QTimer()
    ticker.timeout.connect(lambda: turns.append(drawn()))
    m = win.ctl.shown_fit("b_flt.fits").matches
    bx0 = float(np.asarray(m["x"])[np.asarray(m["image"]).astype(str) == "b_flt.fits"][0])
    win.ctl.select_image("a_flt.fits")  # the reference: no fit of its own
    win.ctl.select_image("b_flt.fits")
    assert res.drawing and res.rms_mas and res.y_range  # its numbers at once, its drawing to come
    ticker.start(0)
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    ticker.stop()
    turns.append(drawn())
    assert max(turns) == 4 and turns[0] < 4  # not all in one go
    assert turns == sorted(turns) and {1, 3} & set(turns)  # one panel per turn, the rows in order
    for key, sc in res.res_scatter.items():
        comp, axis = key.split("_")
        xs, _ys = sc.getData()
        want = np.asarray(m[axis], float)[np.asarray(m["image"]).astype(str) == "b_flt.fits"]
        assert xs == pytest.approx(want)
        assert res.res_text[key].toPlainText().startswith(f"RMS {res.rms_mas[comp]:.2f} mas")
    assert res.summary.text().count("b_flt.fits") >= 1


def test_residual_rows_drawn_with_their_transforms_applied(qtbot, win):
    """A drawn row's view transforms are current before any paint: applied while painting, what
    they move asked for a second repaint of the row on the next turn."""
    from PySide6.QtCore import QPointF

    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    win.ctl.select_image("c_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    win.ctl.select_image("b_flt.fits")
    res.finish_drawing()  # the rows drawn now, no event handled since
    for plot in res.res_plots.values():
        vb = plot.vb
        (x0, _x1), (_y0, y1) = vb.viewRange()
        corner = vb.childGroup.transform().map(QPointF(x0, y1))  # as painted, not recomputed
        assert (corner.x(), corner.y()) == pytest.approx((0, 0), abs=0.5)


def test_plots_keep_their_size_when_a_shorter_summary_follows(qtbot, win):
    """A summary of fewer lines (the reference's one line after a fitted image's several) leaves
    the plots below where they were: their axes are not laid out and drawn again."""
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    win.ctl.select_image("b_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    qtbot.wait(50)  # laid out
    height = res.res_widget.height()
    lines = res.summary.text().count("<br")
    win.ctl.select_image("a_flt.fits")  # the reference: one line
    qtbot.wait(50)
    assert res.summary.text().count("<br") < lines
    assert res.res_widget.height() == height


def test_visit_footprints(qtbot, win):
    win.docks["visit"].raise_()
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    qtbot.waitUntil(lambda: win.visit_view.n_drawn["after"] == 2, timeout=2000)
    assert win.visit_view.n_drawn == {"before": 3, "after": 2}


def test_about_recent_and_shortcuts(qtbot, win):
    text = about_text()
    for lib in ("tweakwcs", "astropy", "photutils", "PySide6"):
        assert lib in text
    assert win.actions["run"].shortcut().toString() == "F5"
    assert win.actions["cancel"].shortcut().toString() == "Esc"
    menus._fill_recent(win)
    labels = [a.text() for a in win.recent_menu.actions()]
    assert labels[0].startswith("a_flt.fits + 2 more")
    from tweakgui.gui.dialogs import shortcuts_text

    text = shortcuts_text(win.actions)
    assert "F5" in text and "Detect and Align" in text and "Del" in text
    win.actions["shortcuts"].trigger()
    assert win._dialog.isVisible()
    win._dialog.close()
    # every action on the toolbar explains itself
    for key in ("add", "run", "refit", "cancel", "exclude", "save_outputs"):
        assert win.actions[key].toolTip()


def test_regions_saved_in_sky_coordinates(qtbot, win, tmp_path):
    win.ctl.select_image("b_flt.fits")
    shapes = [Shape("circle", (60, 80, 12)), Shape("box", (120, 50, 30, 10, 25), include=True)]
    win.image_view.set_regions(shapes)
    path = tmp_path / "sky.reg"
    win.save_regions(str(path), sky=True)
    text = path.read_text()
    assert "\nicrs\n" in text and "-circle(150." in text and '")' in text and "\npolygon(" in text
    win.ctl.select_image("c_flt.fits")  # another WCS: the sky positions land elsewhere
    win.load_regions(str(path))
    got = win.ctl.regions[("c_flt.fits", "SCI,1")]
    dx = 0.5  # the fake engine offsets image c by 0.5 pixel in CRPIX from b
    assert got[0].kind == "circle"
    assert got[0].params == pytest.approx((60 + dx, 80, 12), abs=0.01)
    assert got[1].kind == "polygon" and got[1].include
    from tweakgui.gui.region_shapes import polygon_vertices

    want = [v for x, y in polygon_vertices(shapes[1]) for v in (x + dx, y)]
    assert list(got[1].params) == pytest.approx(want, abs=0.01)


def test_layout_restored(qtbot, make_window, tmp_path):
    from PySide6.QtCore import QSettings

    from tweakgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.IniFormat)
    w1 = MainWindow(settings)
    qtbot.addWidget(w1)
    w1.show()
    w1.docks["log"].hide()
    w1.resize(1234, 777)
    w1.close()
    w2 = MainWindow(settings)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.docks["log"].isHidden() and not w2.docks["files"].isHidden()
    assert settings.value("window/geometry") is not None  # the offscreen screen may clamp the size
    w2.actions["reset_layout"].trigger()
    assert not w2.docks["log"].isHidden()
    assert w2.dockWidgetArea(w2.docks["log"]) == Qt.BottomDockWidgetArea
    w2.close()


def test_save_menu_passes_choices(qtbot, win, tmp_path, monkeypatch):
    from tweakgui.gui import dialogs

    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    win.ctl.select_image("c_flt.fits")
    seen = {}

    def fake_exec(dlg):
        seen["kinds"] = [k for k, cb in dlg.kind_boxes.items() if cb.isChecked()]
        dlg.dir_edit.setText(str(tmp_path))
        dlg.selected_only.setChecked(True)
        return True

    monkeypatch.setattr(dialogs.SaveDialog, "exec", fake_exec)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as b:
        win.actions["save_headerlets"].trigger()
    assert b.args == ["save", True]
    assert seen["kinds"] == ["headerlets"]
    assert win.ctl.engine.save_outputs.__self__.calls[-1] == ("save_outputs", {"c_flt.fits"}, ("headerlets",))
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".fits"] == ["c_flt_tweakreg.fits"]
    assert win.settings.value("dirs/output") == str(tmp_path)


def test_mouse_drag_draws_a_circle(qtbot):
    """Real mouse events on the view: press, moves (slower than pyqtgraph's rate limit), release."""
    import time

    import numpy as np
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from tweakgui.gui.image_view import ImageView

    iv = ImageView()
    qtbot.addWidget(iv)
    iv.resize(700, 700)
    iv.show()
    with qtbot.waitSignal(iv.imageShown, timeout=5000):
        iv.show_chip("k", "x", lambda: (np.zeros((200, 200), "f4"), None))
    qtbot.wait(50)
    drawn = []
    iv.regionsEdited.connect(drawn.append)
    iv.tool_buttons["circle"].click()
    vp = iv.plot_widget.viewport()

    def at(x, y):
        return QPointF(iv.plot_widget.mapFromScene(iv.vb.mapViewToScene(QPointF(x, y))))

    def send(kind, pos, buttons):
        button = Qt.NoButton if kind == QEvent.MouseMove else Qt.LeftButton
        QApplication.sendEvent(vp, QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, buttons,
                                               Qt.NoModifier))

    a, b = at(100, 100), at(120, 100)
    send(QEvent.MouseButtonPress, a, Qt.LeftButton)
    for t in np.linspace(0, 1, 6):
        send(QEvent.MouseMove, a + (b - a) * float(t), Qt.LeftButton)
        QApplication.processEvents()
        time.sleep(0.03)
    send(QEvent.MouseButtonRelease, b, Qt.NoButton)
    assert drawn and drawn[-1][0].kind == "circle"
    assert drawn[-1][0].params == pytest.approx((100, 100, 20), abs=1.0)  # pixels
    assert iv.vb.tool is None


def test_click_a_footprint_selects_the_image(qtbot):
    from fake_engine import make_wcs

    from tweakgui.engine import model
    from tweakgui.gui.visit_view import VisitView

    # two 20"×20" chips, 30" apart in RA (east is to the left of the map)
    exps = [model.Exposure(__import__("pathlib").Path(f"{n}.fits"), "fits",
                           [model.Chip("SCI,1", 1, (200, 200), make_wcs(crval=(150.0 + dra, 2.0)))],
                           n, n) for n, dra in (("west", 0.0), ("east", 30 / 3600 / np.cos(np.radians(2))))]
    vv = VisitView()
    qtbot.addWidget(vv)
    vv.show()
    vv.set_visit(model.Visit(exps))
    qtbot.waitUntil(lambda: vv.n_drawn["before"] == 2, timeout=2000)
    got = []
    vv.imageClicked.connect(lambda n, c: got.append((n, c)))
    # the map centre is between them: east at x = +0.25', west at x = -0.25'
    assert vv.click_at(0.25, 0.0) and got[-1] == ("east.fits", 0)
    assert vv.click_at(-0.25, 0.0) and got[-1] == ("west.fits", 0)
    assert not vv.click_at(0.0, 0.0)  # the gap between the chips


def test_mosaic_footprints_one_curve_per_colour_and_state(qtbot):
    """More groups than colours: each colour and state is one NaN-separated curve holding all
    its outlines, the curves are kept when the result arrives, and the shifts are drawn."""
    from types import SimpleNamespace

    from fake_engine import make_wcs

    from tweakgui.engine import model
    from tweakgui.gui.visit_view import PALETTE, VisitView

    n = len(PALETTE) + 2
    step = 30 / 3600 / np.cos(np.radians(2))
    exps = [model.Exposure(__import__("pathlib").Path(f"i{i}.fits"), "fits",
                           [model.Chip("SCI,1", 1, (200, 200), make_wcs(crval=(150.0 + i * step, 2.0)))],
                           f"g{i}", f"i{i}") for i in range(n)]
    vv = VisitView()
    qtbot.addWidget(vv)
    vv.show()
    vv.set_visit(model.Visit(exps))
    qtbot.waitUntil(lambda: vv.n_drawn["before"] == n, timeout=2000)
    curves = dict(vv._curves)
    # made with the view (not when first drawn), shown when they hold outlines
    assert len(curves) == 2 * len(PALETTE)
    assert sorted(k for k, c in curves.items() if c.isVisible()) == [(gi, "before") for gi in range(len(PALETTE))]
    assert all(len(c.getData()[0] if c.getData()[0] is not None else []) == 0
               for k, c in curves.items() if not c.isVisible())
    x0, y0 = curves[(0, "before")].getData()
    assert np.isnan(x0).sum() == 2 and len(x0) == 2 * 6  # groups 0 and 10: 4 corners, closed, NaN
    # the result: every chip moved by one pixel (0.1") west; the "before" curves are the same items
    moved = [model.ImageResult(e, model.STATUS_SUCCESS, new_wcs=[make_wcs(crval=(150.0 + i * step, 2.0),
                                                                        shift_pix=(1.0, 0.0))])
             for i, e in enumerate(exps)]
    vv.set_visit(model.Visit(exps), SimpleNamespace(images=moved))
    qtbot.waitUntil(lambda: vv.n_drawn["after"] == n, timeout=2000)
    assert all(vv._curves[k] is item for k, item in curves.items())
    xa, _ya = vv._curves[(0, "after")].getData()
    ok = np.isfinite(x0)
    # CRPIX +1 px: the sky moves one pixel (0.1") east, x grows (arcmin, east positive)
    assert xa[ok] - x0[ok] == pytest.approx(np.full(ok.sum(), 0.1 / 60), rel=1e-3)
    assert vv.click_at(float(np.mean(x0[:4])), float(np.mean(y0[:4]))) is True


def test_failed_image_is_shown_with_its_reason(qtbot, win):
    eng = win.ctl.engine.run.__self__
    eng.fail_image = "b_flt.fits"
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    rows = win.files.model
    assert rows.index(1, 5).data().startswith("FAILED: not enough matches")
    assert "not enough matches" in rows.index(1, 0).data(Qt.ToolTipRole)
    assert rows.index(1, 4).data(Qt.CheckStateRole) == Qt.Unchecked and win.ctl.accepted["b_flt.fits"] is False
    assert "1 failed" in win.statusBar().currentMessage()
    win.ctl.select_image("b_flt.fits")
    assert "FAILED" in win.residuals.summary.text() and win.residuals.keys == []
    assert win.image_view.count("detected") == 30


def test_icons_found_and_fallback(qtbot, monkeypatch):
    from tweakgui.gui import icons

    for name in ("run", "region-circle", "status-ok", "reference"):
        assert not icons.icon(name).isNull()
    monkeypatch.setattr(icons, "_path", lambda name: None)  # as in an install without resources/
    assert not icons.icon("run").isNull()


def test_open_asn_replaces_inputs(qtbot, win, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    asn = tmp_path / "asn.json"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(asn), ""))
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.actions["open_asn"].trigger()
    assert win.ctl.inputs == [str(asn)]
    assert win.files.names() == ["asn.json"]  # the fake engine reads one exposure per spec


def test_files_table_keeps_columns_sized_to_their_text(qtbot, win):
    """A run's result is written into the rows in place (no reset: the current row stays); the
    counts' and the save box's columns still fit their text and their header."""
    from tweakgui.gui.files_panel import _FIT_TO_TEXT, C_NSRC

    tree, rows = win.files.tree, win.files.model
    win.ctl.select_image("b_flt.fits")
    resets, changed = [], []
    rows.modelReset.connect(lambda: resets.append(1))
    rows.dataChanged.connect(lambda a, b, roles: changed.append((a.row(), b.row(), a.parent().isValid())))
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    assert resets == [] and changed == [(0, 2, False)]  # all three rows announced at once
    assert win.files.current_name() == "b_flt.fits"
    counts = [rows.index(i, C_NSRC).data() for i in range(rows.rowCount())]
    assert all(counts)
    widest = max(tree.fontMetrics().horizontalAdvance(t) for t in counts)
    assert tree.columnWidth(C_NSRC) >= widest
    hdr = tree.header()
    assert all(tree.columnWidth(c) >= hdr.sectionSizeHint(c) for c in _FIT_TO_TEXT)


def test_group_column_follows_an_edited_group_name(qtbot, win):
    """Texts are measured once and remembered; a group renamed in place (no rows rebuilt) is
    measured anew and its column widens to it."""
    from tweakgui.gui.files_panel import C_GROUP

    tree, rows = win.files.tree, win.files.model
    win.resize(1600, 900)
    win.show()
    qtbot.waitExposed(win)
    win.resizeDocks([win.docks["files"]], [900], Qt.Horizontal)
    qtbot.waitUntil(lambda: tree.viewport().width() > 600, timeout=5000)
    win.ctl.select_image("b_flt.fits")  # shown again: the columns sized for this width
    before = tree.columnWidth(C_GROUP)
    name = "a-group-with-a-longer-name"
    rows.setData(rows.index(2, C_GROUP), name, Qt.EditRole)
    qtbot.waitUntil(lambda: rows.index(2, C_GROUP).data() == name, timeout=5000)
    assert win.ctl.visit.exposures[2].group_id == name
    assert tree.columnWidth(C_GROUP) > before
    assert tree.columnWidth(C_GROUP) >= int(min(tree.fontMetrics().horizontalAdvance(name),
                                                0.18 * tree.viewport().width()))


def test_files_model_rows_chips_and_edits_by_mouse_and_keyboard(qtbot, tmp_path):
    """Exposures with their chips as child rows; the save box toggled by a click and the group
    edited by double-click and typing become the panel's signals."""
    from tweakgui.engine import model
    from tweakgui.gui.files_panel import C_GROUP, C_NAME, C_NSRC, C_SAVE, FilesPanel

    chips = [model.Chip(f"SCI,{k}", k, (100, 200), None) for k in (1, 2)]
    exps = [model.Exposure(tmp_path / "two_flt.fits", "fits", chips, "g1", "two"),
            model.Exposure(tmp_path / "one_flt.fits", "fits", chips[:1], "g2", "one")]
    panel = FilesPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 300)
    panel.show()
    panel.set_visit(model.Visit(exps), accepted={"one_flt.fits": False})
    rows, tree = panel.model, panel.tree
    assert (rows.rowCount(), rows.columnCount()) == (2, 6)
    two = rows.index(0, 0)
    assert rows.rowCount(two) == 2 and tree.isExpanded(two) and not tree.isExpanded(rows.index(1, 0))
    assert [rows.index(k, C_NAME, two).data() for k in range(2)] == ["SCI,1", "SCI,2"]
    assert rows.index(1, C_NAME, two).data(Qt.ToolTipRole) == "SCI,2: 200×100 pixels"
    assert rows.index(1, C_NAME, two).parent() == two and rows.rowCount(rows.index(0, 0, two)) == 0
    assert [rows.index(i, C_SAVE).data(Qt.CheckStateRole) for i in range(2)] == [Qt.Checked, Qt.Unchecked]
    assert rows.index(0, C_NSRC).data() == "" and rows.index(0, 5).data() == ""  # not run yet
    # a chip's row selects that chip
    with qtbot.waitSignal(panel.imageSelected) as sel:
        qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualRect(rows.index(1, 0, two)).center())
    assert sel.args == ["two_flt.fits", 1]
    panel.select("one_flt.fits")
    assert panel.current_name() == "one_flt.fits"
    # the check box sits at the left of its cell
    box = tree.visualRect(rows.index(0, C_SAVE))
    with qtbot.waitSignal(panel.acceptToggled) as acc:
        qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=box.topLeft() + QPoint(10, box.height() // 2))
    assert acc.args == ["two_flt.fits", False]
    assert rows.index(0, C_SAVE).data(Qt.CheckStateRole) == Qt.Unchecked
    cell = tree.visualRect(rows.index(1, C_GROUP))
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=cell.center())
    qtbot.mouseDClick(tree.viewport(), Qt.LeftButton, pos=cell.center())
    editor = tree.viewport().findChild(QLineEdit)
    assert tree.state() == QAbstractItemView.EditingState and editor.text() == "g2"
    editor.selectAll()
    with qtbot.waitSignal(panel.groupEdited) as grp:
        qtbot.keyClicks(editor, "mygroup")
        qtbot.keyClick(editor, Qt.Key_Return)
    assert grp.args == ["one_flt.fits", "mygroup"]
    # a result: the chips' rows show their own counts, the exposure's row their sum
    from types import SimpleNamespace

    result = SimpleNamespace(images=[model.ImageResult(exps[0], model.STATUS_SUCCESS,
                                                       catalogs=[[0] * 12, [0] * 30])])
    panel.set_visit(model.Visit(exps), result)
    assert rows.index(0, C_NSRC).data() == "42"
    assert [rows.index(k, C_NSRC, two).data() for k in range(2)] == ["12", "30"]
    # chips cannot be edited or checked
    assert not rows.flags(rows.index(0, C_GROUP, two)) & Qt.ItemIsEditable
    assert rows.index(0, C_SAVE, two).data(Qt.CheckStateRole) is None


def test_worker_threads_hand_the_gil_back_quickly(qtbot):
    """The GUI process shortens the interpreter's switch interval, so painting does not wait 5 ms a call."""
    import sys

    from tweakgui.gui.jobs import GUI_SWITCH_INTERVAL, JobRunner

    old = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        JobRunner()
        assert sys.getswitchinterval() <= GUI_SWITCH_INTERVAL < 0.005
    finally:
        sys.setswitchinterval(old)


def test_summaries_of_a_shared_group_fit_are_each_images_own():
    """The files table counts a group fit's matches once for all its images, with each image's numbers."""
    from types import SimpleNamespace

    from astropy.table import Table

    from tweakgui.engine import model
    from tweakgui.engine.fit.residual_frames import image_numbers
    from tweakgui.gui.files_panel import short_summary

    m = Table({"image": ["a", "b", "a", "b", "b"], "used": [True, True, True, False, True],
               "excluded": [False] * 5, "dx": [0.001, 0.002, -0.001, 0.5, 0.002],
               "dy": [0.0, 0.0, 0.0, 0.5, 0.0]})
    fit = SimpleNamespace(status=model.STATUS_SUCCESS, kind="relative", fitgeom="rshift", matches=m,
                          nmatch=5, rmse_arcsec=0.001)

    def r(name):
        return SimpleNamespace(exposure=SimpleNamespace(name=name), correction=None)

    a, b = short_summary(fit, r("a")), short_summary(fit, r("b"))
    assert "n=2/2 rms=1.00 mas" in a and "n=2/3 rms=2.00 mas" in b
    assert image_numbers(m, "b").nused == 2


def test_fit_numbers_are_counted_in_the_worker(qtbot, win, monkeypatch):
    """After a run the files table only looks the numbers up: the worker counted them, once per fit."""
    import threading

    from tweakgui.gui import fit_numbers as fn

    threads = []
    real = fn.numbers_by_image

    def counting(matches):
        threads.append(threading.current_thread())
        return real(matches)

    monkeypatch.setattr(fn, "numbers_by_image", counting)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    fits = {id(f): f for r in win.ctl.result.images for f in r.fits}
    assert threads and len(threads) == len(fits)
    assert all(t is not threading.main_thread() for t in threads)
    assert win.files.model.index(1, 5).data().startswith("rel rshift n=29/30")
    assert len(threads) == len(fits)  # showing the result counted nothing more


def test_matches_read_by_column_keep_every_field(qtbot):
    """The matches table's rows and keys, read column by column: a masked reference index is -1."""
    from astropy.table import MaskedColumn, Table

    from tweakgui.gui.matches_table import MatchesModel
    from tweakgui.gui.residuals import match_keys

    m = Table({"image": ["a_flt.fits", "b_flt.fits"], "chip": ["SCI,1", "SCI,2"], "input_idx": [7, 3],
               "ref_idx": MaskedColumn([11, 0], mask=[False, True]), "x": [1.5, 2.5], "y": [3.0, 4.0],
               "dx": [0.001, -0.002], "dy": [0.0005, 0.0], "used": [True, False], "excluded": [False, True]})
    assert match_keys(m) == [("a_flt.fits", "SCI,1", 7), ("b_flt.fits", "SCI,2", 3)]
    assert all(type(v) is int for _i, _c, v in match_keys(m)) and match_keys(None) == []
    model = MatchesModel()
    model.set_matches(m)
    assert model.rows == [("a_flt.fits", "SCI,1", 7, 11, 1.5, 3.0, 1.0, 0.5, "used"),
                          ("b_flt.fits", "SCI,2", 3, -1, 2.5, 4.0, -2.0, 0.0, "excluded")]
    assert model.keys == match_keys(m)
    # what the view is given for each role
    cell = model.index(1, 6)
    assert cell.data(Qt.DisplayRole) == "-2.00" and model.index(1, 3).data(Qt.DisplayRole) == "—"
    assert cell.data(Qt.TextAlignmentRole) == int(Qt.AlignRight | Qt.AlignVCenter)
    assert model.index(1, 0).data(Qt.TextAlignmentRole) is None
    assert model.index(1, 0).data(Qt.BackgroundRole).color().getRgb() == (230, 40, 40, 60)
    assert model.index(0, 0).data(Qt.BackgroundRole) is None
    assert model.headerData(6, Qt.Horizontal) == "dx tan. (mas)"
    assert "reference tangent plane" in model.headerData(6, Qt.Horizontal, Qt.ToolTipRole)


def test_residual_axes_keep_their_label_space(qtbot):
    """The residual panels' tick-label space only grows: an image with shorter labels after one with
    longer ones does not lay the panels out (and paint them all) again."""
    from tweakgui.gui.residuals import ResidualPanel

    panel = ResidualPanel()
    qtbot.addWidget(panel)
    panel.resize(560, 520)
    panel.show()
    plot = panel.res_plots["dx_x"]
    axis = plot.getAxis("left")
    plot.setRange(yRange=(-12345.5, 12345.5), padding=0)
    panel.res_widget.grab()  # painted with the long labels
    qtbot.wait(50)  # laid out
    wide = axis.width()
    assert axis.textWidth > 40
    plot.setRange(yRange=(-1, 1), padding=0)
    panel.res_widget.grab()
    qtbot.wait(50)
    assert axis.width() == wide


def test_residual_components_counted_in_the_worker_after_a_run(qtbot, win, monkeypatch):
    """After a run each image's residual components along its chip's axes are ready: selecting
    the image evaluates no WCS in the GUI thread, and shows the same numbers."""
    from tweakgui.gui import fit_components, residuals

    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    for name in ("b_flt.fits", "c_flt.fits"):
        assert name in fit_components._COMPONENTS.lookup(win.ctl.shown_fit(name), None)
    fit = win.ctl.shown_fit("b_flt.fits")
    ready = fit_components._COMPONENTS.lookup(fit, None)
    mine = fit.matches[np.asarray(fit.matches["image"]).astype(str) == "b_flt.fits"]
    want, frame = residuals.plotted_components(mine, win._fitted_wcs)
    assert ready["b_flt.fits"][1] == frame == "detector"
    assert np.array_equal(ready["b_flt.fits"][0]["dx"], want["dx"])

    def no_wcs(*_a):
        raise AssertionError("evaluated in the GUI thread")

    monkeypatch.setattr(fit_components, "plotted_components", no_wcs)
    win.ctl.select_image("b_flt.fits")
    assert win.residuals.frame == "detector" and np.array_equal(win.residuals.comp["dy"], want["dy"])


def test_residual_grid_drawn_beneath_the_data_not_by_the_axes(qtbot):
    """The residual panels' grid is one item under the data at the axes' ticks: the axes' own
    pictures stay outside the view (pyqtgraph's grid made each axis cover it, so any change of
    the data repainted every axis with ~50 lines)."""
    from PySide6.QtCore import QPointF

    from tweakgui.gui.residuals import ResidualPanel

    panel = ResidualPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 520)
    panel.show()
    plot = panel.res_plots["dx_x"]
    plot.setRange(xRange=(0, 1000), yRange=(-10, 10), padding=0)
    image = panel.res_widget.grab().toImage()
    view = plot.vb.sceneBoundingRect()
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        assert axis.grid is False
        covered = axis.mapRectToScene(axis.boundingRect()).intersected(view)
        assert covered.width() * covered.height() < 0.05 * view.width() * view.height()
    xs = sorted(v for _s, values in plot.getAxis("bottom").current_levels() for v in values)
    assert xs[0] >= 0 and xs[-1] <= 1000 and 200 in xs

    def grey(x, y):
        pos = panel.res_widget.mapFromScene(plot.vb.mapViewToScene(QPointF(x, y)))
        return image.pixelColor(pos.x(), pos.y()).lightness()

    k = int(np.searchsorted(xs, 500))
    background = grey((xs[k] + xs[k + 1]) / 2, 3)  # between lines
    assert background == grey((xs[k] + xs[k + 1]) / 2, -3)
    assert abs(grey(400, 3) - background) > 10  # a major line, visible


def test_timers_due_before_a_residual_step_run_before_it(qtbot, win):
    """A fit's panels are drawn in steps that leave the turn to timers due meanwhile: a step due at
    once ran before them, in the same stretch as the last step's paint."""
    import time

    from PySide6.QtCore import QTimer

    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    order = []
    res._step_timer.timeout.connect(lambda: order.append("step"))
    other = QTimer()
    other.setSingleShot(True)
    other.timeout.connect(lambda: order.append("timer"))
    res.set_fit(win.ctl.shown_fit("b_flt.fits"), "b_flt.fits")
    other.start(0)  # due just after the first step was asked for
    time.sleep(0.03)  # both due when the event loop comes round
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    assert order[0] == "timer" and order.count("step") == 4  # the panels (the other tabs when shown)


def test_plots_keep_their_place_when_the_first_fit_is_shown(qtbot, win):
    """The summary's height is reserved for a fitted image's before the first run: showing the first
    result (the selected image's layers, in one turn) does not lay out and paint every plot again."""
    res = win.residuals
    qtbot.wait(50)  # laid out, no fit yet
    assert res.summary.text() == "No fit"
    top = res.tabs.geometry().top()
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    win.ctl.select_image("b_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    qtbot.wait(50)
    assert res.summary.text().count("<br") == 2  # the group's fit, the image's numbers, its correction
    assert res.tabs.geometry().top() == top


def test_residual_x_range_kept_for_sources_over_about_the_same_pixels(qtbot):
    """The next image's residual panels keep their x range while its sources fit in it with their
    margin and it is not much wider (a new range drew both bottom axes of a row again)."""
    from astropy.table import Table

    from tweakgui.engine import model
    from tweakgui.gui.residuals import ResidualPanel

    def fit(name, x0, x1, n=30):
        x = np.linspace(x0, x1, n)
        m = Table({"group_id": ["g"] * n, "image": [name] * n, "chip": ["SCI,1"] * n, "input_idx": np.arange(n),
                   "ref_idx": np.arange(n), "x": x, "y": x[::-1].copy(), "dx": np.full(n, 1e-3),
                   "dy": np.full(n, -1e-3), "used": np.ones(n, bool), "excluded": np.zeros(n, bool)})
        return model.FitResult("g", "relative", model.STATUS_SUCCESS, nmatch=n, matches=m)

    panel = ResidualPanel()
    qtbot.addWidget(panel)
    plot = panel.res_plots["dx_x"]
    shown = []
    for name, x0, x1 in (("a", 3, 2040), ("b", 20, 2030), ("c", 0, 2047), ("d", 100, 600)):
        panel.set_fit(fit(name, x0, x1), name)
        panel.finish_drawing()
        shown.append(tuple(plot.viewRange()[0]))
    pad = 0.05 * 2037
    assert shown[0] == pytest.approx((3 - pad, 2040 + pad))
    assert shown[1] == shown[0]  # b's sources fit: kept
    assert shown[2] == pytest.approx((-0.05 * 2047, 2047 * 1.05))  # c's reach beyond the margin
    assert shown[3] == pytest.approx((100 - 25, 600 + 25))  # d's far narrower
    xs, _ys = panel.res_scatter["dx_x"].getData()
    assert xs.min() >= shown[3][0] and xs.max() <= shown[3][1]


def test_residual_tabs_not_on_display_drawn_when_shown(qtbot, win):
    """A selection draws the residual tab on display; the vectors and the histogram are drawn when
    their tab is shown (for the fit then selected), not at every selection."""
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    win.ctl.select_image("c_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    res.tabs.setCurrentWidget(res.vec_widget)
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    res.tabs.setCurrentWidget(res.res_widget)
    c_vectors = res.vec_lines["used"].getData()[0].copy()
    win.ctl.select_image("b_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    assert res.vec_lines["used"].getData()[0] == pytest.approx(c_vectors)  # still c's: not drawn
    assert res.res_scatter["dx_x"].getData()[0] == pytest.approx(np.asarray(res.matches["x"], float))
    res.tabs.setCurrentWidget(res.vec_widget)
    assert res.drawing
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    xs, _ys = res.vec_lines["used"].getData()
    used = np.asarray(res.matches["used"], bool)
    assert xs[0::2] == pytest.approx(np.asarray(res.matches["x"], float)[used])  # b's now


def test_selection_draws_the_image_layers_and_table_in_a_turn_of_their_own(qtbot, win):
    """The run's sources and the matches table of a selected image come in a turn after the
    selection's own (the last image's are not left on display meanwhile), before its residual rows."""
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    res = win.residuals
    win.ctl.select_image("c_flt.fits")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    assert win.image_view.count("matched") > 0 and win.matches.model.rowCount() > 0
    win.ctl.select_image("b_flt.fits")
    assert win.image_view.count("matched") == 0 and win.image_view.count("detected") == 0
    assert len(res._steps) == 5  # the sources and table, then the four panels
    res._next_step()
    b = win.ctl.shown_fit("b_flt.fits").matches
    b = b[np.asarray(b["image"]).astype(str) == "b_flt.fits"]
    assert win.matches.model.rowCount() == len(b) and len(res._steps) == 4  # the panels still to come
    res._next_step()  # the first row's first panel: its y range set for both, the other's old points cleared
    assert res.res_scatter["dx_x"].getData()[0] == pytest.approx(np.asarray(b["x"], float))
    assert len(res.res_scatter["dx_y"].getData()[0]) == 0
    assert res.res_plots["dx_y"].viewRange()[1] == pytest.approx(res.res_plots["dx_x"].viewRange()[1])
    res._next_step()
    assert res.res_scatter["dx_y"].getData()[0] == pytest.approx(np.asarray(b["y"], float))
    assert win.image_view.count("matched") == int(np.sum(b["used"]))
    assert win.image_view.count("detected") == len(win.ctl.image_result("b_flt.fits").catalogs[0])
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    assert res.res_scatter["dx_x"].getData()[0] == pytest.approx(np.asarray(b["x"], float))


def test_image_view_shown_while_loading_and_the_start_page_again_if_the_load_fails(qtbot, make_window):
    """A load shows the image view soon after it starts (its first layout and paint while the files
    are read, not in the load's first turn nor in the turn that shows the loaded visit); a load that
    fails goes back to the start page, even one that fails before the view was due."""
    import time

    engine = FakeEngine()
    load = engine.load_visit

    def slow_load(specs, params):
        time.sleep(0.3)
        return load(specs, params)

    win = make_window(engine=FakeEngine().api())
    assert win.central.currentWidget() is win.start_page
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as blocker:
        win.ctl.set_inputs(["missing_flt.fits"])
        assert win.central.currentWidget() is win.start_page  # not in the load's first turn
    assert blocker.args == ["load", False]
    qtbot.wait(50)  # past the time the view was due
    assert win.central.currentWidget() is win.start_page
    win.ctl.engine.load_visit = slow_load
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as blocker:
        win.ctl.set_inputs(["a_flt.fits", "b_flt.fits"])
        qtbot.waitUntil(lambda: win.central.currentWidget() is win.image_view, timeout=250)  # while reading
    assert blocker.args == ["load", True] and win.central.currentWidget() is win.image_view
    assert win.files.names() == ["a_flt.fits", "b_flt.fits"]


def test_widest_text_is_never_narrower_than_measured(qtbot, win):
    """Column widths come from per-character estimates with only the widest few texts measured
    whole: never narrower than the exact widest (kerning, wide letters, ties of digits)."""
    import random

    panel = win.files
    fm = panel.tree.fontMetrics()
    rng = random.Random(3)
    texts = {f"jw{rng.randrange(10 ** 11):011d}_{rng.choice(['nrca1', 'nrcb4', 'nrcalong'])}_cal.fits"
             for _ in range(600)}
    texts |= {"AVAVAVAVAVAVAVAVAVAVAVAVAVAVAVAVAVAVAV", "WWWWWWWWWWWWWWW", "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
              "Tōkyō ΔRA", "To Yo Wa Te"}
    exact = max(fm.horizontalAdvance(t) for t in texts)
    calls = []
    measure = fm.horizontalAdvance
    panel._advance_font = None  # the font's widths learned afresh, counted
    got = panel._widest(texts)
    panel._advances.measure = lambda t: calls.append(t) or measure(t)
    panel._advances.clear()
    again = panel._widest(texts)
    assert got == again
    assert exact <= got <= 1.05 * exact
    assert len(calls) <= 4  # the widest estimates only, not 600 texts
    assert panel._widest(set()) == 0


@pytest.mark.parametrize("width", [260, 360, 460, 620])
def test_summary_height_holds_a_mosaics_summaries(qtbot, width):
    """The reserved height holds summaries longer than the typical one (longer names, counts and
    shifts, a group of 48 images): selecting image after image does not resize the plots below."""
    import itertools
    from types import SimpleNamespace

    from astropy.table import Table

    from tweakgui.engine.model import Correction, FitResult
    from tweakgui.gui.fit_summary import SummaryLabel, summary_html

    label = SummaryLabel("No fit")
    qtbot.addWidget(label)
    label.resize(width, 40)
    label.show()
    qtbot.waitExposed(label)
    reserved = label.minimumHeight()
    plain = QLabel()  # the height a summary needs, the label's reserve aside
    plain.setWordWrap(True)
    plain.setFont(label.font())
    for group, n_img, nmatch, (shift, rot) in itertools.product(
            ("jw01345001001_02201_00001_nrcalong", "jw01345002001_02201_00008_nrcb4"), (1, 8, 48), (163, 12345),
            (((-1.2345, 0.0123, -39.12, 10.39), -0.01234), ((-0.0012, 0.0003, -0.04, 0.01), 0.00001))):
        name = f"{group}_cal.asdf"
        m = Table({"image": [name] * 2, "used": [True, False], "excluded": [False] * 2,
                   "dx": [0.0123] * 2, "dy": [-0.0123] * 2})
        fit = FitResult(group_id=group, kind="relative", status="SUCCESS", fitgeom="rshift", nmatch=nmatch,
                        nused=nmatch - 12, rmse_arcsec=0.01234, matcher="2dhist", significance=123.4,
                        n_chance=12.34, match_radius_arcsec=0.0312, images=[name] * n_img, matches=m)
        corr = Correction(ref_pixel=(1023.5, 1023.5), ref_ra=0.0, ref_dec=0.0, shift_arcsec=shift[:2],
                          shift_pix=shift[2:], rotation_deg=rot, scale=1.0000123)
        text = summary_html(fit, name, SimpleNamespace(status="SUCCESS", correction=corr))
        plain.setText(text)
        assert plain.heightForWidth(width) > 3 * label.fontMetrics().lineSpacing()
        label.set_summary(text)
        assert label.minimumHeight() == reserved


def test_footprints_prepared_and_drawn_in_turns_of_their_own(qtbot):
    """Raising the visit view: the outlines are computed in one turn and drawn in a later one, a timer
    due in between runs first (a mosaic's outlines computed, drawn and painted at once held the window
    50-80 ms); outlines prepared for a visit replaced meanwhile are never drawn."""
    import time

    from fake_engine import make_wcs
    from PySide6.QtCore import QTimer

    from tweakgui.engine import model
    from tweakgui.gui.visit_view import VisitView

    def visit(names):
        return model.Visit([model.Exposure(__import__("pathlib").Path(f"{n}.fits"), "fits",
                                           [model.Chip("SCI,1", 1, (200, 200), make_wcs(crval=(150.0 + i / 100, 2.0)))],
                                           n, n) for i, n in enumerate(names)])

    vv = VisitView()
    qtbot.addWidget(vv)
    vv.show()
    qtbot.waitExposed(vv)
    order = []
    prepare, draw = vv._prepare, vv._draw
    vv._prepare = lambda: order.append("prepare") or prepare()
    vv._draw = lambda out: order.append("draw") or draw(out)
    other = QTimer()
    other.setSingleShot(True)
    other.timeout.connect(lambda: order.append("timer"))
    vv.set_visit(visit(["a", "b"]))
    vv._redraw_if_dirty()  # the turn set_visit asked for
    other.start(0)
    time.sleep(0.03)  # the draw and the timer both due when the event loop comes round
    qtbot.waitUntil(lambda: vv.n_drawn["before"] == 2, timeout=2000)
    assert order == ["prepare", "timer", "draw"]
    # prepared, then replaced before it was drawn: only the new visit's outlines are drawn
    out = prepare()
    vv.set_visit(visit(["c", "d", "e"]))
    draw(out)
    assert vv.n_drawn["before"] == 2  # not the stale preparation's
    qtbot.waitUntil(lambda: vv.n_drawn["before"] == 3, timeout=2000)
    assert {name for name, *_ in vv._polygons} == {"c.fits", "d.fits", "e.fits"}


def test_run_result_files_table_and_selection_shown_in_turns_of_their_own(qtbot, win):
    """A run's result, its files table and the selected image are shown on three turns of the event
    loop, a timer due meanwhile running in between (a mosaic's result in one turn: ~40 ms); jobDone
    comes after the last."""
    import time

    from PySide6.QtCore import QTimer

    ctl = win.ctl
    ctl.select_image("b_flt.fits")
    order = []
    ran, files, selected = ctl._ran, ctl._show_files, ctl._show_selected
    other = QTimer()
    other.setSingleShot(True)
    other.timeout.connect(lambda: order.append("timer"))

    def ran_then_timer(result):
        ran(result)
        order.append("ran")
        other.start(0)
        time.sleep(0.03)  # the timer and the next step both due when the event loop comes round

    ctl._ran = ran_then_timer
    ctl._show_files = lambda arg=None: order.append("files") or files(arg)
    ctl._show_selected = lambda arg=None: order.append("selected") or selected(arg)
    ctl.jobDone.connect(lambda kind, ok: order.append(f"done {kind} {ok}"))
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.run()
    assert order == ["ran", "timer", "files", "selected", "done run True"]
    counts = [win.files.model.index(i, 3).data() for i in range(win.files.model.rowCount())]
    assert all(counts)  # the table shows the result
