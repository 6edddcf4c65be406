"""JWST WCS history: in-place writes archive the replaced GWCS, ``restore`` brings the original back.

A rendered CEERS NIRCam cal file (pre-tweak WCS, sources drawn through the
published WCS; see ``tests/ceers_render.py``) is aligned in place twice, or
given a saved WCS with ``apply-wcs --in_place``.  The history kept inside the
datamodel must hold every replaced GWCS exactly, and ``tweakgui restore``
must bring back the original GWCS (identical world coordinates over a 20x20
pixel grid, tolerance 1e-9 mas; in practice 0) and ``meta.wcsinfo`` (every
key equal), archiving the current WCS first.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ceers_render as cr
import numpy as np
import pytest
from stdatamodels.jwst import datamodels
from tweakwcs.correctors import JWSTWCSCorrector

from tweakgui import cli
from tweakgui.engine.io import jwst
from tweakgui.engine.io.atomic import TMP_MARKER
from tweakgui.engine.model import FitResult, ImageResult, InputError
from tweakgui.engine.outputs import jwst as jwst_outputs
from tweakgui.engine.outputs import jwst_history
from tweakgui.engine.outputs.history import wcs_history
from tweakgui.engine.outputs.restore import restore, restore_main
from tweakgui.engine.params.spec import TweakRegParams

pytestmark = pytest.mark.realdata

NAME = "jw01345001001_02201_00002"
DET = "nrca3"
EXACT_MAS = 1e-9
# CEERS' nircam1/f115w absolute parameters with tweakgui's sep finder (as the CEERS test)
ALIGN_ARGS = ["--starfinder", "sep", "--kernel_fwhm", "1.5", "--snr_threshold", "2.5", "--bkg_boxsize", "100",
              "--npixels", "16", "--abs_minobj", "20", "--abs_searchrad", "1.0", "--abs_separation", "0.6",
              "--abs_tolerance", "0.4", "--abs_nclip", "1", "--abs_sigma", "0.6",
              "--abs_fitgeometry", "rshift"]


@pytest.fixture(scope="module")
def cal(shared_data, tmp_path_factory):
    return cr.render_image(NAME, DET, tmp_path_factory.mktemp("cal"), seed=7,
                           ceers=shared_data / "ceers-nircam")


@pytest.fixture
def image(cal, tmp_path):
    """A fresh copy of the rendered cal file and its original (GWCS, wcsinfo)."""
    p = tmp_path / cal.path.name
    shutil.copyfile(cal.path, p)
    return p, _state(p)


def _state(path):
    with datamodels.open(path) as m:
        return m.meta.wcs, dict(m.meta.wcsinfo.instance), m.meta.cal_step.instance.get("tweakreg")


def _dist(w1, w2):
    return cr.wcs_distance_mas(w1, w2, n=20).max()


def _assert_same(state, ref):
    assert _dist(state[0], ref[0]) < EXACT_MAS
    assert state[1] == ref[1]


def _entries(path):
    with datamodels.open(path) as m:
        return [(e["wcs"], dict(e["wcsinfo"]), e["reason"]) for e in jwst_history.model_history(m)]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


_PUB = {}


def _published(shared_data):
    if "wcs" not in _PUB:
        import asdf

        with asdf.open(cr.wcs_file(NAME, DET, shared_data / "ceers-nircam"), lazy_load=False) as af:
            w = af["wcs"]
        w.bounding_box = ((-0.5, 2047.5), (-0.5, 2047.5))
        _PUB["wcs"] = w
    return _PUB["wcs"]


def _tweak_in_place(path, shift=(0.12, -0.05), rot_arcsec=30.0):
    e = jwst.read_jwst_exposure(path)
    chip = e.chips[0]
    corr = JWSTWCSCorrector(chip.wcs, chip.meta["wcsinfo"])
    t = np.radians(rot_arcsec / 3600)
    corr.set_correction([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], shift)
    fits_ = [FitResult(group_id=e.group_id, kind="absolute", status="SUCCESS")]
    r = ImageResult(exposure=e, status="SUCCESS", fits=fits_, new_wcs=[corr.wcs])
    jwst_outputs.write_jwst_tweaked(r, None, TweakRegParams(abs_refcat="GAIADR3"), in_place=True)


@pytest.mark.slow
def test_cli_align_in_place_twice_then_restore(image, shared_data, tmp_path, capsys):
    path, orig = image
    refcat = str(shared_data / "ceers-nircam" / cr.REFCAT)
    with datamodels.open(path) as m:
        data0 = np.array(m.data)
    states = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        rc = cli.main(["align", str(path), "--in_place", "--abs_refcat", refcat, "--output_dir", str(out),
                       *ALIGN_ARGS])
        assert rc == 0, capsys.readouterr().err
        rep = json.loads((out / "tweakreg_report.json").read_text())
        assert [i["status"] for i in rep["images"]] == ["SUCCESS"]
        states.append(_state(path))
    # each run landed near CEERS' published WCS (the rendered truth), far from the pre-tweak one
    assert _dist(orig[0], _published(shared_data)) > 100
    for s in states:
        assert np.sqrt(np.mean(cr.wcs_distance_mas(s[0], _published(shared_data)) ** 2)) < 5.0
        assert s[2] == "COMPLETE"

    # the history: the pre-tweak WCS, then the first run's, each exactly
    hist = _entries(path)
    assert [h[2] for h in hist] == ["align --in_place"] * 2
    _assert_same(hist[0], orig)
    _assert_same(hist[1], states[0])

    capsys.readouterr()
    rc = cli.main(["restore", str(path)])
    assert rc == 0 and capsys.readouterr().out.strip() == f"{path}: restored WCS 1"
    now = _state(path)
    _assert_same(now, orig)
    assert now[2] is None  # the cal_step flag as it was
    hist = _entries(path)
    assert len(hist) == 3
    _assert_same(hist[0], orig)  # never overwritten
    _assert_same(hist[1], states[0])
    _assert_same(hist[2], states[1])  # the WCS restore replaced is kept
    with datamodels.open(path) as m:
        np.testing.assert_array_equal(np.asarray(m.data), data0)
        assert m.meta.filename == path.name

    assert restore_main([str(path), "--list"], stream=(buf := io.StringIO())) == 0
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4 and lines[1].startswith(f"{path}: 1 ") and "original" in lines[1]
    assert "restore of entry 1" in lines[3]


def test_in_place_history_is_append_only(image):
    path, orig = image
    _tweak_in_place(path)
    t1 = _state(path)
    _tweak_in_place(path, shift=(-0.3, 0.2), rot_arcsec=-10.0)
    t2 = _state(path)
    assert _dist(t1[0], orig[0]) > 100 and _dist(t2[0], t1[0]) > 100
    assert t2[0].name == "FIT-LVL3-GAIADR3"
    # SIP and S_REGION were refreshed by the write: the archive must hold the old ones
    assert t1[1]["s_region"] != orig[1]["s_region"]
    hist = [(h["key"], h["name"], h["original"]) for h in wcs_history(path)]
    assert hist == [(" ", "FIT-LVL3-GAIADR3", False), ("1", orig[0].name, True),
                    ("2", "FIT-LVL3-GAIADR3", False)]

    # a chosen entry: the first run's result, with its SIP and S_REGION
    assert restore(path, key="2") == "2"
    _assert_same(_state(path), t1)
    # then the original; restoring it twice adds nothing (already archived identically)
    assert restore(path) == "1"
    _assert_same(_state(path), orig)
    n = len(wcs_history(path))
    assert restore(path) == "1"
    assert len(wcs_history(path)) == n == 4  # current + entries 1 (orig), 2 (t1), 3 (t2)
    entries = _entries(path)
    _assert_same(entries[0], orig)
    _assert_same(entries[1], t1)
    _assert_same(entries[2], t2)
    # and the archived SIP of the original is the file's original SIP, key by key
    assert {k: v for k, v in entries[0][1].items() if k.startswith(("a_", "b_", "ap_", "bp_"))} == \
        {k: v for k, v in orig[1].items() if k.startswith(("a_", "b_", "ap_", "bp_"))}


def test_apply_wcs_in_place_archives(image, shared_data, capsys):
    path, orig = image
    wcs_dir = shared_data / "ceers-nircam" / cr.WCS_DIR
    assert jwst_outputs.apply_wcs_main([str(path), "--wcs_dir", str(wcs_dir), "--in_place"]) == 0
    applied = _state(path)
    assert _dist(applied[0], _published(shared_data)) == 0
    (entry,) = _entries(path)
    _assert_same(entry, orig)
    assert entry[2].startswith("apply-wcs ")
    assert cli.main(["restore", str(path)]) == 0
    _assert_same(_state(path), orig)
    _assert_same(_entries(path)[1], applied)


def test_output_elsewhere_leaves_history_alone(image, tmp_path):
    path, orig = image
    before = _digest(path)
    e = jwst.read_jwst_exposure(path)
    r = ImageResult(exposure=e, status="SUCCESS", fits=[], new_wcs=[e.chips[0].wcs])
    out = jwst_outputs.write_jwst_tweaked(r, tmp_path / "out", TweakRegParams())
    assert _digest(path) == before
    assert _entries(out) == []


def test_in_place_follows_links_and_keeps_permissions(image, tmp_path):
    path, orig = image
    os.chmod(path, 0o640)
    link = tmp_path / "link" / "linked_cal.fits"
    link.parent.mkdir()
    link.symlink_to(path)
    _tweak_in_place(link)
    assert link.is_symlink() and link.resolve() == path.resolve()
    assert (os.stat(path).st_mode & 0o777) == 0o640
    assert len(_entries(path)) == 1
    assert restore(link) == "1"
    assert link.is_symlink() and (os.stat(path).st_mode & 0o777) == 0o640
    _assert_same(_state(path), orig)
    assert not [p for d in (path.parent, link.parent) for p in d.iterdir() if TMP_MARKER in p.name]


def test_history_survives_a_plain_datamodel_save(image, tmp_path):
    """Another tool opening and saving the datamodel keeps tweakgui's history."""
    path, orig = image
    _tweak_in_place(path)
    other = tmp_path / "other_cal.fits"
    with datamodels.open(path) as m:
        m.meta.observation.date = "2022-06-22"
        m.save(other)
    assert len(_entries(other)) == 1
    restore(other)
    _assert_same(_state(other), orig)


def test_crash_during_write_keeps_old_file(image, monkeypatch):
    """A failure while writing leaves the old file (with its old WCS and history) untouched."""
    path, orig = image
    _tweak_in_place(path)
    before = _digest(path)
    real = datamodels.ImageModel.to_fits

    def dies_midway(self, init, *args, **kwargs):
        real(self, init, *args, **kwargs)
        init.write_bytes(init.read_bytes()[: 100_000])  # a partial file, then the "crash"
        raise KeyboardInterrupt

    monkeypatch.setattr(datamodels.ImageModel, "to_fits", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        _tweak_in_place(path, shift=(0.5, 0.5))
    with pytest.raises(KeyboardInterrupt):
        restore(path)
    monkeypatch.undo()
    assert _digest(path) == before
    assert not [p for p in path.parent.iterdir() if TMP_MARKER in p.name]
    assert len(_entries(path)) == 1


def test_restore_errors_are_one_line(image, capsys):
    path, _ = image
    before = _digest(path)
    assert cli.main(["restore", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "no WCS archived by tweakgui" in err
    _tweak_in_place(path)
    before = _digest(path)
    assert cli.main(["restore", str(path), "--key", "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'7'" in err
    with pytest.raises(InputError, match="archived: 1="):
        restore(path, key="x")
    with pytest.raises(InputError, match="no archived WCS named 'nope'"):
        restore(path, name="nope")
    assert _digest(path) == before


WRITER = textwrap.dedent("""
    import os, sys, time

    sys.path.insert(0, {here!r})
    import test_jwst_restore as t

    path, mode = sys.argv[1:3]
    if mode == "pause":  # hold still once the new file is written, before the rename
        real = os.fsync
        def slow_fsync(fd):
            print("FSYNC", flush=True)
            time.sleep(60)
            real(fd)
        os.fsync = slow_fsync
    print("READY", flush=True)
    i = 0
    while True:
        t._tweak_in_place(t.Path(path), shift=(0.1 * (i % 2 + 1), 0.0))
        i += 1
        print("WROTE", flush=True)
""")


def _spawn(script, path, mode):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(cr.__file__).parent),
                                                        os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, str(script), str(path), mode], stdout=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_sigkill_during_in_place_write_never_loses_the_original(image, tmp_path):
    """Killed at any moment, the file holds its original WCS: current, or archived as entry 1."""
    path, orig = image
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(here=str(Path(__file__).resolve().parent)))
    before = _digest(path)
    proc = _spawn(script, path, "pause")
    assert proc.stdout.readline().strip() == "READY"
    assert proc.stdout.readline().strip() == "FSYNC"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert _digest(path) == before  # written but not renamed: the old file, untouched
    for p in path.parent.glob(f"*{TMP_MARKER}*"):
        p.unlink()
    rng = random.Random(20261121)
    seen = []
    for k in range(3):
        proc = _spawn(script, path, "loop")
        assert proc.stdout.readline().strip() == "READY"
        if k == 2:  # the last kill comes after one write at least, however slow the machine
            assert proc.stdout.readline().strip() == "WROTE"
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        hist = _entries(path)  # the file reads as a datamodel: not partial
        seen.append(len(hist))
        if hist:
            _assert_same(hist[0], orig)
        else:
            _assert_same(_state(path), orig)
        for p in path.parent.glob(f"*{TMP_MARKER}*"):
            p.unlink()
    print(f"history lengths after each kill: {seen}")
    assert seen[-1] >= 1  # the last run completed a write before it was killed
    restore(path)
    _assert_same(_state(path), orig)
