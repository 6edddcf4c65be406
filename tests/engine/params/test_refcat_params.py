"""The reference-catalog parameters: checks, and drizzlepac's refcat options read from its cfg files."""

from __future__ import annotations

import logging

import pytest

from tweakgui.engine.params.files import load_cfg, parse_cli_overrides, resolve_params
from tweakgui.engine.params.spec import ParameterError, TweakRegParams

TEAL = """\
_task_name_ = tweakreg
input = *flt.fits
refcat = gaia.ecsv
refxcol = {refxcol}
refycol = {refycol}
refxyunits = degrees
rfluxcol = {rfluxcol}
rmaxflux = {rmaxflux}
rminflux = {rminflux}
rfluxunits = {rfluxunits}
refnbright = {refnbright}
"""


def _teal(tmp_path, **kw):
    values = dict(refxcol="1", refycol="2", rfluxcol='""', rmaxflux="None", rminflux="None", rfluxunits="mag",
                  refnbright="None")
    values.update(kw)
    path = tmp_path / "tweakreg.cfg"
    path.write_text(TEAL.format(**values))
    return load_cfg(path)


def test_drizzlepac_magnitude_limits_map_to_the_magnitude_range(tmp_path):
    # rfluxunits = mag: drizzlepac keeps rmaxflux <= mag <= rminflux (least flux = faintest magnitude)
    got = _teal(tmp_path, rfluxcol="Gmag", rmaxflux="16.5", rminflux="20.0", refnbright="150",
                refxcol="RA_ICRS", refycol="DE_ICRS")
    assert {k: got[k] for k in got if k.startswith("abs_refcat")} == {
        "abs_refcat": "gaia.ecsv", "abs_refcat_racol": "RA_ICRS", "abs_refcat_deccol": "DE_ICRS",
        "abs_refcat_magcol": "Gmag", "abs_refcat_minmag": 16.5, "abs_refcat_maxmag": 20.0,
        "abs_refcat_nbright": 150}
    p = TweakRegParams(**got)
    assert (p.abs_refcat_minmag, p.abs_refcat_maxmag) == (16.5, 20.0)


def test_drizzlepac_default_columns_and_counts(tmp_path, caplog):
    # refxcol = 1, refycol = 2 are drizzlepac's defaults: tweakgui recognises the columns
    got = _teal(tmp_path)
    assert "abs_refcat_racol" not in got and "abs_refcat_deccol" not in got
    with caplog.at_level(logging.WARNING):
        got = _teal(tmp_path, rfluxunits="counts", rfluxcol="flux", rminflux="100", refnbright="50")
    assert "abs_refcat_magcol" not in got and "abs_refcat_maxmag" not in got and got["abs_refcat_nbright"] == 50
    assert any("rfluxunits = counts" in r.getMessage() and "rfluxcol, rminflux" in r.getMessage()
               for r in caplog.records)


def test_checks_name_the_parameter():
    with pytest.raises(ParameterError, match=r"abs_refcat_minmag \(21, the bright limit\) must be <= "
                                             r"abs_refcat_maxmag \(18, the faint limit\)"):
        TweakRegParams(abs_refcat_minmag=21, abs_refcat_maxmag=18)
    with pytest.raises(ParameterError, match="abs_pm_policy must be one of"):
        TweakRegParams(abs_pm_policy="apply")
    with pytest.raises(ParameterError, match="abs_weight_floor must be > 0"):
        TweakRegParams(abs_weight_floor=0)
    with pytest.raises(ParameterError, match="abs_refcat_nbright must be >= 1"):
        TweakRegParams(abs_refcat_nbright=0)
    with pytest.raises(ParameterError, match="abs_epoch must be <= 3000"):
        TweakRegParams(abs_epoch=60123.5)  # an MJD given for a year
    overrides, rest = parse_cli_overrides(["--abs_refcat_maxmag", "19.5", "--abs_weights", "errors",
                                          "--abs_refcat_nbright", "None"])
    p = resolve_params(None, None, overrides)
    assert rest == []
    assert (p.abs_refcat_maxmag, p.abs_weights, p.abs_refcat_nbright) == (19.5, "errors", None)
