"""A wheel (a plain pip install) ships the icons, .desktop entry and metainfo."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_resources(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = tmp_path.glob("tweakgui-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for p in (ROOT / "resources").rglob("*"):
        if p.is_file():
            assert f"tweakgui/resources/{p.relative_to(ROOT / 'resources').as_posix()}" in names
    assert "tweakgui/gui/main_window.py" in names and "tweakgui/engine/fit/align.py" in names and "tweakgui/engine/outputs/headerlet.py" in names
