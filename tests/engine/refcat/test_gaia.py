"""Gaia catalogs: the catalog-service client against a loopback server, local files, epochs.

The loopback server answers ``/vo/CatalogSearch.aspx`` the way the STScI
service does for stcal (CSV with a ``#`` comment line, ``No data records``
for an empty cone, ``Error ...`` for a bad request).  Its rows are real Gaia
DR3 rows (``../shared/data/astroquery-gaia/``); it moves them to the
requested EPOCH with astropy's ``apply_space_motion`` (an implementation
independent of tweakgui's), and returns rows without proper motion unmoved
with empty pm fields, as the service does.
"""

from __future__ import annotations

import time
import urllib.parse

import astropy.units as u
import numpy as np
import pytest
from _gaia_service import CatalogServer, free_port_url
from _gaia_service import space_motion as _space_motion
from astropy.coordinates import SkyCoord
from astropy.table import Table

from tweakgui.engine.model import Chip, Exposure, InputError
from tweakgui.engine.refcat import gaia

GAIA_ECSV = "astroquery-gaia/1712337806100O-result.ecsv"
GAIA_VOT = "astroquery-gaia/1710099405832VAL-result.vot"


def _has_pm(t):
    return ~np.ma.getmaskarray(t["pmra"]) & np.isfinite(np.ma.filled(t["pmra"], np.nan))


@pytest.fixture(scope="module")
def dr3(shared_data):
    return Table.read(shared_data / GAIA_ECSV, format="ascii.ecsv")


def test_query_url_matches_stcal_layout():
    url = gaia.query_url("GAIADR3", 214.9, 52.9, 0.05, 2022.47, base_url="http://h/ws/")
    assert url == ("http://h/ws/vo/CatalogSearch.aspx?RA=214.9&DEC=52.9&EPOCH=2022.47"
                   "&SR=0.05&FORMAT=CSV&CAT=GAIADR3")
    assert "EPOCH" not in gaia.query_url("GAIADR2", 1, 2, 0.1, None, base_url="http://h")


def test_service_query_with_epoch_drops_sources_without_pm(dr3):
    epoch = 2022.47
    with CatalogServer(dr3) as srv:
        t = gaia.get_gaia_catalog("gaiadr3", 280.0, -60.0, 0.01, epoch, base_url=srv.url)
        (path,) = srv.requests
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert q["CAT"] == ["GAIADR3"] and q["FORMAT"] == ["CSV"] and q["EPOCH"] == ["2022.47"]
    has_pm = _has_pm(dr3)
    assert len(t) == int(has_pm.sum()) == 3  # 2 two-parameter sources dropped
    assert t.meta["name"] == "GAIADR3"
    exp_ra, exp_dec = _space_motion(np.asarray(dr3["ra"][has_pm]), np.asarray(dr3["dec"][has_pm]),
                                    np.asarray(dr3["pmra"][has_pm]), np.asarray(dr3["pmdec"][has_pm]),
                                    2016.0, epoch)
    np.testing.assert_allclose(t["RA"], exp_ra, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["DEC"], exp_dec, rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["mag"], np.asarray(dr3["phot_g_mean_mag"][has_pm]), atol=1e-6)
    assert [int(v) for v in t["objID"]] == [int(v) for v in dr3["source_id"][has_pm]]


def test_service_query_without_epoch_keeps_all(dr3):
    with CatalogServer(dr3) as srv:
        t = gaia.get_gaia_catalog("GAIADR3", 280.0, -60.0, 0.01, None, base_url=srv.url)
        assert "EPOCH" not in srv.requests[0]
    assert len(t) == 5
    np.testing.assert_allclose(np.sort(t["RA"]), np.sort(np.asarray(dr3["ra"])), atol=1e-12)


def test_empty_cone_and_error_answer(dr3):
    with CatalogServer(dr3) as srv:
        empty = gaia.get_gaia_catalog("GAIADR2", 10.0, 10.0, 0.01, 2022.0, base_url=srv.url)
        assert len(empty) == 0 and empty.colnames[:2] == ["RA", "DEC"]
        srv.httpd.table = dr3[:0]
        with pytest.raises(gaia.CatalogServiceError):
            # a catalog name the server rejects with "Error ..."
            gaia.parse_service_csv("Error: Cannot find table 0\r\n")


def test_env_var_sets_the_service(dr3, monkeypatch):
    with CatalogServer(dr3) as srv:
        monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, srv.url)
        t = gaia.get_gaia_catalog("GAIAREFCAT", 280.0, -60.0, 0.01, 2020.0)
        assert len(srv.requests) == 1 and "CAT=GAIAREFCAT" in srv.requests[0]
    assert len(t) == 3


def test_offline_is_one_line_naming_the_url():
    url = free_port_url()
    t0 = time.monotonic()
    with pytest.raises(gaia.CatalogServiceError) as err:
        gaia.get_gaia_catalog("GAIADR3", 280.0, -60.0, 0.01, 2022.5, base_url=url, timeout=5)
    msg = str(err.value)
    assert "\n" not in msg
    assert "catalog service could not be reached" in msg and url in msg
    assert isinstance(err.value, InputError)
    assert time.monotonic() - t0 < 5


def test_timeout(dr3):
    with CatalogServer(dr3, delay=2.0) as srv:
        t0 = time.monotonic()
        with pytest.raises(gaia.CatalogServiceError, match="could not be reached"):
            gaia.get_gaia_catalog("GAIADR3", 280.0, -60.0, 0.01, 2022.5, base_url=srv.url, timeout=0.3)
        assert time.monotonic() - t0 < 1.9


def test_unknown_catalog_name():
    with pytest.raises(InputError, match="unknown catalog"):
        gaia.get_gaia_catalog("GAIADR9", 0, 0, 0.1, None, base_url="http://127.0.0.1:9")


def test_propagation_matches_astropy_within_0p1_mas(dr3):
    epoch = 2026.0  # 10 years after Gaia DR3's 2016.0
    t = gaia.propagate(dr3, epoch)
    has_pm = _has_pm(dr3)
    ra, dec = _space_motion(np.asarray(dr3["ra"][has_pm]), np.asarray(dr3["dec"][has_pm]),
                            np.asarray(dr3["pmra"][has_pm]), np.asarray(dr3["pmdec"][has_pm]),
                            2016.0, epoch)
    d = SkyCoord(t["RA"], t["DEC"], unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
    assert d.to_value(u.mas).max() < 0.1
    # the motion itself is real and large compared with the tolerance
    moved = SkyCoord(t["RA"], t["DEC"], unit="deg").separation(
        SkyCoord(dr3["ra"][has_pm], dr3["dec"][has_pm], unit="deg"))
    assert moved.to_value(u.mas).max() > 10


def test_propagation_fast_star_near_pole():
    t = Table({"ra": [10.0, 200.0], "dec": [85.0, -30.0], "pmra": [800.0, -50.0],
               "pmdec": [-600.0, 20.0], "ref_epoch": [2016.0, 2015.5]})
    out = gaia.propagate(t, 2026.0)
    ra, dec = _space_motion(np.array([10.0, 200.0]), np.array([85.0, -30.0]), np.array([800.0, -50.0]),
                            np.array([-600.0, 20.0]), np.array([2016.0, 2015.5]), 2026.0)
    d = SkyCoord(out["RA"], out["DEC"], unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
    assert d.to_value(u.mas).max() < 0.1


def test_votable_upper_case_columns_and_keep_no_pm(shared_data):
    t = gaia.read_gaia_file(shared_data / GAIA_VOT)
    out = gaia.propagate(t, 2016.0, keep_no_pm=True)
    assert len(out) == 2
    np.testing.assert_allclose(out["RA"], np.asarray(t["ra"]), atol=1e-12)
    assert "objID" in out.colnames


def test_missing_file():
    with pytest.raises(InputError, match="not found"):
        gaia.read_gaia_file("/nonexistent/gaia.ecsv")


def _exposure_with(wcs, epoch=2022.47):
    chip = Chip(name="SCI", hdu=1, shape=(2048, 2048), wcs=wcs, meta={})
    return Exposure(path=__import__("pathlib").Path("x_cal.fits"), kind="jwst", chips=[chip],
                    group_id="g", root="x", meta={"epoch": epoch})


def test_footprint_search_params_covers_all_chips(shared_data):
    import asdf

    d = shared_data / "ceers-nircam/batch_scripts/tweakreg_wcs"
    exps = []
    for det in ("nrca1", "nrcb4"):
        with asdf.open(d / f"jw01345001001_02201_00001_{det}_tweakreg.asdf") as af:
            exps.append(_exposure_with(af["wcs"]))
    ra, dec, r = gaia.footprint_search_params(exps)
    centre = SkyCoord(ra, dec, unit="deg")
    corners = np.vstack([np.asarray(e.chips[0].wcs.footprint(center=False)) for e in exps])
    sep = centre.separation(SkyCoord(corners[:, 0], corners[:, 1], unit="deg")).deg
    assert sep.max() <= r + 1e-9
    # tight: the two NIRCam modules span ~5 arcmin; the radius is well below the 10' diagonal
    assert 2 / 60 < r < 4.5 / 60


def test_local_gaia_file_moved_to_an_epoch(shared_data, dr3):
    from tweakgui.engine.refcat import motion, select
    from tweakgui.engine.refcat.files import read_refcat

    ref = select.apply_pm_policy(read_refcat(shared_data / GAIA_ECSV), "drop_no_pm", None, "dr3")
    out = motion.to_epoch(ref, 2026.0)
    assert len(out) == 3 and out.meta["epoch"] == 2026.0
    has_pm = _has_pm(dr3)
    ra, dec = _space_motion(np.asarray(dr3["ra"][has_pm]), np.asarray(dr3["dec"][has_pm]),
                            np.asarray(dr3["pmra"][has_pm]), np.asarray(dr3["pmdec"][has_pm]), 2016.0, 2026.0)
    d = SkyCoord(out["RA"], out["DEC"], unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
    assert d.to_value(u.mas).max() < 0.1
    # the real file's errors and magnitudes come along
    assert {"mag", "ra_error", "dec_error", "pmra_error", "pmdec_error", "ref_epoch"} <= set(out.colnames)
    # a file without proper motions stays as it is, at an unknown epoch
    ceers = read_refcat(shared_data / "ceers-nircam/tweakreg/CEERS_EGS_HST_v1.9_cat_radecmag.ecsv")
    same = motion.to_epoch(ceers, 2026.0)
    assert np.array_equal(same["RA"], ceers["RA"]) and same.meta["epoch"] is None
