"""``tweakgui align`` with the reference-catalog options: a two-epoch visit, and the refusals.

The visit (``_pm_visit``) is two exposures 7.5 years apart of a field with
large proper motions, given as custom catalogs rendered through their true
WCSs; each written WCS must land within 1 mas of its truth, and the QA table
and report must state the epoch the catalog was moved to for each image.
A refusal is exit 2 with one line naming the parameter, and nothing written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _pm_visit import SHAPE, gaia_like, write_visit
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui import cli
from tweakgui.engine.synthetic import wcs_error_mas


@pytest.fixture(scope="module")
def pm_visit(tmp_path_factory):
    rng = np.random.default_rng(4)
    return write_visit(tmp_path_factory.mktemp("pm_cli"), gaia_like(rng),
                       ("2017-03-01T10:00:00", "2024-08-15T22:30:00"), rng)


def _align(capsys, v, out, *extra):
    capsys.readouterr()
    rc = cli.main(["align", *map(str, v.paths), "--abs_refcat", str(v.refcat), "--use_custom_catalogs", "true",
                   "--catfile", str(v.catfile), "--abs_mode", "group", "--output_dir", str(out), *map(str, extra)])
    return rc, capsys.readouterr().err


def test_two_epochs_from_the_command_line(capsys, pm_visit, tmp_path):
    v, out = pm_visit, tmp_path / "out"
    rc, err = _align(capsys, v, out, "--abs_refcat_minmag", 16.5, "--abs_refcat_maxmag", 20.5,
                     "--abs_max_pm_error", 0.7, "--abs_weights", "errors", "--abs_weight_floor", 1.0)
    assert rc == 0, err
    for p in v.paths:
        with fits.open(out / p.name.replace("_flt", "_tweakreg")) as h:
            w = WCS(h["SCI"].header, h)
        assert wcs_error_mas(w, v.truth[p.name], SHAPE) < 1.0, p.name
    qa = Table.read(out / "tweakreg_fits.ecsv", format="ascii.ecsv")
    for name, epoch in v.epochs.items():
        (row,) = qa[(qa["image"] == name) & (qa["stage"] == "absolute")]
        assert row["epoch"] == f"{epoch:.4f}" and row["refcat"] == "gaia.ecsv"
    report = json.loads((out / "tweakreg_report.json").read_text())
    assert report["parameters"]["abs_refcat_maxmag"] == 20.5 and report["parameters"]["abs_weights"] == "errors"
    steps = [s["step"] for s in report["refcat"]["selection"]]
    assert steps == ["read", "abs_pm_policy=drop_no_pm", "abs_max_pm_error=0.7", "near the visit",
                     "abs_refcat_minmag=16.5 abs_refcat_maxmag=20.5"]
    mags = np.asarray(v.catalog["phot_g_mean_mag"])
    assert report["refcat"]["selection"][0]["n_sources"] == len(mags)
    assert report["refcat"]["n_sources"] < int(((mags >= 16.5) & (mags <= 20.5)).sum())


@pytest.mark.parametrize("extra, words", [
    (["--abs_refcat_magcol", "gmag"], ["abs_refcat_magcol: no column 'gmag' in", "gaia.ecsv"]),
    (["--abs_refcat_maxmag", "16.1", "--abs_pm_policy", "keep_no_pm"],
     ["abs_refcat: gaia.ecsv: 12 sources after the selection", "abs_refcat_maxmag=16.1: 12",
      "fewer than abs_minobj=15"]),
    (["--abs_refcat_errcols", "sig_ra,sig_dec", "--abs_weights", "errors"],
     ["abs_refcat_errcols: no column 'sig_ra'"]),
    (["--abs_pm_policy", "apply"], ["abs_pm_policy must be one of"]),
    (["--abs_refcat_minmag", "20", "--abs_refcat_maxmag", "18"], ["abs_refcat_minmag (20, the bright limit)"]),
])
def test_refusals_are_one_line_exit_2(capsys, pm_visit, tmp_path, extra, words):
    out = tmp_path / "out"
    rc, err = _align(capsys, pm_visit, out, *extra)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith("tweakgui: error: ") and "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists() or not any(out.iterdir())
