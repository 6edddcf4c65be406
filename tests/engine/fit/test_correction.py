"""An image's total correction on real CEERS GWCS: the reference pixel and the moved pixel are exact.

The reference pixel of a JWST GWCS without a tangent-plane correction is
taken from its distortion alone (once per detector) and checked on the sky;
the moved reference point's pixel comes from Newton steps on the forward
transform, not from the GWCS's approximate inverse.
"""

from __future__ import annotations

import ceers_render as cr
import numpy as np
import pytest

from tweakgui.engine.fit import correction
from tweakgui.engine.fit.corrector import SharedJWSTCorrector
from tweakgui.engine.geometry import separation_arcsec
from tweakgui.engine.io.jwst import read_wcs_exposure

pytestmark = pytest.mark.realdata

NAMES = ("jw01345001001_02201_00001", "jw01345001001_02201_00002")


@pytest.fixture()
def exposures(shared_data):
    shared = {}  # both files share the nrca1 distortion object, as a visit's do
    return [read_wcs_exposure(cr.wcs_file(n, "nrca1", shared_data / "ceers-nircam"), shared=shared) for n in NAMES]


def _pretweak(e):
    """The exposure with its published GWCS without v2v3corr (what CEERS started from)."""
    e.chips[0].wcs = cr.untweak(e.chips[0].wcs)
    return e


def _corrected(e, shift):
    info = e.chips[0].meta["wcsinfo"]
    c = SharedJWSTCorrector(e.chips[0].wcs, {k: info[k] for k in ("v2_ref", "v3_ref", "roll_ref", "ra_ref", "dec_ref")})
    c.set_correction(matrix=[[np.cos(2e-4), -np.sin(2e-4)], [np.sin(2e-4), np.cos(2e-4)]], shift=shift)
    return c.wcs


def _inverse_pixel(wcs, ra, dec):
    x, y = wcs.invert(ra, dec, with_bounding_box=False)
    return float(x), float(y)


@pytest.mark.parametrize("shift", [(0.3, -0.2), (12.0, -20.0)])  # arcsec in the tangent plane
def test_reference_and_moved_pixels_are_exact(exposures, shift, monkeypatch):
    monkeypatch.setattr(correction, "_DISTORTION_REF_PIXELS", {})
    for e in map(_pretweak, exposures):
        w0 = e.chips[0].wcs
        new = _corrected(e, shift)
        r = correction.image_correction(e, [new])
        info = e.chips[0].meta["wcsinfo"]
        # the reference pixel is the V2/V3 reference: on the sky at (ra_ref, dec_ref), as the inverse finds it
        assert r.ref_pixel == pytest.approx(_inverse_pixel(w0, info["ra_ref"], info["dec_ref"]), abs=1e-4)
        assert float(separation_arcsec(r.ref_ra, r.ref_dec, info["ra_ref"], info["dec_ref"])) < 1e-5
        # the old WCS's pixel at the new position of the reference pixel
        x0, y0 = r.ref_pixel
        ra_b, dec_b = new(x0, y0, with_bounding_box=False)
        ra_o, dec_o = w0(x0 + r.shift_pix[0], y0 + r.shift_pix[1], with_bounding_box=False)
        assert float(separation_arcsec(ra_b, dec_b, ra_o, dec_o)) < 1e-6  # arcsec
        # the size of the move (the tangent plane's axes are V2/V3-like, not east/north)
        assert np.hypot(*r.shift_arcsec) == pytest.approx(np.hypot(*shift), rel=0.02)
    # one distortion, one entry: the second file of the detector reused the first's reference pixel
    assert len(correction._DISTORTION_REF_PIXELS) == 1


def test_a_reference_pixel_off_the_sky_reference_is_found_by_the_inverse(exposures):
    """wcsinfo whose (ra_ref, dec_ref) is not the V2/V3 reference's sky position: the check catches it."""
    e = _pretweak(exposures[0])
    info = e.chips[0].meta["wcsinfo"]
    info["dec_ref"] += 2.0 / 3600  # 2" north of where the V2/V3 reference lands
    x, y = correction.reference_pixel(e.chips[0])
    assert (x, y) == pytest.approx(_inverse_pixel(e.chips[0].wcs, info["ra_ref"], info["dec_ref"]), abs=1e-4)
    r = correction.image_correction(e, [_corrected(e, (0.3, -0.2))])
    assert r.ref_pixel == pytest.approx((x, y), abs=1e-9)


def test_a_gwcs_with_a_correction_step_is_inverted_whole(exposures):
    """A published (tweaked) GWCS has v2v3corr: its reference pixel comes from the whole GWCS's inverse."""
    e = exposures[0]
    assert "v2v3corr" in e.chips[0].wcs.available_frames
    assert correction._distortion_reference_pixel(e.chips[0].wcs, e.chips[0].meta["wcsinfo"]) is None
    info = e.chips[0].meta["wcsinfo"]
    assert correction.reference_pixel(e.chips[0]) == pytest.approx(
        _inverse_pixel(e.chips[0].wcs, info["ra_ref"], info["dec_ref"]), abs=1e-4)


def test_gwcs_evaluated_step_by_step_is_gwcs_bit_for_bit(exposures):
    """geometry.gwcs_forward: the numbers of ``wcs.forward_transform`` and of ``wcs(x, y)`` (its bounding
    box: edges inside, NaN outside), a remembered distortion included, and the caller's arrays its own."""
    from tweakgui.engine import geometry

    a, b = (e.chips[0].wcs for e in exposures)
    assert a.pipeline[0].transform is b.pipeline[0].transform  # one distortion, two pointings
    rng = np.random.default_rng(5)
    x = np.r_[rng.uniform(-20, 2070, 40), -0.5, 2047.5, 2047.51, -0.51]
    y = np.r_[rng.uniform(-20, 2070, 40), 10.0, 2047.5, 10.0, 10.0]
    before = list(geometry.memo_hits)
    for w in (a, b, a):
        for bbox in (False, True):
            got = geometry.gwcs_forward(w, bounding_box=bbox)(x, y)
            want = w(x, y) if bbox else w.forward_transform(x, y)
            for g, v in zip(got, want):
                np.testing.assert_array_equal(g, v)
            if bbox:
                assert np.isnan(got[0][-2:]).all() and np.isfinite(got[0][-4:-2]).all()
    assert geometry.memo_hits[0] > before[0]  # the second pointing and the repeats reuse the distortion
    # the distortion's remembered outputs are copies: changing what one caller got changes nothing
    got = geometry.gwcs_forward(a)(x[:5], y[:5])
    got[0][:] = 0.0
    np.testing.assert_array_equal(geometry.gwcs_forward(a)(x[:5], y[:5])[0], a.forward_transform(x[:5], y[:5])[0])
    # scalars stay scalars, as gwcs gives them
    assert geometry.gwcs_forward(a, bounding_box=True)(3.0, 4.0) == a(3.0, 4.0)


def test_corrector_transforms_are_gwcs_ones(exposures):
    """The shared corrector's chained transforms give what gwcs' get_transform gives."""
    e = _pretweak(exposures[0])
    new = _corrected(e, shift=[0.3, -0.2])
    info = e.chips[0].meta["wcsinfo"]
    c = SharedJWSTCorrector(new, {k: info[k] for k in ("v2_ref", "v3_ref", "roll_ref")})
    x, y = np.linspace(0, 2047, 7), np.linspace(2047, 0, 7)
    ra, dec = new(x, y)
    v2, v3 = new.get_transform("detector", "v2v3corr")(x, y)
    np.testing.assert_array_equal(c._det_to_v23(x, y), (v2, v3))
    np.testing.assert_array_equal(c._v23_to_world(v2, v3), new.get_transform("v2v3corr", "world")(v2, v3))
    np.testing.assert_array_equal(c._world_to_v23(ra, dec), new.get_transform("world", "v2v3corr")(ra, dec))
    np.testing.assert_array_equal(c._v23_to_det(v2, v3), new.get_transform("v2v3corr", "detector")(v2, v3))
