"""JWST outputs: ``_tweakreg.fits`` datamodels, ``_tweakreg.asdf`` WCS files, apply-wcs."""

from __future__ import annotations

import hashlib

import asdf
import ceers_render as cr
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from tweakwcs.correctors import JWSTWCSCorrector

from tweakgui.engine.io import jwst
from tweakgui.engine.io.atomic import OutputError
from tweakgui.engine.model import FitResult, ImageResult, InputError
from tweakgui.engine.outputs import jwst as jwst_outputs
from tweakgui.engine.params.spec import TweakRegParams

pytestmark = pytest.mark.realdata

NAME = "jw01345001001_02201_00002"
PIXEL_MAS = 31.0  # NIRCam SW pixel


@pytest.fixture(scope="module")
def cal(shared_data, tmp_path_factory):
    return cr.render_image(NAME, "nrca3", tmp_path_factory.mktemp("cal"), seed=5,
                           ceers=shared_data / "ceers-nircam")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corrected(exposure, shift=(0.12, -0.05), rot_arcsec=30.0):
    chip = exposure.chips[0]
    corr = JWSTWCSCorrector(chip.wcs, chip.meta["wcsinfo"])
    t = np.radians(rot_arcsec / 3600)
    corr.set_correction([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], shift)
    return corr.wcs


def _result(exposure, wcs, kinds=("relative", "absolute")):
    fits_ = [FitResult(group_id=exposure.group_id, kind=k, status="SUCCESS") for k in kinds]
    return ImageResult(exposure=exposure, status="SUCCESS", fits=fits_, new_wcs=[wcs])


def _sip_wcs(wcsinfo):
    hdr = fits.Header()
    for k, v in wcsinfo.items():
        if k in ("s_region",) or isinstance(v, (dict, list)):
            continue
        if k.startswith(("a_", "b_", "ap_", "bp_", "crpix", "crval", "cd", "ctype", "cunit")):
            hdr[k.upper()] = v
    return WCS(hdr)


def test_existing_v2v3corr_is_replaced_not_stacked(cal):
    # start from CEERS' published WCS, which already has a v2v3corr step
    e = jwst.read_jwst_exposure(cal.path)
    chip = e.chips[0]
    corr = JWSTWCSCorrector(cal.published_wcs, chip.meta["wcsinfo"])
    corr.set_correction(shift=[0.1, 0.0])
    frames = corr.wcs.available_frames
    assert frames == cal.published_wcs.available_frames
    assert frames.count("v2v3corr") == 1
    names = [m.name for m in corr.wcs.get_transform("v2v3vacorr", "v2v3corr").traverse_postorder()]
    assert names.count("tp_affine") == 1
    d = cr.wcs_distance_mas(corr.wcs, cal.published_wcs)
    assert np.allclose(d, 100.0, atol=0.5)  # moved by the new 0.1" on top of CEERS' correction


def test_write_tweaked(cal, tmp_path):
    e = jwst.read_jwst_exposure(cal.path)
    before = _digest(cal.path)
    new = _corrected(e)
    params = TweakRegParams(abs_refcat="GAIADR3")
    out = jwst_outputs.write_jwst_tweaked(_result(e, new), tmp_path / "out", params)
    assert out == tmp_path / "out" / f"{NAME}_nrca3_tweakreg.fits"
    assert _digest(cal.path) == before  # input untouched
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left
    from stdatamodels.jwst import datamodels

    with datamodels.open(out) as m:
        w = m.meta.wcs
        info = dict(m.meta.wcsinfo.instance)
        assert m.meta.filename == out.name and m.meta.cal_step.tweakreg == "COMPLETE"
        assert np.array_equal(np.asarray(m.data), np.asarray(datamodels.open(cal.path).data),
                              equal_nan=True)
    assert w.name == "FIT-LVL3-GAIADR3"
    assert w.available_frames == ["detector", "v2v3", "v2v3vacorr", "v2v3corr", "world"]
    assert cr.wcs_distance_mas(w, new).max() == 0
    # refreshed SIP describes the new GWCS within the requested 0.01 px
    x, y = cr.grid(n=21)
    sip = _sip_wcs(info)
    ra, dec = sip.all_pix2world(x, y, 0)
    ra0, dec0 = new(x, y)
    err = np.hypot((ra - ra0) * np.cos(np.radians(dec0)), dec - dec0) * 3.6e6
    assert err.max() < 0.01 * PIXEL_MAS * 1.5
    xi, yi = sip.all_world2pix(ra0, dec0, 0)
    assert np.hypot(xi - x, yi - y).max() < 0.015
    # the reference angles are kept, S_REGION follows the new WCS
    for key in ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref"):
        assert info[key] == cal.wcsinfo[key]
    corners = np.array(info["s_region"].split()[2:], float).reshape(-1, 2)
    np.testing.assert_allclose(corners, new.footprint(center=False), atol=1e-9)


def test_sip_parameters(cal, tmp_path):
    e = jwst.read_jwst_exposure(cal.path)
    new = _corrected(e)
    from stdatamodels.jwst import datamodels

    p2 = TweakRegParams(sip_degree=2, sip_inv_degree=2)
    out = jwst_outputs.write_jwst_tweaked(_result(e, new), tmp_path, p2)
    with datamodels.open(out) as m:
        assert m.meta.wcsinfo.a_order == 2 and m.meta.wcsinfo.ap_order == 2
    off = TweakRegParams(sip_approx=False)
    out = jwst_outputs.write_jwst_tweaked(_result(e, new, kinds=("relative",)), tmp_path / "b", off)
    with datamodels.open(out) as m:
        info = dict(m.meta.wcsinfo.instance)
        # relative fit only: jwst keeps the WCS name
        assert m.meta.wcs.name == e.meta["wcs_name"]
    for key in ("a_order", "a_0_2", "b_1_1", "crval1", "cd1_1"):
        assert info[key] == cal.wcsinfo[key]  # SIP left as it was
    assert info["s_region"] == jwst_outputs.s_region(new)


def test_wcs_name():
    assert jwst_outputs.fit_wcs_name("GAIADR3") == "FIT-LVL3-GAIADR3"
    assert jwst_outputs.fit_wcs_name("gaiarefcat") == "FIT-LVL3-GAIAREFCAT"
    assert jwst_outputs.fit_wcs_name("/data/CEERS_EGS_HST_v1.9_cat_radecmag.ecsv") == "FIT-LVL3-USERCAT"


def test_in_place_and_refusal(cal, tmp_path):
    from stdatamodels.jwst import datamodels

    src = tmp_path / f"{NAME}_nrca3_tweakreg.fits"
    src.write_bytes(cal.path.read_bytes())
    e = jwst.read_jwst_exposure(src)
    new = _corrected(e)
    with pytest.raises(OutputError, match="overwrite its input"):
        jwst_outputs.write_jwst_tweaked(_result(e, new), tmp_path, TweakRegParams())
    out = jwst_outputs.write_jwst_tweaked(_result(e, new), tmp_path, TweakRegParams(), in_place=True)
    assert out == src
    with datamodels.open(src) as m:
        assert cr.wcs_distance_mas(m.meta.wcs, new).max() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_apply_published_ceers_wcs(cal, shared_data, tmp_path):
    """CEERS' updatewcs.py use case: their published WCS files put into a cal file."""
    wcs_dir = shared_data / "ceers-nircam" / cr.WCS_DIR
    (out,) = jwst_outputs.apply_wcs([cal.path], wcs_dir, output_dir=tmp_path)
    e = jwst.read_jwst_exposure(out)
    assert cr.wcs_distance_mas(e.chips[0].wcs, cal.published_wcs).max() == 0
    assert e.chips[0].meta["wcsinfo"]["s_region"] == cal.wcsinfo["s_region"]


def test_apply_wcs_checks_before_writing(cal, shared_data, tmp_path):
    wcs_dir = tmp_path / "wcs"
    wcs_dir.mkdir()
    out_dir = tmp_path / "out"
    with pytest.raises(InputError, match="no WCS file"):
        jwst_outputs.apply_wcs([cal.path], wcs_dir, output_dir=out_dir)
    # a WCS of another detector under this image's name
    other = cr.wcs_file(NAME, "nrcb4", shared_data / "ceers-nircam")
    (wcs_dir / f"{NAME}_nrca3_tweakreg.asdf").write_bytes(other.read_bytes())
    with pytest.raises(InputError, match="v2_ref"):
        jwst_outputs.apply_wcs([cal.path], wcs_dir, output_dir=out_dir)
    assert not out_dir.exists()


def test_apply_wcs_main(cal, shared_data, tmp_path, capsys):
    wcs_dir = shared_data / "ceers-nircam" / cr.WCS_DIR
    rc = jwst_outputs.apply_wcs_main([str(cal.path.parent / "*_cal.fits"), "--wcs_dir", str(wcs_dir),
                                      "--output_dir", str(tmp_path)])
    assert rc == 0
    assert [p.name for p in tmp_path.iterdir()] == [f"{NAME}_nrca3_tweakreg.fits"]
    rc = jwst_outputs.apply_wcs_main([str(cal.path), "--wcs_dir", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "nowhere" in err


def test_write_wcs_file_round_trip(cal, tmp_path):
    e = jwst.read_jwst_exposure(cal.path)
    new = _corrected(e)
    p = jwst_outputs.write_wcs_file(_result(e, new), tmp_path, TweakRegParams(abs_refcat="GAIADR2"))
    with asdf.open(p) as af:
        assert af["filename"] == f"{NAME}_nrca3_tweakreg.fits"
        w = af["wcs"]
        info = dict(af["wcsinfo"])
    assert w.name == "FIT-LVL3-GAIADR2"
    assert cr.wcs_distance_mas(w, new).max() == 0
    assert info["v2_ref"] == cal.wcsinfo["v2_ref"] and "a_order" in info


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_wcs_files_made_in_processes_are_those_made_here(shared_data, tmp_path, monkeypatch, method):
    """WCS files made in worker processes hold what those written in process hold (the order of
    asdf's extension history aside, which follows each process's first use), whether the workers
    inherit the parts (forked: the command line) or get them pickled (the GUI's thread)."""
    import multiprocessing as mp

    from tweakgui.engine.outputs import prepared
    from tweakgui.engine.processes import forkserver_context

    from tweakgui.engine.outputs import sip_reuse

    monkeypatch.setattr(prepared, "pool_context", lambda: mp.get_context("fork") if method == "fork"
                        else forkserver_context())
    # each file a full SIP fit here and there (a detector's template gives the same sky, not the same digits)
    sip_reuse.clear_templates()

    exposures = [jwst.read_wcs_exposure(cr.wcs_file("jw01345001001_02201_00001", det, shared_data / "ceers-nircam"))
                 for det in ("nrca1", "nrca2", "nrcb1")]
    results = [_result(e, _corrected(e, shift=(0.01 * i, 0.02))) for i, e in enumerate(exposures)]
    params = TweakRegParams(abs_refcat="cat.ecsv")
    here = [jwst_outputs.write_wcs_file(r, tmp_path / "here", params) for r in results]
    monkeypatch.setattr(prepared, "MIN_FILES", 2)
    parts = [jwst_outputs.wcs_file_parts(r, params) for r in results]
    assert prepared.prepare_wcs_files(parts, params, jobs=1) is None
    made = prepared.prepare_wcs_files(parts, params, jobs=2)
    y, x = np.mgrid[0:2047:5j, 0:2047:5j]
    for r, content, ref in zip(results, made, here):
        p = jwst_outputs.write_wcs_file(r, tmp_path / "there", params, content=content)
        assert p.read_bytes() == content
        with asdf.open(p) as a, asdf.open(ref) as b:
            assert a["filename"] == b["filename"] and a["wcsinfo"] == b["wcsinfo"] and "a_0_2" in a["wcsinfo"]
            assert a["wcs"].name == b["wcs"].name == "FIT-LVL3-USERCAT"
            np.testing.assert_array_equal(np.array(a["wcs"](x, y)), np.array(b["wcs"](x, y)))
