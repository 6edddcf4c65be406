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
