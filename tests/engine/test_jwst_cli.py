"""``tweakgui align asn.json --abs_refcat GAIADR3`` against a loopback catalog service.

Two rendered CEERS cal files (nrca1, nrcb1 of one exposure) are aligned to
"GAIADR3" served by a loopback stand-in of the STScI service; the stand-in
serves the CEERS HST catalog (the truth of the rendered images) in the
service's Gaia CSV layout, with zero proper motions.  Each aligned WCS must
land within 5 mas RMS of CEERS' published WCS.  With no service, the command
exits 2 with one line saying the catalog service could not be reached, and
writes nothing.
"""

from __future__ import annotations

import json
import urllib.parse

import asdf
import ceers_render as cr
import numpy as np
import pytest
from _gaia_service import CatalogServer, free_port_url
from astropy.table import Table
from astropy.time import Time

from tweakgui import cli
from tweakgui.engine.io import jwst
from tweakgui.engine.refcat import gaia

pytestmark = pytest.mark.realdata

NAME = "jw01345001001_02201_00001"
ARGS = ["--starfinder", "sep", "--kernel_fwhm", "1.5", "--snr_threshold", "2.5", "--bkg_boxsize", "100",
        "--npixels", "16", "--abs_minobj", "20", "--abs_searchrad", "1.0", "--abs_separation", "0.6",
        "--abs_tolerance", "0.4", "--abs_nclip", "1", "--abs_sigma", "0.6", "--abs_fitgeometry", "rshift",
        "--abs_mode", "group"]


@pytest.fixture(scope="module")
def visit(shared_data, tmp_path_factory):
    d = tmp_path_factory.mktemp("gaia_visit")
    refcat = cr.load_refcat(shared_data / "ceers-nircam")
    images = [cr.render_image(NAME, det, d, refcat=refcat, seed=11 + i, ceers=shared_data / "ceers-nircam")
              for i, det in enumerate(("nrca1", "nrcb1"))]
    asn = {"asn_type": "image3", "products": [{"name": "gaia_test", "members": [
        {"expname": r.path.name, "exptype": "science", "group_id": jwst.jwst_root(r.path)}
        for r in images]}]}
    (d / "asn.json").write_text(json.dumps(asn))
    gaia_like = Table({"source_id": np.arange(len(refcat)), "ra": refcat["RA"], "dec": refcat["DEC"],
                       "pmra": np.zeros(len(refcat)), "pmdec": np.zeros(len(refcat)),
                       "ref_epoch": np.full(len(refcat), 2016.0), "phot_g_mean_mag": refcat["MAG"]})
    return d, images, gaia_like


def test_align_with_gaia_service(visit, tmp_path, monkeypatch, capsys):
    d, images, gaia_like = visit
    out = tmp_path / "out"
    with CatalogServer(gaia_like) as srv:
        monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, srv.url)
        rc = cli.main(["align", str(d / "asn.json"), "--abs_refcat", "GAIADR3", "--output_dir", str(out),
                       "--save_abs_catalog", "true", *ARGS])
        requests = list(srv.requests)
    assert rc == 0, capsys.readouterr().err
    (req,) = requests
    q = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(req).query).items()}
    assert q["CAT"] == "GAIADR3" and q["FORMAT"] == "CSV"
    assert float(q["EPOCH"]) == pytest.approx(Time("2022-06-21T06:12:00").decimalyear, abs=1e-6)
    assert 2 / 60 < float(q["SR"]) < 4 / 60  # covers both modules, ~5' apart
    from stdatamodels.jwst import datamodels

    for r in images:
        root = jwst.jwst_root(r.path)
        with datamodels.open(out / f"{root}_tweakreg.fits") as m:
            assert m.meta.wcs.name == "FIT-LVL3-GAIADR3"
            d_mas = cr.wcs_distance_mas(m.meta.wcs, r.published_wcs)
        assert np.sqrt(np.mean(d_mas ** 2)) < 5.0, root
        with asdf.open(out / f"{root}_tweakreg.asdf") as af:
            assert af["wcs"].name == "FIT-LVL3-GAIADR3"
    report = json.loads((out / "tweakreg_report.json").read_text())
    assert len(report["images"]) == 2
    assert all(im["status"] == "SUCCESS" for im in report["images"])


def test_align_offline_is_one_line(visit, tmp_path, monkeypatch, capsys):
    d, _, _ = visit
    url = free_port_url()
    monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, url)
    out = tmp_path / "out"
    rc = cli.main(["align", str(d / "asn.json"), "--abs_refcat", "GAIADR3", "--output_dir", str(out), *ARGS])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "catalog service could not be reached" in lines[0] and url in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_align_gwcs_files_from_catalogs(shared_data, tmp_path, capsys):
    """Standalone pre-tweak GWCS files plus catalogs: the WCS files are the outputs, at the published WCS."""
    from astropy.table import Table

    ceers = shared_data / "ceers-nircam"
    refcat = cr.load_refcat(ceers)
    members, published = [], {}
    rng = np.random.default_rng(5)
    for det in ("nrca1", "nrca2", "nrcb1"):  # SW: CEERS fitted rshift there, as CEERS_MOSAIC does
        with asdf.open(cr.wcs_file(NAME, det, ceers), lazy_load=False, memmap=False) as af:
            w, info = af["wcs"], dict(af["wcsinfo"])
        root = f"{NAME}_{det}"
        x, y = w.invert(np.asarray(refcat["RA"]), np.asarray(refcat["DEC"]), with_bounding_box=False)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (x < 2047) & (y > 0) & (y < 2047)
        Table({"x": x[ok] + rng.normal(0, 0.03, ok.sum()), "y": y[ok] + rng.normal(0, 0.03, ok.sum())}
              ).write(tmp_path / f"{root}_cat.fits")
        asdf.AsdfFile({"wcs": cr.untweak(w), "wcsinfo": info}).write_to(tmp_path / f"{root}_cal.asdf")
        members.append({"expname": f"{root}_cal.asdf", "exptype": "science", "group_id": root,
                        "tweakreg_catalog": f"{root}_cat.fits"})
        published[root] = w
    (tmp_path / "asn.json").write_text(json.dumps({"products": [{"name": "wcs", "members": members}]}))
    out = tmp_path / "out"
    args = ["--use_custom_catalogs", "true", "--abs_refcat", str(ceers / cr.REFCAT)]
    for k, v in cr.CEERS_MOSAIC.items():
        args += [f"--{k}", str(v).lower() if isinstance(v, bool) else str(v)]
    rc = cli.main(["align", str(tmp_path / "asn.json"), "--output_dir", str(out), *args])
    assert rc == 0, capsys.readouterr().err
    assert not list(out.glob("*_tweakreg.fits"))  # no image to update
    report = json.loads((out / "tweakreg_report.json").read_text())
    for im in report["images"]:
        root = jwst.jwst_root(im["input"])
        assert im["status"] == "SUCCESS" and im["output"].endswith(f"{root}_tweakreg.asdf")
        with asdf.open(out / f"{root}_tweakreg.asdf") as af:
            assert af["wcs"].name == "FIT-LVL3-USERCAT"
            assert af["filename"] == f"{root}_tweakreg.fits"
            d_mas = cr.wcs_distance_mas(af["wcs"], published[root])
        assert np.sqrt(np.mean(d_mas ** 2)) < 5.0, root
