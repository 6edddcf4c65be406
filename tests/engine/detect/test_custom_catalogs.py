"""Custom catalogs read once per file version: a run's check and its read parse the file once."""

from __future__ import annotations

import os

import numpy as np
from astropy.table import Table

from tweakgui.engine.detect import custom


def _write(path, x):
    Table({"x": np.asarray(x, float), "y": np.asarray(x, float) + 1.0}).write(path, format="ascii.ecsv",
                                                                             overwrite=True)


def test_an_unchanged_catalog_is_parsed_once_and_each_caller_gets_its_own_copy(tmp_path, monkeypatch):
    path = tmp_path / "cat.ecsv"
    _write(path, [1, 2, 3])
    parsed = []
    real = custom._read_custom_catalog
    monkeypatch.setattr(custom, "_read_custom_catalog", lambda p, s: parsed.append(p) or real(p, s))
    a = custom.read_custom_catalog(path)
    b = custom.read_custom_catalog(path)
    assert len(parsed) == 1
    assert list(a["x"]) == list(b["x"]) == [1, 2, 3] and list(a["y"]) == [2, 3, 4]
    a["x"][0] = 99.0  # one caller's change is not the next one's catalog
    assert custom.read_custom_catalog(path)["x"][0] == 1.0
    # a rewritten file is read again, even with the same size and within the same second
    st = os.stat(path)
    _write(path, [4, 5, 6])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert list(custom.read_custom_catalog(path)["x"]) == [4, 5, 6]
    assert len(parsed) == 2
    # another chip of a catalog of several is another entry
    Table({"x": [1.0, 2.0], "y": [1.0, 2.0], "chip": [1, 2]}).write(tmp_path / "two.ecsv", format="ascii.ecsv")
    assert list(custom.read_custom_catalog(tmp_path / "two.ecsv", ("chip", 2))["x"]) == [2.0]
    assert list(custom.read_custom_catalog(tmp_path / "two.ecsv", ("chip", 1))["x"]) == [1.0]
