"""Nothing lost (issue 6, items 2 and 3) through the command line.

* without ``--in_place`` the inputs are never opened for writing nor replaced;
* ``tweakgui align --in_place`` archives the previous WCS as an alternate WCS
  and as a headerlet embedded in the file, run after run (a history, never an
  overwritten archive), and ``tweakgui restore`` brings the original WCS back
  card for card, keeping the tweaked ones.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.cli import main
from tweakgui.engine.outputs.history import wcs_cards, wcs_history
from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas

SHAPE = (256, 256)


@pytest.fixture(scope="module")
def _source(tmp_path_factory):
    d = tmp_path_factory.mktemp("restore_src")
    demo = make_demo_visit(d, n_images=2, shape=SHAPE, seed=2)
    return d, demo.truth


@pytest.fixture
def visit(_source, tmp_path):
    src, truth = _source
    d = tmp_path / "visit"
    shutil.copytree(src, d)
    return d, [d / "demo01_flt.fits", d / "demo02_flt.fits"], d / "refcat.ecsv", truth


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _run(capsys, *args):
    capsys.readouterr()
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _sci_header(p):
    return fits.getheader(p, "SCI")


def _hdrlets(p):
    with fits.open(p) as h:
        return [x.header.get("HDRNAME") for x in h if x.name == "HDRLET"]


def test_inputs_are_never_opened_for_writing(capsys, visit, monkeypatch, tmp_path):
    d, images, refcat, _ = visit
    before = {p: _sha(p) for p in images}
    inputs = {os.path.realpath(p) for p in images}
    opened, replaced = [], []
    real_open, real_replace = builtins.open, os.replace

    def spy_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(file) in inputs:
            opened.append(mode)
        return real_open(file, mode, *args, **kwargs)

    def spy_replace(src, dst, *args, **kwargs):
        replaced.append(os.path.realpath(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "replace", spy_replace)
    rc, out, err = _run(capsys, "align", *images, "--abs_refcat", refcat, "--output_dir", tmp_path / "out")
    monkeypatch.undo()
    assert rc == 0, err
    assert opened, "the spy saw no read of the inputs"
    assert all(set(m) <= set("rbt") for m in opened), opened
    assert not inputs & set(replaced)
    assert len(replaced) >= 4  # the outputs did go through the atomic rename
    assert {p: _sha(p) for p in images} == before


def test_in_place_history_and_restore_through_the_cli(capsys, visit):
    d, images, refcat, truth = visit
    orig = {p: wcs_cards(_sci_header(p)) for p in images}
    orig_hdr = {p: _sci_header(p) for p in images}
    pixels = {p: fits.getdata(p, "SCI") for p in images}
    for run in (1, 2):
        rc, out, err = _run(capsys, "align", *images, "--abs_refcat", refcat, "--in_place",
                            "--output_dir", d / "out")
        assert rc == 0, err
        for p in images:
            hist = wcs_history(p)
            assert [h["key"] for h in hist] == [" ", "A", "B"][: run + 1]
            assert [h["name"] for h in hist[1:]] == ["OPUS", "TWEAK"][:run]
            # every archive is also a headerlet inside the file
            assert _hdrlets(p) == [f"{p.name.split('_')[0]}_OPUS-A", f"{p.name.split('_')[0]}_TWEAK-B"][:run]
            with fits.open(p) as h:
                w = WCS(h["SCI"].header, h)
                np.testing.assert_array_equal(h["SCI"].data, pixels[p])
            assert wcs_error_mas(w, truth[p.name][0], SHAPE) < 10.0  # aligned to the truth
            # the original WCS, as an alternate, is exactly the one the file had
            assert wcs_cards(_sci_header(p), "A") == orig[p]
    tweaked = {p: wcs_cards(_sci_header(p)) for p in images}
    rc, out, err = _run(capsys, "restore", *images)
    assert rc == 0, err
    assert _lines(out) == [f"{p}: restored WCS A" for p in images]
    for p in images:
        assert wcs_cards(_sci_header(p)) == orig[p]  # keyword, value, comment and order
        with fits.open(p) as h:
            w = WCS(h["SCI"].header, h)
            np.testing.assert_array_equal(h["SCI"].data, pixels[p])
        assert wcs_error_mas(w, WCS(orig_hdr[p]), SHAPE) == 0.0
        hist = wcs_history(p)
        assert [h["key"] for h in hist] == [" ", "A", "B", "C"]  # the second tweak is kept as C
        assert {b: v for b, v, _ in wcs_cards(_sci_header(p), "C")} == \
            {b: v for b, v, _ in tweaked[p]}
    # restoring again uses no new letter
    rc, out, err = _run(capsys, "restore", *images)
    assert rc == 0, err
    assert [h["key"] for h in wcs_history(images[0])] == [" ", "A", "B", "C"]
    assert all(wcs_cards(_sci_header(p)) == orig[p] for p in images)


def _lines(text):
    return [x for x in text.splitlines() if x.strip()]


def test_restore_refuses_what_was_never_tweaked(capsys, visit):
    d, images, _, _ = visit
    before = {p: _sha(p) for p in images}
    rc, out, err = _run(capsys, "restore", images[0])
    assert rc == 2
    assert len(_lines(err)) == 1 and "demo01_flt.fits" in err and "no WCS archived by tweakgui" in err
    assert "Traceback" not in err + out
    rc, out, err = _run(capsys, "restore", d / "missing_flt.fits")
    assert rc == 2 and len(_lines(err)) == 1 and "not found" in err
    assert {p: _sha(p) for p in images} == before
