"""The session controller driven with a fake engine and a Mock(spec=SessionView)."""

import threading
from unittest.mock import Mock

import pytest

from tweakgui.engine.params.spec import ParameterError
from tweakgui.gui.controller import SessionController
from tweakgui.gui.region_shapes import Shape
from tweakgui.gui.view import SessionView


@pytest.fixture
def ctl(qtbot, fake_engine):
    view = Mock(spec=SessionView)
    c = SessionController(view, fake_engine.api())
    yield c
    assert c.shutdown(5000)


def load(qtbot, ctl, names=("a_flt.fits", "b_flt.fits", "c_flt.fits")):
    with qtbot.waitSignal(ctl.jobDone, timeout=5000) as blocker:
        ctl.set_inputs(list(names))
    assert blocker.args == ["load", True]


def run(qtbot, ctl, refit=False):
    with qtbot.waitSignal(ctl.jobDone, timeout=5000) as blocker:
        ctl.refit() if refit else ctl.run()
    return blocker.args


def test_load_run_and_view_calls(qtbot, ctl):
    load(qtbot, ctl)
    assert [e.name for e in ctl.visit.exposures] == ["a_flt.fits", "b_flt.fits", "c_flt.fits"]
    ctl.view.show_visit.assert_called_with(ctl.visit)
    ctl.view.show_selection.assert_called_with("a_flt.fits", 0)
    assert run(qtbot, ctl) == ["run", True]
    ctl.view.show_result.assert_called_with(ctl.result)
    assert [r.status for r in ctl.result.images] == ["REFERENCE", "SUCCESS", "SUCCESS"]
    assert ctl.accepted == {"a_flt.fits": True, "b_flt.fits": True, "c_flt.fits": True}
    # progress reached the view: one call per exposure, last one 3/3
    ctl.view.show_progress.assert_called_with("detect", 3, 3, "c_flt.fits")
    busy = [c.args for c in ctl.view.show_busy.call_args_list]
    assert busy[-2:] == [(True, "run"), (False, "run")]


def test_exclude_refits_with_reused_catalogs(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    run(qtbot, ctl)
    before = ctl.shown_fit("b_flt.fits").nmatch
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.toggle_exclude(("b_flt.fits", "SCI,1", 4))
    call = fake_engine.calls[-1][1]
    assert call["excluded"] == {("b_flt.fits", "SCI,1", 4)}
    assert set(call["catalogs"]) == {(n, "SCI,1") for n in ("a_flt.fits", "b_flt.fits", "c_flt.fits")}
    fit = ctl.shown_fit("b_flt.fits")
    assert fit.nmatch == before - 1
    row = fit.matches[fit.matches["input_idx"] == 4][0]
    assert row["excluded"] and not row["used"]
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.toggle_exclude(("b_flt.fits", "SCI,1", 4))
    assert ctl.shown_fit("b_flt.fits").nmatch == before


def test_stale_result_is_dropped(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    fake_engine.gate.clear()
    ctl.run()
    first = ctl.jobs.serial
    ctl.params = ctl.params.replace(fitgeometry="shift")
    ctl.run()  # supersedes: the first is cancelled, the second runs after it
    fake_engine.gate.set()
    with qtbot.waitSignal(ctl.jobDone, timeout=5000) as blocker:
        pass
    assert blocker.args == ["run", True]
    assert ctl.jobs.serial == first + 1
    runs = [c for c in fake_engine.calls if c[0] == "run"]
    assert runs[-1][1]["params"].fitgeometry == "shift"
    assert ctl.result.params.fitgeometry == "shift"
    ctl.view.show_error.assert_not_called()


def test_cancel_mid_run(qtbot, ctl, fake_engine, tmp_path):
    load(qtbot, ctl)
    fake_engine.gate.clear()
    ctl.run()
    ctl.cancel()
    fake_engine.gate.set()
    with qtbot.waitSignal(ctl.jobDone, timeout=5000) as blocker:
        pass
    assert blocker.args == ["run", False]
    assert ctl.result is None
    ctl.view.show_error.assert_not_called()
    assert list(tmp_path.iterdir()) == []


def test_worker_exception_reports_and_recovers(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    fake_engine.fail_with = ZeroDivisionError("boom in the fit")
    assert run(qtbot, ctl) == ["run", False]
    title, msg, details = ctl.view.show_error.call_args.args
    assert "boom in the fit" in msg and "ZeroDivisionError" in details
    fake_engine.fail_with = None
    assert run(qtbot, ctl) == ["run", True]


def test_input_error_is_one_line(qtbot, ctl):
    with qtbot.waitSignal(ctl.jobDone, timeout=5000) as blocker:
        ctl.set_inputs(["missing.fits"])
    assert blocker.args == ["load", False]
    title, msg = ctl.view.show_error.call_args.args[:2]
    assert msg == "missing.fits: file not found"


def test_overrides_order_reference_and_params(qtbot, ctl):
    load(qtbot, ctl)
    ctl.set_group_id("b_flt.fits", "grpX")
    ctl.set_reference("c_flt.fits")
    assert [e.name for e in ctl.visit.exposures][0] == "c_flt.fits"
    assert ctl.params.enforce_user_order
    ctl.move_exposure("a_flt.fits", +1)
    assert [e.name for e in ctl.visit.exposures] == ["c_flt.fits", "b_flt.fits", "a_flt.fits"]
    ctl.set_catalog("a_flt.fits", "/tmp/a.ecsv")
    assert str(ctl.exposure("a_flt.fits").chips[0].catalog_path) == "/tmp/a.ecsv"
    assert ctl.params.use_custom_catalogs
    with pytest.raises(ParameterError, match="searchrad"):
        ctl.update_param("searchrad", -1)
    ctl.set_offset_from_histogram(0.25, -0.125)
    assert (ctl.params.xoffset, ctl.params.yoffset, ctl.params.use2dhist) == (0.25, -0.125, False)
    # group override survives a reload
    load(qtbot, ctl)
    assert ctl.exposure("b_flt.fits").group_id == "grpX"


def test_regions_become_exclusions_file(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    ctl.set_regions("b_flt.fits", "SCI,1", [Shape("circle", (50, 60, 10)),
                                           Shape("box", (10, 10, 4, 2, 0), include=True)])
    run(qtbot, ctl)
    assert "exclusion" not in ctl.exposure("a_flt.fits").chips[0].meta
    reg = open(ctl.exposure("b_flt.fits").chips[0].meta["exclusion"]).read()
    assert "-circle(51.0000,61.0000,10.0000)" in reg and "\nbox(11.0000,11.0000" in reg
    # read back: the same shapes in 0-based pixels
    from tweakgui.gui.region_shapes import shapes_from_ds9

    back = shapes_from_ds9(ctl.exposure("b_flt.fits").chips[0].meta["exclusion"])
    assert [(s.kind, s.include) for s in back] == [("circle", False), ("box", True)]
    assert back[0].params == pytest.approx((50, 60, 10))
    ctl.set_regions("b_flt.fits", "SCI,1", [])
    run(qtbot, ctl)
    assert "exclusion" not in ctl.exposure("b_flt.fits").chips[0].meta


def test_save_only_accepted(qtbot, ctl, fake_engine, tmp_path):
    load(qtbot, ctl)
    run(qtbot, ctl)
    ctl.set_accepted("b_flt.fits", False)
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_flt_tweakreg.fits", "c_flt_tweakreg.fits"]
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.save(tmp_path, kinds=["headerlets"], only={"c_flt.fits"})
    assert fake_engine.calls[-1] == ("save_outputs", {"c_flt.fits"}, ("headerlets",))


def test_select_match_switches_image(qtbot, ctl):
    load(qtbot, ctl)
    run(qtbot, ctl)
    ctl.select_match(("c_flt.fits", "SCI,1", 3))
    assert ctl.selected == "c_flt.fits"
    ctl.view.show_match.assert_called_with(("c_flt.fits", "SCI,1", 3))


def test_shutdown_during_run(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    fake_engine.gate.clear()
    ctl.run()
    threading.Timer(0.2, fake_engine.gate.set).start()
    assert ctl.shutdown(5000)


def test_removal_and_order_survive_reloads_and_sessions(qtbot, ctl, fake_engine, tmp_path):
    from tweakgui.gui.session import apply_session, read_session, write_session

    load(qtbot, ctl, ("a_flt.fits", "b_flt.fits", "c_flt.fits"))
    ctl.remove_exposure("b_flt.fits")
    ctl.move_exposure("c_flt.fits", -1)
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.add_inputs(["d_flt.fits"])  # a reload of every input
    assert [e.name for e in ctl.visit.exposures] == ["c_flt.fits", "a_flt.fits", "d_flt.fits"]
    path = write_session(ctl, tmp_path / "s.tweakgui.json")
    other = SessionController(Mock(spec=SessionView), fake_engine.api())
    with qtbot.waitSignal(other.jobDone, timeout=5000):
        apply_session(other, read_session(path))
    assert [e.name for e in other.visit.exposures] == ["c_flt.fits", "a_flt.fits", "d_flt.fits"]
    # adding a removed file again brings it back
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.add_inputs(["b_flt.fits"])
    assert "b_flt.fits" in [e.name for e in ctl.visit.exposures]
    assert other.shutdown(5000)


def test_edits_during_a_run_do_not_reach_the_worker(qtbot, ctl, fake_engine):
    load(qtbot, ctl)
    seen = {}
    real_run = fake_engine.run

    def spy(visit, params, **kw):
        result = real_run(visit, params, **kw)
        seen["order"] = [e.name for e in visit.exposures]
        seen["groups"] = [e.group_id for e in visit.exposures]
        return result

    ctl.engine.run = spy
    fake_engine.gate.clear()
    ctl.run()
    ctl.move_exposure("c_flt.fits", -2)
    ctl.set_group_id("a_flt.fits", "late")
    fake_engine.gate.set()
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        pass
    assert seen == {"order": ["a_flt.fits", "b_flt.fits", "c_flt.fits"], "groups": ["g0", "g1", "g2"]}
    assert [e.name for e in ctl.visit.exposures] == ["c_flt.fits", "a_flt.fits", "b_flt.fits"]
    assert ctl.exposure("a_flt.fits").group_id == "late"


def test_selected_image_shown_after_the_timers_due_when_the_result_was(qtbot, ctl):
    """A run's result is shown in one turn and its selected image in a later one, after the timers
    due meanwhile: a queued call ran before them, and both turns were one stretch for them."""
    from PySide6.QtCore import QTimer

    load(qtbot, ctl)
    order = []
    shown = ctl._show_selected
    ctl._show_selected = lambda arg=None: (order.append("selected"), shown(arg))
    other = QTimer()
    other.setSingleShot(True)
    other.timeout.connect(lambda: order.append("timer"))
    ctl.jobs.finished.connect(lambda *_a: other.start(0))  # due as the result has been shown
    with qtbot.waitSignal(ctl.jobDone, timeout=5000):
        ctl.run()
    assert order == ["timer", "selected"]
