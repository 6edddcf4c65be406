"""The JWST corrector without copies gives tweakwcs' GWCS, bit for bit, and changes no GWCS it was given.

On real CEERS NIRCam GWCS: a pre-tweak one (no ``v2v3corr``: the correction
step is inserted) and a published one (its ``v2v3corr`` is combined with the
new correction), each corrected twice in the tangent plane of another
detector, as a stage and its second step do.
"""

import copy

import numpy as np
import pytest
from tweakwcs.correctors import JWSTWCSCorrector

import ceers_render as cr
from tweakgui.engine.fit.corrector import SharedJWSTCorrector
from tweakgui.engine.io.jwst import read_wcs_file

pytestmark = pytest.mark.realdata

KEYS = ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")
STEPS = [(np.array([[1.0, 2e-5], [-2e-5, 1.0]]), np.array([0.05, -0.1])),
         (np.array([[1.0, 1e-6], [-1e-6, 1.0]]), np.array([0.001, 0.002]))]


@pytest.fixture(scope="module")
def wcs_files(shared_data):
    d = shared_data / "ceers-nircam"
    published = [read_wcs_file(cr.wcs_file("jw01345001001_02201_00001", det, d)) for det in ("nrca1", "nrcb4")]
    image, info = published[0]
    ref, ref_info = published[1]
    return {"pretweak": (cr.untweak(image), info), "published": (image, info), "ref": (ref, ref_info)}


def _sky(w):
    y, x = np.mgrid[0:2047:7j, 0:2047:7j]
    return np.array(w(x.ravel(), y.ravel(), with_bounding_box=False))


def _corrected(cls, wcs_files, which):
    w, info = wcs_files[which]
    rw, rinfo = wcs_files["ref"]
    ref = cls(rw, {k: rinfo[k] for k in KEYS})
    c = cls(w, {k: info[k] for k in KEYS})
    out = []
    for m, s in STEPS:
        c.set_correction(m, s, ref_tpwcs=ref)
        out.append(c.wcs)
    return c, out


@pytest.mark.parametrize("which", ["pretweak", "published"])
def test_same_gwcs_as_tweakwcs(wcs_files, which):
    theirs, their_wcs = _corrected(JWSTWCSCorrector, wcs_files, which)
    ours, our_wcs = _corrected(SharedJWSTCorrector, wcs_files, which)
    for a, b in zip(their_wcs, our_wcs):
        assert a.available_frames == b.available_frames
        assert [s.transform.name for s in a.pipeline[:-1]] == [s.transform.name for s in b.pipeline[:-1]]
        np.testing.assert_array_equal(_sky(a), _sky(b))
        ta, tb = (w.pipeline[w.available_frames.index("v2v3corr") - 1].transform for w in (a, b))
        np.testing.assert_array_equal(ta.parameters, tb.parameters)
    assert b.available_frames == ["detector", "v2v3", "v2v3vacorr", "v2v3corr", "world"]
    x, y = np.array([10.0, 1000.0, 2000.0]), np.array([20.0, 1500.0, 30.0])
    for name, args in (("det_to_world", (x, y)), ("det_to_tanp", (x, y)), ("tanp_to_world", (x, y)),
                       ("world_to_tanp", theirs.det_to_world(x, y)), ("world_to_det", theirs.det_to_world(x, y))):
        np.testing.assert_array_equal(getattr(theirs, name)(*args), getattr(ours, name)(*args), err_msg=name)
    assert ours.meta["matrix"] == pytest.approx(theirs.meta["matrix"], abs=0)


@pytest.mark.parametrize("which", ["pretweak", "published"])
def test_no_gwcs_handed_out_changes(wcs_files, which):
    w, _ = wcs_files[which]
    before = _sky(w)
    params = [np.array(s.transform.parameters) for s in w.pipeline[:-1]]
    _, (first, second) = _corrected(SharedJWSTCorrector, wcs_files, which)
    np.testing.assert_array_equal(_sky(w), before)
    for step, p in zip(w.pipeline[:-1], params):
        np.testing.assert_array_equal(step.transform.parameters, p)
    # the first result is not the second's, and the second correction did not reach it
    snapshot = _sky(first)
    _, (again, _) = _corrected(SharedJWSTCorrector, wcs_files, which)
    np.testing.assert_array_equal(_sky(again), snapshot)
    assert np.abs(_sky(second) - snapshot).max() > 0


def test_results_survive_a_deep_copy_and_share_the_distortion(wcs_files):
    w, _ = wcs_files["pretweak"]
    _, (first, _) = _corrected(SharedJWSTCorrector, wcs_files, "pretweak")
    assert first.pipeline[0].transform is w.pipeline[0].transform  # not copied
    np.testing.assert_array_equal(_sky(copy.deepcopy(first)), _sky(first))


@pytest.mark.parametrize("which", ["pretweak", "published"])
def test_a_corrected_gwcs_travels_as_its_correction(wcs_files, which):
    import pickle

    from tweakgui.engine.fit.corrector import apply_wcs_delta, wcs_delta

    w, _ = wcs_files[which]
    _, (_, new) = _corrected(SharedJWSTCorrector, wcs_files, which)
    delta = pickle.dumps(wcs_delta(new, w))
    assert len(delta) < 0.3 * len(pickle.dumps(new))
    back = apply_wcs_delta(pickle.loads(delta), w)
    assert back.available_frames == new.available_frames and back.name == new.name
    np.testing.assert_array_equal(_sky(back), _sky(new))
    assert back.pipeline[0].transform is w.pipeline[0].transform
    assert apply_wcs_delta(wcs_delta(w, w), w) is w
