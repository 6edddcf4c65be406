"""SIGINT and SIGTERM end ``tweakgui align`` quickly and cleanly, at every stage of a run.

Each case starts the real command on a small four-image visit (detection on
two worker processes) and sends the signal at a point recognised from the
outside, so the test is repeatable:

* ``start-up``: as soon as the process catches SIGTERM (its handlers are in
  place, the heavy imports are still running);
* ``detection``: the first progress line is out and both workers are alive;
* ``fitting``: the "absolute alignment" progress line is out;
* ``writing``: a temporary ``.<name>.tweakgui-tmp-*`` file has appeared
  beside an output (or, with ``--in_place``, beside an input).

SIGINT goes to the whole process group, as Ctrl-C in a terminal does;
SIGTERM to the run alone, as ``kill`` does.  After each: exit 130 or 143
within 5 s, one line on stderr, no traceback, no temporary file, no worker
left, inputs byte-identical (with ``--in_place``: all of them old, or all of
them new), outputs all there or none.  A run that had already finished when
the signal came (possible at ``writing``) must have exited 0 with everything
written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import procs
import pytest

from tweakgui.engine.io.atomic import TMP_MARKER
from tweakgui.engine.synthetic import make_demo_visit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/task") or not hasattr(signal, "SIGTERM"),
                       reason="needs Linux /proc and POSIX signals"),
]

N_IMAGES = 4
OUTPUTS = {f"demo0{i}_{kind}.fits" for i in range(1, N_IMAGES + 1) for kind in ("tweakreg", "hlet")} | {
    "tweakreg_report.json", "tweakreg_shifts.txt", "tweakreg_shifts_wcs.fits"}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    d = tmp_path_factory.mktemp("sigsrc")
    make_demo_visit(d, n_images=N_IMAGES, shape=(512, 512), seed=2)
    return d


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (the run's workers stay in it even when orphaned)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(name))
    return out


def _no_orphans(pgid: int) -> list[int]:
    end = time.monotonic() + 3
    while _group(pgid) and time.monotonic() < end:
        time.sleep(0.02)
    return _group(pgid)


def _catches_sigterm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def _tmp_files(*dirs: Path) -> list[str]:
    return [p.name for d in dirs if d.is_dir() for p in d.iterdir() if TMP_MARKER in p.name]


def _wait_for(proc, cond, lines, timeout=120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if cond(lines):
            return True
        time.sleep(0.0005)
    return False


class _Lines:
    """stdout of the run, read by a thread (progress lines mark the stages)."""

    def __init__(self, proc):
        import threading

        self.text: list[str] = []
        self._t = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._t.start()

    def _read(self, stream):
        for line in stream:
            self.text.append(line)

    def has(self, s: str) -> bool:
        return any(s in line for line in list(self.text))


POINTS = ["start-up", "detection", "fitting", "writing"]


@pytest.mark.parametrize("in_place", [False, True], ids=["copies", "in_place"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", POINTS)
def test_signal_at_each_stage(tmp_path, source, point, signame, in_place):
    d = tmp_path / "visit"
    shutil.copytree(source, d)
    out = tmp_path / "out"
    images = sorted(d.glob("*_flt.fits"))
    before = {p.name: _sha(p) for p in d.iterdir()}
    cmd = [sys.executable, "-m", "tweakgui", "align", *map(str, images), "--abs_refcat",
           str(d / "refcat.ecsv"), "--jobs", "2", "--output_dir", str(out)]
    if in_place:
        cmd.append("--in_place")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    workers: set[int] = set()
    try:
        lines = _Lines(proc)
        if point == "start-up":
            reached = _wait_for(proc, lambda _: _catches_sigterm(proc.pid), lines)
        elif point == "detection":
            def ready(_):
                workers.update(procs.children(proc.pid))
                return lines.has("detecting sources") and len(workers) >= 2
            reached = _wait_for(proc, ready, lines)
        elif point == "fitting":
            reached = _wait_for(proc, lambda _: lines.has("absolute alignment"), lines)
        else:
            where = (d,) if in_place else (out,)
            reached = _wait_for(proc, lambda _: bool(_tmp_files(*where)), lines)
        workers |= procs.children(proc.pid)
        t0 = time.monotonic()
        if signame == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        else:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{signame} at {point}: the run did not end within 5 s")
        elapsed = time.monotonic() - t0
        err = proc.stderr.read()
        left = _no_orphans(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left, never beyond this test
        except ProcessLookupError:
            pass
        proc.wait()
    print(f"{point} {signame} in_place={in_place}: rc={rc} reached={reached} {elapsed:.2f} s")
    assert "Traceback" not in err, err
    assert elapsed < 5.0
    finished = rc == 0
    if not finished:
        assert reached or point == "writing", f"{point} was never reached"
        assert rc == 128 + getattr(signal, signame), (rc, err)
        assert err.strip().splitlines() == [f"tweakgui: interrupted by {signame}"], err
    # no worker outlives the run
    end = time.monotonic() + 3
    while any(procs.alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.02)
    assert not [w for w in workers if procs.alive(w)], "a detection worker outlived the run"
    assert not left, f"processes {left} of the run's group outlived it"
    assert not _tmp_files(d, out), _tmp_files(d, out)
    after = {p.name: _sha(p) for p in d.iterdir()}
    assert set(after) == set(before)
    changed = {n for n in before if after[n] != before[n]}
    written = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if in_place:
        # all or nothing: every image replaced, or none
        assert changed in (set(), {p.name for p in images}), changed
        assert bool(changed) == bool(written)
        if finished:
            assert changed
    else:
        assert not changed
        assert written in (set(), OUTPUTS), written
        if finished:
            assert written == OUTPUTS


def test_sigint_to_the_run_alone_while_its_workers_start(tmp_path, source):
    """Ctrl-C delivered to the main process only, the moment its first worker is forked (6 times).

    The signal is not lost (the run does not go on to write its outputs) and
    no worker is left waiting for work.
    """
    images = sorted(source.glob("*_flt.fits"))
    for k in range(6):
        out = tmp_path / f"out{k}"
        proc = subprocess.Popen([sys.executable, "-m", "tweakgui", "align", *map(str, images), "--jobs", "2",
                                 "--output_dir", str(out), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        workers: set[int] = set()
        try:
            end = time.monotonic() + 120
            while not workers and proc.poll() is None and time.monotonic() < end:
                workers = procs.children(proc.pid)
            os.kill(proc.pid, signal.SIGINT)
            rc = proc.wait(timeout=5.0)
            err = proc.stderr.read()
            left = _no_orphans(proc.pid)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        assert not left, (k, left)
        assert rc == 130, (k, rc, err)
        assert err.strip().splitlines() == ["tweakgui: interrupted by SIGINT"], err
        assert not out.exists() or not any(out.iterdir())
        end = time.monotonic() + 3
        while any(procs.alive(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.02)
        assert not [w for w in workers if procs.alive(w)]
