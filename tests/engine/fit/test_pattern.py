"""A lost pointing (tens of arcsec and degrees off) is recovered by the pattern matcher, never invented.

tweakwcs' 2D histogram searches translations only; with ``searchrad``
raised to cover the shift, the triangle matcher (astroalign) seeds the fit
when the histogram has no significant peak.  Injected: shifts up to 30",
rotations up to 3°, scale errors up to 1 %, on HST-like FITS visits (both
stages) and on CEERS NIRCam GWCS (absolute stage); catalogs without common
sources still FAIL.
"""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine import pipeline
from tweakgui.engine.model import STATUS_FAILED, STATUS_SUCCESS
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas
from tweakgui.engine.visit import load_visit


def _lose(src, dst, shift_arcsec, rot_deg, scale=1.0):
    """Copy ``src`` with its WCS moved by ``shift_arcsec``, turned by ``rot_deg`` and scaled about CRPIX."""
    with fits.open(src) as h:
        for hdu in h:
            if hdu.name != "SCI":
                continue
            hd = hdu.header
            cd = WCS(hd, naxis=2).wcs.get_pc() * WCS(hd, naxis=2).wcs.get_cdelt()[:, None]
            for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
                hd.remove(k, ignore_missing=True)
            t = np.radians(rot_deg)
            cd = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ cd
            for (i, j), v in np.ndenumerate(cd):
                hd[f"CD{i + 1}_{j + 1}"] = v
            hd["CRVAL1"] += shift_arcsec[0] / 3600 / np.cos(np.radians(hd["CRVAL2"]))
            hd["CRVAL2"] += shift_arcsec[1] / 3600
        h.writeto(dst)
    return dst


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_visit(tmp_path_factory.mktemp("lost"), n_images=2, shape=(1024, 1024), seed=13,
                           exact_first=True)


@pytest.mark.parametrize("shift,rot,scale,geom", [((21.0, -21.0), 3.0, 1.0, "rshift"),
                                                   ((-12.0, 25.0), -2.0, 1.01, "rscale")])
def test_lost_pointing_is_recovered_in_both_stages(demo, tmp_path, shift, rot, scale, geom):
    lost = _lose(demo.paths[1], tmp_path / demo.paths[1].name, shift, rot, scale)
    params = TweakRegParams(searchrad=35.0, fitgeometry=geom, abs_refcat=str(demo.refcat), abs_mode="group",
                            abs_searchrad=35.0, abs_fitgeometry=geom)
    # relative stage alone
    rel = params.replace(abs_refcat="")
    result = pipeline.run(load_visit([str(demo.paths[0]), str(lost)], rel), rel, cache=None)
    r = result.images[1]
    assert r.status == STATUS_SUCCESS, r.reason
    assert r.fits[0].matcher in ("pattern", "2dhist") and r.fits[0].significance > 8
    if abs(rot) >= 3:  # the histogram's peak is smeared beyond use
        assert r.fits[0].matcher == "pattern"
    truth = demo.truth[demo.paths[1].name][0]
    assert wcs_error_mas(r.new_wcs[0], truth, (1024, 1024)) < 1.5
    # the total correction undoes the loss and the demo's own small pointing error
    own = demo.injected[demo.paths[1].name][2]
    assert abs(r.correction.rotation_deg + rot + own) < 1e-3
    # absolute stage alone: the lost image fitted to the catalog on its own
    result = pipeline.run(load_visit([str(lost)], params), params, cache=None)
    r = result.images[0]
    assert r.status == STATUS_SUCCESS, r.reason
    # the histogram may still find a smeared peak at small rotations: either matcher, said which
    assert r.fits[-1].kind == "absolute" and r.fits[-1].matcher in ("pattern", "2dhist")
    assert wcs_error_mas(r.new_wcs[0], truth, (1024, 1024)) < 1.5


def test_pattern_matcher_does_not_invent_a_match(demo, tmp_path):
    rng = np.random.default_rng(17)
    ref = Table.read(demo.refcat)
    fake = Table({"RA": rng.uniform(ref["RA"].min(), ref["RA"].max(), len(ref)),
                  "DEC": rng.uniform(ref["DEC"].min(), ref["DEC"].max(), len(ref)), "mag": ref["mag"]})
    fake.write(tmp_path / "fake.ecsv")
    params = TweakRegParams(abs_refcat=str(tmp_path / "fake.ecsv"), abs_searchrad=35.0, abs_mode="group")
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params, cache=None)
    for r in result.images:
        assert r.status == STATUS_FAILED and r.new_wcs is None
        assert r.fits[-1].status == STATUS_FAILED


@pytest.mark.realdata
@pytest.mark.slow
def test_lost_jwst_pointing_is_recovered(shared_data, tmp_path):
    """A CEERS NIRCam GWCS turned by 2° and moved by 20": the absolute stage finds it back."""
    from tweakwcs.correctors import JWSTWCSCorrector

    from tweakgui.engine.fit.align import tanp_scale_arcsec
    from tweakgui.engine.io.jwst import read_wcs_exposure
    from tweakgui.engine.model import Visit

    d = shared_data / "ceers-nircam"
    published = sorted((d / "batch_scripts" / "tweakreg_wcs").glob("*nrca1*_tweakreg.asdf"))[0]
    e = read_wcs_exposure(published)
    chip = e.chips[0]
    truth = chip.wcs
    info = chip.meta["wcsinfo"]
    ref = Table.read(d / "tweakreg" / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv", format="ascii.ecsv")
    x, y = truth.invert(np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float), with_bounding_box=False)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (x < 2047) & (y > 0) & (y < 2047)
    rng = np.random.default_rng(0)
    cat = tmp_path / "cat.ecsv"
    flux = 10 ** (-0.4 * np.asarray(ref["MAG"], float)[ok])  # brightest first for the triangles
    Table({"x": x[ok] + rng.normal(0, 0.03, ok.sum()), "y": y[ok] + rng.normal(0, 0.03, ok.sum()),
           "flux": flux}).write(cat)
    corr = JWSTWCSCorrector(truth, {k: info[k] for k in ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")})
    t = np.radians(2.0)
    corr.set_correction(np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]), np.array([14.0, -14.0]))
    assert tanp_scale_arcsec(corr) == pytest.approx(1.0, rel=1e-3)  # the plane is in arcsec
    chip.wcs = corr.wcs
    chip.catalog_path = cat
    params = TweakRegParams(abs_refcat=str(d / "tweakreg" / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv"),
                            use_custom_catalogs=True, abs_searchrad=30.0, abs_mode="group")
    result = pipeline.run(Visit([e]), params, cache=None)
    r = result.images[0]
    assert r.status == STATUS_SUCCESS, r.reason
    assert r.fits[-1].matcher == "pattern"
    yy, xx = np.mgrid[0:2047:9j, 0:2047:9j]
    r1, d1 = r.new_wcs[0](xx.ravel(), yy.ravel())
    r0, d0 = truth(xx.ravel(), yy.ravel())
    err = np.sqrt(np.mean(((r1 - r0) * np.cos(np.radians(d0))) ** 2 + (d1 - d0) ** 2)) * 3.6e6
    f = r.fits[-1]
    assert err < 5.0, (err, f.nmatch, f.nused, f.rmse_arcsec, f.match_radius_arcsec, f.rotation_deg, f.checks)
