"""Match files on real crowded HST pixels: two ACS/HRC frames of 47 Tuc, relative and absolute.

The second frame carries a known error (``hrc_truth.PERTURBATIONS``); the
absolute reference is the consensus star catalog of :mod:`hrc_truth`.  Every
row of the match files is traced back: Input ID to the written catalog and,
through the consensus (true) WCS, to the sky where the fit put it; Ref ID to
the reference frame's catalog or to the star catalog, the same star.
"""

import hrc_truth as H
import numpy as np
import pytest
from astropy.table import Table

from tweakgui.cli import main
from tweakgui.engine.outputs.match_files import read_match_file

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _sep_mas(ra1, dec1, ra2, dec2):
    dra = (np.asarray(ra1) - np.asarray(ra2)) * np.cos(np.radians(np.asarray(dec2)))
    return np.hypot(dra, np.asarray(dec1) - np.asarray(dec2)) * 3.6e6


def test_hrc_match_files_point_at_the_same_stars(shared_data, tmp_path):
    derived = shared_data / "hst-acs-hrc-47tuc" / "derived"
    truth, stars = H.consensus(derived)
    paths = H.frame_paths(derived)[:2]
    H.perturb(paths[0], tmp_path / paths[0].name)
    H.perturb(paths[1], tmp_path / paths[1].name, *H.PERTURBATIONS[1])
    refcat = H.write_catalog(stars, tmp_path / "stars.ecsv")
    out = tmp_path / "out"
    rc = main(["align", *(str(tmp_path / p.name) for p in paths), "--output_dir", str(out), "--abs_refcat",
               str(refcat), "--save_match_files", "true", "--save_catalogs", "true", "--jobs", "1"])
    assert rc == 0
    roots = [p.name.removesuffix("_flt.fits") for p in paths]
    cats = [Table.read(out / f"{r}_cat.ecsv") for r in roots]

    def true_sky(k, ids):
        return truth[k].all_pix2world(np.asarray(cats[k]["x"])[ids], np.asarray(cats[k]["y"])[ids], 0)

    rel = read_match_file(out / f"{roots[1]}_catalog_fit.match")
    assert len(rel) > 500 and set(rel["extver"]) == {1} and set(rel["ref_origin"]) == {f"{paths[0].name}[SCI,1]"}
    ids = np.asarray(rel["input_id"])
    np.testing.assert_allclose(rel["x_in_orig"], np.asarray(cats[1]["x"])[ids] + 1, atol=2e-6)
    # the reference frame is unperturbed: the relative fit puts frame 2 on its consensus WCS
    assert np.median(_sep_mas(rel["ra_fit"], rel["dec_fit"], *true_sky(1, ids))) < 2
    assert np.median(_sep_mas(*true_sky(0, np.asarray(rel["ref_id"])), *true_sky(1, ids))) < 3  # same star
    for k, root in enumerate(roots):
        ab = read_match_file(out / f"{root}_abs_catalog_fit.match")
        assert len(ab) > 500 and set(ab["ref_origin"]) == {"stars.ecsv"}
        ids, refs = np.asarray(ab["input_id"]), np.asarray(ab["ref_id"])
        assert np.median(_sep_mas(stars["RA"][refs], stars["DEC"][refs], *true_sky(k, ids))) < 3
        assert np.median(_sep_mas(ab["ra_fit"], ab["dec_fit"], *true_sky(k, ids))) < 2
        # 0.025"/px: rmse of a few mas is a tenth of a pixel
        assert np.sqrt(np.mean(ab["x_res"] ** 2 + ab["y_res"] ** 2)) < 0.3
