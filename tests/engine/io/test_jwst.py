"""Reading JWST datamodels and GWCS ASDF files: WCS, wcsinfo, grouping, DQ masks."""

from __future__ import annotations

import logging

import ceers_render as cr
import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from tweakgui.engine.io import jwst
from tweakgui.engine.model import InputError

pytestmark = pytest.mark.realdata

NAME, DET = "jw01345001001_02201_00001", "nrca1"


@pytest.fixture(scope="module")
def cal(shared_data, tmp_path_factory):
    return cr.render_image(NAME, DET, tmp_path_factory.mktemp("cal"), seed=3,
                           ceers=shared_data / "ceers-nircam")


def _copy_with(cal, tmp_path, **meta):
    from stdatamodels.jwst import datamodels

    with datamodels.open(cal.path) as m:
        for key, value in meta.items():
            if key == "group_id":
                m.meta.group_id = value
            else:
                setattr(m.meta.observation, key, value)
        out = tmp_path / cal.path.name
        m.save(out)
    return out


def test_is_jwst_file(cal, tmp_path):
    assert jwst.is_jwst_file(cal.path)
    hst = tmp_path / "j8bt06nyq_flt.fits"
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"TELESCOP": "HST"})),
                  fits.ImageHDU(np.zeros((4, 4)), name="SCI")]).writeto(hst)
    assert not jwst.is_jwst_file(hst)
    (tmp_path / "notes.txt").write_text("not fits")
    assert not jwst.is_jwst_file(tmp_path / "notes.txt")
    assert not jwst.is_jwst_file(tmp_path / "missing.fits")


def test_read_exposure(cal):
    e = jwst.read_jwst_exposure(cal.path)
    assert e.kind == "jwst" and e.root == f"{NAME}_{DET}" and len(e.chips) == 1
    chip = e.chips[0]
    assert chip.shape == (2048, 2048) and chip.hdu == 1
    assert chip.wcs.available_frames == ["detector", "v2v3", "v2v3vacorr", "world"]
    for key in jwst.WCSINFO_REF_KEYS:
        assert chip.meta["wcsinfo"][key] == pytest.approx(cal.wcsinfo[key], abs=0, rel=1e-15)
    # the WCS read is the pre-tweak one, exactly
    assert cr.wcs_distance_mas(chip.wcs, cal.pretweak_wcs).max() == 0
    assert e.group_id == "jw01345001001_02201_00001"
    assert e.meta["group_source"] == "observation"
    assert e.meta["detector"] == "NRCA1" and e.meta["filter"] == "F115W"
    assert e.meta["epoch"] == pytest.approx(Time("2022-06-21T06:12:00").decimalyear, abs=1e-6)


def test_group_id_precedence(cal, tmp_path):
    assert jwst.read_jwst_exposure(cal.path, group_id="asn7").group_id == "asn7"
    p = _copy_with(cal, tmp_path, group_id="from_model")
    e = jwst.read_jwst_exposure(p)
    assert (e.group_id, e.meta["group_source"]) == ("from_model", "meta.group_id")
    e = jwst.read_jwst_exposure(p, group_id="asn7")
    assert (e.group_id, e.meta["group_source"]) == ("asn7", "argument")


def test_group_id_format_as_jwst():
    obs = {"program_number": "01345", "observation_number": "001", "visit_number": "001",
           "visit_group": "02", "sequence_id": "2", "activity_id": "01", "exposure_number": "00003"}
    assert jwst.group_id_from_observation(obs) == "jw01345001001_02201_00003"
    with pytest.raises(KeyError, match="activity_id"):
        jwst.group_id_from_observation({**obs, "activity_id": None})


def test_missing_observation_attribute_groups_alone(cal, tmp_path, caplog):
    p = _copy_with(cal, tmp_path, exposure_number=None)
    with caplog.at_level(logging.WARNING, logger="tweakgui.engine.io.jwst"):
        e = jwst.read_jwst_exposure(p)
    assert e.group_id == f"{NAME}_{DET}" and e.meta["group_source"] == "file"
    assert "exposure_number" in caplog.text


def test_pixels_mask_dq_and_nan(cal):
    from stdatamodels.jwst import datamodels

    e = jwst.read_jwst_exposure(cal.path)
    data, mask = jwst.read_jwst_pixels(e, e.chips[0])
    with datamodels.open(cal.path) as m:
        dq = np.asarray(m.dq)
        raw = np.asarray(m.data)
    expect = ((dq & jwst.BAD_DQ) != 0) | ~np.isfinite(raw)
    assert np.array_equal(mask, expect)
    assert mask[:4].all() and mask[:, -4:].all()  # reference pixels
    assert np.isnan(raw).sum() > 0 and np.isfinite(data).all()
    assert data.dtype == np.float32 and np.all(data[mask] == 0)
    # the hot pixels (5e4) and the dead column (-1e4) are all masked
    assert mask[(raw == np.float32(5e4)) | (raw == np.float32(-1e4))].all()


def test_bad_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        jwst.read_jwst_exposure(tmp_path / "nope_cal.fits")
    bad = tmp_path / "bad_cal.fits"
    bad.write_bytes(b"SIMPLE  = junk")
    with pytest.raises(InputError, match="bad_cal.fits"):
        jwst.read_jwst_exposure(bad)


@pytest.mark.parametrize("rel, v2", [
    ("ceers-nircam/batch_scripts/tweakreg_wcs/jw01345001001_02201_00001_nrca1_tweakreg.asdf", 120.521931),
    ("stcal-tests/nrcb5-wcs.asdf", -89.387412),
])
def test_read_wcs_file(shared_data, rel, v2):
    wcs, wcsinfo = jwst.read_wcs_file(shared_data / rel)
    assert "v2v3corr" in wcs.available_frames
    assert wcsinfo["v2_ref"] == pytest.approx(v2, abs=1e-9)
    ra, dec = wcs(1023.5, 1023.5)
    assert np.isfinite(ra) and np.isfinite(dec)


def test_read_wcs_file_errors(tmp_path):
    import asdf

    (tmp_path / "x.asdf").write_text("hello")
    with pytest.raises(InputError, match="x.asdf"):
        jwst.read_wcs_file(tmp_path / "x.asdf")
    asdf.AsdfFile({"foo": 1}).write_to(tmp_path / "y.asdf")
    with pytest.raises(InputError, match="no GWCS"):
        jwst.read_wcs_file(tmp_path / "y.asdf")


def test_resampled_wcs_is_refused(shared_data, tmp_path):
    import asdf

    src = shared_data / "jwst-tweakreg-tests/mosaic_long_i2d_gwcs.asdf"
    with asdf.open(src) as af:
        tree = {"wcs": af["wcs"], "wcsinfo": {"v2_ref": 0.0, "v3_ref": 0.0, "roll_ref": 0.0}}
        asdf.AsdfFile(tree).write_to(tmp_path / "i2d_tweakreg.asdf")
    with pytest.raises(InputError, match="no v2v3 frame"):
        jwst.read_wcs_exposure(tmp_path / "i2d_tweakreg.asdf")


def test_is_gwcs_file(shared_data, cal, tmp_path):
    import asdf

    assert jwst.is_gwcs_file(shared_data / "stcal-tests/nrcb5-wcs.asdf")
    assert not jwst.is_gwcs_file(cal.path)
    assert not jwst.is_gwcs_file(shared_data / "ceers-nircam/image2_1.7.2.asdf")  # a pars file
    asdf.AsdfFile({"wcs": 3}).write_to(tmp_path / "w.asdf")
    assert not jwst.is_gwcs_file(tmp_path / "w.asdf")


def test_wcs_file_as_exposure(shared_data):
    p = cr.wcs_file(NAME, "nrcb2", shared_data / "ceers-nircam")
    e = jwst.read_wcs_exposure(p)
    assert e.kind == "jwst" and e.meta["has_pixels"] is False
    assert e.group_id == NAME and e.root == f"{NAME}_nrcb2"
    assert e.chips[0].shape == (2048, 2048)


@pytest.mark.parametrize("name, root", [
    ("jw01345001001_02201_00001_nrca1_cal.fits", "jw01345001001_02201_00001_nrca1"),
    ("jw01345001001_02201_00001_nrcalong_rate.fits", "jw01345001001_02201_00001_nrcalong"),
    ("jw01345-o001_t001_nircam_clear-f115w_i2d.fits", "jw01345-o001_t001_nircam_clear-f115w"),
    ("mosaic.fits", "mosaic"),
])
def test_root(name, root):
    assert jwst.jwst_root(name) == root
