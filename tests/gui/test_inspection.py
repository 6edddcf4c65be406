"""The inspection loop driven as a user would: select, exclude, refit, rerun, restore."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fake_engine import FakeEngine


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
    tree = win.files.tree
    item = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                if tree.topLevelItem(i).text(0) == name)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=tree.visualItemRect(item).center())


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
    assert all(t.toPlainText() == "" for t in win.residuals.res_text.values())
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
    key = ("b_flt.fits", "SCI,1", 20)  # matched in the relative fit only
    click_row(qtbot, win, key)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.keyClick(win.matches.button, Qt.Key_Space)
    assert win.ctl.exclusions[0].stage == "relative"
    win.residuals.fit_choice.setCurrentText("absolute")
    assert key not in win.residuals.keys
    rows = {k: r for k, r in zip(win.matches.model.keys, win.matches.model.rows)}
    (x,) = [k for k in rows if not isinstance(k, tuple)]
    assert rows[x][-1] == "excluded by you (relative)" and rows[x][2] == 20
    click_row(qtbot, win, x)
    with qtbot.waitSignal(win.ctl.jobDone, timeout=5000):
        qtbot.mouseClick(win.matches.button, Qt.LeftButton)
    assert win.ctl.exclusions == [] and win.ctl.excluded == set()
    assert "excluded by you (relative)" not in [r[-1] for r in win.matches.model.rows]
