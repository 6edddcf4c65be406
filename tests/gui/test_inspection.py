"""The inspection loop driven as a user would: select, exclude, refit, rerun, restore."""

import numpy as np
import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import Qt


@pytest.fixture
def eng():
    e = FakeEngine()
    yield e
    e.gate.set()


@pytest.fixture
def win(qtbot, make_window, eng):
    w = make_window(engine=eng.api())
    with qtbot.waitSignal(w.ctl.jobDone, timeout=5000):
        w.add_inputs(["a_flt.fits", "b_flt.fits", "c_flt.fits"])
    with qtbot.waitSignal(w.ctl.jobDone, timeout=5000):
        w.ctl.run()
    return w


def click_row(qtbot, win, key, double=False):
    """Click (or double-click) the table row of ``key`` with the mouse."""
    view = win.matches.view
    row = win.matches.model.keys.index(key)
    idx = win.matches.model.index(row, 0)
    qtbot.wait(10)  # the view lays its rows out after a model reset
    view.scrollTo(idx, view.ScrollHint.PositionAtCenter)
    qtbot.waitUntil(lambda: view.viewport().rect().contains(view.visualRect(idx).center()), timeout=2000)
    pos = view.visualRect(idx).center()
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=pos)
    if double:  # Qt's item views see a double-click as press, release, then double-click
        qtbot.mouseDClick(view.viewport(), Qt.LeftButton, pos=pos)


def click_image(qtbot, win, name):
    """Click the image's row; return when its residual panels are drawn (over the next turns)."""
    tree, rows = win.files.tree, win.files.model
    index = next(rows.index(i, 0) for i in range(rows.rowCount()) if rows.index(i, 0).data() == name)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualRect(index).center())
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)


def xy_of(win, key):
    r = win.ctl.image_result(key[0])
    return float(r.catalogs[0]["x"][key[2]]), float(r.catalogs[0]["y"][key[2]])


def test_selection_stays_put_through_exclusion_refit_and_rerun(qtbot, win, eng):
    eng.shuffle = True
    click_image(qtbot, win, "c_flt.fits")
    assert win.ctl.selected == "c_flt.fits"
    key = ("c_flt.fits", "SCI,1", 5)
    click_row(qtbot, win, key)
    assert win.ctl.selected_match == key
    star = xy_of(win, key)
    other = ("c_flt.fits", "SCI,1", 8)
    # double-click another row: it is excluded and fitted again, the view stays on that row
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as b:
        click_row(qtbot, win, other, double=True)
    assert b.args == ["refit", True]
    assert win.ctl.selected == "c_flt.fits" and win.ctl.selected_match == other
    assert win.matches.current_key() == other
    assert win.files.current_name() == "c_flt.fits"
    assert other in win.ctl.excluded
    # select the first star again, then detect again: rows are renumbered, the view follows the star
    click_row(qtbot, win, key)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000) as b:
        win.ctl.run()
    assert b.args == ["run", True]
    new_key = win.ctl.selected_match
    assert new_key[:2] == key[:2] and xy_of(win, new_key) == star
    assert win.matches.current_key() == new_key
    hx, hy = win.residuals.res_highlight["dx_x"].getData()
    i = win.residuals.keys.index(new_key)
    assert (hx[0], hy[0]) == pytest.approx((star[0], win.residuals.comp["dx"][i]))
    # the run's outcome stays in the status bar after other messages
    assert win.status_outcome.text() == "Aligned 3/3 images"
    click_row(qtbot, win, key)
    assert win.statusBar().currentMessage().startswith("Match ")
    assert win.status_outcome.text() == "Aligned 3/3 images"


def test_empty_plots_lose_their_labels(qtbot, win):
    click_image(qtbot, win, "b_flt.fits")
    assert win.residuals.res_text["dx_x"].toPlainText().startswith("RMS ")
    click_image(qtbot, win, "a_flt.fits")  # the reference: no fit
    assert all(t.toPlainText() == "" and not t.isVisible() for t in win.residuals.res_text.values())
    assert all(len(sc.data) == 0 for sc in win.residuals.res_scatter.values())
    assert "REFERENCE" in win.residuals.summary.text()


def test_exclusion_follows_the_star_through_redetection(qtbot, win, eng):
    eng.shuffle = True
    click_image(qtbot, win, "b_flt.fits")
    key = ("b_flt.fits", "SCI,1", 7)
    star = xy_of(win, key)
    click_row(qtbot, win, key)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.mouseClick(win.matches.button, Qt.LeftButton)
    assert win.ctl.excluded == {key}
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()  # detection renumbers the sources
    (new_key,) = win.ctl.excluded
    assert new_key != key and xy_of(win, new_key) == star
    # the engine was given the new row, and the table flags that star
    assert new_key in eng.calls[-1][1]["excluded"]
    fit = win.ctl.shown_fit("b_flt.fits")
    flagged = fit.matches[fit.matches["excluded"]]
    assert len(flagged) == 1 and (float(flagged["x"][0]), float(flagged["y"][0])) == star
    assert win.ctl.dropped == []


def test_exclusion_dropped_when_the_star_is_gone(qtbot, win, eng):
    click_image(qtbot, win, "b_flt.fits")
    key = ("b_flt.fits", "SCI,1", 3)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.toggle_exclude(key)
    real = eng.catalog

    def moved():  # the next detection finds every source 5 px away
        cat = real()
        cat["x"] += 5.0
        return cat

    eng.catalog = moved
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    assert win.ctl.excluded == set() and len(win.ctl.dropped) == 1
    assert "1 exclusion dropped" in win.status_outcome.text()
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)  # the table a turn after the selection's own
    states = [r[-1] for r in win.matches.model.rows]
    assert states.count("dropped (relative)") == 1
    # the dropped exclusion is listed and can be forgotten from the table
    x = win.ctl.dropped[0]
    click_row(qtbot, win, x)
    qtbot.mouseClick(win.matches.button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not win.ctl.busy, timeout=5000)
    assert win.ctl.exclusions == [] and win.ctl.dropped == []


def test_exclusion_of_another_stage_is_listed_and_restored(qtbot, win, eng):
    eng.absolute = True
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    click_image(qtbot, win, "b_flt.fits")
    win.residuals.fit_choice.setCurrentText("relative")
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    key = ("b_flt.fits", "SCI,1", 20)  # matched in the relative fit only
    click_row(qtbot, win, key)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.keyClick(win.matches.button, Qt.Key_Space)
    assert win.ctl.exclusions[0].stage == "relative"
    win.residuals.fit_choice.setCurrentText("absolute")
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    assert key not in win.residuals.keys
    rows = {k: r for k, r in zip(win.matches.model.keys, win.matches.model.rows)}
    (x,) = [k for k in rows if not isinstance(k, tuple)]
    assert rows[x][-1] == "excluded by you (relative)" and rows[x][2] == 20
    click_row(qtbot, win, x)
    assert win.ctl.selected_match is None
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.keyClick(win.matches.view, Qt.Key_Delete)  # Exclude / Restore Selected Match
    assert win.ctl.exclusions == [] and win.ctl.excluded == set()
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    assert "excluded by you (relative)" not in [r[-1] for r in win.matches.model.rows]


def test_visit_fit_shows_each_image_its_own_numbers(qtbot, win, eng):
    from tweakgui.engine import model

    eng.absolute = True
    eng.corrections["c_flt.fits"] = model.Correction((99.5, 99.5), 150.0, 2.0, (0.1234, -0.0456),
                                                     (-1.234, -0.456), 0.0012, 1.000002)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    click_image(qtbot, win, "c_flt.fits")
    m = win.residuals.matches
    # the visit's fit holds 45 matches of three images; this image has its own 20
    assert win.ctl.shown_fit().nmatch == 45 and len(m) == 20
    assert set(np.asarray(m["image"]).astype(str)) == {"c_flt.fits"}
    text = win.residuals.summary.text()
    assert "absolute fit of group visit</b> (3 images)" in text
    assert "significance 25.0σ" in text and "0.4 chance matches within 0.100″" in text
    assert "nmatch 45, used 42" in text
    assert "<b>c_flt.fits</b> in this fit: 20 matches, 19 used, 1 clipped, 0 excluded" in text
    assert "(reference tangent plane)" in text
    assert "at pixel (99.5, 99.5): shift ΔRA·cosδ +0.1234″, ΔDec -0.0456″ on the sky" in text
    assert "(-1.23, -0.46) detector px" in text and "rotation +0.00120°" in text
    assert int(win.residuals.res_text["dx_x"].toPlainText().split("N=")[1].rstrip(")")) == 19
    # the files list gives each image its own counts, not the visit's
    rows = win.files.model
    fit_text = {rows.index(i, 0).data(): rows.index(i, 5).data() for i in range(3)}
    assert fit_text["c_flt.fits"].startswith("abs rscale n=19/20")
    assert fit_text["b_flt.fits"].startswith("abs rscale n=14/15")
    assert "total shift=(+0.123\", -0.046\")" in fit_text["c_flt.fits"]
    tip = rows.index(2, 5).data(Qt.ToolTipRole)
    assert "relative fit of group g2: SUCCESS" in tip and "absolute fit of group visit: SUCCESS" in tip
    # the relative fit of the same image: its own stage, verdict fields the engine left empty
    win.residuals.fit_choice.setCurrentText("relative")
    text = win.residuals.summary.text()
    assert "relative fit of group g2</b>: <b>SUCCESS</b>" in text and "significance" not in text
    assert "rmse 12.00 mas" in text and len(win.residuals.matches) == 30


def test_fit_selector_drops_fits_that_no_longer_exist(qtbot, win, eng):
    eng.absolute = True
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    click_image(qtbot, win, "b_flt.fits")
    combo = win.residuals.fit_choice
    assert [combo.itemText(i) for i in range(combo.count())] == ["last", "relative", "absolute"]
    combo.setCurrentText("absolute")
    eng.absolute = False
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    assert [combo.itemText(i) for i in range(combo.count())] == ["last", "relative"]
    assert combo.currentText() == "last" and win.ctl.fit_choice == "last"
    assert win.residuals.fit.kind == "relative"


def test_residuals_along_detector_axes_with_robust_ranges(qtbot):
    """A chip rotated 50° and mirrored against the sky: a residual due east is drawn along
    the detector axes as the WCS says; a far outlier sets no range and sits at the edge."""
    from astropy.table import Table
    from astropy.wcs import WCS

    from tweakgui.engine import model
    from tweakgui.gui.residuals import ResidualPanel

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [500.0, 500.0]
    a = np.deg2rad(50)
    s = 0.03 / 3600
    # mirrored (det > 0 in RA/Dec: east along +x turned by 50°)
    w.wcs.cd = s * np.array([[np.cos(a), -np.sin(a)], [-np.sin(a), -np.cos(a)]])
    n = 40
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    ra, dec = w.pixel_to_world_values(x, y)
    de = np.full(n, 0.001)  # 1 mas east
    dn = np.zeros(n)
    de[0], dn[0] = 0.5, -0.3  # a clipped outlier, 500 mas
    used = np.ones(n, bool)
    used[0] = False
    m = Table({"group_id": ["g"] * n, "image": ["a.fits"] * n, "chip": ["SCI,1"] * n,
               "input_idx": np.arange(n), "ref_idx": np.arange(n), "x": x, "y": y, "ra": ra, "dec": dec,
               "ref_ra": ra - de / 3600 / np.cos(np.deg2rad(dec)), "ref_dec": dec - dn / 3600,
               "dx": de, "dy": dn, "used": used, "excluded": np.zeros(n, bool)})
    fit = model.FitResult("g", "relative", model.STATUS_SUCCESS, nmatch=n, matches=m,
                          rmse_arcsec=float("nan"), significance=float("nan"), n_chance=None)
    panel = ResidualPanel()
    qtbot.addWidget(panel)
    panel.wcs_of = lambda im, ch: w
    panel.set_fit(fit, "a.fits")
    assert panel.frame == "detector"
    qtbot.waitUntil(lambda: not panel.drawing, timeout=5000)
    # the truth: where the east-shifted position falls on the detector, in pixels × pixel scale
    px, py = w.world_to_pixel_values(ra[1:] + de[1:] / 3600 / np.cos(np.deg2rad(dec[1:])), dec[1:])
    want_x = (px - x[1:]) * 30.0  # mas (0.03″ pixels)
    want_y = (py - y[1:]) * 30.0
    assert abs(want_x).max() > 0.5 and abs(want_y).max() > 0.5  # both axes: rotated, not sky-aligned
    _xs, ys = panel.res_scatter["dx_x"].getData()
    assert ys[1:] == pytest.approx(want_x, abs=2e-3)
    _xs, ys = panel.res_scatter["dy_y"].getData()
    assert ys[1:] == pytest.approx(want_y, abs=2e-3)
    assert panel.res_plots["dx_x"].getAxis("left").labelText == "Δx detector (mas)"
    assert panel.res_plots["dy_y"].getAxis("left").labelText == "Δy detector (mas)"
    assert panel.res_plots["dx_x"].getAxis("bottom").labelText == "x (detector px)"
    # range from the used points (|Δ| ≤ 1 mas) with a margin, not from the 500 mas outlier
    lo, hi = panel.res_plots["dx_x"].viewRange()[1]
    assert hi == pytest.approx(max(abs(want_x)) * 1.15, rel=0.02) and lo == pytest.approx(-hi)
    # the outlier is drawn at the edge with an arrow-like symbol
    _xs, ys = panel.res_scatter["dx_x"].getData()
    assert abs(ys[0]) <= hi and panel.res_scatter["dx_x"].data["symbol"][0] in ("t", "t1")
    # vector plot: the outlier's vector is cut, the view spans the sources
    panel.resize(700, 900)  # a square plot below the summary's reserved height (aspect locked)
    panel.show()
    panel.tabs.setCurrentWidget(panel.vec_widget)
    qtbot.wait(20)
    (vx0, vx1), (vy0, vy1) = panel.vec_plot.viewRange()
    field = max(np.ptp(x), np.ptp(y))
    assert vx1 - vx0 < 1.5 * field and vy1 - vy0 < 1.5 * field
    assert vx0 < x.min() and vx1 > x.max() and vy0 < y.min() and vy1 > y.max()
    xs, _ys = panel.vec_lines["clipped"].getData()
    assert abs(xs[1] - xs[0]) <= 3 * panel.vector_scale * float(panel.vec_key_text.toPlainText().split()[0]) + 1e-6
    # legend
    labels = [lab.text for _s, lab in panel.res_legend.items]
    assert labels[:3] == ["used", "clipped", "excluded by you"]
    # empty verdict fields do not break the summary
    assert "rmse — mas" in panel.summary.text()


def test_histogram_click_sets_the_relative_offsets(qtbot, win, eng):
    from PySide6.QtCore import QPointF

    eng.absolute = True
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    click_image(qtbot, win, "b_flt.fits")
    res = win.residuals
    res.tabs.setCurrentWidget(res.hist_widget)
    res.fit_choice.setCurrentText("relative")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    qtbot.wait(20)

    def click_at(x, y):
        scene = res.hist_plot.vb.mapViewToScene(QPointF(x, y))
        pos = res.hist_widget.mapFromScene(scene)
        qtbot.mouseClick(res.hist_widget.viewport(), Qt.LeftButton, pos=pos)

    click_at(0.42, -0.31)
    p = win.ctl.params
    assert p.xoffset == pytest.approx(0.42, abs=0.01) and p.yoffset == pytest.approx(-0.31, abs=0.01)
    assert p.use2dhist is False
    assert "use2dhist turned off" in win.statusBar().currentMessage()
    px, py = res.hist_pick.getData()
    assert (px[0], py[0]) == pytest.approx((p.xoffset, p.yoffset), abs=1e-3)
    assert win.params_panel.fields["xoffset"].text() == f"{p.xoffset:g}"
    # the next run uses it, and the mark stays
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    used = eng.calls[-1][1]["params"]
    assert (used.xoffset, used.yoffset, used.use2dhist) == (p.xoffset, p.yoffset, False)
    assert res.hist_pick.getData()[0][0] == pytest.approx(p.xoffset)
    # an absolute fit has no such parameter: the click changes nothing and says why
    res.fit_choice.setCurrentText("absolute")
    qtbot.waitUntil(lambda: not res.drawing, timeout=5000)
    assert "no offset parameter" in res.hist_note.toPlainText()
    click_at(-0.8, 0.9)
    assert (win.ctl.params.xoffset, win.ctl.params.yoffset) == (p.xoffset, p.yoffset)
    assert "absolute stage has no initial-offset" in win.statusBar().currentMessage()
    assert len(res.hist_pick.getData()[0]) == 0


def test_overlay_layers_toggle_from_menu_and_legend(qtbot, win):
    click_image(qtbot, win, "b_flt.fits")
    iv = win.image_view
    act = win.actions["layer_detected"]
    assert iv.scatter["detected"].isVisible() and act.isChecked()
    qtbot.keyClick(win, Qt.Key_1, Qt.AltModifier)
    assert not iv.scatter["detected"].isVisible() and not act.isChecked()
    act.trigger()
    assert iv.scatter["detected"].isVisible()
    # a click on the legend's sample of the matched layer hides it, and the menu follows
    sample = next(s for s, lab in iv.legend.items if lab.text == "matched (used)")
    scene = sample.mapToScene(sample.boundingRect().center())
    qtbot.mouseClick(iv.plot_widget.viewport(), Qt.LeftButton, pos=iv.plot_widget.mapFromScene(scene))
    assert not iv.scatter["matched"].isVisible() and not win.actions["layer_matched"].isChecked()


def test_wcs_files_offered_for_jwst_only(qtbot, win):
    a = win.actions["save_wcs"]
    assert not a.isEnabled() and "JWST inputs only" in a.text()
    assert "for FITS inputs save updated images or headerlets" in a.toolTip()


def test_session_reopens_with_its_results_and_marks_them_stale(qtbot, make_window, eng, win, tmp_path):
    from tweakgui.engine import model
    from tweakgui.gui import menus

    eng.absolute = True
    eng.corrections["b_flt.fits"] = model.Correction((99.5, 99.5), 150.0, 2.0, (0.05, -0.02),
                                                     (-0.5, -0.2), 0.0, 1.0)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()
    click_image(qtbot, win, "b_flt.fits")
    key = ("b_flt.fits", "SCI,1", 3)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.toggle_exclude(key)
    path = tmp_path / "v.tweakgui.json"
    menus.save_session(win, str(path))
    assert (tmp_path / "v.tweakgui.results.asdf").is_file()
    want = {r.exposure.name: (r.status, [f.nmatch for f in r.fits]) for r in win.ctl.result.images}

    runs = len([c for c in eng.calls if c[0] == "run"])
    win2 = make_window(engine=eng.api())
    with qtbot.waitSignal(win2.ctl.jobDone, timeout=5000):
        menus.open_session(win2, str(path))
    c2 = win2.ctl
    assert len([c for c in eng.calls if c[0] == "run"]) == runs  # shown without running
    assert {r.exposure.name: (r.status, [f.nmatch for f in r.fits]) for r in c2.result.images} == want
    assert c2.excluded == {key} and c2.stale == ""
    assert win2.status_outcome.text() == "Reopened: 3/3 images aligned (saved results)"
    assert win2.files.model.index(1, 5).data().startswith("abs rscale n=13/14")  # one excluded by the user
    click_image(qtbot, win2, "b_flt.fits")
    assert len(win2.residuals.matches) == 15 and "ΔRA·cosδ +0.0500″" in win2.residuals.summary.text()
    win2.residuals.tabs.setCurrentWidget(win2.residuals.hist_widget)  # drawn when shown
    qtbot.waitUntil(lambda: not win2.residuals.drawing, timeout=5000)
    assert win2.residuals.hist_image.image is not None  # the candidate offsets came back
    # a parameter change marks the results stale, in the status bar
    f = win2.params_panel.fields["searchrad"]
    f.setText("3.5")
    qtbot.keyClick(f, Qt.Key_Return)
    assert c2.stale == "searchrad changed"
    assert "stale: searchrad changed" in win2.status_outcome.text()
    # reopened with other parameters: stale from the start, and says which
    menus.save_session(win2, str(path))
    win3 = make_window(engine=eng.api())
    with qtbot.waitSignal(win3.ctl.jobDone, timeout=5000):
        menus.open_session(win3, str(path))
    assert "parameters changed since: searchrad" in win3.ctl.stale


def test_adding_a_loaded_image_is_refused_and_keeps_results(qtbot, win, eng):
    loads = len([c for c in eng.calls if c[0] == "load_visit"])
    win.add_inputs(["b_flt.fits"])
    assert len([c for c in eng.calls if c[0] == "load_visit"]) == loads
    assert win.files.names() == ["a_flt.fits", "b_flt.fits", "c_flt.fits"]
    assert win.ctl.result is not None and win.statusBar().currentMessage() == "Already loaded: b_flt.fits"
    # a new image keeps the others' results, marked stale
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.add_inputs(["d_flt.fits"])
    assert win.files.names() == ["a_flt.fits", "b_flt.fits", "c_flt.fits", "d_flt.fits"]
    assert win.ctl.image_result("b_flt.fits").status == "SUCCESS"
    assert win.ctl.stale == "images were added"


def test_defaults_keep_the_reference_catalog(qtbot, win, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QPushButton

    refcat = tmp_path / "ref.ecsv"
    refcat.write_text("# %ECSV 1.0\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(refcat), ""))
    panel = win.params_panel
    qtbot.mouseClick(panel.browse["abs_refcat"], Qt.LeftButton)
    assert win.ctl.params.abs_refcat == str(refcat)
    assert panel.fields["abs_refcat"].text() == str(refcat)
    win.ctl.update_param("snr_threshold", 7.0)
    defaults = next(b for b in panel.findChildren(QPushButton) if b.text() == "Defaults")
    qtbot.mouseClick(defaults, Qt.LeftButton)
    assert win.ctl.params.snr_threshold == 10.0 and win.ctl.params.abs_refcat == str(refcat)
    assert "kept abs_refcat=ref.ecsv" in win.statusBar().currentMessage()
    assert win.ctl.stale == "parameters changed"


def test_units_in_labels(qtbot, win):
    from PySide6.QtWidgets import QLabel

    texts = {lab.text() for lab in win.params_panel.findChildren(QLabel)}
    for want in ("searchrad (arcsec)", "kernel_fwhm (px)", "minsep_fwhm (× kernel_fwhm)",
                 "snr_threshold (σ)", "xoffset (arcsec)", "abs_tolerance (arcsec)"):
        assert want in texts


def test_empty_start_offers_the_ways_in(qtbot, make_window, monkeypatch, tmp_path):
    win = make_window(engine=FakeEngine().api())
    assert win.central.currentWidget() is win.start_page
    calls = []
    monkeypatch.setattr("tweakgui.gui.app.demo_inputs",
                        lambda: ([str(tmp_path / "d1_flt.fits"), str(tmp_path / "d2_flt.fits")],
                                 {"abs_refcat": str(tmp_path / "ref.ecsv")}))
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.mouseClick(win.start_page.buttons["demo"], Qt.LeftButton)
    assert win.files.names() == ["d1_flt.fits", "d2_flt.fits"]
    assert win.ctl.params.abs_refcat.endswith("ref.ecsv")
    assert win.central.currentWidget() is win.image_view
    monkeypatch.setattr(win.files, "add_dialog", lambda: calls.append("files"))
    assert calls == [] and set(win.start_page.buttons) == {"files", "asn", "session", "demo"}


def test_usable_at_1366x768(qtbot, make_window):
    eng = FakeEngine()
    win = make_window(engine=eng.api())
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.add_inputs([f"{c}_flt.fits" for c in "abcde"])
    win.resize(1366, 740)  # a 1366×768 screen less the panel
    win._size_docks()
    qtbot.wait(50)
    tree = win.files.tree
    rect = tree.visualRect(win.files.model.index(win.files.model.rowCount() - 1, 0))
    assert rect.top() >= 0 and rect.bottom() <= tree.viewport().height()  # every file in view
    title = win.image_view.title
    assert title.width() >= title.fontMetrics().horizontalAdvance(title.text())  # not elided
    assert win.image_view.plot_widget.height() > 300


def test_diagnostics_tab_plots_residuals_against_source_properties(qtbot, win, eng):
    eng.shuffle = True
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.ctl.run()  # renumbered catalogs: quantities must follow input_idx
    click_image(qtbot, win, "b_flt.fits")
    win.residuals.tabs.setCurrentWidget(win.diagnostics)
    d = win.diagnostics
    assert d.shown == ["mag", "sharpness", "roundness"]  # the fake catalog has no peak
    m = win.residuals.matches
    cat = win.ctl.image_result("b_flt.fits").catalogs[0]
    xs, ys = d.scatter[("dx", "mag")].getData()
    assert xs == pytest.approx(np.asarray(cat["mag"])[np.asarray(m["input_idx"])])
    assert ys == pytest.approx(win.residuals.comp["dx"])
    assert d.cuts[("dy", "sharpness")] == [("sharplo", 0.5), ("sharphi", 2.0)]
    assert d.cuts[("dx", "roundness")] == [("roundlo", 0.0), ("roundhi", 0.2)]
    # used, clipped, excluded drawn distinct
    sym = d.scatter[("dx", "mag")].data["symbol"]
    assert set(sym) == {"o", "t"}  # 29 used, the clipped star
    assert "not shown: peak" in d.note.text()
    # a star the user excludes (a real click on its row and the button) is drawn as such
    key = ("b_flt.fits", "SCI,1", int(np.asarray(m["input_idx"])[np.asarray(m["used"], bool)][0]))
    click_row(qtbot, win, key)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.mouseClick(win.matches.button, Qt.LeftButton)
    win.residuals.tabs.setCurrentWidget(win.diagnostics)
    m = win.residuals.matches
    sym = np.asarray(d.scatter[("dx", "mag")].data["symbol"])
    assert set(sym) == {"o", "t", "x"}
    row = int(np.flatnonzero(np.asarray(m["input_idx"]) == key[2])[0])
    assert sym[row] == "x" and bool(m["excluded"][row])


def test_systematics_map_bins_every_image_on_the_chip(qtbot, win, eng):
    for e in win.ctl.visit.exposures:
        e.meta["DETECTOR"] = "HRC"
    win.residuals.tabs.setCurrentWidget(win.systematics)
    s = win.systematics
    cx, cy, mdx, mdy, cnt = s.binned["HRC SCI,1"]
    # two aligned images × 29 used matches, on a 200×200 chip in a 6×6 grid
    assert cnt.sum() == 58 and len(cx) == 36
    # truth: the mean of the plotted components of all images in one bin
    comps = []
    for name in ("b_flt.fits", "c_flt.fits"):
        win.ctl.select_image(name)
        m, comp = win.residuals.matches, win.residuals.comp
        used = np.asarray(m["used"], bool)
        sel = used & (np.asarray(m["x"]) < 200 / 6) & (np.asarray(m["y"]) < 200 / 6)
        comps.append(comp["dx"][sel])
    assert mdx[0] == pytest.approx(np.mean(np.concatenate(comps)))
    assert "of 2 images binned 6×6" in s.note.text()
    # chips of different detectors (JWST: all named SCI) get their own grids
    win.ctl.exposure("c_flt.fits").meta["DETECTOR"] = "NRCA2"
    win._update_systematics(force=True)
    assert set(s.binned) == {"HRC SCI,1", "NRCA2 SCI,1"} and s.binned["HRC SCI,1"][4].sum() == 29


def test_review_mode_with_keys(qtbot, win):
    click_image(qtbot, win, "a_flt.fits")
    win.activateWindow()
    win.files.tree.setFocus()
    qtbot.keyClick(win.files.tree, Qt.Key_N)
    assert win.ctl.selected == "b_flt.fits"
    assert win.statusBar().currentMessage().startswith("Review 2/3: b_flt.fits — SUCCESS (relative rshift")
    qtbot.keyClick(win.files.tree, Qt.Key_R)  # reject b, go to c
    assert win.ctl.accepted["b_flt.fits"] is False and win.ctl.selected == "c_flt.fits"
    rows = win.files.model
    assert rows.index(1, 4).data(Qt.CheckStateRole) == Qt.Unchecked
    assert rows.index(1, 5).data().startswith("rejected by you")
    qtbot.keyClick(win.files.tree, Qt.Key_P)
    assert win.ctl.selected == "b_flt.fits"
    qtbot.keyClick(win.files.tree, Qt.Key_A)  # accept b again
    assert win.ctl.accepted["b_flt.fits"] is True and win.ctl.selected == "c_flt.fits"
    qtbot.keyClick(win.files.tree, Qt.Key_N)
    assert win.ctl.selected == "a_flt.fits"  # wraps round


def test_long_jwst_names_shown_by_what_differs(qtbot, make_window):
    from tweakgui.gui.files_panel import short_names

    names = [f"jw01345001001_02201_0000{i}_nrca{d}_cal.fits" for i in (1, 2) for d in (1, 2)]
    assert short_names(names)[names[1]] == "…00001_nrca2_cal.fits"
    assert short_names(["j8bt05njq_flt.fits", "j8bt06nyq_flt.fits"])["j8bt05njq_flt.fits"] == "j8bt05njq_flt.fits"
    win = make_window(engine=FakeEngine().api())
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        win.add_inputs(names)
    item = win.files.model.index(1, 0)
    assert item.data() == "…00001_nrca2_cal.fits" and win.files.names()[1] == names[1]
    assert names[1] in item.data(Qt.ToolTipRole)


def test_histogram_is_the_engines(qtbot, tmp_path):
    """The 2D histogram drawn is the one the engine matched with: pixel-sized bins, its peak."""
    from tweakgui.engine import pipeline
    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.synthetic import make_demo_visit
    from tweakgui.engine.visit import load_visit
    from tweakgui.gui.residuals import ResidualPanel

    demo = make_demo_visit(tmp_path, n_images=2, shape=(384, 384), seed=3, exact_first=True)
    params = TweakRegParams()
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None, jobs=1)
    fit = result.images[1].fits[0]
    assert fit.histogram.binsize == pytest.approx(0.04, rel=0.02)  # one 0.04" pixel
    panel = ResidualPanel()
    qtbot.addWidget(panel)
    panel.set_fit(fit, result.images[1].exposure.name, searchrad=params.searchrad)
    panel.tabs.setCurrentWidget(panel.hist_widget)  # drawn when shown
    qtbot.waitUntil(lambda: not panel.drawing, timeout=5000)
    assert panel.hist_counts is fit.histogram.counts or np.array_equal(panel.hist_counts, fit.histogram.counts)
    rect = panel.hist_image.mapRectToParent(panel.hist_image.boundingRect())
    assert rect.left() == pytest.approx(fit.histogram.xedges[0]) and rect.width() == pytest.approx(4.0, rel=1e-3)
    # the peak is the injected pointing error (input − reference, in the reference pixel axes)
    dx, dy, _ = demo.injected[demo.paths[1].name]
    peak = fit.hist_peak_arcsec
    assert abs(np.hypot(*peak) - np.hypot(dx, dy)) < 0.05
    # and the fit's shift undoes it: opposite sign
    assert np.hypot(fit.shift_arcsec[0] + peak[0], fit.shift_arcsec[1] + peak[1]) < 0.05
    pts = panel.hist_peak.getData()
    assert pts[0][0] == pytest.approx(peak[0]) and pts[1][0] == pytest.approx(peak[1])
