"""GWCS files read with shared transforms are the GWCS asdf gives, and share each distortion once.

Four of CEERS' published NIRCam GWCS: nrca1 and nrcb1 of two exposures of
one filter.  The detector -> V2/V3 step of one detector is one object in
both exposures; every evaluation, frame, bounding box and wcsinfo value is
that of the usual reading.
"""

import asdf
import numpy as np
import pytest

import ceers_render as cr
from tweakgui.engine.io.jwst import read_wcs_exposure, read_wcs_file
from tweakgui.engine.model import InputError

pytestmark = pytest.mark.realdata

FILES = [("jw01345001001_02201_00001", "nrca1"), ("jw01345001001_02201_00002", "nrca1"),
         ("jw01345001001_02201_00001", "nrcb1"), ("jw01345001001_02201_00002", "nrcb1")]


@pytest.fixture(scope="module")
def paths(shared_data):
    return [cr.wcs_file(name, det, shared_data / "ceers-nircam") for name, det in FILES]


def test_same_gwcs_as_asdf_gives(paths):
    shared = {}
    y, x = np.mgrid[-0.5:2047.5:9j, -0.5:2047.5:9j]
    for p in paths:
        plain, plain_info = read_wcs_file(p)
        fast, fast_info = read_wcs_file(p, shared)
        assert fast.available_frames == plain.available_frames and fast.name == plain.name
        assert fast.bounding_box == plain.bounding_box
        np.testing.assert_array_equal(np.array(fast(x, y)), np.array(plain(x, y)))
        ra, dec = plain(x.ravel()[:20] + 0.25, y.ravel()[:20] + 0.25)
        np.testing.assert_array_equal(np.array(fast.invert(ra, dec)), np.array(plain.invert(ra, dec)))
        assert fast_info == plain_info
        assert {k: type(v) for k, v in fast_info.items()} == {k: type(v) for k, v in plain_info.items()}


def test_a_detector_distortion_is_read_once(paths):
    shared = {}
    a1, a1b, b1, b1b = (read_wcs_exposure(p, shared=shared).chips[0].wcs for p in paths)
    assert a1.pipeline[0].transform is a1b.pipeline[0].transform
    assert b1.pipeline[0].transform is b1b.pipeline[0].transform
    assert a1.pipeline[0].transform is not b1.pipeline[0].transform
    assert a1.pipeline[-2].transform is not a1b.pipeline[-2].transform  # each pointing its own


@pytest.mark.parametrize("what", ["broken-yaml", "no-gwcs"])
def test_a_bad_file_is_named(tmp_path, what):
    p = tmp_path / "bad.asdf"
    if what == "broken-yaml":
        p.write_bytes(b"#ASDF 1.0.0\n%YAML 1.1\n--- !core/asdf-1.1.0\nwcs: [1,\n")
    else:
        asdf.AsdfFile({"wcs": 3}).write_to(p)
    with pytest.raises(InputError, match="bad.asdf: not a readable GWCS file"):
        read_wcs_file(p, {})
