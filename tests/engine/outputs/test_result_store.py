"""A run's results written to ASDF and read back onto the loaded visit, with staleness."""

import os

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine import model
from tweakgui.engine.fit.residual_frames import bin_residuals
from tweakgui.engine.outputs.result_store import read_results, write_results
from tweakgui.engine.params.spec import TweakRegParams


def _wcs(shift=0.0):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [6.0, -72.0]
    w.wcs.crpix = [512.0 + shift, 512.0]
    w.wcs.cd = np.array([[-7e-6, 1e-7], [1e-7, 7e-6]])
    a = np.zeros((3, 3))
    a[2, 0] = 2e-6
    b = np.zeros((3, 3))
    b[0, 2] = -1e-6
    from astropy.wcs import Sip

    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.pixel_shape = (1024, 1024)
    return w


def _visit(tmp_path):
    exps = []
    for name in ("a_flt.fits", "b_flt.fits"):
        p = tmp_path / name
        p.write_bytes(b"x" * 10)
        exps.append(model.Exposure(p, "fits", [model.Chip("SCI,1", 1, (1024, 1024), _wcs())], name[0], name[:1]))
    return model.Visit(exps)


def test_roundtrip_and_stale(tmp_path):
    visit = _visit(tmp_path)
    params = TweakRegParams(searchrad=1.5)
    cat = Table({"x": [1.0, 2.0], "y": [3.0, 4.0], "flux": [10.0, 20.0]})
    m = Table({"group_id": ["b", "b"], "image": ["b_flt.fits"] * 2, "chip": ["SCI,1"] * 2, "input_idx": [0, 1],
               "ref_idx": [1, 0], "x": [1.0, 2.0], "y": [3.0, 4.0], "ra": [6.0, 6.0], "dec": [-72.0, -72.0],
               "ref_ra": [6.0, 6.0], "ref_dec": [-72.0, -72.0], "dx": [0.001, -0.001], "dy": [0.0, 0.002],
               "used": [True, False], "excluded": [False, False]})
    fit = model.FitResult("b", "relative", model.STATUS_SUCCESS, fitgeom="rshift", nmatch=2,
                          shift_arcsec=(0.1, -0.2), rmse_arcsec=0.0015, matches=m,
                          offsets=np.array([[0.1, -0.2], [0.3, 0.4]]), hist_peak_arcsec=(0.1, -0.2),
                          images=["b_flt.fits"], matcher="2dhist", nused=1, significance=12.5,
                          checks={"rmse": (0.0015, 0.1, np.True_)})
    corr = model.Correction((511.0, 511.0), 6.0, -72.0, (0.1, -0.2), (-14.3, -28.6), 0.001, 1.00001)
    new = _wcs(0.5)
    images = [model.ImageResult(visit.exposures[0], model.STATUS_REFERENCE, catalogs=[cat]),
              model.ImageResult(visit.exposures[1], model.STATUS_SUCCESS, fits=[fit], new_wcs=[new],
                                catalogs=[cat], correction=corr)]
    path = write_results(model.VisitResult(images, [fit], params), tmp_path / "r.asdf", visit)
    got = read_results(path, visit, params)
    assert got.stale == ""
    r = got.result.images[1]
    assert r.exposure is visit.exposures[1] and r.status == "SUCCESS"
    f = r.fits[0]
    assert f is got.result.fits[0]
    assert (f.shift_arcsec, f.hist_peak_arcsec, f.significance, f.matcher) == ((0.1, -0.2), (0.1, -0.2), 12.5, "2dhist")
    assert list(f.matches["used"]) == [True, False] and np.allclose(f.offsets, fit.offsets)
    assert r.correction == corr
    x, y = np.array([10.0, 900.0]), np.array([20.0, 1000.0])
    assert np.allclose(r.new_wcs[0].all_pix2world(x, y, 0), new.all_pix2world(x, y, 0), atol=1e-10)
    assert list(r.catalogs[0]["flux"]) == [10.0, 20.0]
    # other parameters, a modified input: stale, and says why
    os.utime(visit.exposures[0].path, (1, 1))
    got = read_results(path, visit, params.replace(searchrad=2.5))
    assert "inputs modified since: a_flt.fits" in got.stale and "parameters changed since: searchrad" in got.stale


def test_bin_residuals_means_per_cell():
    x = np.array([10.0, 20.0, 990.0])
    y = np.array([10.0, 30.0, 990.0])
    cx, cy, mdx, mdy, n = bin_residuals(x, y, [1.0, 3.0, 5.0], [0.0, 2.0, -1.0], (1000, 1000), 4)
    assert n[0] == 2 and n[-1] == 1 and n.sum() == 3
    assert (mdx[0], mdy[0], mdx[-1]) == (2.0, 1.0, 5.0)
    assert (cx[0], cy[0], cx[-1]) == (125.0, 125.0, 875.0)
    assert np.isnan(mdx[1])


def test_engine_dataclasses_in_a_fit_are_stored(tmp_path):
    """A fit may carry engine objects (e.g. its offset histogram): stored and rebuilt; other
    objects are left out rather than failing the session."""
    visit = _visit(tmp_path)
    fit = model.FitResult("b", "relative", model.STATUS_SUCCESS, images=["b_flt.fits"])
    fit.checks = {"corr": model.Correction((1.0, 2.0), 3.0, 4.0, (0.1, 0.2), (1.0, 2.0), 0.5, 1.0)}
    fit.matcher = object()  # no ASDF form: left out, read back as the default
    images = [model.ImageResult(visit.exposures[1], model.STATUS_SUCCESS, fits=[fit])]
    path = write_results(model.VisitResult(images, [fit], TweakRegParams()), tmp_path / "r.asdf", visit)
    got = read_results(path, visit, TweakRegParams()).result.fits[0]
    assert isinstance(got.checks["corr"], model.Correction)
    assert list(got.checks["corr"].ref_pixel) == [1.0, 2.0] and got.checks["corr"].rotation_deg == 0.5
    assert got.matcher == ""
