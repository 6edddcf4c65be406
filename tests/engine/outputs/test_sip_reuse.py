"""SIP keys of a detector's GWCS reused from one full gwcs fit: as accurate as gwcs' own fit, and
never reused for another distortion."""

import asdf
import ceers_render as cr
import numpy as np
import pytest
from astropy.modeling.models import Shift
from astropy.wcs import WCS

from tweakgui.engine.outputs import sip_reuse

KW = dict(max_pix_error=0.01, degree=range(1, 7), max_inv_pix_error=0.01, inv_degree=range(1, 7),
          npoints=12, projection="TAN")


def _gwcs(name, det, shared_data):
    with asdf.open(cr.wcs_file(name, det, shared_data / "ceers-nircam"), lazy_load=False, memmap=False) as af:
        return af["wcs"], dict(af["wcsinfo"])


def _kw(info):
    return {**KW, "crpix": [info["crpix1"], info["crpix2"]]}


@pytest.fixture
def templates():
    sip_reuse.clear_templates()
    yield sip_reuse._TEMPLATES
    sip_reuse.clear_templates()


def test_second_pointing_of_a_detector_gets_gwcs_own_answer(shared_data, templates):
    """Two dithers of nrca1: the second header comes from the first's fit, with its own CRVAL and CD,
    and agrees with gwcs' own fit of it to well under a microarcsecond."""
    w1, i1 = _gwcs(cr.DEFAULT_EXPOSURES[0], "nrca1", shared_data)
    w2, i2 = _gwcs(cr.DEFAULT_EXPOSURES[1], "nrca1", shared_data)
    sip_reuse.sip_header(w1, _kw(i1))
    assert len(templates) == 1
    reused = sip_reuse.sip_header(w2, _kw(i2))
    own = w2.to_fits_sip(**_kw(i2))
    assert len(templates) == 1  # no new fit: the template served
    # the pointing differs, so CRVAL differs from the template's; it equals gwcs' own
    assert abs(reused["CRVAL1"] - own["CRVAL1"]) < 1e-10 and abs(reused["CRVAL2"] - own["CRVAL2"]) < 1e-10
    for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        assert reused[k] == pytest.approx(own[k], rel=1e-7)
    for k in own:
        if k.startswith(("A_", "B_", "AP_", "BP_")):
            assert reused[k] == pytest.approx(own[k], rel=1e-4, abs=1e-20), k
    # sky positions through both headers, and through the GWCS, on a grid: < 1 µas apart
    gx, gy = cr.grid()
    ra, dec = w2(gx, gy)
    for hdr in (reused, own):
        r2, d2 = WCS(hdr).all_pix2world(gx, gy, 0)
        sep = np.hypot((r2 - ra) * np.cos(np.radians(dec)), d2 - dec) * 3.6e9  # µas
        assert sep.max() < 1.0


def test_another_distortion_is_fitted_in_full(shared_data, templates):
    """The same detector's GWCS with its distortion moved by a pixel is a new template, and its
    header is gwcs' own fit."""
    w1, i1 = _gwcs(cr.DEFAULT_EXPOSURES[0], "nrca1", shared_data)
    sip_reuse.sip_header(w1, _kw(i1))
    w2, i2 = _gwcs(cr.DEFAULT_EXPOSURES[1], "nrca1", shared_data)
    bbox = w2.bounding_box.bounding_box(order="F")
    w2.pipeline[0].transform = (Shift(1.0) & Shift(0.0)) | w2.pipeline[0].transform
    w2.bounding_box = bbox
    hdr = sip_reuse.sip_header(w2, _kw(i2))
    assert len(templates) == 2
    own = w2.to_fits_sip(**_kw(i2))
    assert all(hdr[k] == own[k] for k in own if k.startswith(("A_", "CD", "CRVAL")))


def test_a_header_that_misses_the_tolerance_is_not_used(shared_data, templates, monkeypatch):
    """Every reused header is checked against its GWCS: with a template whose CD is off, the
    check fails and gwcs fits the image itself."""
    w1, i1 = _gwcs(cr.DEFAULT_EXPOSURES[0], "nrca1", shared_data)
    w2, i2 = _gwcs(cr.DEFAULT_EXPOSURES[1], "nrca1", shared_data)
    sip_reuse.sip_header(w1, _kw(i1))
    (key, (hdr, jac, approx)), = templates.items()
    spoiled = hdr.copy()
    spoiled["CD1_1"] *= 1.001  # 1 px at the chip's edge
    templates[key] = (spoiled, jac, approx)
    calls = []
    real = type(w2).to_fits_sip
    monkeypatch.setattr(type(w2), "to_fits_sip", lambda self, **kw: calls.append(1) or real(self, **kw))
    got = sip_reuse.sip_header(w2, _kw(i2))
    assert calls == [1]
    assert got["CD1_1"] == pytest.approx(w2.to_fits_sip(**_kw(i2))["CD1_1"], rel=1e-12)
