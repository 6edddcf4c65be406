"""The desktop build: PyInstaller spec, build script and the frozen application.

The frozen build takes about a minute or more on two cores; it runs once per test
session (shared by xdist workers through a lock) into pytest's temporary directory.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tweakgui

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 300

# the first test that needs the frozen app waits for a PyInstaller build (2-3 min on 2 cores)
pytestmark = [pytest.mark.timeout(1500), pytest.mark.xdist_group("frozen-app")]


def test_build_script_and_spec_are_wellformed():
    build = PACKAGING / "build.sh"
    assert os.access(build, os.X_OK), "packaging/build.sh must be executable"
    subprocess.run(["bash", "-n", str(build)], check=True)
    spec = (PACKAGING / "tweakgui.spec").read_text()
    compile(spec, "tweakgui.spec", "exec")
    # asdf finds GWCS converters through entry points: their metadata must be bundled
    for dist in ("asdf-astropy", "asdf_wcs_schemas", "asdf_transform_schemas", "asdf_standard",
                 "asdf_coordinates_schemas", "gwcs", "stdatamodels"):
        assert f'"{dist}"' in spec, dist
    entry = (PACKAGING / "tweakgui_entry.py").read_text()
    assert "from tweakgui.cli import main" in entry


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory):
    """Path of the frozen ``tweakgui`` executable, built once per test session."""
    # Under xdist the parent of the base temp is this session's directory, shared by
    # its workers; without xdist the base temp itself is.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    dist = shared / "frozen-dist"
    exe = dist / "tweakgui" / "tweakgui"
    with open(shared / "frozen-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        failed = shared / "frozen-build.failed"
        if failed.exists():
            pytest.fail(f"the frozen build failed earlier in this session: {failed.read_text()}")
        if not exe.exists():
            env = dict(os.environ, PYTHON=sys.executable)
            t0 = time.perf_counter()
            proc = subprocess.run(
                ["bash", str(PACKAGING / "build.sh"), str(dist)],
                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env,
            )
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                failed.write_text(proc.stderr[-2000:])
                pytest.fail(f"build.sh exited {proc.returncode}:\n{proc.stderr[-4000:]}")
            assert proc.stdout.strip().splitlines()[-1] == str(exe)
            print(f"frozen build took {elapsed:.0f} s")
    assert exe.exists() and os.access(exe, os.X_OK)
    return exe


@pytest.mark.slow
def test_frozen_version(frozen_app):
    proc = subprocess.run([str(frozen_app), "--version"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"tweakgui {tweakgui.__version__}"
    # the build must be self-contained: nothing of it lives in the source tree
    assert ROOT not in frozen_app.parents
    share = frozen_app.parent / "share"
    assert (share / "applications" / "tweakgui.desktop").is_file()
    assert (share / "metainfo" / "io.github.tweakgui.metainfo.xml").is_file()
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / "io.github.tweakgui.png").is_file()


def _png_stats(path):
    """(width, height, number of distinct colours on a 64 x 64 sample grid)."""
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    assert not img.isNull(), f"{path} is not a readable image"
    w, h = img.width(), img.height()
    colours = {img.pixel(int(i * (w - 1) / 63), int(j * (h - 1) / 63))
               for i in range(64) for j in range(64)}
    return w, h, len(colours)


@pytest.mark.slow
def test_frozen_demo_screenshot_under_xvfb(frozen_app, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian package xvfb): cannot show a real window")
    shot = tmp_path / "s.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24",
         str(frozen_app), "--demo", "--run", "--screenshot", str(shot), "--exit"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert shot.exists(), "no screenshot written"
    assert shot.stat().st_size > 20_000, f"screenshot is only {shot.stat().st_size} bytes"
    w, h, ncolours = _png_stats(shot)
    assert w >= 800 and h >= 500, (w, h)
    # a window with panels, an image and plots has many colours; a blank one has one or two
    assert ncolours >= 50, f"screenshot has only {ncolours} distinct colours on a 64x64 grid"


@pytest.mark.slow
def test_frozen_headless_align(frozen_app, tmp_path):
    """The frozen app aligns a synthetic visit: photutils, tweakwcs and scipy work frozen."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas

    demo = make_demo_visit(tmp_path / "visit", n_images=2, shape=(512, 512), seed=3)
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(frozen_app), "align", f"@{demo.list_file}", "--abs_refcat", str(demo.refcat),
         "--output_dir", str(out)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=demo.list_file.parent,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    import json

    report = json.loads((out / "tweakreg_report.json").read_text())
    rows = report["images"]
    assert [r["status"] for r in rows] == ["SUCCESS", "SUCCESS"], rows
    for src in demo.paths:
        root = src.name[: -len("_flt.fits")]
        with fits.open(out / f"{root}_tweakreg.fits") as hdul:
            w = WCS(hdul["SCI", 1].header, hdul)
        err = wcs_error_mas(w, demo.truth[src.name][0], (512, 512))
        # injected errors are up to 600 mas; the frozen fit must land as the dev one does
        assert err < 10.0, f"{root}: frozen alignment is {err:.1f} mas from the truth"


@pytest.mark.slow
def test_frozen_jwst_align(shared_data, frozen_app, tmp_path):
    """Frozen JWST path: datamodels, GWCS and asdf extensions found through bundled entry points.

    Two CEERS NIRCam images rendered from the published WCS are aligned by the frozen
    app to the HST catalog; the saved ``<root>_tweakreg.asdf`` must be read back (in the
    dev environment) and be close to CEERS' published WCS.
    """
    import asdf
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import ceers_render
    finally:
        sys.path.pop(0)
    ceers = shared_data / "ceers-nircam"
    (tmp_path / "in").mkdir()
    rendered = ceers_render.render_visit(tmp_path / "in", exposures=ceers_render.DEFAULT_EXPOSURES[:2],
                                         detectors=("nrca1",), ceers=ceers)
    refcat = tmp_path / "hst.ecsv"
    ceers_render.load_refcat(ceers).write(refcat)
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(frozen_app), "align", *[str(r.path) for r in rendered], "--abs_refcat", str(refcat),
         "--snr_threshold", "10", "--abs_searchrad", "1.0", "--abs_separation", "0.5",
         "--abs_tolerance", "0.2", "--abs_fitgeometry", "rshift", "--output_dir", str(out)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    r = rendered[0]
    root = r.path.name[: -len("_cal.fits")]
    with asdf.open(out / f"{root}_tweakreg.asdf", lazy_load=False) as af:
        ours = af["wcs"]
    x, y = np.meshgrid(np.linspace(0, 2047, 9), np.linspace(0, 2047, 9))
    ra_o, dec_o = ours(x.ravel(), y.ravel())
    ra_p, dec_p = r.published_wcs(x.ravel(), y.ravel())
    rms = np.sqrt(np.mean(((ra_o - ra_p) * np.cos(np.radians(dec_p))) ** 2 + (dec_o - dec_p) ** 2)) * 3.6e6
    assert rms < 5.0, f"frozen JWST alignment is {rms:.1f} mas rms from CEERS' published WCS"
