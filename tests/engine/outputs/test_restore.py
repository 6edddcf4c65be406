"""WCS history and restore: the original WCS comes back exactly, nothing is lost."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from _fits_images import exposure_of, image_result, make_image, max_sep_mas, sky_grid
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.engine.model import InputError
from tweakgui.engine.outputs.history import wcs_cards, wcs_history
from tweakgui.engine.outputs.images import write_updated_fits
from tweakgui.engine.outputs.restore import restore, restore_main


def _primaries(path):
    with fits.open(path) as hdul:
        e = exposure_of(path)
        return [wcs_cards(hdul[c.hdu].header, "") for c in e.chips]


def _tweak_twice(src):
    states = [_primaries(src)]
    for k in range(2):
        write_updated_fits(image_result(exposure_of(src), dra_arcsec=0.2 * (k + 1), rot_deg=0.01 * k),
                           in_place=True)
        states.append(_primaries(src))
    return states


def test_restore_after_two_in_place_runs(tmp_path):
    src = tmp_path / "r_flt.fits"
    exp = make_image(src, nchips=2)
    with fits.open(src) as hdul:
        data0 = [hdul[c.hdu].data.copy() for c in exp.chips]
    orig, t1, t2 = _tweak_twice(src)
    assert [h["key"] for h in wcs_history(src)] == [" ", "A", "B"]
    assert orig != t1 != t2
    assert restore(src) == "A"
    assert _primaries(src) == orig  # every WCS keyword, value, comment and order
    hist = wcs_history(src)
    assert [(h["key"], h["name"]) for h in hist] == [(" ", "IDC_test"), ("A", "IDC_test"),
                                                      ("B", "TWEAK"), ("C", "TWEAK")]
    assert [h["original"] for h in hist] == [False, True, False, False]
    with fits.open(src) as hdul:
        for c, d0 in zip(exp.chips, data0):
            h = hdul[c.hdu].header
            assert [x for x in wcs_cards(h, "C")] == t2[c.hdu // 2]  # current one kept
            np.testing.assert_array_equal(hdul[c.hdu].data, d0)
            assert max_sep_mas(sky_grid(WCS(h, hdul), c.shape), sky_grid(c.wcs, c.shape)) == 0.0
        assert "restored WCS A" in "".join(hdul[0].header["HISTORY"])
    # restoring again changes nothing and uses no new letter
    restore(src)
    assert [h["key"] for h in wcs_history(src)] == [" ", "A", "B", "C"]
    assert _primaries(src) == orig
    # a chosen one: the result of the first run
    assert restore(src, key="b") == "B"
    assert _primaries(src) == t1
    assert restore(src, name="IDC_test") == "A" and _primaries(src) == orig


def test_restore_errors(tmp_path):
    src = tmp_path / "plain_flt.fits"
    make_image(src, nchips=1)
    before = src.read_bytes()
    with pytest.raises(InputError, match="no WCS archived by tweakgui"):
        restore(src)
    with pytest.raises(InputError, match="no archived WCS with key 'Q'"):
        restore(src, key="Q")
    with pytest.raises(InputError, match="not found"):
        restore(tmp_path / "missing.fits")
    (tmp_path / "text.fits").write_text("not fits at all")
    with pytest.raises(InputError, match="not a readable FITS"):
        restore(tmp_path / "text.fits")
    assert src.read_bytes() == before


def test_restore_main(tmp_path):
    a, b = tmp_path / "a_flt.fits", tmp_path / "b_flt.fits"
    make_image(a, nchips=1)
    make_image(b, nchips=1)
    orig_a = _primaries(a)
    write_updated_fits(image_result(exposure_of(a)), in_place=True)
    bytes_a = a.read_bytes()
    out = io.StringIO()
    # b was never tweaked: nothing at all is changed, exit 2
    assert restore_main([str(a), str(b)], stream=out) == 2
    assert "b_flt.fits: no WCS archived by tweakgui" in out.getvalue()
    assert a.read_bytes() == bytes_a
    assert restore_main([str(tmp_path / "nope.fits")], stream=io.StringIO()) == 2
    out = io.StringIO()
    assert restore_main([str(a)], stream=out) == 0
    assert out.getvalue().strip() == f"{a}: restored WCS A"
    assert _primaries(a) == orig_a


@pytest.mark.realdata
def test_restore_real_flc_exactly(shared_data, tmp_path):
    """A MAST FLC with alternates A, B, O, lookup tables and HDRLETs: back to its original."""
    src = tmp_path / "ib4606c5q_flc.fits"
    shutil.copy(shared_data / "drizzlepac/hap_samples/sample_ipppssoot_flc.fits", src)
    with fits.open(src) as hdul:
        sci0 = {i: hdul[i].header.copy() for i in (1, 4)}
    orig, _, _ = _tweak_twice(src)
    assert [h["key"] for h in wcs_history(src)] == [" ", "A", "B", "C", "D", "O"]
    assert restore(src) == "C"
    # every WCS keyword with its value and comment (HST fit keywords such as HDRNAME and
    # CRDER removed from the tweaked primary come back, at the end of the WCS block)
    assert [dict((k, (v, c)) for k, v, c in chip) for chip in _primaries(src)] == [
        dict((k, (v, c)) for k, v, c in chip) for chip in orig]
    with fits.open(src) as hdul:
        for i, h0 in sci0.items():
            h = hdul[i].header
            added = [c for c in h.cards if c.keyword not in h0]
            assert {c.keyword[-1] for c in added} == {"C", "D", "E"}
            assert sorted(map(str, (c for c in h.cards if c.keyword in h0))) == sorted(map(str, h0.cards))
            big = (2051, 4096)
            assert max_sep_mas(sky_grid(WCS(h, hdul), big), sky_grid(WCS(h0, hdul), big)) == 0.0


def test_apply_headerlet_file_and_embedded(tmp_path):
    """A saved solution is applied again exactly; the WCS it replaces is archived."""
    from tweakgui.engine.outputs.headerlet import write_headerlet
    from tweakgui.engine.outputs.restore import apply_headerlet

    src = tmp_path / "h_flt.fits"
    exp = make_image(src, nchips=2)
    res = image_result(exp, dra_arcsec=0.25, rot_deg=0.015)
    hpath = write_headerlet(res, tmp_path / "h_hlet.fits", wcsname="SAVED")
    orig = _primaries(src)
    assert apply_headerlet(src, hpath) == "SAVED"
    with fits.open(src) as hdul:
        for c, new in zip(exp.chips, res.new_wcs):
            h = hdul[c.hdu].header
            assert h["WCSNAME"] == "SAVED" and h["WCSNAMEA"] == "IDC_test"
            assert max_sep_mas(sky_grid(WCS(h, hdul), (2051, 4096)), sky_grid(new, (2051, 4096))) < 1e-6
    # the original is embedded as a headerlet too: apply it by name
    assert apply_headerlet(src, "h_IDC_test-A") == "IDC_test"
    assert [dict((k, v) for k, v, _ in chip) for chip in _primaries(src)] == [
        dict((k, v) for k, v, _ in chip) for chip in orig]
    with pytest.raises(InputError, match="no headerlet file or embedded headerlet named 'zzz'"):
        apply_headerlet(src, "zzz")
    other = tmp_path / "o_flt.fits"
    make_image(other, nchips=1)
    res1 = image_result(exposure_of(other))
    res1.new_wcs[0].sip.b[1, 1] *= 2
    bad = tmp_path / "bad_hlet.fits"
    write_headerlet(res1, bad)
    before = other.read_bytes()
    with pytest.raises(InputError, match="another distortion model"):
        apply_headerlet(other, bad)
    assert other.read_bytes() == before


def test_restore_main_options(tmp_path):
    a = tmp_path / "a_flt.fits"
    make_image(a, nchips=1)
    write_updated_fits(image_result(exposure_of(a)), in_place=True)
    write_updated_fits(image_result(exposure_of(a), dra_arcsec=0.3), in_place=True)
    out = io.StringIO()
    assert restore_main([str(a), "--list"], stream=out) == 0
    assert out.getvalue().splitlines() == [f"{a}: - TWEAK primary", f"{a}: A IDC_test original",
                                           f"{a}: B TWEAK"]
    out = io.StringIO()
    assert restore_main([str(a), "--bogus"], stream=out) == 2
    assert out.getvalue().count("\n") == 1 and "--bogus" in out.getvalue()
    assert restore_main([str(a), "--key", "Z"], stream=io.StringIO()) == 2
    out = io.StringIO()
    assert restore_main([str(a), "--key", "B"], stream=out) == 0
    assert out.getvalue().strip() == f"{a}: restored WCS B"
    with fits.open(a) as hdul:
        assert hdul[1].header["WCSNAME"] == "TWEAK" and hdul[1].header["WCSNAMEC"] == "TWEAK"
