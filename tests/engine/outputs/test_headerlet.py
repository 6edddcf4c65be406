"""Headerlets in stwcs' layout: layout, numbers, and stwcs' own reader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from _fits_images import (
    exposure_of,
    fit_result,
    image_result,
    make_image,
    max_sep_mas,
    sky_grid,
)
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui.engine.model import InputError
from tweakgui.engine.outputs.headerlet import (
    headerlet_path,
    read_headerlet,
    write_headerlet,
)

EXACT_MAS = 1e-6


def test_layout(tmp_path):
    exp = make_image(tmp_path / "ab12cd34q_flt.fits", nchips=2)
    res = image_result(exp, fit=fit_result(nmatch=33, rms_mas=(2.0, 5.0)))
    path = write_headerlet(res, headerlet_path(exp, tmp_path / "o"), hdrname="ab12cd34q_TWEAK",
                           catalog="GAIADR3")
    assert path.name == "ab12cd34q_hlet.fits"
    with fits.open(path) as h:
        assert [(x.name, x.ver) for x in h] == [("PRIMARY", 1), ("SIPWCS", 1), ("SIPWCS", 2)]
        p = h[0].header
        for key in ("HDRNAME", "DESTIM", "WCSNAME", "AUTHOR", "DESCRIP", "CATALOG", "NMATCH",
                    "RMS_RA", "RMS_DEC", "SIPNAME", "DISTNAME", "NPOLFILE", "D2IMFILE", "IDCTAB",
                    "UPWCSVER", "PYWCSVER", "DATE"):
            assert key in p, key
        assert p["HDRNAME"] == "ab12cd34q_TWEAK" and p["DESTIM"] == "ab12cd34q"
        assert p["WCSNAME"] == "TWEAK" and p["AUTHOR"] == "tweakgui" and p["CATALOG"] == "GAIADR3"
        assert p["NMATCH"] == 33
        assert p["RMS_RA"] == pytest.approx(2.0, abs=1e-6) and p["RMS_DEC"] == pytest.approx(5.0, abs=1e-6)
        assert p["SIPNAME"] == "UNKNOWN" and p["DISTNAME"] == "UNKNOWN-NOMODEL-NOMODEL"
        assert h[0].data is None
        for ver in (1, 2):
            s = h["SIPWCS", ver].header
            assert s["TG_ENAME"] == "SCI" and s["TG_EVER"] == ver and s["WCSNAME"] == "TWEAK"
            assert s["CTYPE1"] == "RA---TAN-SIP" and s["A_ORDER"] == 3 and "CD1_1" in s
            assert "PC1_1" not in s and s["NPIX1"] == 64 and h["SIPWCS", ver].data is None


def test_numbers_reproduce_new_wcs(tmp_path):
    """The SIPWCS WCS gives the same sky positions as new_wcs to < 1e-6 mas on a grid."""
    exp = make_image(tmp_path / "num_flt.fits", nchips=2, shape=(40, 60))
    res = image_result(exp, dra_arcsec=0.33333333333, ddec_arcsec=-0.123456789, rot_deg=0.0171)
    path = write_headerlet(res, tmp_path / "h.fits")
    hl = read_headerlet(path)
    assert hl.hdrname == "num_TWEAK" and hl.wcsname == "TWEAK" and hl.destim == "num"
    for chip, new in zip(exp.chips, res.new_wcs):
        w = hl.wcs[("SCI", int(chip.name.split(",")[1]))]
        big = (2051, 4096)
        assert max_sep_mas(sky_grid(w, big, 11), sky_grid(new, big, 11)) < EXACT_MAS
        np.testing.assert_array_equal(w.wcs.crval, new.wcs.crval)
        np.testing.assert_array_equal(w.sip.a, new.sip.a)


@pytest.mark.realdata
def test_real_flc_with_lookup_tables(shared_data, tmp_path):
    src = tmp_path / "ib4606c5q_flc.fits"
    shutil.copy(shared_data / "drizzlepac/hap_samples/sample_ipppssoot_flc.fits", src)
    exp = exposure_of(src)
    res = image_result(exp)
    path = write_headerlet(res, tmp_path / "ib4606c5q_hlet.fits")
    with fits.open(path) as h:
        names = [(x.name, x.ver) for x in h]
        assert names == [("PRIMARY", 1), ("SIPWCS", 1), ("WCSDVARR", 1), ("WCSDVARR", 2),
                         ("D2IMARR", 1), ("D2IMARR", 2), ("SIPWCS", 2), ("WCSDVARR", 3),
                         ("WCSDVARR", 4), ("D2IMARR", 3), ("D2IMARR", 4)] or sorted(names) == sorted(
            [("PRIMARY", 1), ("SIPWCS", 1), ("SIPWCS", 2)] + [(n, v) for n in ("WCSDVARR", "D2IMARR")
                                                              for v in (1, 2, 3, 4)])
        p = h[0].header
        assert p["DESTIM"] == "ib4606c5q" and p["SIPNAME"] == "ib4606c5q_2731450pi"
        assert p["DISTNAME"] == "ib4606c5q_2731450pi-y7b1516qi-y7b1516hi"
        assert h["SIPWCS", 2].header["DP1.EXTVER"] in (3.0, 4.0)
    hl = read_headerlet(path)
    for chip, new in zip(exp.chips, res.new_wcs):
        w = hl.wcs[("SCI", int(chip.name.split(",")[1]))]
        assert w.cpdis1 is not None and w.det2im1 is not None
        big = (2051, 4096)  # the real chip; lookups are evaluated across it
        assert max_sep_mas(sky_grid(w, big, 9), sky_grid(new, big, 9)) < EXACT_MAS


def test_read_headerlet_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_headerlet(tmp_path / "nope.fits")
    fits.PrimaryHDU().writeto(tmp_path / "plain.fits")
    with pytest.raises(InputError, match="not a headerlet"):
        read_headerlet(tmp_path / "plain.fits")


@pytest.mark.realdata
def test_reads_a_real_stwcs_headerlet(shared_data):
    hl = read_headerlet(shared_data / "stwcs-tests/ia1d23dmq_flt_hlet.fits")
    assert hl.hdrname == "OPUS" and hl.wcsname == "IDC_w3m18525i"
    w = hl.wcs[("SCI", 1)]
    np.testing.assert_allclose(w.wcs.crval, [53.028125, -27.78527777778])
    assert w.sip is not None and w.sip.a_order == 4


STWCS_SCRIPT = textwrap.dedent("""
    import json, sys, warnings

    warnings.simplefilter("ignore")
    import numpy as np
    from stwcs.wcsutil import headerlet, HSTWCS

    path, img, out = sys.argv[1:4]
    h = headerlet.Headerlet.fromfile(path)
    h.hverify()
    res = {"hdrname": h.hdrname, "wcsname": h.wcsname, "destim": h.destim,
           "distname": h.distname, "author": h.author, "chips": {}}
    for ver in (1, 2):
        w = HSTWCS(h, ("SIPWCS", ver))
        x, y = np.meshgrid(np.linspace(0, 4095, 9), np.linspace(0, 2050, 9))
        res["chips"][ver] = np.column_stack(w.all_pix2world(x.ravel(), y.ravel(), 0)).tolist()
    # apply it to the image as its primary WCS, as stwcs users do
    headerlet.apply_headerlet_as_primary(img, path, attach=True, archive=True)
    json.dump(res, open(out, "w"))
""")


def test_stwcs_reads_and_applies_our_headerlet(tmp_path, peer_python):
    python = peer_python("stwcs")
    exp = make_image(tmp_path / "ab12cd34q_flt.fits", nchips=2)
    res = image_result(exp)
    path = write_headerlet(res, tmp_path / "ab12cd34q_hlet.fits", hdrname="ab12cd34q_TWEAK")
    script = tmp_path / "check.py"
    script.write_text(STWCS_SCRIPT)
    img = tmp_path / "target_flt.fits"
    shutil.copy(exp.path, img)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(python), str(script), str(path), str(img), str(tmp_path / "o.json")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "o.json").read_text())
    assert got["hdrname"] == "ab12cd34q_TWEAK" and got["wcsname"] == "TWEAK"
    assert got["destim"] == "ab12cd34q" and got["author"] == "tweakgui"
    x, y = np.meshgrid(np.linspace(0, 4095, 9), np.linspace(0, 2050, 9))
    for chip, new in zip(exp.chips, res.new_wcs):
        ver = chip.name.split(",")[1]
        mine = np.column_stack(new.all_pix2world(x.ravel(), y.ravel(), 0))
        assert max_sep_mas(np.array(got["chips"][ver]), mine) < EXACT_MAS
    with fits.open(img) as hdul:  # stwcs applied it: the image's primary WCS is now ours
        for chip, new in zip(exp.chips, res.new_wcs):
            w = WCS(hdul[chip.hdu].header, hdul)
            mine = np.column_stack(new.all_pix2world(x.ravel(), y.ravel(), 0))
            assert max_sep_mas(np.column_stack(w.all_pix2world(x.ravel(), y.ravel(), 0)), mine) < 1e-3


def test_in_place_archive_is_also_an_embedded_headerlet(tmp_path):
    """write_updated_fits keeps the replaced WCS as an stwcs HDRLET extension too."""
    from tweakgui.engine.outputs.headerlet import attached_headerlets
    from tweakgui.engine.outputs.images import write_updated_fits

    src = tmp_path / "emb_flt.fits"
    exp = make_image(src, nchips=2)
    write_updated_fits(image_result(exp), in_place=True)
    write_updated_fits(image_result(exposure_of(src), dra_arcsec=0.5), in_place=True)
    with fits.open(src) as hdul:
        hlets = attached_headerlets(hdul)
        assert [h[0].header["HDRNAME"] for h in hlets] == ["emb_IDC_test-A", "emb_TWEAK-B"]
        assert [x.header["EXTVER"] for x in hdul if x.header.get("XTENSION") == "HDRLET"] == [1, 2]
        first = hlets[0]
        assert first[0].header["WCSNAME"] == "IDC_test"
        for chip in exp.chips:
            w = WCS(first["SIPWCS", int(chip.name.split(",")[1])].header, first)
            big = (2051, 4096)
            assert max_sep_mas(sky_grid(w, big), sky_grid(chip.wcs, big)) < EXACT_MAS


RESTORE_SCRIPT = textwrap.dedent("""
    import sys, warnings

    warnings.simplefilter("ignore")
    from stwcs.wcsutil import headerlet

    img, hdrname = sys.argv[1:3]
    print(headerlet.get_headerlet_kw_names(img, kw="HDRNAME"))
    headerlet.restore_from_headerlet(img, hdrname=hdrname, archive=False, force=True)
""")


@pytest.mark.realdata
def test_stwcs_restores_from_our_embedded_headerlet(shared_data, tmp_path, peer_python):
    """stwcs' restore_from_headerlet brings back the pre-tweak WCS of a real FLC."""
    from tweakgui.engine.outputs.images import write_updated_fits

    src = tmp_path / "ib4606c5q_flc.fits"
    shutil.copy(shared_data / "drizzlepac/hap_samples/sample_ipppssoot_flc.fits", src)
    exp = exposure_of(src)
    write_updated_fits(image_result(exp, dra_arcsec=0.4), in_place=True)
    script = tmp_path / "restore.py"
    script.write_text(RESTORE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    name = "ib4606c5q_IDC_2731450pi-FIT_REL_GAIAeDR3-C"
    proc = subprocess.run([str(peer_python("stwcs")), str(script), str(src), name], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert name in proc.stdout
    big = (2051, 4096)
    with fits.open(src) as hdul:
        for chip in exp.chips:
            w = WCS(hdul[chip.hdu].header, hdul)
            assert max_sep_mas(sky_grid(w, big), sky_grid(chip.wcs, big)) < 1e-3


# ------------------------------------------------------------- CD form and NMATCH


def test_nmatch_counts_the_sources_used(tmp_path):
    """NMATCH is what the fit used (after clipping / exclusions), not what was matched."""
    from tweakgui.engine.outputs.headerlet import sources_used

    exp = make_image(tmp_path / "nm12cd34q_flt.fits", nchips=1)
    fit = fit_result(nmatch=40)
    fit.matches["used"][:7] = False  # 7 clipped
    assert sources_used(fit) == 33  # FitResult without nused: its used matches
    fit.nused = 31  # the fit's own count wins
    path = write_headerlet(image_result(exp, fit=fit), tmp_path / "h.fits")
    with fits.open(path) as h:
        assert h[0].header["NMATCH"] == 31
    assert sources_used(None) == 0


def _pc_cdelt_image(path, cdelt1_sign=-1.0):
    """An image whose WCS is PC + CDELT with CDELT1 = -CDELT2 (the usual FITS form, not astropy's
    CDELT = 1): the same WCS as make_image's CD form."""
    exp = make_image(path, nchips=2, pc_form=True)
    with fits.open(path, mode="update") as hdul:
        for h in hdul[1:]:
            hd = h.header
            hd["CDELT1"] = cdelt1_sign * hd["CDELT1"]
            hd["PC1_1"], hd["PC1_2"] = cdelt1_sign * hd["PC1_1"], cdelt1_sign * hd["PC1_2"]
    return exposure_of(exp.path)


def test_headerlet_of_a_pc_cdelt_image_is_in_cd_form(tmp_path):
    exp = _pc_cdelt_image(tmp_path / "pc12cd34q_flt.fits")
    assert exp.chips[0].wcs.wcs.cdelt[0] < 0 and not exp.chips[0].wcs.wcs.has_cd()
    res = image_result(exp, dra_arcsec=0.3, ddec_arcsec=-0.2, rot_deg=0.02, scale=1.00005)
    path = write_headerlet(res, tmp_path / "h.fits")
    with fits.open(path) as h:
        for chip, new in zip(exp.chips, res.new_wcs):
            s = h["SIPWCS", int(chip.name.split(",")[1])].header
            assert not any(k in s for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"))
            cd = np.array([[s["CD1_1"], s["CD1_2"]], [s["CD2_1"], s["CD2_2"]]])
            # a FITS card holds 14 significant digits of a value this small: 1e-12" over a chip
            np.testing.assert_allclose(cd, np.diag(new.wcs.cdelt) @ new.wcs.get_pc(), rtol=1e-13, atol=0)
            big = (2051, 4096)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)  # a SIPWCS HDU has no data
                w = WCS(s, h)
            assert max_sep_mas(sky_grid(w, big), sky_grid(new, big)) < EXACT_MAS


APPLY_SCRIPT = textwrap.dedent("""
    import json, sys, warnings

    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.CRITICAL)
    import numpy as np
    from stwcs.wcsutil import headerlet, HSTWCS

    hlet, target, out, nx, ny = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    h = headerlet.Headerlet.fromfile(hlet)
    x, y = np.meshgrid(np.linspace(0, nx - 1, 9), np.linspace(0, ny - 1, 9))
    read = {}
    for i in range(1, len([e for e in h if e.name == "SIPWCS"]) + 1):
        w = HSTWCS(h, ("SIPWCS", i))
        read[h[("SIPWCS", i)].header["TG_EVER"]] = np.column_stack(
            w.all_pix2world(x.ravel(), y.ravel(), 0)).tolist()
    headerlet.apply_headerlet_as_primary(target, hlet, attach=True, archive=True)
    json.dump({"read": read}, open(out, "w"))
""")


def _apply_with_stwcs(python, hlet, target, shape, tmp_path):
    script = tmp_path / "apply.py"
    script.write_text(APPLY_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = tmp_path / "applied.json"
    proc = subprocess.run([str(python), str(script), str(hlet), str(target), str(out), str(shape[1]),
                           str(shape[0])], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _grid(shape, n=9):
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(0, nx - 1, n), np.linspace(0, ny - 1, n))
    return x.ravel(), y.ravel()


def test_stwcs_applies_our_headerlet_to_a_pc_cdelt_file(tmp_path, peer_python):
    """PC + CDELT target: stwcs reads our CD-form WCS exactly and writes it into the target.

    stwcs' HSTWCS reads only CDi_j (it turns PCi_j into CD with CDELT2 alone, which mirrors a
    CDELT1 = -CDELT2 header): a CD-form headerlet is read exactly.  apply_headerlet_as_primary
    then writes our CRVAL and CDi_j into the target but deletes only its CDELTi, not its PCi_j,
    which wcslib prefers to CDi_j: no headerlet content can change that (stwcs 1.7).  So the
    check is on what stwcs wrote: the target's WCS without its stale PCi_j is ours (<= 0.1 mas).
    """
    python = peer_python("stwcs")
    exp = _pc_cdelt_image(tmp_path / "pc12cd34q_flt.fits")
    res = image_result(exp, dra_arcsec=0.3, ddec_arcsec=-0.2, rot_deg=0.02, scale=1.00005)
    hlet = write_headerlet(res, tmp_path / "pc12cd34q_hlet.fits", hdrname="pc12cd34q_TWEAK")
    target = tmp_path / "target_flt.fits"
    shutil.copy(exp.path, target)
    shape = (2051, 4096)
    x, y = _grid(shape)
    got = _apply_with_stwcs(python, hlet, target, shape, tmp_path)
    with fits.open(target) as hdul:
        for chip, new in zip(exp.chips, res.new_wcs):
            ver = int(chip.name.split(",")[1])
            mine = np.column_stack(new.all_pix2world(x, y, 0))
            assert max_sep_mas(np.array(got["read"][str(ver)]), mine) < EXACT_MAS
            header = hdul[chip.hdu].header.copy()
            assert "CDELT1" not in header and "CD1_1" in header
            for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2"):
                header.remove(k, ignore_missing=True)
            written = WCS(header, hdul)
            assert max_sep_mas(np.column_stack(written.all_pix2world(x, y, 0)), mine) < 0.1


@pytest.mark.realdata
@pytest.mark.parametrize("name,shape", [("hst-acs-hrc-47tuc/derived/j8bt06nyq_flt.fits", (1024, 1024)),
                                        ("astropy-wcs-tests/j94f05bgq_flt.fits", (2048, 4096))])
def test_stwcs_applies_our_headerlet_to_a_real_cd_form_file(name, shape, shared_data, tmp_path, peer_python):
    """Real ACS/HRC and ACS/WFC (2 chips) files, CD form: the target's WCS becomes ours exactly."""
    python = peer_python("stwcs")
    src = tmp_path / Path(name).name
    shutil.copy(shared_data / name, src)
    src.chmod(0o644)
    exp = exposure_of(src)
    assert all(c.wcs.wcs.has_cd() for c in exp.chips)
    res = image_result(exp, dra_arcsec=0.41, ddec_arcsec=-0.27, rot_deg=0.013, scale=1.00003)
    root = src.name.split("_")[0]
    hlet = write_headerlet(res, tmp_path / f"{root}_hlet.fits", hdrname=f"{root}_TWEAK")
    target = tmp_path / "target" / src.name
    target.parent.mkdir()
    shutil.copy(src, target)
    x, y = _grid(shape)
    got = _apply_with_stwcs(python, hlet, target, shape, tmp_path)
    with fits.open(target) as hdul:
        for chip, new in zip(exp.chips, res.new_wcs):
            ver = int(chip.name.split(",")[1])
            mine = np.column_stack(new.all_pix2world(x, y, 0))
            assert max_sep_mas(np.array(got["read"][str(ver)]), mine) < EXACT_MAS
            w = WCS(hdul[chip.hdu].header, hdul)
            before = max_sep_mas(np.column_stack(chip.wcs.all_pix2world(x, y, 0)), mine)
            assert before > 300
            assert max_sep_mas(np.column_stack(w.all_pix2world(x, y, 0)), mine) < 1e-3


def test_tweakgui_applies_our_headerlet_to_a_pc_cdelt_file(tmp_path):
    """What stwcs cannot do, tweakgui's own apply_headerlet does: the PC+CDELT target keeps its
    form (PC from our CD with its CDELT) and its WCS becomes ours (<= 0.1 mas)."""
    from tweakgui.engine.outputs.restore import apply_headerlet

    exp = _pc_cdelt_image(tmp_path / "pc12cd34q_flt.fits")
    res = image_result(exp, dra_arcsec=0.3, ddec_arcsec=-0.2, rot_deg=0.02, scale=1.00005)
    hlet = write_headerlet(res, tmp_path / "pc12cd34q_hlet.fits")
    target = tmp_path / "target_flt.fits"
    shutil.copy(exp.path, target)
    apply_headerlet(target, hlet)
    big = (2051, 4096)
    with fits.open(target) as hdul:
        for chip, new in zip(exp.chips, res.new_wcs):
            h = hdul[chip.hdu].header
            assert "PC1_1" in h and "CD1_1" not in h and h["CDELT1"] < 0
            assert max_sep_mas(sky_grid(WCS(h, hdul), big), sky_grid(new, big)) < 0.1
