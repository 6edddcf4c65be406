"""WCS files made in worker processes: asdf's validation once per tree shape."""

from __future__ import annotations

import asdf
import asdf.schema
import ceers_render as cr
import numpy as np
import pytest

from tweakgui.engine.io import jwst
from tweakgui.engine.outputs import prepared
from tweakgui.engine.outputs.jwst import wcs_file_bytes

CEERS = "jw01345001001_02201_00001"


def test_tree_shape_masks_floats_and_keeps_what_schemas_see():
    shape = prepared.tree_shape
    assert shape(b"a: [1.5, -2.e-3, 4e+07, .nan, -.inf, 12]\n") == b"a: [#, #, #, #, #, 12]\n"
    # integers (shapes, counts), strings and words holding digits are kept
    assert shape(b"shape: [6, 6]\nv: 6.0.0\nname: x1.5\n") == b"shape: [6, 6]\nv: 6.0.0\nname: x1.5\n"
    # a flow collection wrapped elsewhere because its numbers are wider has the same shape
    assert shape(b"w: {a: 1.25, b: 'p[',\n  c: 2.5}\n") == shape(b"w: {a: 1.2500001,\n    b: 'p[', c: 2.5}\n")
    # block structure is not flattened
    assert shape(b"a:\n  b: 1.0\nc: 2.0\n") != shape(b"a:\n  b: 1.0\n  c: 2.0\n")
    # nothing after the YAML document (binary blocks) counts
    assert shape(b"a: 1.0\n...\n\xd3BLK1") == shape(b"a: 1.0\n...\n\xd3BLK2") == b"a: #"
    # unbalanced brackets: the YAML as it is, line breaks included
    assert shape(b"a: x[\nb: 1.0\n") == b"a: x[\nb: #\n"


@pytest.fixture()
def ceers_wcs(shared_data):
    out = []
    for det in ("nrca1", "nrca2", "nrcblong"):
        e = jwst.read_wcs_exposure(cr.wcs_file(CEERS, det, shared_data / "ceers-nircam"))
        out.append((e.root, e.chips[0].wcs, dict(e.chips[0].meta["wcsinfo"])))
    return out


@pytest.fixture()
def validations(monkeypatch):
    """Counts asdf's tree validations on write (``dump_tree`` looks the function up at each call)."""
    calls = []
    real = asdf.schema.validate

    def counting(instance, *args, **kwargs):
        if not kwargs.get("reading"):
            calls.append(1)
        return real(instance, *args, **kwargs)

    monkeypatch.setattr(asdf.schema, "validate", counting)
    monkeypatch.setattr(prepared, "_validated_shapes", set())
    return calls


def test_one_validation_per_tree_shape_and_the_same_tree_written(ceers_wcs, validations, tmp_path):
    made = [prepared.wcs_file_bytes_validated_once(*p) for p in ceers_wcs]
    assert len(validations) == 1  # three detectors' GWCS differ only in numbers
    assert len(prepared._validated_shapes) == 1
    # another wcsinfo key is another shape: validated again
    root, wcs, info = ceers_wcs[0]
    prepared.wcs_file_bytes_validated_once(root, wcs, {**info, "extra_key": 3})
    assert len(validations) == 2
    # what was written unvalidated reads back as the validated write's tree
    y, x = np.mgrid[0:2047:5j, 0:2047:5j]
    for (root, wcs, info), content in zip(ceers_wcs, made):
        (tmp_path / "a.asdf").write_bytes(content)
        (tmp_path / "b.asdf").write_bytes(wcs_file_bytes(root, wcs, info))
        with asdf.open(tmp_path / "a.asdf") as a, asdf.open(tmp_path / "b.asdf") as b:
            assert a["filename"] == b["filename"] == f"{root}_tweakreg.fits"
            assert a["wcsinfo"] == b["wcsinfo"] == info
            assert [s.frame.name for s in a["wcs"].pipeline] == [s.frame.name for s in b["wcs"].pipeline]
            np.testing.assert_array_equal(np.array(a["wcs"](x, y)), np.array(b["wcs"](x, y)))
            np.testing.assert_array_equal(np.array(a["wcs"].invert(*b["wcs"](x, y))),
                                          np.array(b["wcs"].invert(*b["wcs"](x, y))))


def test_a_tree_asdf_refuses_fails_the_write_and_is_not_remembered(ceers_wcs, validations, monkeypatch):
    def refuse(instance, *args, **kwargs):
        raise asdf.ValidationError("refused")

    monkeypatch.setattr(asdf.schema, "validate", refuse)
    with pytest.raises(asdf.ValidationError):
        prepared.wcs_file_bytes_validated_once(*ceers_wcs[0])
    assert prepared._validated_shapes == set()
    # and asdf's module is left as it was: an ordinary write validates again
    with pytest.raises(asdf.ValidationError):
        wcs_file_bytes(*ceers_wcs[0])
