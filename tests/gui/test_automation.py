"""`tweakgui INPUT... --run --screenshot FILE --exit` as a user's script runs it."""

import os
import subprocess
import sys

from PySide6.QtGui import QImage


def _run(args, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    (tmp_path / "config").mkdir(exist_ok=True)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # QSettings of the test stay private
    return subprocess.run([sys.executable, "-m", "tweakgui", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)


def test_run_screenshot_exit(small_demo, tmp_path):
    shot = tmp_path / "s.png"
    p = _run([*map(str, small_demo.paths), "--abs_refcat", str(small_demo.refcat), "--run",
              "--screenshot", str(shot), "--exit"], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    img = QImage(str(shot))
    assert img.width() >= 1000 and img.height() >= 600
    # nothing was written beside the inputs
    assert sorted(x.name for x in small_demo.paths[0].parent.glob("*_tweakreg.fits")) == []


def test_failed_run_exits_nonzero(small_demo, tmp_path):
    shot = tmp_path / "s.png"
    p = _run([*map(str, small_demo.paths), "--abs_refcat", str(tmp_path / "missing.ecsv"), "--run",
              "--screenshot", str(shot), "--exit"], tmp_path)
    assert p.returncode == 2
    assert shot.exists()  # the window with its error is still captured


def test_bad_parameter_is_one_line(tmp_path):
    p = _run(["--demo", "--searchrad", "-1", "--exit"], tmp_path)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "searchrad" in p.stderr
