"""The bad-input matrix of ``tweakgui align`` (issue 6): one line, the right exit code, nothing lost.

Every case drives the real command line in-process (``tweakgui.cli.main``)
on a small generated visit (two 256×256 images and a reference catalog) and
checks the contract of DESIGN.md:

* exit 2 when the run cannot start: exactly one line on stderr, starting
  ``tweakgui: error:``, naming the file or parameter and the cause; no
  traceback (``--debug`` shows one); nothing in the output directory;
* exit 1 when only some images FAILED: one ``FAILED`` line per such image on
  stderr with its reason, the same reason in the report JSON, the other image
  aligned;
* in both cases the inputs are byte-identical afterwards.

Decisions where the issue is silent:

* Everything besides the pixels is checked before anything runs
  (``load_visit``): custom catalogs are read, exclusion region files and masks
  are applied to each chip; a bad one is exit 2, not one FAILED image.
* Truncated FITS files are exit 2 (astropy only warns about them).
* Disk full while writing is exit 2 and changes nothing: every file of a run
  is written beside its target first and swapped in only when all are ready
  (``--in_place`` included).  One line names the file and says "disk full".
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from cli_visit import SHAPE, visit, visit_source  # noqa: F401  (fixtures)
from cli_visit import nonblank_lines as _lines
from cli_visit import run_cli as _run

from tweakgui.engine.synthetic import wcs_error_mas


def _hashes(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def expect_exit2(capsys, visit, args, *words):
    """Run ``tweakgui align ARGS --output_dir OUT``; check the exit-2 contract; return the line."""
    before = _hashes(visit.dir)
    rc, out, err = _run(capsys, ["align", *args, "--output_dir", visit.out])
    lines = _lines(err)
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("tweakgui: error: "), lines[0]
    assert "Traceback" not in err + out
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    assert _hashes(visit.dir) == before
    assert not visit.out.exists() or not any(visit.out.iterdir()), list(visit.out.iterdir())
    return lines[0]


def expect_failed(capsys, visit, args, failed: Path, *words):
    """Run align; check exit 1: ``failed`` FAILED (stderr and report) with ``words`` in its reason."""
    before = _hashes(visit.dir)
    rc, out, err = _run(capsys, ["align", *args, "--output_dir", visit.out])
    assert rc == 1, (rc, out, err)
    assert "Traceback" not in err + out
    lines = _lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"tweakgui: {failed}: FAILED: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert _hashes(visit.dir) == before
    report = json.loads((visit.out / "tweakreg_report.json").read_text())
    by_name = {Path(r["input"]).name: r for r in report["images"]}
    bad = by_name.pop(failed.name)
    assert bad["status"] == "FAILED" and bad["output"] is None
    assert bad["reason"] and bad["reason"] in lines[0]
    (other,) = by_name.values()
    assert other["status"] in ("SUCCESS", "REFERENCE")
    assert (visit.out / Path(other["output"]).name).is_file()
    assert not (visit.out / f"{failed.name.split('_')[0]}_tweakreg.fits").exists()
    return bad["reason"]


def _set_sci(path: Path, func):
    with fits.open(path, mode="update") as h:
        h["SCI"].data = func(h["SCI"].data)


# ------------------------------------------------------------------ baseline


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_the_good_visit_aligns(capsys, visit, absolute):
    """The visit the cases break aligns: relative to 5 mas of the truth, absolute to 10 mas."""
    extra = ["--abs_refcat", visit.refcat] if absolute else []
    before = _hashes(visit.dir)
    rc, out, err = _run(capsys, ["align", visit.a, visit.b, *extra, "--output_dir", visit.out])
    assert rc == 0, err
    assert err == ""
    assert _hashes(visit.dir) == before
    errs = {}
    for p in (visit.a, visit.b):
        with fits.open(visit.out / p.name.replace("_flt", "_tweakreg")) as h:
            w = WCS(h["SCI"].header, h)
        errs[p.name] = wcs_error_mas(w, visit.truth[p.name][0], SHAPE)
    if absolute:
        assert max(errs.values()) < 10.0, errs
    else:
        # relative: demo02 lands on demo01, whose injected error remains; compare the pair
        with fits.open(visit.out / "demo01_tweakreg.fits") as h1, \
                fits.open(visit.out / "demo02_tweakreg.fits") as h2:
            w1, w2 = WCS(h1["SCI"].header, h1), WCS(h2["SCI"].header, h2)
        t1, t2 = visit.truth["demo01_flt.fits"][0], visit.truth["demo02_flt.fits"][0]
        # the same pixel offset between truth and fit on both images
        x, y = 128.0, 128.0
        d1 = np.subtract(w1.all_pix2world(x, y, 0), t1.all_pix2world(x, y, 0))
        d2 = np.subtract(w2.all_pix2world(x, y, 0), t2.all_pix2world(x, y, 0))
        assert np.hypot((d1[0] - d2[0]) * np.cos(np.radians(2.2)), d1[1] - d2[1]) * 3.6e6 < 5.0


# ------------------------------------------------------------------ exit 2: files


def test_missing_file(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.dir / "nope_flt.fits"], "nope_flt.fits", "not found")


def test_not_fits(capsys, visit):
    p = visit.dir / "text_flt.fits"
    p.write_text("this is not a FITS file\n" * 200)
    expect_exit2(capsys, visit, [visit.a, p], "text_flt.fits", "not a FITS file")


@pytest.mark.parametrize("keep", [0.5, 4000 / 273600], ids=["in-data", "in-header"])
def test_truncated_fits(capsys, visit, keep):
    raw = visit.b.read_bytes()
    p = visit.dir / "cut_flt.fits"
    p.write_bytes(raw[: int(len(raw) * keep)])
    expect_exit2(capsys, visit, [visit.a, p], "cut_flt.fits", "truncated")


@pytest.mark.parametrize("content", [b"#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nwcs: [1,\n",
                                     b"\x00garbage"], ids=["broken-yaml", "bytes"])
def test_not_a_gwcs_file(capsys, visit, content):
    p = visit.dir / "wcs.asdf"
    p.write_bytes(content)
    expect_exit2(capsys, visit, [p], "wcs.asdf", "not a readable GWCS file")


def test_fits_without_image_data(capsys, visit):
    p = visit.dir / "table_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(Table({"a": [1, 2]}))]).writeto(p)
    expect_exit2(capsys, visit, [visit.a, p], "table_flt.fits", "no 2-D image data")


def test_no_wcs(capsys, visit):
    p = visit.dir / "nowcs_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones(SHAPE, np.float32), name="SCI")]).writeto(p)
    expect_exit2(capsys, visit, [visit.a, p], "nowcs_flt.fits", "no celestial WCS")


def test_wildcard_matching_nothing(capsys, visit):
    expect_exit2(capsys, visit, [visit.dir / "zz*_flt.fits"], "zz*_flt.fits", "matches no files")


def test_list_naming_missing_files(capsys, visit):
    lst = visit.dir / "visit.lst"
    lst.write_text("demo01_flt.fits\nmissing_flt.fits\n")
    expect_exit2(capsys, visit, [f"@{lst}"], "missing_flt.fits", "not found", "visit.lst")


def test_malformed_asn(capsys, visit):
    asn = visit.dir / "bad_asn.json"
    asn.write_text('{"products": [{"members": [')
    expect_exit2(capsys, visit, [asn], "bad_asn.json", "malformed association")


def test_asn_without_science_members(capsys, visit):
    asn = visit.dir / "bg_asn.json"
    asn.write_text(json.dumps({"products": [{"members": [
        {"expname": "demo01_flt.fits", "exptype": "background"}]}]}))
    expect_exit2(capsys, visit, [asn], "bg_asn.json", "no science members")


@pytest.mark.parametrize("how", ["same", "dot-path", "list"])
def test_duplicate_inputs(capsys, visit, how):
    second = {"same": str(visit.a), "dot-path": f"{visit.dir}/./demo01_flt.fits", "list": None}[how]
    if second is None:
        lst = visit.dir / "dup.lst"
        lst.write_text("demo01_flt.fits\n")
        second = f"@{lst}"
    expect_exit2(capsys, visit, [visit.a, visit.b, second], "demo01_flt.fits", "more than once")


# ------------------------------------------------------------- exit 2: catalogs


def test_catfile_naming_missing_catalog(capsys, visit):
    cf = visit.dir / "catfile.txt"
    cf.write_text("demo01_flt.fits demo01_cat.ecsv\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--use_custom_catalogs", "true", "--catfile", cf],
                 "demo01_cat.ecsv", "not found", "catfile.txt")


def test_asn_naming_missing_catalog(capsys, visit):
    asn = visit.dir / "cat_asn.json"
    asn.write_text(json.dumps({"products": [{"members": [
        {"expname": "demo01_flt.fits", "exptype": "science", "tweakreg_catalog": "gone.ecsv"},
        {"expname": "demo02_flt.fits", "exptype": "science"}]}]}))
    expect_exit2(capsys, visit, [asn, "--use_custom_catalogs", "true"], "gone.ecsv", "not found")


def test_catalog_without_xy_columns(capsys, visit):
    Table({"u": [1.0, 2.0], "v": [3.0, 4.0]}).write(visit.dir / "uv.ecsv")
    cf = visit.dir / "catfile.txt"
    cf.write_text("demo02_flt.fits uv.ecsv\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--use_custom_catalogs", "true", "--catfile", cf],
                 "uv.ecsv", "no x/y", "demo02_flt.fits")


def test_refcat_without_radec(capsys, visit):
    p = visit.dir / "lb.ecsv"
    Table({"alpha": [1.0, 2.0], "delta": [3.0, 4.0]}).write(p)
    expect_exit2(capsys, visit, [visit.a, visit.b, "--abs_refcat", p], "lb.ecsv", "no RA/DEC")


def test_refcat_with_fewer_than_abs_minobj_sources(capsys, visit):
    p = visit.dir / "few.ecsv"
    Table({"RA": [150.1] * 5, "DEC": [2.2] * 5}).write(p)
    expect_exit2(capsys, visit, [visit.a, visit.b, "--abs_refcat", p, "--abs_minobj", "6"],
                 "few.ecsv", "5 sources", "abs_minobj=6")


def test_refcat_missing(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--abs_refcat", visit.dir / "none.ecsv"],
                 "abs_refcat", "none.ecsv", "not found")


# ----------------------------------------------------------- exit 2: exclusions


def test_unparsable_region_file(capsys, visit):
    (visit.dir / "bad.reg").write_text("# Region file format: DS9\nimage\ncircle(10,20\n")
    ex = visit.dir / "exclusions.txt"
    ex.write_text("demo02_flt.fits bad.reg\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--exclusions", ex], "bad.reg", "cannot parse",
                 "demo02_flt.fits")


def test_region_file_of_garbage(capsys, visit):
    (visit.dir / "junk.reg").write_bytes(bytes(range(256)) * 4)
    ex = visit.dir / "exclusions.txt"
    ex.write_text("demo02_flt.fits junk.reg\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--exclusions", ex], "junk.reg")


def test_exclusions_file_naming_missing_region(capsys, visit):
    ex = visit.dir / "exclusions.txt"
    ex.write_text("demo02_flt.fits nothere.reg\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--exclusions", ex], "nothere.reg", "not found")


def test_mask_of_wrong_shape(capsys, visit):
    fits.PrimaryHDU(np.ones((100, 120), np.uint8)).writeto(visit.dir / "mask.fits")
    ex = visit.dir / "exclusions.txt"
    ex.write_text("demo01_flt.fits mask.fits\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--exclusions", ex], "mask.fits", "(100, 120)",
                 "(256, 256)")


# ----------------------------------------------------------- exit 2: parameters


def test_unknown_parameter(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--snr_treshold", "5"], "--snr_treshold", "unknown")


def test_wrong_type(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--snr_threshold", "five"], "snr_threshold",
                 "must be a number", "'five'")


@pytest.mark.parametrize("name,value,words", [
    ("minobj", "0", ("minobj", ">= 1")),
    ("fitgeometry", "affine", ("fitgeometry", "must be one of")),
    ("searchrad", "-1", ("searchrad",)),
])
def test_out_of_range(capsys, visit, name, value, words):
    expect_exit2(capsys, visit, [visit.a, visit.b, f"--{name}", value], *words)


def test_separation_not_above_sqrt2_tolerance(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--separation", "1.0", "--tolerance", "0.75"],
                 "separation (1)", "sqrt(2) * tolerance")


def test_bad_value_in_config_file(capsys, visit):
    cfg = visit.dir / "visit.cfg"
    cfg.write_text("[visit]\nsnr_threshold = lots\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--config", cfg], "visit.cfg", "snr_threshold")


def test_missing_config_file(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--config", visit.dir / "none.asdf"], "none.asdf",
                 "not found")


def test_unknown_cfg_section(capsys, visit):
    cfg = visit.dir / "visits.cfg"
    cfg.write_text("[v1]\nsnr_threshold = 5\n[v2]\nsnr_threshold = 6\n")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--config", cfg, "--section", "v3"], "visits.cfg",
                 "no section [v3]", "v1, v2")


def test_parameter_without_value(capsys, visit):
    expect_exit2(capsys, visit, [visit.a, visit.b, "--snr_threshold"], "--snr_threshold", "needs a value")


# ---------------------------------------------------------- exit 2: output dir


def test_output_dir_under_a_regular_file(capsys, visit):
    blocker = visit.out.parent / "out_is_a_file"
    blocker.write_text("x")
    rc, out, err = _run(capsys, ["align", visit.a, visit.b, "--output_dir", blocker / "sub"])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err
    assert "out_is_a_file" in err and "not a directory" in err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_output_dir_where_even_root_cannot_write(capsys, visit):
    rc, out, err = _run(capsys, ["align", visit.a, visit.b, "--output_dir", "/proc/tweakgui-out"])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err
    assert "output directory /proc: not writable" in err
    assert not os.path.exists("/proc/tweakgui-out")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root can write into a read-only directory")
def test_output_dir_read_only(capsys, visit):
    visit.out.mkdir()
    visit.out.chmod(0o555)
    try:
        line = expect_exit2(capsys, visit, [visit.a, visit.b], str(visit.out), "not writable")
    finally:
        visit.out.chmod(0o755)
    assert "permission denied" in line


def test_output_would_overwrite_an_input(capsys, visit):
    p = visit.dir / "demo03_tweakreg.fits"
    shutil.copy(visit.b, p)
    before = _hashes(visit.dir)
    rc, out, err = _run(capsys, ["align", visit.a, p, "--output_dir", visit.dir])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err
    assert "demo03_tweakreg.fits: the output image would overwrite this input" in err
    assert _hashes(visit.dir) == before


def test_report_under_a_regular_file(capsys, visit):
    blocker = visit.out.parent / "report_is_a_file"
    blocker.write_text("x")
    expect_exit2(capsys, visit, [visit.a, visit.b, "--report", blocker / "r.json"], "--report",
                 "report_is_a_file")


# ------------------------------------------------------------ exit 1: one image


def test_all_nan_image_fails_alone(capsys, visit):
    _set_sci(visit.b, lambda d: np.full_like(d, np.nan))
    expect_failed(capsys, visit, [visit.a, visit.b, "--abs_refcat", visit.refcat], visit.b,
                  "no valid pixels")


def test_image_without_sources_fails_alone(capsys, visit):
    _set_sci(visit.b, lambda d: np.full_like(d, 50.0))
    expect_failed(capsys, visit, [visit.a, visit.b, "--abs_refcat", visit.refcat], visit.b,
                  "no sources found", "snr_threshold")


def test_images_that_do_not_overlap(capsys, visit):
    with fits.open(visit.b, mode="update") as h:
        h["SCI"].header["CRVAL1"] += 0.5  # 30' away: 10" images cannot overlap
    reason = expect_failed(capsys, visit, [visit.a, visit.b], visit.b, "does not overlap any other image",
                           "check its WCS or set xoffset/yoffset")
    # centres 0.5 deg × cos(2.2°) = 29.98' apart, less the two footprint radii (7.2" each)
    gap = float(re.search(r"nearest is ([\d.]+) arcmin", reason).group(1))
    assert gap == pytest.approx(29.98 - 2 * 7.2 / 60, abs=0.1)


def test_images_off_the_reference_catalog(capsys, visit):
    """Both images align to each other, but the reference catalog lies 1 deg away: both FAILED."""
    ref = Table.read(visit.refcat)
    ref["DEC"] += 1.0
    far = visit.dir / "far_refcat.ecsv"
    ref.write(far)
    before = _hashes(visit.dir)
    rc, out, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", far, "--output_dir", visit.out])
    assert rc == 1 and "Traceback" not in err
    lines = _lines(err)
    assert [line.split(": FAILED: ")[0] for line in lines] == [f"tweakgui: {visit.a}", f"tweakgui: {visit.b}"]
    for line in lines:
        assert "no reference catalog source on the image" in line
        nearest = float(re.search(r"nearest is ([\d.]+) arcmin", line).group(1))
        assert 55.0 < nearest < 60.0  # 1 deg less the catalog's and the image's extent
    report = json.loads((visit.out / "tweakreg_report.json").read_text())
    assert [r["status"] for r in report["images"]] == ["FAILED", "FAILED"]
    assert _hashes(visit.dir) == before
    assert sorted(p.name for p in visit.out.iterdir()) == ["tweakreg_fits.ecsv", "tweakreg_report.json"]


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_offset_beyond_searchrad(capsys, visit, absolute):
    with fits.open(visit.b, mode="update") as h:
        # 8" > searchrad = 2" and abs_searchrad = 6" (the absolute stage takes an image the
        # relative stage missed on its own, so it must be out of its reach too)
        h["SCI"].header["CRVAL2"] += 8.0 / 3600
    extra = ["--abs_refcat", visit.refcat] if absolute else []
    reason = expect_failed(capsys, visit, [visit.a, visit.b, *extra], visit.b, "searchrad")
    # x/yoffset exist for the relative stage only (TweakRegStep's parameters)
    assert ("raise abs_searchrad" if absolute else "raise searchrad or set x/yoffset") in reason


# ----------------------------------------------------------------- disk full


def _fill_disk_after(monkeypatch, n_ok: int):
    """Make the (n_ok+1)-th FITS write fail with ENOSPC after writing part of the file."""
    real = fits.HDUList.writeto
    calls = []

    def writeto(self, fileobj, *args, **kwargs):
        if not isinstance(fileobj, (str, os.PathLike)):  # in-memory (embedded headerlets)
            return real(self, fileobj, *args, **kwargs)
        calls.append(fileobj)
        if len(calls) > n_ok:
            with open(fileobj, "wb") as fh:
                fh.write(b"SIMPLE  =" + b"\0" * 4000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, fileobj, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", writeto)
    return calls


def test_disk_full_while_writing(capsys, visit, monkeypatch):
    calls = _fill_disk_after(monkeypatch, 2)  # image 1 and its headerlet, then full
    line = expect_exit2(capsys, visit, [visit.a, visit.b, "--abs_refcat", visit.refcat],
                        "demo02_tweakreg.fits", "disk full", "no file was written or changed")
    assert len(calls) == 3
    assert "removed" not in line


def test_disk_full_keeps_older_outputs(capsys, visit, monkeypatch):
    rc, _, err = _run(capsys, ["align", visit.a, visit.b, "--output_dir", visit.out])
    assert rc == 0, err
    old = _hashes(visit.out)
    _fill_disk_after(monkeypatch, 1)
    rc, _, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat,
                               "--output_dir", visit.out])
    assert rc == 2 and len(_lines(err)) == 1 and "disk full" in err
    # all or nothing: demo01's new image was ready but is not swapped in; no temporary file
    assert _hashes(visit.out) == old


def test_disk_full_in_place(capsys, visit, monkeypatch):
    """All or nothing: input 1 and its headerlet were ready when input 2 failed; no input changes."""
    before = _hashes(visit.dir)
    _fill_disk_after(monkeypatch, 2)
    rc, _, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--in_place",
                               "--output_dir", visit.out])
    assert rc == 2 and len(_lines(err)) == 1 and "disk full" in err and "demo02_flt.fits" in err
    assert _hashes(visit.dir) == before
    assert not visit.out.exists() or not any(visit.out.iterdir())
    assert not [p for p in visit.dir.iterdir() if "tweakgui-tmp" in p.name]


# ------------------------------------------------------------ debug, processes


@pytest.mark.parametrize("case", ["missing", "parameter"])
def test_debug_shows_the_traceback(capsys, visit, case):
    args = {"missing": [visit.dir / "nope_flt.fits"],
            "parameter": [visit.a, "--snr_threshold", "five"]}[case]
    rc, _, err = _run(capsys, ["align", *args, "--output_dir", visit.out, "--debug"])
    assert rc == 2
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("tweakgui: error: ")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tweakgui", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", ["missing", "truncated", "parameter"])
def test_process_prints_one_line_no_traceback(visit, case):
    if case == "truncated":
        (visit.dir / "cut_flt.fits").write_bytes(visit.b.read_bytes()[:100_000])
    args = {"missing": [visit.a, "nope_flt.fits"],
            "truncated": [visit.a, "cut_flt.fits"],
            "parameter": [visit.a, "--fitgeometry", "affine"]}[case]
    before = _hashes(visit.dir)
    p = _cli("align", *args, "--output_dir", "out", cwd=visit.dir)
    assert p.returncode == 2, p.stderr
    assert len(_lines(p.stderr)) == 1 and p.stderr.startswith("tweakgui: error: "), p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert not (visit.dir / "out").exists()
    assert _hashes(visit.dir) == before


def test_process_failed_image(visit):
    _set_sci(visit.b, lambda d: np.full_like(d, np.nan))
    p = _cli("align", visit.a, visit.b, "--output_dir", visit.out, cwd=visit.dir)
    assert p.returncode == 1, p.stderr
    assert _lines(p.stderr) == [f"tweakgui: {visit.b}: FAILED: SCI,1: no valid pixels (all NaN or masked)"]
    assert "FAILED" in p.stdout and "Traceback" not in p.stderr


def test_single_image_is_the_reference_and_writes_clean_headers(capsys, visit):
    """One image: nothing to align to (REFERENCE, exit 0); its long reason fits its header card."""
    import warnings

    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", VerifyWarning)
        rc, out, err = _run(capsys, ["align", visit.a, "--output_dir", visit.out])
    assert rc == 0 and err == "", err
    hdr = fits.getheader(visit.out / "demo01_tweakreg.fits")
    assert hdr["TWKSTAT"] == "REFERENCE"
    assert hdr["TWKREASN"] == "only one exposure group: nothing to align to"
