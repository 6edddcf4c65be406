"""The `tweakgui align` contract: outputs, report, exit codes, inputs untouched."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.cli import main
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.mark.slow
def test_done_when_4x2048_visit_within_1p5_mas(tmp_path, monkeypatch, capsys):
    """Issue 2's acceptance run: 4 dithered 2048² SIP images, shifts ≤0.6", rotations ≤0.02°."""
    demo = make_demo_visit(tmp_path / "visit", n_images=4, shape=(2048, 2048), seed=21)
    before = _digest(demo.paths + [demo.refcat])
    monkeypatch.chdir(tmp_path / "visit")
    rc = main(["align", "@images.lst", "--abs_refcat", "refcat.ecsv", "--output_dir", str(tmp_path / "out")])
    assert rc == 0, capsys.readouterr()
    assert _digest(demo.paths + [demo.refcat]) == before  # inputs byte-for-byte unchanged
    report = json.loads((tmp_path / "out" / "tweakreg_report.json").read_text())
    images = {im["input"].split("/")[-1]: im for im in report["images"]}
    assert set(images) == {p.name for p in demo.paths}
    for p in demo.paths:
        im = images[p.name]
        assert im["status"] == "SUCCESS" and im["nmatch"] >= 100
        out = tmp_path / "out" / p.name.replace("_flt.fits", "_tweakreg.fits")
        with fits.open(out) as h:
            w = WCS(h["SCI", 1].header, h)
            assert h["SCI", 1].header["WCSNAME"] == "TWEAK"
        err = wcs_error_mas(w, demo.truth[p.name][0], (2048, 2048))
        assert err < 1.5, (p.name, err)  # mas


def test_outputs_and_report_fields(tmp_path, capsys):
    demo = make_demo_visit(tmp_path / "v", n_images=2, shape=(512, 512), seed=3)
    out = tmp_path / "out"
    rc = main(["align", str(demo.paths[0]), str(demo.paths[1]), "--abs_refcat", str(demo.refcat),
               "--output_dir", str(out), "--fitgeometry", "rscale"])
    assert rc == 0
    names = {p.name for p in out.iterdir()}
    assert {"demo01_tweakreg.fits", "demo02_tweakreg.fits", "demo01_hlet.fits", "demo02_hlet.fits",
            "tweakreg_shifts.txt", "tweakreg_report.json"} <= names
    report = json.loads((out / "tweakreg_report.json").read_text())
    assert report["parameters"]["fitgeometry"] == "rscale"
    assert {"tweakgui", "tweakwcs", "photutils", "astropy"} <= set(report["versions"])
    for im in report["images"]:
        for key in ("input", "output", "group_id", "status", "reason", "fitgeom", "nmatch", "shift_arcsec",
                    "rotation_deg", "scale", "rmse_arcsec"):
            assert key in im
        assert im["rmse_arcsec"] < 0.01
    # the previous WCS is kept as an alternate WCS with its own name
    with fits.open(out / "demo01_tweakreg.fits") as h:
        hdr = h["SCI", 1].header
        assert hdr["WCSNAME"] == "TWEAK"
        assert any(hdr.get(f"WCSNAME{k}") == "OPUS" for k in "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    stdout = capsys.readouterr().out
    assert "demo01_flt.fits" in stdout and "SUCCESS" in stdout


def test_bad_parameter_exits_2_and_writes_nothing(tmp_path):
    demo = make_demo_visit(tmp_path / "v", n_images=1, shape=(256, 256))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tweakgui", "align", str(demo.paths[0]), "--output_dir", str(out),
                        "--searchrad", "-1"], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "searchrad" in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_one_failed_image_exits_1_and_others_are_written(tmp_path, capsys):
    import gc

    demo = make_demo_visit(tmp_path / "v", n_images=3, shape=(512, 512), seed=9)
    with fits.open(demo.paths[2], mode="update") as h:  # an empty sky: no sources
        h["SCI", 1].data[:] = np.random.default_rng(0).normal(50, 5, h["SCI", 1].data.shape)
    out = tmp_path / "out"
    thresholds = gc.get_threshold()
    rc = main(["align", f"@{demo.list_file}", "--abs_refcat", str(demo.refcat), "--output_dir", str(out)])
    assert rc == 1
    # the run's own collector settings end with it (commands run in-process too)
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
    report = json.loads((out / "tweakreg_report.json").read_text())
    status = {im["input"].split("/")[-1]: (im["status"], im["reason"]) for im in report["images"]}
    assert status["demo03_flt.fits"][0] == "FAILED" and "no sources" in status["demo03_flt.fits"][1]
    assert status["demo01_flt.fits"][0] == "SUCCESS" and status["demo02_flt.fits"][0] == "SUCCESS"
    assert (out / "demo01_tweakreg.fits").exists() and not (out / "demo03_tweakreg.fits").exists()


def test_version():
    r = subprocess.run([sys.executable, "-m", "tweakgui", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("tweakgui ")


@pytest.mark.parametrize("argv", [["align", "--help"], ["--help"]])
def test_help_lists_every_parameter(capsys, argv):
    from tweakgui.engine.params.spec import SPEC

    with pytest.raises(SystemExit):
        main(argv)
    text = capsys.readouterr().out
    for s in SPEC:
        assert f"--{s.name}" in text
        assert f"(default: {s.default!r})" in text


def test_save_catalogs_and_abs_catalog(tmp_path):
    from astropy.table import Table

    demo = make_demo_visit(tmp_path / "v", n_images=2, shape=(512, 512), seed=4)
    out = tmp_path / "out"
    rc = main(["align", f"@{demo.list_file}", "--abs_refcat", str(demo.refcat), "--output_dir", str(out),
               "--save_catalogs", "--save_abs_catalog", "true", "--catalog_format", "ecsv"])
    assert rc == 0
    cat = Table.read(out / "demo01_cat.ecsv")
    assert 30 <= len(cat) <= 200 and {"x", "y"} <= set(cat.colnames)  # brightest=200
    assert (cat["x"] >= 0).all() and (cat["x"] < 512).all()
    ref = Table.read(out / "tweakreg_abs_refcat.ecsv")
    assert len(ref) == len(Table.read(demo.refcat))


def test_finished_process_exits_whole_without_teardown(tmp_path):
    """``python -m tweakgui align`` ends with os._exit after its exit handlers: the exit status, the
    summary on a pipe, the log file and the report all arrive whole."""
    demo = make_demo_visit(tmp_path / "v", n_images=3, shape=(512, 512), seed=9)
    with fits.open(demo.paths[2], mode="update") as h:  # an empty sky: no sources, exit status 1
        h["SCI", 1].data[:] = np.random.default_rng(0).normal(50, 5, h["SCI", 1].data.shape)
    out, log = tmp_path / "out", tmp_path / "run.log"
    r = subprocess.run([sys.executable, "-m", "tweakgui", "align", f"@{demo.list_file}", "--abs_refcat",
                        str(demo.refcat), "--output_dir", str(out), "--log", str(log), "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines[:3]] == [["demo01_flt.fits", "SUCCESS"], ["demo02_flt.fits", "SUCCESS"],
                                                    ["demo03_flt.fits", "FAILED"]]
    assert lines[-1] == f"report: {out / 'tweakreg_report.json'}"
    assert "demo03_flt.fits: FAILED" in r.stderr
    assert log.read_text().rstrip().endswith("wrote " + str(out / "tweakreg_fits.ecsv"))
    assert json.loads((out / "tweakreg_report.json").read_text())["images"][2]["status"] == "FAILED"
