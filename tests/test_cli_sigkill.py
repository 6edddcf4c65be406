"""``tweakgui align --in_place`` killed with SIGKILL at random moments loses nothing.

The engine-level test (tests/engine/io/test_atomic.py) kills a writer loop; this
one kills the real command while it aligns and rewrites the inputs.  After
every kill each input is either its old bytes or a complete new file: same
pixels, a valid tweaked WCS, and the original WCS archived so that
``tweakgui restore`` brings it back exactly.  Only hidden temporary files may
be left beside it.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import procs
import pytest
from astropy.io import fits

from tweakgui.cli import main
from tweakgui.engine.io.atomic import TMP_MARKER
from tweakgui.engine.outputs.history import wcs_cards, wcs_history
from tweakgui.engine.synthetic import make_demo_visit

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _align(d, images):
    return [sys.executable, "-m", "tweakgui", "align", *map(str, images), "--abs_refcat",
            str(d / "refcat.ecsv"), "--in_place", "--output_dir", str(d / "out"), "--quiet"]


def _kill(proc):
    """SIGKILL the command and its worker processes (a killed parent does not take its pool along)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_sigkill_during_in_place_run(tmp_path, capsys):
    src = tmp_path / "src"
    make_demo_visit(src, n_images=3, shape=(384, 384), seed=2)
    images = sorted(p.name for p in src.glob("*_flt.fits"))
    orig = {n: (_sha(src / n), wcs_cards(fits.getheader(src / n, "SCI")), fits.getdata(src / n, "SCI"))
            for n in images}
    # how long a whole run takes here, to kill inside it
    d = tmp_path / "timing"
    shutil.copytree(src, d)
    t0 = time.perf_counter()
    done = subprocess.run(_align(d, [d / n for n in images]), capture_output=True, text=True, timeout=300)
    duration = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    rng = random.Random(6)
    outcomes = []
    for k in range(8):
        d = tmp_path / f"run{k}"
        shutil.copytree(src, d)
        # its own process group: the detection workers die with it (see _kill)
        proc = subprocess.Popen(_align(d, [d / n for n in images]), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        if k % 2:  # anywhere in the run
            time.sleep(duration * rng.uniform(0.2, 1.1))
        else:  # while writing: the output directory appears when saving starts
            t_end = time.monotonic() + 120
            while not (d / "out").exists() and proc.poll() is None and time.monotonic() < t_end:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.25))
        _kill(proc)
        new = 0
        for n in images:
            p = d / n
            sha, cards, data = orig[n]
            if _sha(p) == sha:
                continue
            new += 1
            with fits.open(p) as h:  # complete: every HDU and all the pixels are there
                h.verify("exception")
                np.testing.assert_array_equal(h["SCI"].data, data)
                assert h["SCI"].header["WCSNAME"] == "TWEAK"
                assert wcs_cards(h["SCI"].header, "A") == cards
            assert [x["key"] for x in wcs_history(p)] == [" ", "A"]
            assert main(["restore", str(p)]) == 0
            assert wcs_cards(fits.getheader(p, "SCI")) == cards
        leftovers = [p.name for p in d.iterdir() if p.name not in images and not p.is_dir()]
        assert all(TMP_MARKER in x for x in leftovers if x not in ("refcat.ecsv", "images.lst")), leftovers
        outcomes.append(new)
    capsys.readouterr()
    print(f"run {duration:.1f} s; images already replaced when killed: {outcomes}")
    assert len(outcomes) == 8


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_detection_workers_die_with_a_killed_run(tmp_path):
    """SIGKILL of the run alone (as the OOM killer does): its detection workers do not linger."""
    make_demo_visit(tmp_path, n_images=4, shape=(512, 512), seed=2)
    images = sorted(tmp_path.glob("*_flt.fits"))
    proc = subprocess.Popen([sys.executable, "-m", "tweakgui", "align", *map(str, images), "--jobs", "2",
                             "--output_dir", str(tmp_path / "out"), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        workers: set[int] = set()
        t_end = time.monotonic() + 120
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < t_end:
            workers = procs.children(proc.pid)
            time.sleep(0.01)
        if len(workers) < 2:
            pytest.skip("the run finished before its detection pool was seen")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t_end = time.monotonic() + 10
        while any(procs.alive(w) for w in workers) and time.monotonic() < t_end:
            time.sleep(0.05)
        left = [w for w in workers if procs.alive(w)]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, never beyond this test
        except ProcessLookupError:
            pass
    assert not left, f"detection workers {left} outlived the killed run"
