"""The scripted flow on a generated visit with the real engine, offscreen:
load, detect, align, inspect, exclude a match and refit, save."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from PySide6.QtCore import Qt

from tweakgui.engine.synthetic import wcs_error_mas


def _wait(qtbot, win, kind, timeout=60000):
    with qtbot.waitSignal(win.ctl.jobDone, timeout=timeout,
                          check_params_cb=lambda k, ok: k == kind) as blocker:
        pass
    return blocker.args


def _truth(demo, name):
    t = demo.truth[name]
    return t[0] if isinstance(t, list) else t


def test_load_align_inspect_exclude_save(qtbot, make_window, small_demo, tmp_path):
    win = make_window(abs_refcat=str(small_demo.refcat))
    ctl = win.ctl
    with qtbot.waitSignal(ctl.jobDone, timeout=30000) as b:
        win.add_inputs([str(p) for p in small_demo.paths])
    assert b.args == ["load", True]
    assert win.files.names() == [p.name for p in small_demo.paths]
    # the first image is on display once its pixels are read off the GUI thread
    qtbot.waitUntil(lambda: win.image_view.image.image is not None, timeout=10000)
    assert win.image_view.image.image.shape == (512, 512)
    # drawn as bytes: the chosen stretch of the chip's pixels times 255
    from tweakgui.gui.stretch import stretch_image

    entry = win.image_view._cache[win.image_view._key]
    want = stretch_image(entry["data"], entry["mask"], win.image_view.stretch.currentText())[0] * 255
    shown = win.image_view.image.image
    assert shown.dtype == np.uint8 and np.abs(shown - want).max() <= 0.5 and shown.max() == 255

    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        win.actions["run"].trigger()
    assert b.args == ["run", True]
    res = ctl.result
    assert [r.status for r in res.images] == ["SUCCESS"] * 3
    # every aligned WCS agrees with the true WCS to better than 5 mas over the chip
    # (the demo WCS start several hundred mas off)
    for r in res.images:
        c = r.exposure.chips[0]
        assert wcs_error_mas(c.wcs, _truth(small_demo, r.exposure.name), c.shape) > 100
        assert wcs_error_mas(r.new_wcs[0], _truth(small_demo, r.exposure.name), c.shape) < 5

    # inspect the second image: residuals, image overlays and matches table agree
    name = small_demo.paths[1].name
    ctl.select_image(name)
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)  # the layers and table a turn later
    fit = ctl.shown_fit(name)
    assert fit.kind == "absolute"
    mine = fit.matches[fit.matches["image"] == name]
    assert win.residuals.keys == [(name, "SCI,1", int(i)) for i in mine["input_idx"]]
    assert win.image_view.count("matched") == int(np.sum(mine["used"]))
    assert win.image_view.count("detected") == len(res.images[1].catalogs[0])
    qtbot.waitUntil(lambda: win.image_view.count("refcat") > 0, timeout=10000)  # projected in the background
    assert len(win.matches.model.rows) == len(mine)
    used = np.asarray(mine["used"])
    rms_dx = np.sqrt(np.mean((np.asarray(mine["dx"])[used] * 1000) ** 2))
    rms_dy = np.sqrt(np.mean((np.asarray(mine["dy"])[used] * 1000) ** 2))
    # plotted along the detector axes: a rotation of the tangent-plane residuals, same total RMS
    assert win.residuals.frame == "detector"
    assert np.hypot(win.residuals.rms_mas["dx"], win.residuals.rms_mas["dy"]) == pytest.approx(
        np.hypot(rms_dx, rms_dy), rel=2e-3)
    assert win.residuals.rms_mas["dx"] < 5  # mas: synthetic centroids are good

    # click a point in a residual panel → highlighted in the image and the table
    key = win.residuals.keys[5]
    row = mine[5]
    sc = win.residuals.res_scatter["dx_x"]
    pts = [p for p in sc.points() if p.data() == 5]
    sc.sigClicked.emit(sc, pts, None)
    assert ctl.selected_match == key
    assert win.matches.current_key() == key
    hx, hy = win.image_view.highlight.getData()
    assert (hx[0], hy[0]) == pytest.approx((row["x"], row["y"]))

    # exclude it: the fit runs again at once without detecting, one match fewer
    nmatch = fit.nmatch
    runs_before = ctl.jobs.serial
    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        qtbot.mouseClick(win.matches.button, Qt.LeftButton)
    assert b.args == ["refit", True]
    assert ctl.jobs.serial == runs_before + 1
    fit2 = ctl.shown_fit(name)
    assert fit2.nmatch == nmatch - 1
    flagged = fit2.matches[(fit2.matches["image"] == name) & (fit2.matches["input_idx"] == key[2])]
    assert len(flagged) == 1 and flagged["excluded"][0] and not flagged["used"][0]
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)  # the layers and table a turn later
    assert win.image_view.count("excluded") == 1
    assert "excluded" in [r[-1] for r in win.matches.model.rows]

    # save all accepted images: files exist and carry the aligned WCS
    out = tmp_path / "out"
    out.mkdir()
    with qtbot.waitSignal(ctl.jobDone, timeout=60000) as b:
        ctl.save(out)
    assert b.args == ["save", True]
    names = {p.name for p in out.iterdir()}
    for p in small_demo.paths:
        root = p.name.replace("_flt.fits", "")
        assert f"{root}_tweakreg.fits" in names
        assert f"{root}_hlet.fits" in names
    assert "tweakreg_report.json" in names and "tweakreg_shifts.txt" in names
    r1 = ctl.result.images[1]
    with fits.open(out / f"{r1.exposure.root}_tweakreg.fits") as hdul:
        w = WCS(hdul["SCI", 1].header, hdul)
    x = np.array([0.0, 255.5, 511.0])
    ra0, dec0 = r1.new_wcs[0].all_pix2world(x, x, 0)
    ra1, dec1 = w.all_pix2world(x, x, 0)
    assert np.max(np.hypot((ra1 - ra0) * np.cos(np.radians(dec0)), dec1 - dec0)) * 3.6e6 < 0.1  # mas
    assert wcs_error_mas(w, _truth(small_demo, r1.exposure.name), (512, 512)) < 5
    # inputs untouched
    with fits.open(small_demo.paths[1]) as hdul:
        assert wcs_error_mas(WCS(hdul["SCI", 1].header, hdul),
                             _truth(small_demo, r1.exposure.name), (512, 512)) > 100


def test_histogram_click_sets_offsets(qtbot, make_window, small_demo, load_and_run):
    win = make_window(abs_refcat=str(small_demo.refcat))
    load_and_run(win, small_demo.paths)
    win.residuals.fit_choice.setCurrentText("relative")
    win.ctl.select_image(small_demo.paths[1].name)
    win.residuals.tabs.setCurrentWidget(win.residuals.hist_widget)  # drawn when shown
    qtbot.waitUntil(lambda: not win.residuals.drawing, timeout=5000)
    fit = win.ctl.shown_fit()
    assert fit.kind == "relative" and fit.hist_peak_arcsec is not None
    px, py = win.residuals.hist_peak.getData()
    assert (px[0], py[0]) == pytest.approx(fit.hist_peak_arcsec)
    win.residuals.offsetPicked.emit(0.5, -0.25)
    p = win.ctl.params
    assert (p.xoffset, p.yoffset, p.use2dhist) == (0.5, -0.25, False)
    assert win.params_panel.fields["xoffset"].text() == "0.5"
    assert not win.params_panel.fields["use2dhist"].isChecked()


def test_exclusion_follows_its_star_when_another_finder_detects(qtbot, make_window, small_demo):
    """Real detection: another finder renumbers the catalog; the excluded star stays excluded."""
    win = make_window(abs_refcat=str(small_demo.refcat), fitgeometry="shift")
    ctl = win.ctl
    with qtbot.waitSignal(ctl.jobDone, timeout=30000):
        win.add_inputs([str(p) for p in small_demo.paths])
    with qtbot.waitSignal(ctl.jobDone, timeout=120000):
        ctl.run()
    name = small_demo.paths[1].name
    ctl.select_image(name)
    fit = ctl.shown_fit(name)
    mine = fit.matches[(fit.matches["image"] == name) & fit.matches["used"]]
    key = (name, "SCI,1", int(mine["input_idx"][len(mine) // 2]))
    cat = ctl.image_result(name).catalogs[0]
    star = np.array([cat["x"][key[2]], cat["y"][key[2]]], float)
    with qtbot.waitSignal(ctl.jobDone, timeout=120000):
        ctl.toggle_exclude(key)
    ctl.update_param("starfinder", "dao")
    with qtbot.waitSignal(ctl.jobDone, timeout=120000) as b:
        ctl.run()
    assert b.args == ["run", True]
    (new_key,) = ctl.excluded
    assert new_key != key  # the rows moved
    cat = ctl.image_result(name).catalogs[0]
    assert np.hypot(*(np.array([cat["x"][new_key[2]], cat["y"][new_key[2]]], float) - star)) < 1.25
    fit = ctl.shown_fit(name)
    flagged = fit.matches[(fit.matches["image"] == name) & fit.matches["excluded"]]
    assert list(flagged["input_idx"]) == [new_key[2]] and not flagged["used"][0]
    assert ctl.dropped == [] and "dropped" not in win.status_outcome.text()
