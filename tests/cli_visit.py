"""A small two-image demo visit copied afresh for each command-line test (bad inputs, data safety)."""

import shutil
from types import SimpleNamespace

import pytest

from tweakgui.engine.synthetic import make_demo_visit

SHAPE = (256, 256)


@pytest.fixture(scope="module")
def visit_source(tmp_path_factory):
    d = tmp_path_factory.mktemp("visit_src")
    demo = make_demo_visit(d, n_images=2, shape=SHAPE, seed=2)
    return SimpleNamespace(dir=d, truth=demo.truth)


@pytest.fixture
def visit(visit_source, tmp_path):
    """The visit under ``tmp_path/visit``; ``out`` beside it, ``root`` = ``tmp_path``."""
    d = tmp_path / "visit"
    shutil.copytree(visit_source.dir, d)
    return SimpleNamespace(dir=d, a=d / "demo01_flt.fits", b=d / "demo02_flt.fits",
                           refcat=d / "refcat.ecsv", out=tmp_path / "out", truth=visit_source.truth,
                           root=tmp_path, original=visit_source.dir)


def run_cli(capsys, args):
    """``tweakgui ARGS`` in this process: (exit code, stdout, stderr)."""
    from tweakgui.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def nonblank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
