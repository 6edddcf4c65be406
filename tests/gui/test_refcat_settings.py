"""Reference-catalog settings in the GUI: their own group, units in the labels, and a run that uses them."""

import numpy as np
from astropy.table import Table
from PySide6.QtWidgets import QGroupBox, QWidget

from tweakgui.engine.synthetic import wcs_error_mas

NEW = ("abs_refcat_racol", "abs_refcat_deccol", "abs_refcat_magcol", "abs_refcat_minmag", "abs_refcat_maxmag",
       "abs_refcat_nbright", "abs_refcat_errcols", "abs_pm_policy", "abs_max_pm_error", "abs_epoch",
       "abs_weights", "abs_weight_floor")


def _label(panel, name) -> str:
    form = panel._forms["refcat"]
    return form.labelForField(panel.fields[name].parentWidget()).text()


def test_magnitude_range_set_in_the_panel_is_used_by_the_run(qtbot, make_window, small_demo):
    win = make_window(abs_refcat=str(small_demo.refcat))
    panel, ctl = win.params_panel, win.ctl
    # one group for the reference catalog, every new setting in it, units in the labels
    box = next(b for b in panel.findChildren(QGroupBox) if b.title() == "Reference catalog (absolute)")
    assert set(NEW) <= {w.objectName() for w in box.findChildren(QWidget)}
    assert [_label(panel, n) for n in ("abs_refcat_minmag", "abs_refcat_maxmag", "abs_max_pm_error",
                                       "abs_weight_floor", "abs_epoch", "abs_refcat_nbright")] == [
        "abs_refcat_minmag (mag)", "abs_refcat_maxmag (mag)", "abs_max_pm_error (mas/yr)",
        "abs_weight_floor (mas)", "abs_epoch (yr)", "abs_refcat_nbright"]
    assert panel.fields["abs_pm_policy"].currentText() == "drop_no_pm"

    # the magnitude range, typed as a user does
    for name, text in (("abs_refcat_minmag", "19"), ("abs_refcat_maxmag", "22.5")):
        field = panel.fields[name]
        field.setText(text)
        field.editingFinished.emit()
    assert (ctl.params.abs_refcat_minmag, ctl.params.abs_refcat_maxmag) == (19.0, 22.5)
    # an inverted range is refused at the field, the previous value stays
    panel.fields["abs_refcat_minmag"].setText("23")
    panel.fields["abs_refcat_minmag"].editingFinished.emit()
    assert "abs_refcat_minmag (23, the bright limit) must be <=" in panel.errors["abs_refcat_minmag"].text()
    assert ctl.params.abs_refcat_minmag == 19.0
    panel.fields["abs_refcat_minmag"].setText("19")
    panel.fields["abs_refcat_minmag"].editingFinished.emit()
    assert not panel.has_errors()

    with qtbot.waitSignal(ctl.jobDone, timeout=30000) as b:
        win.add_inputs([str(p) for p in small_demo.paths])
    assert b.args == ["load", True]
    with qtbot.waitSignal(ctl.jobDone, timeout=120000) as b:
        win.actions["run"].trigger()
    assert b.args == ["run", True]
    res = ctl.result
    assert (res.params.abs_refcat_minmag, res.params.abs_refcat_maxmag) == (19.0, 22.5)
    # the run's reference catalog is the catalog's sources in the range, and only those
    mag = np.asarray(Table.read(small_demo.refcat)["mag"])
    in_range = int(((mag >= 19.0) & (mag <= 22.5)).sum())
    assert 0 < in_range < len(mag)
    assert len(res.refcat) == in_range and np.all((res.refcat["mag"] >= 19.0) & (res.refcat["mag"] <= 22.5))
    assert ("abs_refcat_minmag=19 abs_refcat_maxmag=22.5", in_range) in res.refcat.meta["selection"]
    assert [r.status for r in res.images] == ["SUCCESS"] * 3
    for r in res.images:
        truth = small_demo.truth[r.exposure.name][0]
        assert wcs_error_mas(r.new_wcs[0], truth, r.exposure.chips[0].shape) < 5
        matched = r.fits[-1].matches
        assert set(np.asarray(matched["ref_idx"])) <= set(range(in_range))
