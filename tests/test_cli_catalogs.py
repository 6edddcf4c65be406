"""``tweakgui align --catalogs``: catalog-only alignment from the command line against a known truth.

Catalogs are rendered from a true WCS and carry that WCS perturbed by a known
shift and rotation (``make_catalog_visit``); the headerlets (FITS WCS) and
``_tweakreg.asdf`` files (GWCS) written must hold the true WCS to well under
1 mas, the report must give the correction with the sign that undoes the
perturbation, no image is written, and the inputs stay byte-identical.
"""

import hashlib
import json
import shutil

import numpy as np
import pytest
from astropy.table import Table, vstack
from cli_visit import nonblank_lines, run_cli

from tweakgui.engine.outputs.headerlet import read_headerlet
from tweakgui.engine.synthetic import make_catalog_visit, make_demo_visit, wcs_error_mas

SHAPE = (512, 512)


def _digest(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cats")
    return {"meta": make_catalog_visit(d / "meta", n_catalogs=3, shape=SHAPE, seed=11),
            "two": make_catalog_visit(d / "two", n_catalogs=2, shape=SHAPE, n_chips=2, seed=12,
                                      wcs_in="fits")}


@pytest.fixture
def cats(catalogs, tmp_path):
    """A fresh copy of the one-chip catalog visit under ``tmp_path/v``."""
    shutil.copytree(catalogs["meta"].paths[0].parent, tmp_path / "v")
    return catalogs["meta"], tmp_path / "v"


def _headerlet_errors(out, demo):
    errs = {}
    for name, truths in demo.truth.items():
        root = name.removesuffix("_cat.ecsv").removesuffix("_cat.fits")
        hlet = read_headerlet(out / f"{root}_hlet.fits")
        assert hlet.destim == root and hlet.wcsname == "TWEAK"
        for i, truth in enumerate(truths):
            w = hlet.wcs[("SCI", i + 1)]
            assert int(hlet.headers[("SCI", i + 1)]["NPIX1"]) == SHAPE[1]
            errs[(name, i + 1)] = wcs_error_mas(w, truth, SHAPE)
    return errs


@pytest.mark.parametrize("how", ["--catalogs", "plain"])
def test_catalogs_aligned_within_1_mas(cats, capsys, monkeypatch, how):
    demo, d = cats
    before = _digest(sorted(d.iterdir()))
    monkeypatch.chdir(d)
    args = ["--catalogs", "demo*_cat.ecsv"] if how == "--catalogs" else [p.name for p in demo.paths]
    rc, stdout, stderr = run_cli(capsys, ["align", *args, "--abs_refcat", "refcat.ecsv", "--output_dir", "out"])
    assert rc == 0, stderr
    assert _digest(sorted(p for p in d.iterdir() if p.is_file())) == before  # inputs untouched
    names = {p.name for p in (d / "out").iterdir()}
    assert names == {"demo01_hlet.fits", "demo02_hlet.fits", "demo03_hlet.fits", "tweakreg_report.json",
                     "tweakreg_fits.ecsv", "tweakreg_shifts.txt", "tweakreg_shifts_wcs.fits"}  # no image
    errs = _headerlet_errors(d / "out", demo)
    assert max(errs.values()) < 1.0, errs  # mas
    report = json.loads((d / "out" / "tweakreg_report.json").read_text())
    for im in report["images"]:
        name = im["input"].split("/")[-1]
        assert im["status"] == "SUCCESS" and im["output"] is None and im["has_pixels"] is False
        assert im["wcs_source"] == "metadata 'wcs'"
        assert im["extra_outputs"] == [f"out/{name.removesuffix('_cat.ecsv')}_hlet.fits"]
        dx, dy, rot = demo.injected[name]
        assert im["shift_arcsec"] == pytest.approx([-dx, -dy], abs=0.003)  # undoes the injected error
        assert im["rotation_deg"] == pytest.approx(-rot, abs=2e-3)
    assert "demo01_cat.ecsv" in stdout and "SUCCESS" in stdout


def test_two_chips_through_a_chip_column_and_a_fits_sidecar(catalogs, tmp_path, capsys):
    demo = catalogs["two"]
    rc, _, stderr = run_cli(capsys, ["align", "--catalogs", ",".join(map(str, demo.paths)),
                                     "--abs_refcat", str(demo.refcat), "--output_dir", str(tmp_path / "out")])
    assert rc == 0, stderr
    errs = _headerlet_errors(tmp_path / "out", demo)
    assert len(errs) == 4 and max(errs.values()) < 1.0, errs


def test_images_and_catalogs_together(tmp_path, capsys):
    """A catalog input beside images of the same sky: each gets its own kind of output."""
    images = make_demo_visit(tmp_path / "img", n_images=2, shape=SHAPE, seed=13)
    cats = make_catalog_visit(tmp_path / "cat", n_catalogs=3, shape=SHAPE, seed=13)  # the same sky
    cat = cats.paths[2]
    out = tmp_path / "out"
    rc, _, stderr = run_cli(capsys, ["align", *images.paths, "--catalogs", cat, "--abs_refcat", images.refcat,
                                     "--output_dir", out])
    assert rc == 0, stderr
    names = {p.name for p in out.iterdir()}
    assert {"demo01_tweakreg.fits", "demo02_tweakreg.fits", "demo01_hlet.fits", "demo02_hlet.fits",
            "demo03_hlet.fits"} <= names and "demo03_tweakreg.fits" not in names
    w = read_headerlet(out / "demo03_hlet.fits").wcs[("SCI", 1)]
    assert wcs_error_mas(w, cats.truth[cat.name][0], SHAPE) < 1.0


def test_a_headerlet_as_the_wcs_of_the_next_round(cats, capsys):
    """``--wcs`` pairs a file with each catalog: here the headerlets of a first run."""
    demo, d = cats
    first = d / "first"
    rc, _, stderr = run_cli(capsys, ["align", "--catalogs", f"{d}/demo*_cat.ecsv", "--abs_refcat",
                                     d / "refcat.ecsv", "--output_dir", first])
    assert rc == 0, stderr
    hlets = ",".join(str(first / f"demo0{i}_hlet.fits") for i in (1, 2, 3))
    # written into the same folder, the new headerlets would replace the WCS files read: refused
    line = _refused(capsys, ["--catalogs", f"{d}/demo*_cat.ecsv", "--wcs", hlets, "--abs_refcat",
                             d / "refcat.ecsv"], first)
    assert f"{first / 'demo01_hlet.fits'}: the headerlet would overwrite this" in line, line
    rc, _, stderr = run_cli(capsys, ["align", "--catalogs", f"{d}/demo*_cat.ecsv", "--wcs", hlets,
                                     "--abs_refcat", d / "refcat.ecsv", "--output_dir", d / "second"])
    assert rc == 0, stderr
    report = json.loads((d / "second" / "tweakreg_report.json").read_text())
    assert [im["wcs_source"] for im in report["images"]] == [f"--wcs demo0{i}_hlet.fits" for i in (1, 2, 3)]
    assert max(abs(s) for im in report["images"] for s in im["shift_arcsec"]) < 0.002  # already aligned
    assert max(_headerlet_errors(d / "second", demo).values()) < 1.0


def _refused(capsys, args, out):
    existed = sorted(out.iterdir()) if out.exists() else None
    rc, _, stderr = run_cli(capsys, ["align", *args, "--output_dir", out])
    lines = nonblank_lines(stderr)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("tweakgui: error: "), stderr
    assert "Traceback" not in stderr
    assert (sorted(out.iterdir()) if out.exists() else None) == existed  # nothing written
    return lines[0]


def test_refusals_are_one_line_and_write_nothing(cats, capsys, tmp_path):
    demo, d = cats
    out = tmp_path / "out"
    Table({"x": [1.0, 2.0], "y": [3.0, 4.0]}).write(d / "bare.ecsv")
    line = _refused(capsys, ["--catalogs", d / "bare.ecsv"], out)
    assert f"{d / 'bare.ecsv'}: no WCS for this catalog" in line and "--wcs FILE" in line
    t = Table.read(demo.paths[0])
    t.rename_columns(["x", "y"], ["ra", "dec"])
    t.write(d / "radec.ecsv")
    line = _refused(capsys, ["--catalogs", d / "radec.ecsv"], out)
    assert f"{d / 'radec.ecsv'}: catalog has no x/y" in line
    line = _refused(capsys, [demo.paths[0], "--wcs", demo.paths[1]], out)
    assert "--wcs pairs WCS files with the catalogs of --catalogs" in line
    line = _refused(capsys, ["--catalogs", demo.paths[0], "--wcs", f"{demo.paths[1]},{demo.paths[2]}"], out)
    assert "--wcs names 2 files for 1 catalog" in line
    # an output may never replace an input: the saved catalog would be the input catalog itself
    line = _refused(capsys, ["--catalogs", d / "demo01_cat.ecsv", "--save_catalogs", "true"], d)
    assert "demo01_cat.ecsv: the source catalog would overwrite this input" in line


@pytest.mark.realdata
def test_gwcs_catalogs_reproduce_ceers_published_wcs(shared_data, tmp_path, capsys):
    """JWST: catalogs of CEERS reference sources seen through the published GWCS, carrying the
    pre-tweak GWCS in a sidecar ``<root>_wcs.asdf``; the ``_tweakreg.asdf`` written must be the
    published WCS."""
    import asdf
    import ceers_render as cr

    from tweakgui.engine.io.jwst import read_wcs_file

    ref = cr.load_refcat(shared_data / "ceers-nircam")
    ra, dec = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    rng = np.random.default_rng(0)
    truth = {}
    for name in cr.DEFAULT_EXPOSURES:
        w, info = read_wcs_file(cr.wcs_file(name, "nrca1", shared_data / "ceers-nircam"))
        x, y = w.invert(ra, dec, with_bounding_box=False)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (x < 2047) & (y > 0) & (y < 2047)
        Table({"x": x[ok] + rng.normal(0, 0.03, ok.sum()), "y": y[ok] + rng.normal(0, 0.03, ok.sum())}
              ).write(tmp_path / f"{name}_nrca1_cat.ecsv")
        asdf.AsdfFile({"wcs": cr.untweak(w), "wcsinfo": info}).write_to(tmp_path / f"{name}_nrca1_wcs.asdf")
        truth[f"{name}_nrca1"] = w
    params = [a for k, v in cr.CEERS_MOSAIC.items() for a in (f"--{k}", str(v))]
    out = tmp_path / "out"
    rc, _, stderr = run_cli(capsys, ["align", "--catalogs", f"{tmp_path}/*_cat.ecsv", "--abs_refcat",
                                     shared_data / "ceers-nircam" / cr.REFCAT, "--output_dir", out, *params])
    assert rc == 0, stderr
    assert not list(out.glob("*_tweakreg.fits"))  # no image
    for root, published in truth.items():
        new, info = read_wcs_file(out / f"{root}_tweakreg.asdf")
        before = cr.wcs_distance_mas(cr.untweak(published), published)
        after = cr.wcs_distance_mas(new, published)
        assert np.median(before) > 100 and np.max(after) < 1.0, (root, np.max(after))
        assert new.name == "FIT-LVL3-USERCAT" and "v2_ref" in info


def test_the_worked_example_of_the_docs_runs(tmp_path):
    """docs/catalog-only.md: its commands, run as written, give the files it lists, aligned."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "catalog-only.md").read_text()
    example = text.split("## Worked example", 1)[1]
    commands, listing = re.findall(r"```(?:sh)?\n(.*?)```", example, re.S)[:2]
    env = dict(os.environ, PYTHONPATH=str(root))
    for cmd in commands.strip().splitlines():
        cmd = re.sub(r"^python3 ", f"{sys.executable} ", cmd)
        cmd = re.sub(r"^tweakgui ", f"{sys.executable} -m tweakgui ", cmd)
        r = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stderr)
    assert {p.name for p in (tmp_path / "aligned").iterdir()} == set(listing.split())
    demo = make_catalog_visit(tmp_path / "truth")  # the example's visit, made again
    for name, truths in demo.truth.items():
        hlet = read_headerlet(tmp_path / "aligned" / name.replace("_cat.ecsv", "_hlet.fits"))
        assert wcs_error_mas(hlet.wcs[("SCI", 1)], truths[0], (1024, 1024)) < 0.2


STWCS_APPLY = """
import sys, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from stwcs.wcsutil import headerlet
headerlet.apply_headerlet_as_primary(sys.argv[2], sys.argv[1], attach=True, archive=True)
"""


def test_stwcs_applies_a_catalog_headerlet_to_its_image(tmp_path, capsys, peer_python):
    """A two-chip image's own sources as a catalog, its ``_flt.fits`` the WCS sidecar: the
    headerlet written from the catalog, applied to the image by stwcs, gives the true WCS."""
    import os
    import subprocess

    from astropy.io import fits
    from astropy.wcs import WCS

    python = peer_python("stwcs")
    shape = (400, 600)
    demo = make_demo_visit(tmp_path / "v", n_images=2, shape=shape, n_chips=2, seed=5)
    ref = Table.read(demo.refcat)
    for path in demo.paths:
        parts = []
        for k, truth in enumerate(demo.truth[path.name], 1):
            x, y = truth.all_world2pix(ref["RA"], ref["DEC"], 0)
            inside = (x > 0) & (x < shape[1] - 1) & (y > 0) & (y < shape[0] - 1)
            parts.append(Table({"x": x[inside], "y": y[inside], "chip": np.full(inside.sum(), k)}))
        vstack(parts).write(path.with_name(path.name.replace(".fits", "_cat.ecsv")))
    out = tmp_path / "out"
    rc, _, stderr = run_cli(capsys, ["align", "--catalogs", f"{tmp_path / 'v'}/*_cat.ecsv", "--abs_refcat",
                                     demo.refcat, "--output_dir", out])
    assert rc == 0, stderr
    report = json.loads((out / "tweakreg_report.json").read_text())
    assert [im["wcs_source"] for im in report["images"]] == ["sidecar demo01_flt.fits", "sidecar demo02_flt.fits"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for path in demo.paths:
        target = tmp_path / path.name
        shutil.copy(path, target)
        root = path.name.removesuffix("_flt.fits")
        proc = subprocess.run([str(python), "-c", STWCS_APPLY, str(out / f"{root}_hlet.fits"), str(target)],
                              capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        with fits.open(target) as h:
            for k, truth in enumerate(demo.truth[path.name], 1):
                assert wcs_error_mas(WCS(h["SCI", k].header, h), truth, shape) < 1.0
