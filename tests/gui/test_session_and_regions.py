"""Sessions reproduce a run; regions drawn in the GUI reach detection (real engine)."""

import json

import numpy as np
import pytest

from tweakgui.gui import menus
from tweakgui.gui.region_shapes import Shape


def test_exclusion_region_removes_detections(qtbot, make_window, small_demo, load_and_run):
    win = make_window(abs_refcat=str(small_demo.refcat))
    name = small_demo.paths[1].name
    win.ctl.set_regions(name, "SCI,1", [Shape("circle", (256, 256, 120)),
                                        Shape("box", (400, 100, 60, 40, 0), include=False)])
    load_and_run(win, small_demo.paths)
    cat = win.ctl.image_result(name).catalogs[0]
    r = np.hypot(np.asarray(cat["x"]) - 256, np.asarray(cat["y"]) - 256)
    assert len(cat) > 20 and r.min() > 120 - 3  # pixels: nothing detected inside the circle
    inbox = (np.abs(np.asarray(cat["x"]) - 400) < 27) & (np.abs(np.asarray(cat["y"]) - 100) < 17)
    assert not inbox.any()
    other = win.ctl.image_result(small_demo.paths[2].name).catalogs[0]
    r2 = np.hypot(np.asarray(other["x"]) - 256, np.asarray(other["y"]) - 256)
    assert r2.min() < 100  # other images are not affected


def test_session_roundtrip_reproduces_the_run(qtbot, make_window, small_demo, tmp_path, load_and_run):
    win = make_window(abs_refcat=str(small_demo.refcat), fitgeometry="shift")
    load_and_run(win, small_demo.paths)
    ctl = win.ctl
    name = small_demo.paths[2].name
    fit = ctl.shown_fit(name)
    key = (name, "SCI,1", int(fit.matches[fit.matches["image"] == name]["input_idx"][3]))
    with qtbot.waitSignal(ctl.jobDone, timeout=60000):
        ctl.toggle_exclude(key)
    ctl.set_group_id(small_demo.paths[0].name, "G0")
    ctl.set_regions(name, "SCI,1", [Shape("circle", (50, 50, 20))])
    ctl.set_accepted(small_demo.paths[1].name, False)
    with qtbot.waitSignal(ctl.jobDone, timeout=60000):
        ctl.run()  # full run with the group and region changes
    want = {r.exposure.name: (r.fit.nmatch, r.fit.shift_arcsec) for r in ctl.result.images}
    path = tmp_path / "visit.tweakgui.json"
    menus.save_session(win, str(path))
    d = json.loads(path.read_text())
    assert d["excluded"] == [list(key)]
    # kept by the source's sky position, which survives re-detection
    assert d["exclusions"] == [x.to_dict() for x in ctl.exclusions] and d["exclusions"][0]["image"] == name
    assert d["params"]["fitgeometry"] == "shift" and d["group_ids"] == {small_demo.paths[0].name: "G0"}
    assert {r["image"]: r["nmatch"] for r in d["results"]} == {k: v[0] for k, v in want.items()}

    win2 = make_window()
    with qtbot.waitSignal(win2.ctl.jobDone, timeout=30000):
        menus.open_session(win2, str(path))
    c2 = win2.ctl
    assert c2.params.fitgeometry == "shift" and c2.exclusions == ctl.exclusions
    assert c2.exposure(small_demo.paths[0].name).group_id == "G0"
    assert win2.files.model.index(0, 1).data() == "G0"
    assert c2.regions[(name, "SCI,1")][0].params == (50.0, 50.0, 20.0)
    assert c2.accepted[small_demo.paths[1].name] is False
    with qtbot.waitSignal(c2.jobDone, timeout=60000):
        c2.run()
    got = {r.exposure.name: (r.fit.nmatch, r.fit.shift_arcsec) for r in c2.result.images}
    for n, (nm, shift) in want.items():
        assert got[n][0] == nm
        assert got[n][1] == pytest.approx(shift, abs=1e-6)  # arcsec
    assert c2.excluded == {key}
    excluded_rows = c2.shown_fit(name).matches
    assert excluded_rows[excluded_rows["excluded"]]["input_idx"][0] == key[2]
    # a broken session file is refused with one line
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    menus.open_session(win2, str(bad))
    assert win2.errors[-1][0] == "Cannot open session" and "bad.json" in win2.errors[-1][1]
