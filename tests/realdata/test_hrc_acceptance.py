"""Acceptance on real pixels: four crowded ACS/HRC frames of 47 Tuc, aligned with default parameters.

Truth and star catalog come from :mod:`hrc_truth` (sep + tweakwcs on the
unperturbed frames, see its docstring).  Copies of the frames get injected
pointing errors of up to 0.6" and 0.02° (``hrc_truth.PERTURBATIONS``); the
command line with its defaults must bring every frame within 1.5 mas RMS of
its truth over the chip, relative-only (first frame unperturbed, it is the
reference) and with the star catalog as ``abs_refcat`` in both ``abs_mode``s.
The total correction reported for each frame must undo the injected error
(sign and size).  The same run with drizzlepac TweakReg is in
``test_hrc_vs_drizzlepac``.
"""

import json
import subprocess
import sys

import hrc_truth as H
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def hrc(shared_data):
    derived = shared_data / "hst-acs-hrc-47tuc" / "derived"
    if not derived.is_dir():
        pytest.skip(f"{derived} not found")
    wcss, cat = H.consensus(derived)
    return derived, wcss, cat


def _run(tmp_path, hrc, mode):
    derived, wcss, cat = hrc
    ins, injected = [], []
    for k, (p, (shift, rot)) in enumerate(zip(H.frame_paths(derived), H.PERTURBATIONS)):
        if mode == "relative" and k == 0:
            shift, rot = (0.0, 0.0), 0.0
        q = tmp_path / p.name
        H.perturb(p, q, shift, rot)
        ins.append(str(q))
        injected.append((shift, rot))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "tweakgui", "align", *ins, "--output_dir", str(out)]
    if mode != "relative":
        args += ["--abs_refcat", str(H.write_catalog(cat, tmp_path / "stars.ecsv")), "--abs_mode", mode]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "tweakreg_report.json").read_text())
    errors = []
    for im, truth in zip(report["images"], wcss):
        with fits.open(im["output"]) as h:
            errors.append(H.wcs_error_mas(WCS(h["SCI"].header, h), truth))
    return report, errors, injected


@pytest.mark.parametrize("mode", ["relative", "visit", "group"])
def test_defaults_align_real_frames_within_1p5_mas(tmp_path, hrc, mode):
    report, errors, injected = _run(tmp_path, hrc, mode)
    assert max(errors) < 1.5, errors  # mas RMS over each chip
    statuses = [im["status"] for im in report["images"]]
    assert statuses == (["REFERENCE"] + ["SUCCESS"] * 3 if mode == "relative" else ["SUCCESS"] * 4)
    for im, (shift, rot) in zip(report["images"], injected):
        c = im["correction"]
        # the injected error moved CRPIX's sky position by +shift and turned the CD by +rot
        # (plus each frame's own 5-35 mas header error): the correction undoes it
        assert np.hypot(c["shift_arcsec"][0] + shift[0], c["shift_arcsec"][1] + shift[1]) < 0.05
        if rot:
            assert np.sign(c["rotation_deg"]) == -np.sign(rot) and abs(c["rotation_deg"] + rot) < 0.005
        for f in im["fits"]:
            if f["status"] == "SUCCESS":
                assert f["significance"] > 10 and f["nused"] >= 100, f
                assert f["rmse_arcsec"] < 0.005  # the frames' stars agree to 2-4 mas
    if mode == "visit":
        # one fit for the visit, but each image's own matches in its report entry
        fits_abs = [[f for f in im["fits"] if f["kind"] == "absolute"][0] for im in report["images"]]
        assert len({f["group_id"] for f in fits_abs}) == 1
        own = [im["nmatch"] for im in report["images"]]
        assert len(set(own)) == 4 and min(own) >= 500, own
