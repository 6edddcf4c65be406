"""Updated FITS images: new primary WCS, old one archived exactly, inputs untouched."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _fits_images import (
    exposure_of,
    fit_result,
    image_result,
    make_image,
    max_sep_mas,
    sky_grid,
    tweaked,
)
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine.io.atomic import OutputError
from tweakgui.engine.model import ImageResult
from tweakgui.engine.outputs.fitsio import output_path
from tweakgui.engine.outputs.history import wcs_cards
from tweakgui.engine.outputs.images import write_catalogs, write_updated_fits

EXACT_MAS = 1e-6


def test_output_path(tmp_path):
    exp = make_image(tmp_path / "j94f05bgq_flt.fits", nchips=1)
    assert output_path(exp, tmp_path / "out") == tmp_path / "out" / "j94f05bgq_tweakreg.fits"
    exp.root = ""
    assert output_path(exp, None).name == "j94f05bgq_tweakreg.fits"


def test_copy_has_new_primary_and_exact_archive(tmp_path):
    src = tmp_path / "img1_flt.fits"
    exp = make_image(src, nchips=2)
    before = src.read_bytes()
    res = image_result(exp)
    res.fit.nmatch = 43  # 43 matched, 40 used (3 clipped): NMATCH is what the fit used
    out = write_updated_fits(res, tmp_path / "out")
    assert out == tmp_path / "out" / "img1_tweakreg.fits" and res.output == out
    assert src.read_bytes() == before  # input byte-for-byte unchanged
    with fits.open(out) as hdul, fits.open(src) as orig:
        for chip, new in zip(exp.chips, res.new_wcs):
            h, h0 = hdul[chip.hdu].header, orig[chip.hdu].header
            assert h["WCSNAME"] == "TWEAK" and h["WCSNAMEA"] == "IDC_test"
            grid = sky_grid(new, chip.shape)
            assert max_sep_mas(sky_grid(WCS(h, hdul), chip.shape), grid) < EXACT_MAS
            # the archived WCS is the old one, keyword for keyword and numerically
            assert wcs_cards(h, "A") == [c for c in wcs_cards(h0, "")]
            old = sky_grid(chip.wcs, chip.shape)
            assert max_sep_mas(sky_grid(WCS(h, hdul, key="A"), chip.shape), old) < EXACT_MAS
            # the correction is real: ~0.14" between old and new
            assert 100 < max_sep_mas(grid, old) < 300
            assert h["NMATCH"] == 40 and h["RMS_RA"] == pytest.approx(3.0, abs=1e-3)
            assert h["RMS_DEC"] == pytest.approx(4.0, abs=1e-3)
            np.testing.assert_array_equal(hdul[chip.hdu].data, orig[chip.hdu].data)
            # ERR extension untouched (its WCS is not the science WCS)
            assert hdul[chip.hdu + 1].header == orig[chip.hdu + 1].header
        p = hdul[0].header
        assert p["TWKSTAT"] == "SUCCESS" and p["TWKNMAT"] == 43 and p["TWKGEOM"] == "rscale"
        assert p["TWKRMS"] == pytest.approx(5.0, rel=1e-9) and p["TWKARCH"] == "A"
        assert p["TWKORIG"] == "A"
        history = "".join(p["HISTORY"])
        assert "primary WCS 'TWEAK'" in history and "alternate WCS A" in history


def test_output_is_deterministic(tmp_path):
    exp = make_image(tmp_path / "img_flt.fits", nchips=2)
    res = image_result(exp)
    a = write_updated_fits(res, tmp_path / "a").read_bytes()
    b = write_updated_fits(res, tmp_path / "b").read_bytes()
    assert a == b


def test_missing_wcsname_archived_as_original_and_pc_form_kept(tmp_path):
    exp = make_image(tmp_path / "pc_flt.fits", nchips=1, wcsname=None, pc_form=True)
    res = image_result(exp)
    out = write_updated_fits(res, tmp_path, wcsname="MYFIT")
    with fits.open(out) as hdul:
        h = hdul[1].header
        assert h["WCSNAMEA"] == "ORIGINAL" and h["WCSNAME"] == "MYFIT"
        assert "CD1_1" not in h and "PC1_1" in h and "PC1_1A" in h
        assert max_sep_mas(sky_grid(WCS(h, hdul), (64, 64)), sky_grid(res.new_wcs[0], (64, 64))) < EXACT_MAS
        assert max_sep_mas(sky_grid(WCS(h, hdul, key="A"), (64, 64)),
                           sky_grid(exp.chips[0].wcs, (64, 64))) < EXACT_MAS


def test_in_place_keeps_a_history(tmp_path):
    src = tmp_path / "hist_flt.fits"
    exp = make_image(src, nchips=2)
    primaries = []
    for k in range(3):
        e = exposure_of(src)
        with fits.open(src) as hdul:
            primaries.append([wcs_cards(hdul[c.hdu].header, "") for c in e.chips])
        out = write_updated_fits(image_result(e, dra_arcsec=0.1 * (k + 1)), tmp_path / "x",
                                 in_place=True)
        assert out == src
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    with fits.open(src) as hdul:
        for n, c in enumerate(exp.chips):
            h = hdul[c.hdu].header
            for key, prev in zip("ABC", primaries):
                assert wcs_cards(h, key) == prev[n]
            assert "WCSNAMED" not in h
        assert hdul[0].header["TWKORIG"] == "A" and hdul[0].header["TWKARCH"] == "C"
        assert "".join(hdul[0].header["HISTORY"]).count("tweakgui") == 3


def test_failed_image(tmp_path):
    src = tmp_path / "bad_flt.fits"
    exp = make_image(src, nchips=1)
    before = src.read_bytes()
    res = ImageResult(exposure=exp, status="FAILED", reason="no sources found")
    assert write_updated_fits(res, tmp_path, in_place=True) == src
    assert src.read_bytes() == before
    out = write_updated_fits(res, tmp_path / "o")
    with fits.open(out) as hdul, fits.open(src) as orig:
        assert wcs_cards(hdul[1].header, "") == wcs_cards(orig[1].header, "")
        assert "WCSNAMEA" not in hdul[1].header
        assert hdul[0].header["TWKSTAT"] == "FAILED"
        assert hdul[0].header["TWKREASN"] == "no sources found"


def test_refuses_to_overwrite_input(tmp_path):
    exp = make_image(tmp_path / "img_tweakreg.fits", nchips=1)
    exp.root = "img"
    with pytest.raises(OutputError, match="overwrite the input"):
        write_updated_fits(image_result(exp), tmp_path)


def test_sip_change_is_refused(tmp_path):
    exp = make_image(tmp_path / "sip_flt.fits", nchips=1)
    res = image_result(exp)
    res.new_wcs[0].sip.a[2, 0] *= 1.01
    with pytest.raises(ValueError, match="SIP"):
        write_updated_fits(res, tmp_path / "o")
    assert not (tmp_path / "o" / "sip_tweakreg.fits").exists()


@pytest.mark.realdata
def test_real_hst_flc_with_lookup_tables_and_headerlets(shared_data, tmp_path):
    """A MAST WFC3/UVIS FLC: alternates A, B, O in use, NPOL/D2IM lookups, HDRLETs."""
    src = tmp_path / "ib4606c5q_flc.fits"
    shutil.copy(shared_data / "drizzlepac/hap_samples/sample_ipppssoot_flc.fits", src)
    exp = exposure_of(src)
    assert len(exp.chips) == 2 and exp.chips[0].wcs.cpdis1 is not None
    res = image_result(exp, fit=fit_result(nmatch=12))
    out = write_updated_fits(res, tmp_path / "out")
    with fits.open(out) as hdul, fits.open(src) as orig:
        assert len(hdul) == len(orig) + 1  # the previous WCS also kept as a headerlet
        hlet = hdul[-1]
        assert hlet.header["XTENSION"] == "HDRLET" and hlet.header["EXTVER"] == 9
        assert hlet.header["HDRNAME"] == "ib4606c5q_IDC_2731450pi-FIT_REL_GAIAeDR3-C"
        for c, new in zip(exp.chips, res.new_wcs):
            h = hdul[c.hdu].header
            assert h["WCSNAMEC"] == "IDC_2731450pi-FIT_REL_GAIAeDR3"  # next free letter
            assert h["WCSNAMEA"] == "IDC_2731450pi" and h["WCSNAMEO"] == "OPUS"
            shape = c.shape
            assert max_sep_mas(sky_grid(WCS(h, hdul), shape), sky_grid(new, shape)) < EXACT_MAS
            assert max_sep_mas(sky_grid(WCS(h, hdul, key="C"), shape),
                               sky_grid(c.wcs, shape)) < EXACT_MAS
            assert "HDRNAMEC" in h and "HDRNAME" not in h  # stale fit keywords archived
        for a, b in zip(hdul, orig):
            if a.header.get("EXTNAME") in ("HDRLET", "WCSDVARR", "D2IMARR", "WCSCORR"):
                assert a.header == b.header
                assert bytes(np.asarray(a.data).tobytes()) == bytes(np.asarray(b.data).tobytes())


@pytest.mark.realdata
def test_real_acs_flt_rms_from_fit(shared_data, tmp_path):
    src = tmp_path / "j94f05bgq_flt.fits"
    shutil.copy(shared_data / "astropy-wcs-tests/j94f05bgq_flt.fits", src)
    exp = exposure_of(src)
    res = image_result(exp, dra_arcsec=-0.3, ddec_arcsec=0.2, rot_deg=-0.02)
    out = write_updated_fits(res, tmp_path / "out")
    with fits.open(out) as hdul:
        for c, new in zip(exp.chips, res.new_wcs):
            h = hdul[c.hdu].header
            assert h["WCSNAMEA"] == "IDC_qbu1641sj" and h["WCSNAME"] == "TWEAK"
            big = (2048, 4096)  # the real chip size (the stored data is 1x1)
            assert max_sep_mas(sky_grid(WCS(h, hdul), big), sky_grid(new, big)) < EXACT_MAS
            assert max_sep_mas(sky_grid(WCS(h, hdul, key="A"), big), sky_grid(c.wcs, big)) < EXACT_MAS


def test_write_catalogs(tmp_path):
    exp = make_image(tmp_path / "cat_flt.fits", nchips=2)
    res = image_result(exp)
    res.catalogs = [Table({"x": [1.0, 2.5], "y": [3.0, 4.25]}), Table({"x": [7.0], "y": [8.0]})]
    paths = write_catalogs(res, tmp_path / "c", "ecsv")
    assert [p.name for p in paths] == ["cat_sci1_cat.ecsv", "cat_sci2_cat.ecsv"]
    assert list(Table.read(paths[0])["y"]) == [3.0, 4.25]
    one = make_image(tmp_path / "one_flt.fits", nchips=1)
    r1 = image_result(one)
    r1.catalogs = [Table({"x": [1.0], "y": [2.0]})]
    (p,) = write_catalogs(r1, tmp_path / "c", "fits")
    assert p.name == "one_cat.fits" and Table.read(p)["x"][0] == 1.0
    with pytest.raises(OutputError, match="format"):
        write_catalogs(r1, tmp_path / "c", "nonsense-format")


def test_tweaked_helper_moves_by_the_requested_amount():
    from _fits_images import chip_header

    w = WCS(chip_header())
    t = tweaked(w, dra_arcsec=0.1, ddec_arcsec=0.0, rot_deg=0.0, scale=1.0)
    d = max_sep_mas(sky_grid(w, (64, 64)), sky_grid(t, (64, 64)))
    assert d == pytest.approx(100.0, abs=0.5)


def test_in_place_follows_links_and_keeps_compression(tmp_path):
    real = tmp_path / "data" / "lnk_flt.fits.gz"
    real.parent.mkdir()
    exp = make_image(tmp_path / "tmp_flt.fits", nchips=1)
    with fits.open(exp.path) as h:
        h.writeto(real)
    link = tmp_path / "lnk_flt.fits.gz"
    link.symlink_to(real)
    e = exposure_of(link)
    res = image_result(e)
    assert write_updated_fits(res, in_place=True) == real
    assert link.is_symlink() and real.read_bytes()[:2] == b"\x1f\x8b"  # still gzip
    with fits.open(link) as hdul:
        assert hdul[1].header["WCSNAME"] == "TWEAK" and hdul[1].header["WCSNAMEA"] == "IDC_test"


def _index_match(x, y, tp_pscale, tp_units, **kwargs):
    # the catalogs of the known answer are index-matched to the reference
    if len(x) == len(y):
        return np.arange(len(x)), np.arange(len(y))
    if len(x) < len(y):
        x, y = y, x
    n = len(y)
    return np.arange(n) + (0 if y.meta["name"] == "ext1" else n), np.arange(n)


@pytest.mark.realdata
def test_tweakwcs_known_answer_written_and_archived(shared_data, tmp_path):
    """WFC3/UVIS two-chip group fit with a published answer: written exactly, old WCS archived."""
    import warnings

    import tweakwcs

    d = shared_data / "jwst-tweakreg-tests"
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["ROOTNAME"] = "ie6d07ujq"
    for k in (1, 2):
        h = fits.Header.fromfile(d / f"wfc3_uvis{k}.hdr")
        for key in ("XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT",
                    "EXTNAME", "EXTVER"):
            h.remove(key, ignore_missing=True)
        hdus.append(fits.ImageHDU(np.zeros((8, 8), np.float32), h, name="SCI", ver=k))
    src = tmp_path / "ie6d07ujq_flt.fits"
    fits.HDUList(hdus).writeto(src)
    exp = exposure_of(src)
    cors = []
    for chip, name in zip(exp.chips, ("ext1", "ext4")):
        c = tweakwcs.FITSWCSCorrector(chip.wcs)
        cat = Table.read(d / f"wfc3_uvis{name == 'ext4' and 2 or 1}.ecsv")
        cat.meta["name"] = name
        c.meta.update(catalog=cat, group_id=1, name=name)
        cors.append(c)
    ref = Table.read(d / "ref.ecsv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tweakwcs.align_wcs(cors, ref, match=_index_match, nclip=None, sigma=3, fitgeom="general")
    res = ImageResult(exposure=exp, status="SUCCESS", fits=[fit_result()],
                      new_wcs=[c.wcs for c in cors])
    out = write_updated_fits(res, tmp_path / "out")
    truth = [((83.206917667519, -67.73275818507248),
              [[3.93222694902149e-06, -1.0106698270131359e-05],
               [-1.0377001075437075e-05, -4.577945148472431e-06]]),
             ((83.15167050722597, -67.74220306069903),
              [[3.834449806681195e-06, -9.996495217498745e-06],
               [-1.0348147451241423e-05, -4.503496019301529e-06]])]
    with fits.open(out) as hdul:
        for chip, (crval, cd), cor in zip(exp.chips, truth, cors):
            h = hdul[chip.hdu].header
            w = WCS(h, hdul)
            np.testing.assert_allclose(w.wcs.crval, crval, rtol=0, atol=1e-8)
            np.testing.assert_allclose(w.wcs.cd, cd, rtol=1e-8, atol=0)
            big = (2051, 4096)
            assert max_sep_mas(sky_grid(w, big), sky_grid(cor.wcs, big)) < EXACT_MAS
            assert h["WCSNAMEA"] == "IDC_2731450pi"
            assert max_sep_mas(sky_grid(WCS(h, hdul, key="A"), big), sky_grid(chip.wcs, big)) < EXACT_MAS
