"""drizzlepac shiftfiles: format, round trip, and drizzlepac / stsci.tools interop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

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
from astropy.wcs import WCS

from tweakgui.engine.model import ImageResult, InputError, VisitResult
from tweakgui.engine.outputs.shiftfile import read_shiftfile, write_shiftfile


def _visit(tmp_path):
    """REFERENCE (no new WCS), one SUCCESS image moved by a known correction, one FAILED."""
    exps = [make_image(tmp_path / f"im{k}_flt.fits", nchips=1) for k in range(3)]
    ref = ImageResult(exposure=exps[0], status="REFERENCE")
    fit = fit_result(nmatch=25, rms_mas=(3.0, 4.0), kind="relative")
    # new WCS: CRVAL 0.12" east and 0.07" south, CD rotated by +0.01 deg and scaled by 1.0001
    ok = image_result(exps[1], fit=fit, dra_arcsec=0.12, ddec_arcsec=-0.07, rot_deg=0.01, scale=1.0001)
    bad = ImageResult(exposure=exps[2], status="FAILED", reason="no sources")
    return VisitResult(images=[ref, ok, bad], fits=[fit], params=None), exps


def _expected_row(cd, dxi_arcsec, deta_arcsec, rot_deg, scale):
    """drizzlepac's row for a CD-rotated, CRVAL-shifted WCS measured in a frame of the same CD.

    New positions in reference pixels are q - c = M (p - c) + e with M = CD^-1 sR CD and
    e = CD^-1 (dxi, deta); so p - c = M^-1 (q - c) - M^-1 e: A = M^-1 = F.T and t = -M^-1 e.
    """
    t = np.radians(rot_deg)
    r = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    m = np.linalg.inv(cd) @ r @ cd
    e = np.linalg.solve(cd, np.array([dxi_arcsec, deta_arcsec]) / 3600.0)
    a = np.linalg.inv(m)
    shift = -a @ e
    return shift, np.degrees(np.arctan2(a[0, 1], a[0, 0])), np.hypot(a[0, 0], a[0, 1])


def test_format_and_round_trip(tmp_path):
    vr, exps = _visit(tmp_path)
    sf_path, wcs_path = write_shiftfile(vr, tmp_path / "out" / "shifts.txt")
    assert wcs_path == tmp_path / "out" / "shifts_wcs.fits"
    lines = sf_path.read_text().splitlines()
    assert lines[:4] == ["# frame: output", "# refimage: shifts_wcs.fits[wcs]", "# form: delta",
                         "# units: pixels"]
    assert len(lines) == 6  # the FAILED image has no row, as in drizzlepac
    assert lines[4].split() == ["im0_flt.fits", "0.000000", "0.000000", "0.00000000", "1.00000000",
                                "0.000000", "0.000000"]
    cols = lines[5].split()
    # the new WCS turned +0.01 deg, and moving CRVAL by dRA turns north by dRA sin(dec) (meridian
    # convergence, 1.8e-5 deg here): the input is -0.01 + 1.8e-5 deg from the new WCS.
    # drizzlepac writes rotations in [0, 360): 359.99...
    dec = np.radians(-27.8)
    rot_truth = -0.01 - 0.12 / 3600 / np.cos(dec) * np.sin(dec)
    assert cols[0] == "im1_flt.fits" and float(cols[3]) == pytest.approx(360 + rot_truth, abs=1e-8)
    sf = read_shiftfile(sf_path)
    assert (sf.frame, sf.form, sf.units) == ("output", "delta", "pixels")
    assert sf.refimage_path == wcs_path
    r = sf.rows[1]
    shift, rot, scale = _expected_row(exps[0].chips[0].wcs.wcs.cd, 0.12, -0.07, 0.01, 1.0001)
    # image minus reference: the input WCS put sources 0.12" west (CD1_1 < 0: +x is west) of
    # where the new WCS puts them, i.e. about +0.12"/0.04" * cos(30 deg) = +2.6 px along x ...
    assert (r.xsh, r.ysh) == pytest.approx(tuple(shift), abs=2e-6)
    assert r.xsh == pytest.approx(3.4727, abs=1e-4) and r.ysh == pytest.approx(0.0161, abs=1e-4)
    # ... and the rotation (the small-field formula has no meridian convergence); scale 1/1.0001
    assert r.rot == pytest.approx(rot_truth, abs=1e-8) and rot == pytest.approx(-0.01, abs=1e-9)
    assert r.scale == pytest.approx(scale, abs=1e-8) and scale == pytest.approx(1 / 1.0001, abs=1e-12)
    # rms in reference pixels (0.04"/pix): 3 and 4 mas -> 0.075 and 0.1 pix
    assert r.xrms == pytest.approx(0.075, abs=2e-6) and r.yrms == pytest.approx(0.1, abs=2e-6)
    w = sf.reference_wcs()
    ref = exps[0].chips[0].wcs
    np.testing.assert_array_equal(w.wcs.crval, ref.wcs.crval)
    np.testing.assert_allclose(w.wcs.cd, ref.wcs.cd, rtol=1e-12, atol=0)  # square pixels already
    assert w.sip is None and list(w.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    with fits.open(wcs_path) as h:
        assert h[1].name == "WCS" and h[1].header["NPIX1"] == 64


CLOSURE_MAS = 2.0


def apply_drizzlepac_row(chip_wcs: WCS, ref: WCS, xsh, ysh, rot, scale) -> WCS:
    """drizzlepac's ``updatewcs_with_shift`` for one chip, written from its documented steps.

    The row moves a position p in the reference frame (pixels, 1-based, about the reference
    CRPIX c) to ``c + F.T^-1 (p - c - (xsh, ysh))`` with ``F = scale * R(rot)``.  The chip
    keeps CRPIX and SIP; its new CRVAL is where its CRPIX moves, and its new CD matrix maps
    linear pixel offsets about CRPIX onto the moved positions projected on the tangent plane
    at the new CRVAL (here by least squares over +-50 px, drizzlepac differentiates).
    """
    c = ref.wcs.crpix
    t = np.radians(rot)
    f = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    def moved(sky):
        p = ref.wcs_world2pix(sky, 1)
        q = c + np.linalg.solve(f.T, (p - c - [xsh, ysh]).T).T
        return ref.wcs_pix2world(q, 1)

    crpix = chip_wcs.wcs.crpix
    offsets = 50.0 * np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]])
    sky = moved(chip_wcs.wcs_pix2world(crpix + offsets, 1))  # linear part: SIP comes before CD
    tan = WCS(naxis=2)
    tan.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    tan.wcs.crval = sky[0]
    tan.wcs.crpix = [0.0, 0.0]
    tan.wcs.cd = np.eye(2)
    xi = tan.wcs_world2pix(sky, 1)  # intermediate world coordinates, degrees
    cd_t, *_ = np.linalg.lstsq(offsets, xi, rcond=None)
    out = chip_wcs.deepcopy()
    out.wcs.crval = sky[0]
    if out.wcs.has_cd():
        out.wcs.cd = cd_t.T
    else:
        out.wcs.pc = cd_t.T / out.wcs.cdelt[:, None]
    out.wcs.set()
    return out


@pytest.fixture(scope="module", params=[1, 2], ids=["1chip", "2chips"])
def aligned_demo(request, tmp_path_factory):
    """A 3-image demo visit with injected shifts (<= 0.6") and rotations (<= 0.02 deg), aligned
    relatively and to its reference catalog (abs_mode=visit): every image has two stages."""
    from tweakgui.engine import pipeline
    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.synthetic import make_demo_visit
    from tweakgui.engine.visit import load_visit

    root = tmp_path_factory.mktemp(f"shift{request.param}")
    demo = make_demo_visit(root / "in", n_images=3, shape=(400, 600), n_chips=request.param, seed=5)
    params = TweakRegParams(abs_refcat=str(demo.refcat))
    result = pipeline.run(load_visit([str(p) for p in demo.paths], params), params)
    assert all(r.status == "SUCCESS" for r in result.images), [r.reason for r in result.images]
    assert all(len(r.fits) == 2 for r in result.images)
    return demo, result, root


def _grid_sep_mas(w1, w2, shape, n=11):
    return max_sep_mas(sky_grid(w1, shape, n), sky_grid(w2, shape, n))


def test_rows_close_on_our_wcs_with_drizzlepac_algebra(aligned_demo, tmp_path):
    """Each row, applied as drizzlepac does to the input WCS, gives our final WCS to 2 mas."""
    demo, result, _ = aligned_demo
    sf_path, _ = write_shiftfile(result, tmp_path / "shifts.txt")
    sf = read_shiftfile(sf_path)
    ref = sf.reference_wcs()
    rows = {r.image: r for r in sf.rows}
    assert set(rows) == {r.exposure.name for r in result.images}
    for r in result.images:
        row = rows[r.exposure.name]
        for chip, new in zip(r.exposure.chips, r.new_wcs):
            before = _grid_sep_mas(chip.wcs, new, chip.shape)
            assert before > 100, "the correction must be large enough for the test to mean something"
            got = apply_drizzlepac_row(chip.wcs, ref, row.xsh, row.ysh, row.rot, row.scale)
            d = _grid_sep_mas(got, new, chip.shape)
            assert d <= CLOSURE_MAS, f"{r.exposure.name} {chip.name}: {d:.3f} mas (input was {before:.0f} mas off)"


def test_rows_recover_the_injected_errors(aligned_demo, tmp_path):
    """Sign and direction: each row is the injected error (input WCS minus truth).

    The header WCS of each image is the truth rotated by ``rot`` about its CRPIX and moved by
    (dx, dy) arcsec on the sky; so at the first chip's CRPIX the input is CD_ref^-1 (dx, dy)
    reference pixels from the truth (image minus reference), and rotated by ``rot``.
    """
    demo, result, _ = aligned_demo
    sf = read_shiftfile(write_shiftfile(result, tmp_path / "s.txt")[0])
    ref = sf.reference_wcs()
    c = ref.wcs.crpix
    for row, r in zip(sf.rows, result.images):
        dx, dy, rot = demo.injected[r.exposure.name]
        t = np.radians(row.rot)
        a = row.scale * np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])  # F.T
        chip = r.exposure.chips[0]
        q = ref.wcs_world2pix(r.new_wcs[0].all_pix2world([chip.wcs.wcs.crpix], 1), 1)[0]
        offset = np.array([row.xsh, row.ysh]) + (a - np.eye(2)) @ (q - c)
        expected = np.linalg.solve(ref.wcs.cd, np.array([dx, dy]) / 3600.0)
        assert np.hypot(*expected) > 5  # pixels: a real error
        # 0.1 px = 4 mas: the alignment's own error is ~1 mas
        np.testing.assert_allclose(offset, expected, atol=0.1, err_msg=r.exposure.name)
        # rotation: same sign, and the same within 1.5 mas at the farthest pixel from CRPIX
        # (the alignment's own error); injected rotations are up to 0.02 deg
        corners = np.array([[0, 0], [chip.shape[1], 0], [0, chip.shape[0]], chip.shape[::-1]], float)
        far = max(np.hypot(*(corners + 1 - ch.wcs.wcs.crpix).T).max() for ch in r.exposure.chips)
        far_arcsec = far * np.sqrt(abs(np.linalg.det(ref.wcs.cd))) * 3600
        assert abs(np.radians(row.rot - rot)) * far_arcsec < 1.5e-3, (r.exposure.name, row.rot, rot)
        if abs(rot) > 0.005:
            assert np.sign(row.rot) == np.sign(rot)
        assert row.scale == pytest.approx(1.0, abs=2e-5)


def test_no_fit_writes_nothing(tmp_path):
    exp = make_image(tmp_path / "x_flt.fits", nchips=1)
    vr = VisitResult(images=[ImageResult(exposure=exp, status="FAILED")], fits=[], params=None)
    assert write_shiftfile(vr, tmp_path / "s.txt") is None
    assert not (tmp_path / "s.txt").exists()


def test_reader_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_shiftfile(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("# frame: output\nimg.fits 1.0 abc\n")
    with pytest.raises(InputError, match="line 2"):
        read_shiftfile(bad)
    bad.write_text("img.fits 1 2 3 4 5\n")
    with pytest.raises(InputError, match="columns"):
        read_shiftfile(bad)
    ok = tmp_path / "ok.txt"
    ok.write_text("# refimage: ref.fits[wcs]\na.fits 1 2\nb.fits 1 2 359.5\n")
    sf = read_shiftfile(ok)
    assert [(r.rot, r.scale) for r in sf.rows] == [(0.0, 1.0), (-0.5, 1.0)]


PEER_SCRIPT = textwrap.dedent("""
    import json, sys, os, warnings

    warnings.simplefilter("ignore")
    from astropy.io import fits
    from astropy.wcs import WCS
    from stsci.tools.asnutil import ShiftFile

    ours, outdir = sys.argv[1:3]
    sf = ShiftFile(ours)
    res = {"ours": {k: sf[k] for k in sf["order"]}, "refimage": sf["refimage"]}
    # drizzlepac's own writer, fed with objects that behave like its images
    from drizzlepac import tweakutils

    class Img:
        def __init__(self, name, row, refwcs):
            self.name, self.row, self.refWCS = name, row, refwcs
        def get_shiftfile_row(self):
            return self.row
    ref = WCS(fits.getheader(sf["refimage"].split("[")[0], 1))
    ref.pixel_shape = (64, 64)
    imgs = [Img("a_flt.fits", "a_flt.fits    0.0  0.0    0.0     1.0    0.0 0.0\\n", ref),
            Img("b_flt.fits", "b_flt.fits    %0.6f  %0.6f    %0.6f     %0.6f   %0.6f  %0.6f\\n" % (
                0.5, -1.25, 359.99, 1.0001, 0.07, 0.08), ref)]
    os.chdir(outdir)
    tweakutils.write_shiftfile(imgs, "drz_shifts.txt", outwcs="drz_wcs.fits")
    json.dump(res, open("peer.json", "w"))
""")


def test_interop_with_drizzlepac(tmp_path, peer_python):
    """stsci.tools reads our rows; drizzlepac's own writer's file reads back with ours.

    (That drizzlepac *applies* the rows to give our WCS is tests/test_interop.py's check.)
    """
    python = peer_python("drizzlepac", "stsci.tools")
    vr, exps = _visit(tmp_path)
    # stsci.tools' reader takes at most 4 values per row: the 5-column form
    sf_path, _ = write_shiftfile(vr, tmp_path / "shifts.txt", with_rms=False)
    ours = read_shiftfile(sf_path).rows[1]
    script = tmp_path / "peer.py"
    script.write_text(PEER_SCRIPT)
    outdir = tmp_path / "drz"
    outdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(python), str(script), str(sf_path), str(outdir)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((outdir / "peer.json").read_text())
    assert got["refimage"] == "shifts_wcs.fits[wcs]"
    assert got["ours"]["im0_flt.fits"] == [0.0, 0.0, 0.0, 1.0]
    assert got["ours"]["im1_flt.fits"] == pytest.approx([ours.xsh, ours.ysh, 360 + ours.rot, ours.scale],
                                                        abs=1e-8)
    # and drizzlepac's own file reads back with ours
    sf = read_shiftfile(outdir / "drz_shifts.txt")
    assert sf.refimage_path == outdir / "drz_wcs.fits"
    b = sf.rows[1]
    assert (b.image, b.xsh, b.ysh, b.scale, b.xrms, b.yrms) == ("b_flt.fits", 0.5, -1.25, 1.0001, 0.07, 0.08)
    assert b.rot == pytest.approx(-0.01, abs=1e-9)
    w = sf.reference_wcs()
    np.testing.assert_allclose(w.wcs.crval, exps[0].chips[0].wcs.wcs.crval, rtol=0, atol=1e-12)


DRZ_APPLY = textwrap.dedent("""
    import json, os, sys, warnings

    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.CRITICAL)
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS
    from drizzlepac import updatehdr

    shiftfile, work, out = sys.argv[1:4]
    lines = open(shiftfile).read().splitlines()
    refimage = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("# refimage"))
    refimage = os.path.join(os.path.dirname(shiftfile), refimage.split("[")[0])
    res = {}
    for cols in (l.split() for l in lines if l.strip() and not l.startswith("#")):
        image = os.path.join(work, cols[0])
        xsh, ysh, rot, scale = map(float, cols[1:5])
        updatehdr.updatewcs_with_shift(image, refimage, wcsname="TWEAKGUI", xsh=xsh, ysh=ysh, rot=rot,
                                       scale=scale, force=True)
        with fits.open(image) as h:
            res[cols[0]] = {str(hdu.ver): fits.Header.tostring(hdu.header) for hdu in h if hdu.name == "SCI"}
    json.dump(res, open(out, "w"))
""")


@pytest.mark.realdata
def test_drizzlepac_applies_rows_to_real_hrc_frames(shared_data, tmp_path, peer_python):
    """Two real ACS/HRC frames (CD form, TAN-SIP, 0.025"/px): the reference frame moved by an
    absolute stage, the other by its own total correction; drizzlepac's updatewcs_with_shift
    with each row gives our WCS to 2 mas over the chip, and so does the algebra written here."""
    python = peer_python("drizzlepac")
    names = ["j8bt06nyq_flt.fits", "j8bt06o6q_flt.fits"]
    exps = []
    for n in names:
        p = tmp_path / n
        shutil.copy(shared_data / "hst-acs-hrc-47tuc/derived" / n, p)
        p.chmod(0o644)
        exps.append(exposure_of(p))
    ref = image_result(exps[0], status="SUCCESS", dra_arcsec=0.21, ddec_arcsec=0.08, rot_deg=-0.006)
    ref.status = "REFERENCE"
    other = image_result(exps[1], dra_arcsec=-0.43, ddec_arcsec=0.52, rot_deg=0.017, scale=1.00004)
    vr = VisitResult(images=[ref, other], fits=[], params=None)
    sf_path, _ = write_shiftfile(vr, tmp_path / "out" / "shifts.txt")
    sf = read_shiftfile(sf_path)
    work = tmp_path / "work"
    work.mkdir()
    for e in exps:
        shutil.copy(e.path, work / e.path.name)
    script = tmp_path / "apply.py"
    script.write_text(DRZ_APPLY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(python), str(script), str(sf_path), str(work), str(tmp_path / "o.json")],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "o.json").read_text())
    for r, row in zip(vr.images, sf.rows):
        for chip, new in zip(r.exposure.chips, r.new_wcs):
            before = _grid_sep_mas(chip.wcs, new, chip.shape)
            assert before > 200
            h = fits.Header.fromstring(got[r.exposure.name][chip.name.split(",")[1]])
            assert h["WCSNAME"] == "TWEAKGUI" and "CD1_1" in h
            theirs = WCS(h)
            # 2 mas is the requirement; it is met to 1e-4 mas because the reference frame has
            # square pixels: in HRC's skewed CD frame the same rows would leave ~1 mas
            assert _grid_sep_mas(theirs, new, chip.shape) <= min(CLOSURE_MAS, 0.01)
            ours = apply_drizzlepac_row(chip.wcs, sf.reference_wcs(), row.xsh, row.ysh, row.rot, row.scale)
            assert _grid_sep_mas(ours, new, chip.shape) <= min(CLOSURE_MAS, 0.01)


def test_reference_frame_has_square_pixels():
    """The reference WCS file's frame: CRVAL and CRPIX kept, pixel area and orientation kept,
    skew removed (ACS/HRC-like CD); a square-pixel CD is kept as it is."""
    from tweakgui.engine.outputs.shiftfile import output_frame

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval, w.wcs.crpix = [6.02, -72.08], [512.0, 512.0]
    w.wcs.cd = np.array([[-7.35291822e-06, 1.85647766e-06], [2.88268473e-06, 6.64677886e-06]])
    f = output_frame(w)
    cd = f.wcs.cd
    assert list(f.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    assert f.wcs.crval.tolist() == [6.02, -72.08] and f.wcs.crpix.tolist() == [512.0, 512.0]
    assert np.linalg.det(cd) == pytest.approx(np.linalg.det(w.wcs.cd), rel=1e-12)
    np.testing.assert_allclose(cd.T @ cd, abs(np.linalg.det(cd)) * np.eye(2), rtol=0, atol=1e-22)
    # orientation of the y axis within the skew's half-angle (HRC: ~5 deg of skew)
    orient = lambda m: np.degrees(np.arctan2(m[0, 1], m[1, 1]))  # noqa: E731
    assert abs(orient(cd) - orient(w.wcs.cd)) < 5.0
    square = WCS(naxis=2)
    square.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    square.wcs.cd = 1e-5 * np.array([[-np.cos(0.3), np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    np.testing.assert_allclose(output_frame(square).wcs.cd, square.wcs.cd, rtol=1e-12, atol=0)


def test_a_correction_with_skew_is_approximated_with_a_warning(tmp_path, caplog):
    """A drizzlepac row has no skew: a general fit's correction is fitted as well as it can be
    and the residual is named in a warning."""
    import logging

    vr, exps = _visit(tmp_path)
    ok = vr.images[1]
    skewed = ok.new_wcs[0].deepcopy()
    skewed.wcs.cd = skewed.wcs.cd @ np.array([[1.0, 5e-3], [0.0, 1.0]])  # 0.3 deg of skew
    skewed.wcs.set()
    ok.new_wcs = [skewed]
    with caplog.at_level(logging.WARNING, logger="tweakgui.engine.outputs.shiftfile"):
        write_shiftfile(vr, tmp_path / "s.txt")
    assert any("im1_flt.fits" in r.getMessage() and "no skew" in r.getMessage() for r in caplog.records)
    row = read_shiftfile(tmp_path / "s.txt").rows[1]
    got = apply_drizzlepac_row(exps[1].chips[0].wcs, read_shiftfile(tmp_path / "s.txt").reference_wcs(),
                               row.xsh, row.ysh, row.rot, row.scale)
    # half the skew's 0.3 px across the 64 px chip is left: ~0.1 px = 4 mas, and no more
    assert 1.0 < _grid_sep_mas(got, skewed, (64, 64)) < 8.0
