"""Reference-catalog control against known truths: columns, selection, proper motions, epochs, weights.

The visits are catalogs rendered from known WCSs (``_pm_visit``): a Gaia-like
catalog with proper motions, exposures observed years apart whose custom
catalogs are the stars where they were on that date (astropy's propagation),
so each image's true WCS is known and every number is checked against it.
"""

from __future__ import annotations

import json
import logging
import urllib.parse

import numpy as np
import pytest
from _gaia_service import CatalogServer, space_motion
from _pm_visit import SHAPE, gaia_like, true_positions, write_visit
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from tweakgui.engine import pipeline
from tweakgui.engine.model import Exposure, InputError
from tweakgui.engine.outputs.qa_table import fits_table
from tweakgui.engine.outputs.report import report_dict
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.refcat import gaia, motion, select
from tweakgui.engine.refcat.files import read_refcat
from tweakgui.engine.refcat.load import load_refcat
from tweakgui.engine.synthetic import wcs_error_mas
from tweakgui.engine.visit import load_visit

DATES = ("2017-03-01T10:00:00", "2024-08-15T22:30:00")  # 7.5 years apart


def _params(v, **kw) -> TweakRegParams:
    kw.setdefault("abs_mode", "group")
    kw.setdefault("abs_refcat", str(v.refcat))
    return TweakRegParams(use_custom_catalogs=True, catfile=str(v.catfile), **kw)


def _run(v, **kw):
    p = _params(v, **kw)
    return pipeline.run(load_visit([str(x) for x in v.paths], p), p, jobs=1)


def _errors_mas(v, result) -> dict[str, float]:
    return {r.exposure.name: wcs_error_mas((r.new_wcs or [r.exposure.chips[0].wcs])[0], v.truth[r.exposure.name], SHAPE)
            for r in result.images}


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """Two exposures 7.5 years apart of a field moving by (40, -25) ± 8 mas/yr; 10% without proper motion."""
    rng = np.random.default_rng(4)
    return write_visit(tmp_path_factory.mktemp("pm"), gaia_like(rng), DATES, rng)


# ------------------------------------------------------------------ epochs and motion


def test_each_exposure_lands_on_its_truth_at_its_own_epoch(two_epochs):
    v = two_epochs
    res = _run(v)
    assert [r.status for r in res.images] == ["SUCCESS", "SUCCESS"]
    errors = _errors_mas(v, res)
    assert max(errors.values()) < 1.0, errors  # mas, over the whole chip
    # each absolute fit states the epoch its reference was moved to: its exposure's date
    t = fits_table(res)
    for name, epoch in v.epochs.items():
        (row,) = t[(t["image"] == name) & (t["stage"] == "absolute")]
        assert row["epoch"] == f"{epoch:.4f}"
    report = report_dict(res)
    for im in report["images"]:
        (fit,) = [f for f in im["fits"] if f["kind"] == "absolute"]
        assert fit["ref_epoch"] == pytest.approx(v.epochs[im["input"].rsplit("/", 1)[-1]], abs=1e-9)
    assert report["refcat"]["proper_motions"] and report["refcat"]["epoch"] == pytest.approx(v.epochs["pm01_flt.fits"])
    # the exposures' epochs come from EXPSTART (the first) and DATE-OBS + TIME-OBS (the second)
    assert v.epochs["pm02_flt.fits"] - v.epochs["pm01_flt.fits"] == pytest.approx(7.46, abs=0.01)


def test_one_epoch_for_the_visit_misses_the_later_exposure(two_epochs):
    """jwst's rule, one epoch (the first image's) for every image: the later one is off by the field's motion."""
    v = two_epochs
    res = _run(v, abs_epoch=v.epochs["pm01_flt.fits"])
    errors = _errors_mas(v, res)
    assert errors["pm01_flt.fits"] < 1.0
    # (40, -25) mas/yr for 7.46 years: 350 mas
    assert 250 < errors["pm02_flt.fits"] < 450, errors


def test_visit_mode_across_years_warns(two_epochs, caplog):
    with caplog.at_level(logging.WARNING, logger="tweakgui"):
        _run(two_epochs, abs_mode="visit")
    assert any("span 7.46 years" in r.getMessage() and "abs_mode=group" in r.getMessage() for r in caplog.records)


def test_propagation_matches_astropy(two_epochs):
    cat = two_epochs.catalog
    ref = motion.to_epoch(select.apply_pm_policy(read_refcat(two_epochs.refcat), "drop_no_pm", None, "gaia"),
                          2026.5)
    has_pm = ~np.ma.getmaskarray(cat["pmra"])
    ra, dec = true_positions(cat[has_pm], 2026.5)
    sep = SkyCoord(ref["RA"], ref["DEC"], unit="deg").separation(SkyCoord(ra, dec, unit="deg")).mas
    assert len(ref) == int(has_pm.sum()) and sep.max() < 0.05
    # and on to another epoch from there, as each fit does
    moved = motion.at_epoch(ref, 2030.0)
    ra, dec = true_positions(cat[has_pm], 2030.0)
    assert SkyCoord(moved["RA"], moved["DEC"], unit="deg").separation(SkyCoord(ra, dec, unit="deg")).mas.max() < 0.05
    assert moved.meta["epoch"] == 2030.0


def _exposure(**meta):
    return Exposure(path=__import__("pathlib").Path("x_flt.fits"), kind="fits", chips=[], group_id="g", root="x",
                    meta=meta)


@pytest.mark.parametrize("meta, expected", [
    ({"EXPSTART": 57000.5, "DATE-OBS": "2000-01-01"}, Time(57000.5, format="mjd")),  # MJD wins over a bare date
    ({"DATE-OBS": "2022-06-21", "TIME-OBS": "06:12:00"}, Time("2022-06-21T06:12:00")),
    ({"date_obs": "2022-06-21T06:12:00.000", "epoch": 2022.47}, Time("2022-06-21T06:12:00")),  # a JWST model
    ({"epoch": 2019.25}, Time(2019.25, format="jyear")),
    ({"DATE-OBS": "not a date"}, None),
    ({}, None),
])
def test_exposure_epochs(meta, expected):
    got = motion.exposure_epoch(_exposure(**meta))
    assert (got is None) if expected is None else got == pytest.approx(expected.jyear, abs=1e-9)


# ------------------------------------------------------------------ proper-motion policy


@pytest.mark.parametrize("policy", ["drop_no_pm", "keep_no_pm", "ignore"])
def test_pm_policies(two_epochs, policy):
    v, cat = two_epochs, two_epochs.catalog
    visit = load_visit([str(x) for x in v.paths], _params(v))
    ref = load_refcat(visit, _params(v, abs_pm_policy=policy))
    no_pm = np.ma.getmaskarray(cat["pmra"])
    ids = np.asarray(ref["source_id"])
    at = dict(zip(ids, zip(ref["RA"], ref["DEC"])))
    if policy == "drop_no_pm":
        assert set(ids) == set(np.asarray(cat["source_id"])[~no_pm])
    else:
        assert set(ids) == set(np.asarray(cat["source_id"]))
        # a source without proper motion stays at its catalog position
        i = int(np.flatnonzero(no_pm)[0])
        assert at[cat["source_id"][i]] == pytest.approx((cat["ra"][i], cat["dec"][i]), abs=1e-12)
    i = int(np.flatnonzero(~no_pm)[0])
    if policy == "ignore":
        assert "pmra" not in ref.colnames and ref.meta["epoch"] == 2016.0
        assert at[cat["source_id"][i]] == pytest.approx((cat["ra"][i], cat["dec"][i]), abs=1e-12)
    else:
        ra, dec = true_positions(cat[i:i + 1], v.epochs["pm01_flt.fits"])
        assert at[cat["source_id"][i]] == pytest.approx((ra[0], dec[0]), abs=1e-10)


def test_pm_error_cut_and_its_refusals(two_epochs, tmp_path):
    v, cat = two_epochs, two_epochs.catalog
    visit = load_visit([str(x) for x in v.paths], _params(v))
    ref = load_refcat(visit, _params(v, abs_max_pm_error=0.3))
    worst = np.fmax(cat["pmra_error"], cat["pmdec_error"])
    expected = ~np.ma.getmaskarray(cat["pmra"]) & (worst <= 0.3)
    assert set(ref["source_id"]) == set(np.asarray(cat["source_id"])[expected])
    assert ref.meta["selection"][1:3] == [("abs_pm_policy=drop_no_pm", int((~np.ma.getmaskarray(cat["pmra"])).sum())),
                                          ("abs_max_pm_error=0.3", int(expected.sum()))]
    plain = tmp_path / "plain.ecsv"
    Table({"ra": cat["ra"], "dec": cat["dec"], "pmra": cat["pmra"], "pmdec": cat["pmdec"]}).write(plain)
    with pytest.raises(InputError, match="abs_max_pm_error: plain.ecsv has no proper-motion errors"):
        load_refcat(visit, _params(v, abs_max_pm_error=0.3).replace(abs_refcat=str(plain)))
    Table({"ra": cat["ra"], "dec": cat["dec"]}).write(tmp_path / "static.ecsv")
    with pytest.raises(InputError, match="abs_max_pm_error: static.ecsv has no proper motions"):
        load_refcat(visit, _params(v, abs_max_pm_error=0.3).replace(abs_refcat=str(tmp_path / "static.ecsv")))


# ------------------------------------------------------------------ magnitudes


def test_magnitude_range_then_brightest_over_the_visit(two_epochs):
    v, cat = two_epochs, two_epochs.catalog
    visit = load_visit([str(x) for x in v.paths], _params(v))
    ref = load_refcat(visit, _params(v, abs_refcat_minmag=17.0, abs_refcat_maxmag=20.0, abs_refcat_nbright=60,
                                     abs_pm_policy="keep_no_pm"))
    mag = np.asarray(cat["phot_g_mean_mag"])
    in_range = (mag >= 17.0) & (mag <= 20.0)
    assert len(ref) == 60 and np.all((ref["mag"] >= 17.0) & (ref["mag"] <= 20.0))
    assert ref.meta["selection"] == [("read", len(cat)), ("near the visit", len(cat)),
                                     ("abs_refcat_minmag=17 abs_refcat_maxmag=20", int(in_range.sum())),
                                     ("abs_refcat_nbright=60", 60)]
    # the brightest over the visit: every source of the range left out that lies well inside the images'
    # cone is fainter than all those kept
    ra0, dec0, radius = gaia.footprint_search_params(visit.exposures)
    inside = SkyCoord(cat["ra"], cat["dec"], unit="deg").separation(SkyCoord(ra0, dec0, unit="deg")).deg < radius
    left_out = in_range & inside & ~np.isin(cat["source_id"], ref["source_id"])
    assert left_out.sum() > 10 and mag[left_out].min() > ref["mag"].max()


def test_a_cut_leaving_fewer_than_abs_minobj_is_refused_naming_the_cuts(two_epochs):
    v, cat = two_epochs, two_epochs.catalog
    visit = load_visit([str(x) for x in v.paths], _params(v))
    faint = float(np.sort(np.asarray(cat["phot_g_mean_mag"]))[9])  # 10 sources this bright or brighter
    with pytest.raises(InputError) as err:
        load_refcat(visit, _params(v, abs_refcat_maxmag=faint, abs_pm_policy="keep_no_pm"))
    msg = str(err.value)
    assert msg.startswith("abs_refcat: gaia.ecsv: ") and "\n" not in msg
    assert f"10 sources after the selection ({len(cat)} read; abs_refcat_maxmag={faint:g}: 10)" in msg
    assert msg.endswith("fewer than abs_minobj=15")


def test_named_columns_by_name_or_number(tmp_path):
    t = Table({"id": [1, 2, 3], "alpha": [10.0, 10.001, 10.002], "delta": [-5.0, -5.001, -5.002],
               "Vmag": [18.0, 19.0, 20.0], "sa": [0.001, 0.002, 0.003], "sd": [0.004, 0.005, 0.006],
               "mag": [1.0, 2.0, 3.0]})
    t["sa"].unit = t["sd"].unit = "arcsec"
    t.write(tmp_path / "mine.ecsv")
    p = TweakRegParams(abs_refcat_racol="ALPHA", abs_refcat_deccol="3", abs_refcat_magcol="vmag",
                       abs_refcat_errcols="sa, sd")
    ref = read_refcat(tmp_path / "mine.ecsv", p)
    np.testing.assert_array_equal(ref["RA"], t["alpha"])
    np.testing.assert_array_equal(ref["DEC"], t["delta"])
    np.testing.assert_array_equal(ref["mag"], t["Vmag"])  # the named column, not 'mag'
    np.testing.assert_allclose(ref["ra_error"], [1.0, 2.0, 3.0])  # arcsec -> mas
    np.testing.assert_allclose(ref["dec_error"], [4.0, 5.0, 6.0])
    # one column for both axes, without a unit: mas
    ref = read_refcat(tmp_path / "mine.ecsv", p.replace(abs_refcat_errcols="mag"))
    np.testing.assert_array_equal(ref["ra_error"], ref["dec_error"])


@pytest.mark.parametrize("param, value, words", [
    ("abs_refcat_magcol", "gmag", ["abs_refcat_magcol: no column 'gmag' in", "columns: id, alpha"]),
    ("abs_refcat_racol", "ra_deg", ["abs_refcat_racol: no column 'ra_deg'"]),
    ("abs_refcat_deccol", "9", ["abs_refcat_deccol:", "has 3 columns, no column 9"]),
    ("abs_refcat_errcols", "e_ra,e_dec", ["abs_refcat_errcols: no column 'e_ra'"]),
    ("abs_refcat_errcols", "a,b,c", ["abs_refcat_errcols: give 'RA_ERR,DEC_ERR' or one column"]),
])
def test_a_named_column_that_does_not_exist(tmp_path, param, value, words):
    Table({"id": [1], "alpha": [10.0], "delta": [-5.0]}).write(tmp_path / "c.ecsv")
    p = TweakRegParams(abs_refcat_racol="alpha", abs_refcat_deccol="delta").replace(**{param: value})
    with pytest.raises(InputError) as err:
        read_refcat(tmp_path / "c.ecsv", p)
    for w in words:
        assert w in str(err.value)


def test_recognised_columns_of_gaia_and_vizier(tmp_path):
    viz = Table({"RA_ICRS": [10.0], "DE_ICRS": [-5.0], "e_RA_ICRS": [0.2], "e_DE_ICRS": [0.3],
                 "pmRA": [12.0], "pmDE": [-3.0], "e_pmRA": [0.1], "e_pmDE": [0.2], "Gmag": [17.5],
                 "Epoch": [2016.0]})
    viz.write(tmp_path / "vizier.ecsv")
    ref = read_refcat(tmp_path / "vizier.ecsv")
    assert ref.colnames[:2] == ["RA", "DEC"]
    assert {c: float(ref[c][0]) for c in ("mag", "ra_error", "dec_error", "pmra", "pmdec", "pmra_error",
                                          "pmdec_error", "ref_epoch")} == {
        "mag": 17.5, "ra_error": 0.2, "dec_error": 0.3, "pmra": 12.0, "pmdec": -3.0, "pmra_error": 0.1,
        "pmdec_error": 0.2, "ref_epoch": 2016.0}
    # a table without a header: the first two columns are RA and Dec (drizzlepac's refxcol=1, refycol=2)
    (tmp_path / "plain.txt").write_text("10.0 -5.0 17.1\n10.001 -5.001 18.2\n")
    ref = read_refcat(tmp_path / "plain.txt")
    assert list(ref["RA"]) == [10.0, 10.001] and list(ref["DEC"]) == [-5.0, -5.001]


def test_error_weights_need_position_errors(two_epochs, tmp_path):
    v, cat = two_epochs, two_epochs.catalog
    no_err = Table({"ra": cat["ra"], "dec": cat["dec"], "phot_g_mean_mag": cat["phot_g_mean_mag"]})
    no_err.write(tmp_path / "no_err.ecsv")
    visit = load_visit([str(x) for x in v.paths], _params(v))
    with pytest.raises(InputError, match="abs_weights=errors: no_err.ecsv has no position error columns"):
        load_refcat(visit, _params(v, abs_weights="errors").replace(abs_refcat=str(tmp_path / "no_err.ecsv")))


# ------------------------------------------------------------------ weights


def test_sigma_at_an_epoch_and_the_weights():
    ref = Table({"RA": [1.0, 1.0, 1.0], "DEC": [2.0, 2.0, 2.0], "ra_error": [0.3, 0.3, np.nan],
                 "dec_error": [0.4, 0.4, 0.4], "pmra": [5.0, np.nan, 5.0], "pmdec": [1.0, np.nan, 1.0],
                 "pmra_error": [0.1, np.nan, 0.1], "pmdec_error": [0.2, np.nan, 0.2],
                 "ref_epoch": [2016.0, 2016.0, 2016.0]}, meta={"epoch": 2016.0})
    s = motion.position_sigma_mas(ref, 2026.0)
    # sqrt((0.3^2 + (10*0.1)^2 + 0.4^2 + (10*0.2)^2) / 2)
    assert s[0] == pytest.approx(np.sqrt((0.09 + 1.0 + 0.16 + 4.0) / 2))
    assert np.isnan(s[1]) and np.isnan(s[2])  # a motion error or a position error unknown
    assert motion.position_sigma_mas(ref, 2016.0)[:2] == pytest.approx([np.sqrt(0.125)] * 2)
    w = motion.fit_weights(s, 2.0)
    assert w[0] == pytest.approx(1 / (s[0] ** 2 + 4.0))
    assert w[1] == w[2] == pytest.approx(w[0])  # unknown: the catalog's largest error
    view = motion.at_epoch(ref, 2026.0, TweakRegParams(abs_weights="errors", abs_weight_floor=2.0))
    assert list(view["weight"]) == pytest.approx(list(w))


def test_error_weights_beat_equal_weights(tmp_path):
    """40% of the reference sources 20 mas off (and saying so), 60% within 0.2 mas: weights find the truth."""
    rng = np.random.default_rng(0)
    cat = gaia_like(rng, n=300, no_pm=0.0, mean_pm=(0, 0), pm_spread=0.0, pm_error=(0.0, 0.0))
    v = write_visit(tmp_path, cat, ["2016-01-01T12:00:00"], rng, offsets=((0.3, -0.2, 0.01),))
    t = Table.read(v.refcat)
    sigma = np.where(rng.random(len(t)) < 0.4, 20.0, 0.2)
    t["ra"] = np.asarray(t["ra"]) + rng.normal(0, 1, len(t)) * sigma / 3.6e6 / np.cos(np.radians(t["dec"]))
    t["dec"] = np.asarray(t["dec"]) + rng.normal(0, 1, len(t)) * sigma / 3.6e6
    t["ra_error"] = t["dec_error"] = sigma
    t.write(v.refcat, overwrite=True)
    equal = _errors_mas(v, _run(v, abs_fitgeometry="rscale"))["pm01_flt.fits"]
    weighted = _errors_mas(v, _run(v, abs_fitgeometry="rscale", abs_weights="errors"))["pm01_flt.fits"]
    assert weighted < 0.3 < 1.0 < equal, (weighted, equal)


# ------------------------------------------------------------------ the Gaia service


def test_gaia_service_moved_on_to_each_exposure(two_epochs, monkeypatch):
    v, cat = two_epochs, two_epochs.catalog
    with CatalogServer(cat) as srv:
        monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, srv.url)
        res = _run(v, abs_refcat="GAIADR3", abs_pm_policy="keep_no_pm")
        (req,) = srv.requests
    q = {k: x[0] for k, x in urllib.parse.parse_qs(urllib.parse.urlsplit(req).query).items()}
    assert float(q["EPOCH"]) == pytest.approx(motion.decimal_year(v.epochs["pm01_flt.fits"]), abs=1e-9)
    # keep_no_pm: the service's unmoved rows are kept, at their catalog positions
    unmoved = ~np.isfinite(np.asarray(res.refcat["pmra"], float))
    assert unmoved.sum() > 10
    row = cat[cat["source_id"] == int(res.refcat["objID"][np.flatnonzero(unmoved)[0]])]
    assert (res.refcat["RA"][unmoved][0], res.refcat["DEC"][unmoved][0]) == pytest.approx(
        (row["ra"][0], row["dec"][0]), abs=1e-9)
    errors = _errors_mas(v, res)
    assert [r.status for r in res.images] == ["SUCCESS", "SUCCESS"] and max(errors.values()) < 1.0, errors
    assert json.loads(json.dumps(report_dict(res)["refcat"]))["name"] == "GAIADR3"



def test_motions_in_the_frame_of_a_galactic_wcs():
    """Images with a GLON/GLAT WCS: the catalog and its motions in galactic axes, moved there."""
    from astropy.wcs import WCS

    from tweakgui.engine.model import Chip, Visit
    from tweakgui.engine.refcat.files import to_visit_frame

    w = WCS(naxis=2)
    w.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [30.0, 5.0], [512, 512], [-1e-5, 1e-5]
    visit = Visit([Exposure(path=__import__("pathlib").Path("g_flt.fits"), kind="fits",
                            chips=[Chip(name="SCI,1", hdu=1, shape=(1024, 1024), wcs=w)], group_id="g", root="g")])
    centre = SkyCoord(30.0, 5.0, unit="deg", frame="galactic").icrs
    ref = Table({"RA": centre.ra.deg + np.array([0.0, 0.001, -0.002]),
                 "DEC": centre.dec.deg + np.array([0.0, 0.002, 0.001]),
                 "pmra": [300.0, -50.0, np.nan], "pmdec": [-120.0, 80.0, np.nan]}, meta={"epoch": 2016.0})
    gal = to_visit_frame(ref, visit)
    assert gal.meta["frame"] == "galactic" and np.isnan(gal["pmra"][2])
    moved = motion.at_epoch(gal, 2036.0)
    pm = np.nan_to_num(np.asarray(ref["pmra"], float)), np.nan_to_num(np.asarray(ref["pmdec"], float))
    truth = SkyCoord(*space_motion(np.asarray(ref["RA"]), np.asarray(ref["DEC"]), *pm, 2016.0, 2036.0),
                     unit="deg").galactic  # astropy's motion in ICRS, then to galactic
    sep = SkyCoord(moved["RA"], moved["DEC"], unit="deg", frame="galactic").separation(truth).mas
    assert sep.max() < 0.05  # 6.5" moved in 20 years
