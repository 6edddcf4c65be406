"""A fit that chance could explain is FAILED, never SUCCESS; a true match stands far above chance.

Synthetic visits (``make_demo_visit``) with a reference catalog of their
true stars; the refusals use catalogs with no source in common with the
images (the same density, placed at random) and a pointing 20" off with
``searchrad`` 2".
"""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from tweakgui.engine import pipeline
from tweakgui.engine.detect.visit import detect_visit
from tweakgui.engine.fit import match
from tweakgui.engine.fit.group import ChipSources, fit_group
from tweakgui.engine.fit.stage import Stage
from tweakgui.engine.model import STATUS_FAILED, STATUS_REFERENCE, STATUS_SUCCESS
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas
from tweakgui.engine.visit import load_visit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("verdict"), n_images=2, shape=(1024, 1024), seed=11,
                           exact_first=True)


def _random_like(cat: Table, seed=3) -> Table:
    """A catalog of the same size and footprint as ``cat`` with no source in common."""
    rng = np.random.default_rng(seed)
    ra, dec = np.asarray(cat["RA"]), np.asarray(cat["DEC"])
    return Table({"RA": rng.uniform(ra.min(), ra.max(), len(ra)), "DEC": rng.uniform(dec.min(), dec.max(), len(dec))})


def test_true_match_is_success_with_a_large_significance(demo):
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None)
    assert [r.status for r in result.images] == [STATUS_SUCCESS, STATUS_SUCCESS]
    for f in result.fits:
        if f.status == STATUS_REFERENCE:
            continue
        assert f.status == STATUS_SUCCESS
        assert f.significance > 8 and f.nmatch > 20 * max(f.n_chance, 0.1)
        assert all(c["passed"] for c in f.checks.values()), f.checks
        assert f.matcher == "2dhist" and f.match_radius_arcsec <= 0.7


def test_reference_catalog_without_common_sources_fails(demo, tmp_path):
    ref = _random_like(Table.read(demo.refcat))
    ref.write(tmp_path / "random.ecsv")
    for mode in ("visit", "group"):
        params = TweakRegParams(abs_refcat=str(tmp_path / "random.ecsv"), abs_mode=mode)
        result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None)
        assert [r.status for r in result.images] == [STATUS_FAILED] * 2, [r.reason for r in result.images]
        absf = [f for f in result.fits if f.kind == "absolute"]
        assert absf and all(f.status == STATUS_FAILED for f in absf)
        assert all("chance" in f.reason or "peak" in f.reason or "minobj" in f.reason for f in absf)
        assert all(r.new_wcs is None for r in result.images)


def test_image_catalogs_without_common_sources_fail(demo):
    """Relative fit of two images whose catalogs share no source: FAILED, not ~200 chance matches."""
    params = TweakRegParams()
    visit = load_visit([str(p) for p in demo.paths], params)
    cats, _ = detect_visit(visit, params, cache=None, jobs=1)
    first, second = visit.exposures
    c2 = cats[1][0].copy()
    rng = np.random.default_rng(5)
    c2["x"] = rng.uniform(0, 1023, len(c2))
    c2["y"] = rng.uniform(0, 1023, len(c2))
    reuse = {(first.name, first.chips[0].name): cats[0][0], (second.name, second.chips[0].name): c2}
    result = pipeline.run(visit, params, catalogs=reuse, cache=None)
    assert result.images[0].status == STATUS_REFERENCE
    r = result.images[1]
    assert r.status == STATUS_FAILED and r.new_wcs is None, r.reason
    f = r.fits[0]
    assert f.significance < 5


def test_lost_pointing_beyond_searchrad_fails(demo, tmp_path):
    """20" off with searchrad 2": no significant peak, FAILED in both stages."""
    lost = tmp_path / demo.paths[1].name
    with fits.open(demo.paths[1]) as h:
        h["SCI"].header["CRVAL2"] += 20.0 / 3600
        h.writeto(lost)
    params = TweakRegParams(abs_refcat=str(demo.refcat), abs_mode="group")
    result = pipeline.run(load_visit([str(demo.paths[0]), str(lost)], params), params, cache=None)
    r = result.images[1]
    assert r.status == STATUS_FAILED and r.new_wcs is None
    assert [f.status for f in r.fits] == [STATUS_FAILED, STATUS_FAILED]
    assert all("searchrad" in f.reason for f in r.fits), [f.reason for f in r.fits]
    # with searchrad raised to cover the shift it is found
    params = params.replace(searchrad=25.0, abs_searchrad=25.0)
    result = pipeline.run(load_visit([str(demo.paths[0]), str(lost)], params), params, cache=None)
    r = result.images[1]
    assert r.status == STATUS_SUCCESS
    assert wcs_error_mas(r.new_wcs[0], demo.truth[demo.paths[1].name][0], (1024, 1024)) < 1.5


def test_crowded_random_lists_fail_at_tolerance_0p7(tmp_path):
    """HRC-like density (1 source per 350 px²) with TweakRegStep's 0.7" tolerance at 0.025"/px:
    chance pairs abound, the verdict refuses them."""
    rng = np.random.default_rng(9)
    a = rng.uniform(0, 1024, (3000, 2))
    b = rng.uniform(0, 1024, (3000, 2))
    stage = Stage.of(TweakRegParams(), "relative")
    gf = fit_group([ChipSources(a)], b, None, stage, scale=0.025, pix_tp=1.0)
    assert gf.status == "FAILED", gf.checks
    # the same lists with a common part, shifted by 10 px, are found
    b2 = np.concatenate([a[:1500] + [10.0, -4.0] + rng.normal(0, 0.05, (1500, 2)), b[:1500]])
    gf = fit_group([ChipSources(a)], b2, None, stage, scale=0.025, pix_tp=1.0)
    assert gf.status == "SUCCESS", gf.reason
    assert np.allclose(gf.shift, [10.0, -4.0], atol=0.02)
    assert gf.nmatch > 1000 and gf.radius <= 0.7 / 0.025


def test_histogram_bins_are_one_detector_pixel():
    offsets = np.random.default_rng(1).uniform(-50, 50, (1000, 2))
    # arcsec plane of a JWST corrector, 0.031"/px: bins of 0.031, not 1"
    h = match.offset_histogram(offsets * 0.031, 50 * 0.031, 0.031)
    assert h.binsize == pytest.approx(0.031, rel=0.02)
    h = match.offset_histogram(offsets, 50.0, 1.0)
    assert h.binsize == pytest.approx(1.0, rel=0.02)


def test_expand_refcat_never_matches_a_source_to_its_own_copy(tmp_path):
    demo = make_demo_visit(tmp_path, n_images=4, shape=(512, 512), seed=21, exact_first=True)
    params = TweakRegParams(expand_refcat=True)
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None)
    assert [r.status for r in result.images] == [STATUS_REFERENCE] + [STATUS_SUCCESS] * 3
    for r in result.images[1:]:
        f = r.fits[0]
        t = f.matches
        # a copy of the source itself would sit at exactly zero residual
        assert np.min(np.hypot(t["dx"], t["dy"])) > 1e-6
        assert f.nmatch >= 30 and f.rmse_arcsec < 0.005
        assert wcs_error_mas(r.new_wcs[0], demo.truth[r.exposure.name][0], (512, 512)) < 1.5


def test_chip_without_sources_gets_its_group_correction(tmp_path):
    demo = make_demo_visit(tmp_path, n_images=2, shape=(512, 512), n_chips=2, seed=23, exact_first=True)
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    visit = load_visit([str(p) for p in demo.paths], params)
    cats, _ = detect_visit(visit, params, cache=None, jobs=1)
    second = visit.exposures[1]
    reuse = {(e.name, c.name): cats[i][k] for i, e in enumerate(visit.exposures) for k, c in enumerate(e.chips)}
    reuse[(second.name, second.chips[1].name)] = cats[1][1][:0]  # no sources on chip 2
    result = pipeline.run(visit, params, catalogs=reuse, cache=None)
    r = result.images[1]
    assert r.status == STATUS_SUCCESS
    truth = demo.truth[second.name]
    before = wcs_error_mas(second.chips[1].wcs, truth[1], (512, 512))
    assert before > 100
    for w, t in zip(r.new_wcs, truth):
        assert wcs_error_mas(w, t, (512, 512)) < 1.5


@pytest.mark.parametrize("geom,expect", [("general", "rshift"), ("rscale", "rshift"), ("rshift", "rshift"),
                                          ("shift", "shift")])
def test_collinear_matches_fall_back_to_fewer_degrees_of_freedom(geom, expect):
    """jwst #5455 (singular matrix): collinear matches cannot fix a general fit; fewer dof, said so."""
    t = np.linspace(0, 1000, 60)
    a = np.column_stack([t, 0.5 * t + 100]) + np.random.default_rng(2).normal(0, 0.01, (60, 2))
    b = a + [3.0, -2.0]
    stage = Stage.of(TweakRegParams(fitgeometry=geom), "relative")
    gf = fit_group([ChipSources(a)], b, None, stage, scale=0.04, pix_tp=1.0)
    assert gf.status == "SUCCESS", gf.reason
    assert gf.fitgeom == expect
    assert np.allclose(gf.shift, [3.0, -2.0], atol=1e-6) and np.allclose(gf.matrix, np.identity(2), atol=1e-9)
    assert np.linalg.det(gf.matrix) > 0  # never a mirrored sky
    if geom != expect:
        assert "collinear" in gf.checks["geometry"]["note"]


def test_too_few_matches_for_any_geometry_fail_with_the_reason():
    a = np.array([[10.0, 10.0], [500.0, 700.0]])
    stage = Stage.of(TweakRegParams(fitgeometry="general"), "relative")
    gf = fit_group([ChipSources(a)], a + 1.0, None, stage, scale=0.04, pix_tp=1.0)
    assert gf.status == "FAILED" and "minobj" in gf.reason
