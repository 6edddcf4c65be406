"""The JSON report: DESIGN.md's keys, numbers as given, NaN as null, strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _fits_images import fit_result, image_result, make_image

from tweakgui.engine.model import FitResult, ImageResult, VisitResult
from tweakgui.engine.outputs.report import jsonable, write_report
from tweakgui.engine.params.spec import TweakRegParams

REQUIRED = ("input", "output", "group_id", "status", "reason", "fitgeom", "nmatch",
            "shift_arcsec", "rotation_deg", "scale", "rmse_arcsec")


def _strict(text):
    def bad(c):
        raise ValueError(f"non-standard JSON constant {c}")
    return json.loads(text, parse_constant=bad)


def test_report(tmp_path):
    exps = [make_image(tmp_path / f"im{k}_flt.fits", nchips=2) for k in range(3)]
    ref = ImageResult(exposure=exps[0], status="REFERENCE", output=tmp_path / "im0_tweakreg.fits")
    fit = fit_result(nmatch=57, rms_mas=(3.0, 4.0))
    fit.mae_arcsec = float("nan")
    fit.matrix = np.eye(2)
    ok = image_result(exps[1], fit=fit)
    ok.output = tmp_path / "im1_tweakreg.fits"
    failed_fit = FitResult(group_id="3", kind="relative", status="FAILED", reason="too few matches",
                           nmatch=4)
    bad = ImageResult(exposure=exps[2], status="FAILED", reason="too few matches (4 < 15)",
                      fits=[failed_fit])
    params = TweakRegParams(fitgeometry="rscale", snr_threshold=5.0)
    vr = VisitResult(images=[ref, ok, bad], fits=[fit, failed_fit], params=params, abs_mode="catalog")
    path = write_report(vr, tmp_path / "rep" / "tweakreg_report.json")
    assert vr.report_path == path
    rep = _strict(path.read_text())
    for k in ("tweakgui", "tweakwcs", "photutils", "astropy", "numpy", "gwcs"):
        assert rep["versions"][k], k
    assert rep["parameters"]["fitgeometry"] == "rscale" and rep["parameters"]["snr_threshold"] == 5.0
    assert rep["abs_mode"] == "catalog"
    assert rep["summary"] == {"n_images": 3, "success": 1, "reference": 1, "failed": 1}
    r0, r1, r2 = rep["images"]
    for r in rep["images"]:
        for k in REQUIRED:
            assert k in r, k
    assert r0["status"] == "REFERENCE" and r0["shift_arcsec"] == [0.0, 0.0] and r0["scale"] == 1.0
    assert r0["input"] == str(exps[0].path) and r0["output"].endswith("im0_tweakreg.fits")
    assert r0["chips"] == ["SCI,1", "SCI,2"]
    assert r1["status"] == "SUCCESS" and r1["nmatch"] == 57 and r1["fitgeom"] == "rscale"
    assert r1["shift_arcsec"] == [0.12, -0.07] and r1["shift_pix"] == [3.0, -1.75]
    assert r1["rotation_deg"] == 0.01 and r1["scale"] == 1.0001
    assert r1["rmse_arcsec"] == pytest.approx(0.005, abs=1e-12)
    # the image's own matches: mae from its residuals, whatever the fit said
    assert 0 < r1["mae_arcsec"] <= r1["rmse_arcsec"]
    assert r1["fits"][0]["group_mae_arcsec"] is None  # NaN -> null
    assert r1["fit_kind"] == "absolute" and r1["fits"][0]["matrix"] == [[1.0, 0.0], [0.0, 1.0]]
    assert r2["status"] == "FAILED" and r2["reason"] == "too few matches (4 < 15)"
    assert r2["nmatch"] == 4 and r2["shift_arcsec"] is None and r2["rmse_arcsec"] is None
    assert r2["output"] is None
    assert not list(path.parent.glob(".*tmp*"))


def test_jsonable():
    assert jsonable({"a": (np.float32(1.5), math.inf), "b": Path("/x"), "c": np.int64(3),
                     "d": np.array([np.nan, 2.0]), "e": np.bool_(True)}) == {
        "a": [1.5, None], "b": "/x", "c": 3, "d": [None, 2.0], "e": True}
