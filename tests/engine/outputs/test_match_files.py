"""drizzlepac-style match files and the expanded reference catalog, checked against the demo's truth.

A 3-image, 2-chip demo visit is aligned by ``tweakgui align`` with
``save_match_files``, ``save_catalogs``, ``save_abs_catalog`` and
``expand_refcat``; every row of every match file is traced back to the
written source catalogs (Input ID on the chip its EXTVER names, Ref ID in the
chip its provenience names, or the reference catalog) and to the demo's true
WCS: both ends of each match must be the same star.
"""

import json
import os
import shutil
import subprocess
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui.cli import main
from tweakgui.engine.outputs.match_files import COLUMNS, read_match_file
from tweakgui.engine.synthetic import make_demo_visit

NAMES = ("demo01", "demo02", "demo03")
DRIZZLEPAC_COLUMNS = [  # drizzlepac imgclasses.write_fit_catalog, verbatim
    "X (reference)", "Y (reference)", "X (input)", "Y (input)", "X (fit)", "Y (fit)", "X (residual)",
    "Y (residual)", "Original X (reference)", "Original Y (reference)", "Original X (input)",
    "Original Y (input)", "Ref ID", "Input ID", "Input EXTVER ID ", "RA (fit)", "Dec (fit)",
    "Ref source provenience"]


def _sep_mas(ra1, dec1, ra2, dec2):
    dra = (np.asarray(ra1) - np.asarray(ra2)) * np.cos(np.radians(np.asarray(dec2)))
    return np.hypot(dra, np.asarray(dec1) - np.asarray(dec2)) * 3.6e6


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("matchfiles")
    demo = make_demo_visit(d / "visit", n_images=3, shape=(256, 256), n_chips=2, seed=2)
    out = d / "out"
    rc = main(["align", *map(str, demo.paths), "--output_dir", str(out), "--abs_refcat", str(demo.refcat),
               "--save_match_files", "true", "--save_catalogs", "true", "--save_abs_catalog", "true",
               "--expand_refcat", "true"])
    assert rc == 0
    return SimpleNamespace(demo=demo, out=out, dir=d, frame=_frame(out / "tweakreg_shifts_wcs.fits"),
                           report=json.loads((out / "tweakreg_report.json").read_text()))


def _frame(path):
    with fits.open(path) as h, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)  # a data-less WCS extension
        return WCS(h["WCS"].header)


def _catalog(out, root, extver):
    return Table.read(out / f"{root}_sci{extver}_cat.ecsv")


def _header(path):
    return [line for line in path.read_text().splitlines() if line.startswith("#")]


def _input_wcs(demo, root, extver):
    with fits.open(demo.paths[NAMES.index(root)]) as h:
        return WCS(h["SCI", extver].header, h)


def test_files_written_where_planned_and_reported(run):
    from tweakgui.engine.outputs.save import planned_outputs
    from tweakgui.engine.params import TweakRegParams
    from tweakgui.engine.visit import load_visit

    names = {p.name for p in run.out.iterdir()}
    assert {"demo02_catalog_fit.match", "demo03_catalog_fit.match", "demo01_abs_catalog_fit.match",
            "demo02_abs_catalog_fit.match", "demo03_abs_catalog_fit.match",
            "tweakreg_expanded_refcat.ecsv"} <= names
    assert "demo01_catalog_fit.match" not in names  # the relative reference has no fit
    params = TweakRegParams(save_match_files=True, abs_refcat=str(run.demo.refcat), expand_refcat=True)
    planned = {p.name for p, _, _ in planned_outputs(load_visit([str(p) for p in run.demo.paths], params).exposures,
                                                     run.out, params)}
    assert {n for n in names if n.endswith((".match", "_expanded_refcat.ecsv"))} <= planned
    extra = {im["input"].split("/")[-1]: {p.split("/")[-1] for p in im["extra_outputs"]}
             for im in run.report["images"]}
    assert {"demo02_catalog_fit.match", "demo02_abs_catalog_fit.match"} <= extra["demo02_flt.fits"]


def test_header_has_drizzlepacs_column_descriptions(run):
    for path in run.out.glob("*.match"):
        header = _header(path)
        assert header[0] == f"# Input image: {path.name.split('_')[0]}_flt.fits"
        assert header[1] == "# Coordinate mapping parameters: "
        listing = [h.split(": ", 1)[1] for h in header if h.startswith("#     Column ")]
        assert listing == DRIZZLEPAC_COLUMNS == [c for _, c in COLUMNS]
        assert header[-1] == "#"
        t = read_match_file(path)
        assert len(t) >= 10
        first = next(line for line in path.read_text().splitlines() if not line.startswith("#"))
        assert len(first.split()) == 18


def test_input_ids_and_extver_point_to_the_right_chip(run):
    """Input ID is the row of the catalog of the chip named by EXTVER; the true WCS puts it at RA/Dec (fit)."""
    for root in NAMES:
        for kind in ("catalog_fit", "abs_catalog_fit"):
            path = run.out / f"{root}_{kind}.match"
            if not path.exists():
                continue
            t = read_match_file(path)
            assert set(t["extver"]) == {1, 2}, (path.name, "sources of both chips")  # drizzlepac #374
            for ext in (1, 2):
                rows = t[t["extver"] == ext]
                cat = _catalog(run.out, root, ext)
                ids = np.asarray(rows["input_id"])
                np.testing.assert_allclose(rows["x_in_orig"], np.asarray(cat["x"])[ids] + 1, atol=2e-6)
                np.testing.assert_allclose(rows["y_in_orig"], np.asarray(cat["y"])[ids] + 1, atol=2e-6)
                true = run.demo.truth[f"{root}_flt.fits"][ext - 1]
                ra, dec = true.all_pix2world(np.asarray(cat["x"])[ids], np.asarray(cat["y"])[ids], 0)
                if kind == "abs_catalog_fit":  # after the absolute fit the image is on the true sky
                    assert np.median(_sep_mas(rows["ra_fit"], rows["dec_fit"], ra, dec)) < 5


def test_relative_ref_ids_are_the_same_star(run):
    """Ref ID + provenience name a row of the reference image's chip catalog: the same true star as the input."""
    for root in NAMES[1:]:
        t = read_match_file(run.out / f"{root}_catalog_fit.match")
        origins = set(t["ref_origin"])
        # the reference image's chips, and with expand_refcat other aligned images, never the image itself
        assert {"demo01_flt.fits[SCI,1]", "demo01_flt.fits[SCI,2]"} <= origins
        assert all(o.split("[")[0] in {f"{n}_flt.fits" for n in NAMES} - {f"{root}_flt.fits"} for o in origins)
        for origin in origins:
            image, chip = origin[:-1].split("[")
            ext = int(chip.split(",")[1])
            rows = t[t["ref_origin"] == origin]
            rroot = image.removesuffix("_flt.fits")
            cat = _catalog(run.out, rroot, ext)
            ids = np.asarray(rows["ref_id"])
            np.testing.assert_allclose(rows["x_ref_orig"], np.asarray(cat["x"])[ids] + 1, atol=2e-6)
            np.testing.assert_allclose(rows["y_ref_orig"], np.asarray(cat["y"])[ids] + 1, atol=2e-6)
            ref_true = run.demo.truth[image][ext - 1].all_pix2world(np.asarray(cat["x"])[ids],
                                                                     np.asarray(cat["y"])[ids], 0)
            in_cats = {e: _catalog(run.out, root, e) for e in (1, 2)}
            in_true = np.array([run.demo.truth[f"{root}_flt.fits"][e - 1].all_pix2world(
                in_cats[e]["x"][i], in_cats[e]["y"][i], 0) for e, i in zip(rows["extver"], rows["input_id"])])
            assert np.all(_sep_mas(in_true[:, 0], in_true[:, 1], *ref_true) < 20), origin
            if image == "demo01_flt.fits":  # the reference image: its sources where its input WCS puts them
                ra, dec = _input_wcs(run.demo, "demo01", ext).all_pix2world(np.asarray(cat["x"])[ids],
                                                                            np.asarray(cat["y"])[ids], 0)
                x, y = run.frame.wcs_world2pix(ra, dec, 1)
                np.testing.assert_allclose(rows["x_ref"], x, atol=2e-6)
                np.testing.assert_allclose(rows["y_ref"], y, atol=2e-6)


def test_absolute_ref_ids_are_reference_catalog_rows(run):
    used = Table.read(run.out / "tweakreg_abs_refcat.ecsv")
    original = Table.read(run.demo.refcat)
    assert len(used) == len(original)  # nothing dropped: its rows are the file's rows
    for root in NAMES:
        t = read_match_file(run.out / f"{root}_abs_catalog_fit.match")
        assert set(t["ref_origin"]) == {"refcat.ecsv"}
        ids = np.asarray(t["ref_id"])
        x, y = run.frame.wcs_world2pix(np.asarray(used["RA"])[ids], np.asarray(used["DEC"])[ids], 1)
        np.testing.assert_allclose(t["x_ref"], x, atol=2e-6)
        np.testing.assert_allclose(t["y_ref"], y, atol=2e-6)
        np.testing.assert_allclose(t["x_ref_orig"], t["x_ref"])
        # the reference star and the fitted input are the same star, within the fit's rms
        assert np.max(_sep_mas(t["ra_fit"], t["dec_fit"], original["RA"][ids], original["DEC"][ids])) < 15


def test_columns_are_consistent(run):
    """Residual = fit - reference; fit is RA/Dec (fit) in the frame; the header's mapping takes fit to input."""
    for path in run.out.glob("*.match"):
        t = read_match_file(path)
        np.testing.assert_allclose(t["x_res"], t["x_fit"] - t["x_ref"], atol=2.5e-6)
        np.testing.assert_allclose(t["y_res"], t["y_fit"] - t["y_ref"], atol=2.5e-6)
        x, y = run.frame.wcs_world2pix(t["ra_fit"], t["dec_fit"], 1)
        np.testing.assert_allclose(t["x_fit"], x, atol=1e-4)
        np.testing.assert_allclose(t["y_fit"], y, atol=1e-4)
        header = _header(path)
        rms = [float(v) for v in header[2].split(":")[1].split()]
        assert rms == pytest.approx([float(f"{np.std(t['x_res']):.2g}"), float(f"{np.std(t['y_res']):.2g}")])
        assert np.sqrt(np.mean(t["x_res"] ** 2 + t["y_res"] ** 2)) < 0.2  # px (0.04"/px): a real fit
        shift = np.array([float(v) for v in header[3].split(":")[1].split()])
        scale = float(header[4].split(":")[1].split()[0])
        rot = np.radians(float(header[5].split(":")[1].split()[0]))
        c = run.frame.wcs.crpix
        # drizzlepac: input - c = F.T (fit - c) + shift, F = scale [[cos, -sin], [sin, cos]]
        ft = scale * np.array([[np.cos(rot), np.sin(rot)], [-np.sin(rot), np.cos(rot)]])
        fit = np.column_stack([t["x_fit"], t["y_fit"]]) - c
        model = fit @ ft.T + c + shift
        np.testing.assert_allclose(model, np.column_stack([t["x_in"], t["y_in"]]), atol=2e-3)


def test_relative_fit_moves_input_by_the_injected_error(run):
    """Input (before the fit) minus fit, on the sky, is the relative error of the two headers' WCS."""
    t = read_match_file(run.out / "demo02_catalog_fit.match")
    assert np.median(np.hypot(t["x_in"] - t["x_fit"], t["y_in"] - t["y_fit"])) > 5  # px: the fit did move it


def test_expanded_refcat(run):
    t = Table.read(run.out / "tweakreg_expanded_refcat.ecsv")
    origins = [str(o) for o in t["origin"]]
    n_ref = sum(len(_catalog(run.out, "demo01", e)) for e in (1, 2))
    assert set(origins[:n_ref]) == {"demo01_flt.fits[SCI,1]", "demo01_flt.fits[SCI,2]"}
    assert len(t) > n_ref and {o.split("[")[0] for o in origins[n_ref:]} <= {"demo02_flt.fits", "demo03_flt.fits"}
    assert len(set(zip(origins, t["row"]))) == len(t)
    for ext in (1, 2):  # the reference image's own sources, where its input WCS puts them
        rows = t[t["origin"] == f"demo01_flt.fits[SCI,{ext}]"]
        cat = _catalog(run.out, "demo01", ext)
        assert list(rows["extver"]) == [ext] * len(rows) and sorted(rows["row"]) == list(range(len(cat)))
        ra, dec = _input_wcs(run.demo, "demo01", ext).all_pix2world(cat["x"][rows["row"]], cat["y"][rows["row"]], 0)
        assert np.max(_sep_mas(rows["RA"], rows["DEC"], ra, dec)) < 1e-3
    # added sources: unmatched sources of aligned images, on the sky of the relative frame (demo01's header WCS,
    # off the truth by demo01's injected error)
    centre = np.array([[127.5, 127.5]])
    err = _input_wcs(run.demo, "demo01", 1).all_pix2world(centre, 0) - \
        run.demo.truth["demo01_flt.fits"][0].all_pix2world(centre, 0)
    for row in t[n_ref:]:
        image = str(row["origin"]).split("[")[0]
        cat = _catalog(run.out, image.removesuffix("_flt.fits"), row["extver"])
        ra, dec = run.demo.truth[image][row["extver"] - 1].all_pix2world(cat["x"][row["row"]], cat["y"][row["row"]], 0)
        assert _sep_mas(row["RA"], row["DEC"], ra + err[0, 0], dec + err[0, 1]) < 20, row
    # every relative Ref ID is in the expanded list with its provenience
    listed = set(zip(origins, (int(r) for r in t["row"])))
    for root in NAMES[1:]:
        m = read_match_file(run.out / f"{root}_catalog_fit.match")
        assert set(zip(m["ref_origin"], (int(r) for r in m["ref_id"]))) <= listed


def test_catalog_ids_used_for_gaia_like_reference(run, tmp_path):
    """A reference catalog with source_id: Ref ID is the source_id."""
    ref = Table.read(run.demo.refcat)
    ref["source_id"] = np.arange(len(ref), dtype=np.int64) * 7919 + 4_000_000_000_000_000_000
    ref.write(tmp_path / "gaia_like.ecsv")
    visit = tmp_path / "v"
    shutil.copytree(run.dir / "visit", visit)
    out = tmp_path / "out"
    rc = main(["align", str(visit / "demo01_flt.fits"), str(visit / "demo02_flt.fits"), "--output_dir", str(out),
               "--abs_refcat", str(tmp_path / "gaia_like.ecsv"), "--save_match_files", "true", "--jobs", "1"])
    assert rc == 0
    t = read_match_file(out / "demo02_abs_catalog_fit.match")
    rows = (np.asarray(t["ref_id"]) - 4_000_000_000_000_000_000) // 7919
    assert np.all(np.asarray(t["ref_id"]) >= 4_000_000_000_000_000_000)
    assert np.max(_sep_mas(t["ra_fit"], t["dec_fit"], ref["RA"][rows], ref["DEC"][rows])) < 15
    assert any("source_id" in h for h in _header(out / "demo02_abs_catalog_fit.match"))
    assert not (out / "tweakreg_expanded_refcat.ecsv").exists()  # expand_refcat off


def test_off_by_default(tmp_path):
    from tweakgui.engine.params import TweakRegParams

    assert TweakRegParams().save_match_files is False


# drizzlepac refuses SIP-distorted non-HST frames: both tools get the demo frames without SIP
DRIZZLEPAC = """
from drizzlepac import tweakreg
tweakreg.TweakReg(["demo01_flt.fits", "demo02_flt.fits"], updatewcs=False, updatehdr=False, interactive=False,
                  see2dplot=False, residplot="No plot", shiftfile=False, clean=False, writecat=True,
                  verbose=False, conv_width=2.5, threshold=5, searchrad=2, tolerance=4)
"""


def _strip_sip(path):
    with fits.open(path, mode="update") as h:
        for hdu in h:
            if hdu.name == "SCI":
                for key in [k for k in hdu.header if k.startswith(("A_", "B_", "AP_", "BP_"))]:
                    del hdu.header[key]
                hdu.header["CTYPE1"], hdu.header["CTYPE2"] = "RA---TAN", "DEC--TAN"


@pytest.mark.slow
def test_same_layout_as_drizzlepacs_file(run, tmp_path, peer_python):
    """drizzlepac's own file and ours: same header labels and columns; the same chip and pixel for a source."""
    python = peer_python("drizzlepac")
    for who in ("theirs", "ours"):
        (tmp_path / who).mkdir()
        for name in NAMES[:2]:
            shutil.copyfile(run.dir / "visit" / f"{name}_flt.fits", tmp_path / who / f"{name}_flt.fits")
            _strip_sip(tmp_path / who / f"{name}_flt.fits")
    d = subprocess.run([str(python), "-c", DRIZZLEPAC], cwd=tmp_path / "theirs", capture_output=True, text=True,
                       timeout=600, env={**os.environ, "MPLBACKEND": "Agg"}, check=False)
    assert d.returncode == 0, d.stderr[-2000:]
    rc = main(["align", *(str(tmp_path / "ours" / f"{n}_flt.fits") for n in NAMES[:2]), "--output_dir",
               str(tmp_path / "ours" / "out"), "--save_match_files", "true", "--jobs", "1"])
    assert rc == 0
    theirs_path, ours_path = tmp_path / "theirs" / "demo02_flt_catalog_fit.match", \
        tmp_path / "ours" / "out" / "demo02_catalog_fit.match"
    theirs_h, ours_h = _header(theirs_path), _header(ours_path)

    def labels(h):
        return [line.split(":")[0] for line in h if ":" in line and not line.startswith("# tweakgui")]

    assert [x for x in labels(theirs_h) if x in labels(ours_h)] == labels(theirs_h)  # every drizzlepac label
    assert [x for x in theirs_h if x.startswith("#     Column")] == [x for x in ours_h if x.startswith("#     Column")]
    theirs, ours = read_match_file(theirs_path), read_match_file(ours_path)
    assert len(theirs) >= 15 and len(ours) >= 15
    # a source both matched: drizzlepac's EXTVER (right for these cumulative IDs) and 1-based pixel are ours
    common = 0
    for row in ours:
        near = np.hypot(theirs["x_in_orig"] - row["x_in_orig"], theirs["y_in_orig"] - row["y_in_orig"]) < 0.5
        near &= theirs["extver"] == row["extver"]
        common += bool(near.any())
    assert common >= 0.7 * min(len(ours), len(theirs)), (common, len(ours), len(theirs))


@pytest.mark.realdata
@pytest.mark.slow
def test_jwst_match_files_against_the_published_wcs(shared_data, tmp_path):
    """Two CEERS NIRCam images rendered through CEERS' published GWCS: the frame is in NIRCam pixels,
    every Input ID is the source at its pixel, and after the absolute fit RA/Dec (fit) is where the
    published WCS puts that pixel."""
    import ceers_render as cr

    ceers = shared_data / "ceers-nircam"
    imgs = cr.render_visit(tmp_path, exposures=cr.DEFAULT_EXPOSURES[:2], detectors=("nrca1",), ceers=ceers)
    out = tmp_path / "out"
    args = [f"--{k}={v}" for k, v in cr.CEERS_F115W.items()]
    rc = main(["align", *(str(r.path) for r in imgs), "--output_dir", str(out), "--abs_refcat",
               str(ceers / cr.REFCAT), "--save_match_files", "true", "--save_catalogs", "true", "--jobs", "1", *args])
    assert rc == 0
    refcat = Table.read(ceers / cr.REFCAT)
    for img in imgs:
        root = img.path.name.removesuffix("_cal.fits")
        cat = Table.read(out / f"{root}_cat.ecsv")
        t = read_match_file(out / f"{root}_abs_catalog_fit.match")
        header = _header(out / f"{root}_abs_catalog_fit.match")
        assert len(t) >= 20 and set(t["extver"]) == {1}
        assert set(t["ref_origin"]) == {cr.REFCAT.name}
        ids = np.asarray(t["input_id"])
        np.testing.assert_allclose(t["x_in_orig"], np.asarray(cat["x"])[ids] + 1, atol=2e-6)
        ra, dec = img.published_wcs(np.asarray(cat["x"])[ids], np.asarray(cat["y"])[ids], with_bounding_box=False)
        assert np.median(_sep_mas(t["ra_fit"], t["dec_fit"], ra, dec)) < 5
        rows = np.asarray(t["ref_id"])
        assert np.max(_sep_mas(t["ra_fit"], t["dec_fit"], refcat["RA"][rows], refcat["DEC"][rows])) < 40
        # the frame: NIRCam short-wave pixels (0.031"), residual = fit - reference in them
        frame_line = next(h for h in header if h.startswith("# Frame"))
        cd = np.array([float(v) for v in frame_line.split("CD = ")[1].replace("[", " ").replace("]", " ")
                      .replace(",", " ").split()[:4]]).reshape(2, 2)
        assert np.sqrt(abs(np.linalg.det(cd))) * 3600 == pytest.approx(0.031, rel=0.03)
        assert np.sqrt(np.mean(t["x_res"] ** 2 + t["y_res"] ** 2)) < 0.3
        np.testing.assert_allclose(t["x_res"], t["x_fit"] - t["x_ref"], atol=2.5e-6)
    rel = read_match_file(out / f"{imgs[1].path.name.removesuffix('_cal.fits')}_catalog_fit.match")
    assert set(rel["ref_origin"]) == {f"{imgs[0].path.name}[SCI]"}
    ref_cat = Table.read(out / f"{imgs[0].path.name.removesuffix('_cal.fits')}_cat.ecsv")
    np.testing.assert_allclose(rel["x_ref_orig"], np.asarray(ref_cat["x"])[np.asarray(rel["ref_id"])] + 1, atol=2e-6)
