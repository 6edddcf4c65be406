"""Alignment accuracy against known truth: synthetic visits and a real WFC3/UVIS known answer."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from tweakwcs import align_wcs
from tweakwcs.correctors import FITSWCSCorrector
from tweakwcs.matchutils import XYXYMatch

from tweakgui.engine import pipeline
from tweakgui.engine.detect.visit import detect_visit
from tweakgui.engine.fit import align
from tweakgui.engine.io.inputs import read_fits_exposure
from tweakgui.engine.model import STATUS_FAILED, STATUS_REFERENCE, STATUS_SUCCESS, Visit
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas
from tweakgui.engine.visit import load_visit


@pytest.fixture(scope="module")
def visit1k(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("v1k"), n_images=4, shape=(1024, 1024), seed=5)


@pytest.fixture(scope="module")
def visit_exact_ref(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("vex"), n_images=3, shape=(1024, 1024), seed=7,
                           exact_first=True)


def _errors(result, demo):
    out = {}
    for r in result.images:
        ws = r.new_wcs or [c.wcs for c in r.exposure.chips]
        out[r.exposure.name] = max(
            wcs_error_mas(w, t, c.shape) for w, t, c in zip(ws, demo.truth[r.exposure.name], r.exposure.chips)
        )
    return out


@pytest.mark.parametrize("mode", ["visit", "group"])
def test_absolute_alignment_recovers_injected_errors(visit1k, mode):
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_mode=mode)
    visit = load_visit([f"@{visit1k.list_file}"], params)
    before = {e.name: wcs_error_mas(e.chips[0].wcs, visit1k.truth[e.name][0], e.chips[0].shape)
              for e in visit.exposures}
    assert max(before.values()) > 400  # injected errors of up to 0.6" and 0.02°
    result = pipeline.run(visit, params)
    assert [r.status for r in result.images] == [STATUS_SUCCESS] * 4
    errs = _errors(result, visit1k)
    assert max(errs.values()) < 1.5, errs  # mas
    assert result.abs_mode == mode


def test_relative_alignment_to_exact_reference(visit_exact_ref):
    params = TweakRegParams()
    visit = load_visit([str(p) for p in visit_exact_ref.paths], params)
    result = pipeline.run(visit, params)
    statuses = [r.status for r in result.images]
    assert statuses == [STATUS_REFERENCE, STATUS_SUCCESS, STATUS_SUCCESS]
    errs = _errors(result, visit_exact_ref)
    assert max(errs.values()) < 1.5, errs
    # the fit reports the injected correction: shift and rotation opposite to the injected error
    for r in result.images[1:]:
        dx, dy, rot = visit_exact_ref.injected[r.exposure.name]
        f = r.fit
        # 3e-4 deg is 0.1 mas at the chip's edge (the WCS error bound of the case)
        assert abs(f.rotation_deg + rot) < 3e-4  # deg
        c = r.correction  # the same correction seen on the sky at the reference pixel
        assert np.sign(c.rotation_deg) == -np.sign(rot) and abs(c.rotation_deg + rot) < 3e-4
        assert np.hypot(c.shift_arcsec[0] + dx, c.shift_arcsec[1] + dy) < 0.003  # arcsec
        assert f.nmatch >= 100
        assert f.rmse_arcsec < 0.005
        assert abs(np.hypot(*f.shift_arcsec) - np.hypot(dx, dy)) < 0.05


def test_residual_table_is_consistent_with_the_fit(visit1k):
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_mode="group")
    result = pipeline.run(load_visit([str(p) for p in visit1k.paths[:2]], params), params)
    fit = result.images[0].fit
    m = fit.matches
    assert len(m) == fit.nmatch
    used = np.asarray(m["used"])
    rms = np.sqrt(np.mean(np.asarray(m["dx"])[used] ** 2 + np.asarray(m["dy"])[used] ** 2))
    assert rms == pytest.approx(fit.rmse_arcsec, rel=0.05)
    ref = Table.read(visit1k.refcat)
    # ref_idx points at the reference catalog rows: their positions are the ref_ra/ref_dec columns
    assert np.allclose(np.asarray(ref["RA"])[m["ref_idx"]], m["ref_ra"], atol=1e-12)
    # residuals are small in mas for correct matches
    assert np.median(np.hypot(m["dx"], m["dy"])) < 0.003
    assert set(m.colnames) >= {"group_id", "image", "chip", "input_idx", "ref_idx", "x", "y", "ra", "dec",
                               "ref_ra", "ref_dec", "dx", "dy", "used", "excluded"}


def test_excluded_sources_leave_the_fit_and_are_reported(visit1k):
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_mode="group")
    visit = load_visit([str(visit1k.paths[0])], params)
    first = pipeline.run(visit, params)
    fit = first.images[0].fit
    row = fit.matches[0]
    reuse = {(first.images[0].exposure.name, c.name): cat
             for c, cat in zip(first.images[0].exposure.chips, first.images[0].catalogs)}
    key = (str(row["image"]), str(row["chip"]), int(row["input_idx"]))
    second = pipeline.run(visit, params, catalogs=reuse, excluded={key})
    fit2 = second.images[0].fit
    assert fit2.nmatch == fit.nmatch - 1
    m = fit2.matches
    ex = m[m["excluded"]]
    assert len(ex) == 1 and int(ex["input_idx"][0]) == key[2] and not ex["used"][0]


def test_tanp_units_fits_corrector_is_in_reference_pixels(visit1k):
    exp = read_fits_exposure(visit1k.paths[0])
    c = align.make_corrector(exp.chips[0].wcs, exp, exp.chips[0].meta, None, "x")
    assert align.tanp_scale_arcsec(c) == pytest.approx(0.04, rel=1e-3)


def test_arcsec_passed_unconverted_to_fits_corrector_finds_no_matches(visit1k):
    """The pitfall: a FITS corrector's plane is in pixels, so 2" given as 2 means 2 px."""
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_mode="group")
    visit = load_visit([str(visit1k.paths[0])], params)
    cats, _ = detect_visit(visit, params)
    exp = visit.exposures[0]
    ref = Table.read(visit1k.refcat)

    def naive(match):
        corr = FITSWCSCorrector(exp.chips[0].wcs.deepcopy(), meta={"catalog": cats[0][0]["x", "y"], "group_id": 1})
        align_wcs([corr], refcat=ref, match=match, fitgeom="rshift", minobj=15)
        return corr.meta["fit_info"]["status"]

    # the injected error of image 1 is 0.54", -0.42" = 13.5, -10.5 px: outside a 2 px search radius
    assert naive(XYXYMatch(searchrad=2.0, separation=1.0, tolerance=0.7)) != "SUCCESS"
    # ours converts: the same parameters in arcsec succeed
    result = pipeline.run(visit, params)
    assert result.images[0].status == STATUS_SUCCESS


def test_offset_beyond_searchrad_fails_with_a_hint(visit1k):
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_searchrad=0.2, abs_use2dhist=False,
                            abs_separation=0.3, abs_tolerance=0.1, abs_mode="group")
    result = pipeline.run(load_visit([str(visit1k.paths[0])], params), params)
    r = result.images[0]
    assert r.status == STATUS_FAILED
    assert "abs_searchrad" in r.reason or "x/yoffset" in r.reason
    assert r.new_wcs is None


def test_xoffset_initial_guess_from_histogram_peak(visit_exact_ref):
    """The 2D-histogram peak is the offset that x/yoffset expect: using it without use2dhist aligns."""
    params = TweakRegParams()
    visit = load_visit([str(p) for p in visit_exact_ref.paths[:2]], params)
    first = pipeline.run(visit, params)
    peak = first.images[1].fits[0].hist_peak_arcsec
    assert peak is not None
    p2 = TweakRegParams(use2dhist=False, xoffset=peak[0], yoffset=peak[1], tolerance=0.1, separation=0.3)
    second = pipeline.run(load_visit([str(p) for p in visit_exact_ref.paths[:2]], p2), p2)
    assert second.images[1].status == STATUS_SUCCESS
    assert _errors(second, visit_exact_ref)[second.images[1].exposure.name] < 1.5
    # and without the guess, the same tight tolerance cannot find the 0.3-0.6" offset
    p3 = TweakRegParams(use2dhist=False, tolerance=0.1, separation=0.3)
    third = pipeline.run(load_visit([str(p) for p in visit_exact_ref.paths[:2]], p3), p3)
    assert third.images[1].status == STATUS_FAILED


def test_multichip_exposure_gets_one_correction(tmp_path):
    demo = make_demo_visit(tmp_path, n_images=2, shape=(512, 1024), n_chips=2, seed=11)
    params = TweakRegParams(abs_refcat=str(demo.refcat), abs_mode="group")
    visit = load_visit([str(p) for p in demo.paths], params)
    assert [len(e.chips) for e in visit.exposures] == [2, 2]
    result = pipeline.run(visit, params)
    assert all(r.status == STATUS_SUCCESS for r in result.images)
    errs = _errors(result, demo)
    assert max(errs.values()) < 1.5, errs
    # one fit per exposure (group), matches from both chips
    abs_fits = [f for f in result.fits if f.kind == "absolute"]
    assert len(abs_fits) == 2
    assert set(abs_fits[0].matches["chip"]) == {"SCI,1", "SCI,2"}


@pytest.mark.parametrize("order,expand", [(True, False), (False, True)])
def test_user_order_and_expand_refcat(visit_exact_ref, order, expand):
    params = TweakRegParams(enforce_user_order=order, expand_refcat=expand)
    visit = load_visit([str(p) for p in visit_exact_ref.paths], params)
    result = pipeline.run(visit, params)
    assert sum(r.status == STATUS_REFERENCE for r in result.images) == 1
    assert all(r.status in (STATUS_SUCCESS, STATUS_REFERENCE) for r in result.images)
    if order:
        assert result.images[0].status == STATUS_REFERENCE
        assert max(_errors(result, visit_exact_ref).values()) < 1.5


@pytest.mark.parametrize("fitgeom", ["shift", "rshift", "rscale", "general"])
def test_fit_geometries(visit_exact_ref, fitgeom):
    params = TweakRegParams(fitgeometry=fitgeom)
    result = pipeline.run(load_visit([str(p) for p in visit_exact_ref.paths[:2]], params), params)
    r = result.images[1]
    assert r.status == STATUS_SUCCESS and r.fit.fitgeom == fitgeom
    err = _errors(result, visit_exact_ref)[r.exposure.name]
    if fitgeom == "shift":
        # the injected rotation (up to 0.02°) cannot be fitted: error at the corners ~ 1024*0.04"*0.02° rad
        assert abs(r.fit.rotation_deg) < 1e-6
        assert err < 15
    else:
        assert err < 1.5
    if fitgeom in ("shift", "rshift"):
        assert r.fit.scale == pytest.approx(1.0, abs=1e-8)


def test_cancel_between_stages(visit1k):
    import threading

    from tweakgui.engine.model import Cancelled

    ev = threading.Event()
    seen = []

    def progress(stage, done, total, msg):
        seen.append(stage)
        if done == 1:
            ev.set()

    params = TweakRegParams()
    # one process and no catalog cache: the images are detected one after the other
    with pytest.raises(Cancelled):
        pipeline.run(load_visit([str(p) for p in visit1k.paths], params), params, progress=progress, cancel=ev,
                     jobs=1, cache=None)
    assert seen.count("detect") == 2  # stopped after the second image
    # in parallel the images in flight may finish, but the run stops before the end
    ev.clear()
    seen.clear()
    with pytest.raises(Cancelled):
        pipeline.run(load_visit([str(p) for p in visit1k.paths], params), params, progress=progress, cancel=ev,
                     jobs=2, cache=None)
    assert "relative" not in seen and "absolute" not in seen


def test_wfc3_uvis_known_answer(shared_data):
    """Real WFC3/UVIS two-chip SIP headers with a synthetic catalog and an exact answer (tweakwcs' test)."""
    d = shared_data / "jwst-tweakreg-tests"
    visit_exp = _exposure_from_headers(d)
    cats = {(visit_exp.name, c.name): Table.read(d / f"wfc3_uvis{k}.ecsv") for k, c in enumerate(visit_exp.chips, 1)}
    ref = Table.read(d / "ref.ecsv")
    # the answer is a ~19" shift with a 0.25% scale change: the search radius must cover it
    params = TweakRegParams(abs_refcat=str(d / "ref.ecsv"), abs_fitgeometry="general", abs_nclip=0,
                            abs_searchrad=25.0)
    result = pipeline.run(Visit([visit_exp]), params, catalogs=cats)
    r = result.images[0]
    assert r.status == STATUS_SUCCESS, r.reason
    w1, w2 = r.new_wcs
    assert np.allclose(w1.wcs.crval, [83.206917667519, -67.73275818507248], atol=1e-10)
    assert np.allclose(w2.wcs.crval, [83.15167050722597, -67.74220306069903], atol=1e-10)
    assert np.allclose(w1.wcs.cd, [[3.93222694902149e-06, -1.0106698270131359e-05],
                                   [-1.0377001075437075e-05, -4.577945148472431e-06]], rtol=1e-6)
    assert np.allclose(w2.wcs.cd, [[3.834449806681195e-06, -9.996495217498745e-06],
                                   [-1.0348147451241423e-05, -4.503496019301529e-06]], rtol=1e-6)
    assert r.fit.scale == pytest.approx(1.0025, abs=1e-6)
    assert r.fit.nmatch == 2000
    assert r.fit.rmse_arcsec < 1e-4  # arcsec: an exact answer
    assert len(ref) == 2000


def _exposure_from_headers(d):
    from tweakgui.engine.model import Chip, Exposure

    chips = []
    for i in (1, 2):
        h = fits.Header.fromfile(d / f"wfc3_uvis{i}.hdr")
        w = WCS(h)
        w.pixel_shape = (h["NAXIS1"], h["NAXIS2"])
        chips.append(Chip(name=f"SCI,{i}", hdu=i, shape=(h["NAXIS2"], h["NAXIS1"]), wcs=w, meta={"extver": i}))
    from pathlib import Path

    return Exposure(path=Path("ie6d07ujq_flt.fits"), kind="fits", chips=chips, group_id="ie6d07ujq", root="ie6d07ujq")


def test_reject_large_corrections_caps_the_correction(visit1k):
    params = TweakRegParams(abs_refcat=str(visit1k.refcat), abs_mode="group", reject_large_corrections=0.1)
    result = pipeline.run(load_visit([str(visit1k.paths[0])], params), params)
    r = result.images[0]
    assert r.status == STATUS_FAILED and "reject_large_corrections" in r.reason and r.new_wcs is None


def test_drizzlepac_pixel_lengths_are_converted_by_the_run(visit_exact_ref):
    """A drizzlepac cfg's tolerance/separation in pixels become arcsec of the first image's pixels."""
    params = TweakRegParams(tolerance=2.0, separation=4.0, pixel_units="tolerance,separation")
    visit = load_visit([str(p) for p in visit_exact_ref.paths], params)
    result = pipeline.run(visit, params, cache=None)
    assert result.params.tolerance == pytest.approx(0.08, rel=1e-3)  # 2 px at 0.04"/px
    assert result.params.separation == pytest.approx(0.16, rel=1e-3)
    assert result.params.pixel_units == ""
    for r in result.images[1:]:
        assert r.status == STATUS_SUCCESS
        assert r.fits[0].match_radius_arcsec <= 0.08 + 1e-9
