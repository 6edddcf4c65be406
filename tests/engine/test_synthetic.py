"""The synthetic visit's WCS: inverse SIP that inverts the forward SIP."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui.engine.synthetic import make_demo_visit, make_sip_wcs

ROUND_TRIP_PX = 0.01


def _chip_grid(shape, n=41):
    ny, nx = shape
    yy, xx = np.mgrid[0 : ny - 1 : n * 1j, 0 : nx - 1 : n * 1j]
    return np.column_stack([xx.ravel(), yy.ravel()])


@pytest.mark.parametrize("crpix_offset", [0.0, 537.0, -537.0])
def test_inverse_sip_inverts_forward(crpix_offset):
    """sip_foc2pix(sip_pix2foc(p)) = p to 0.01 px, also with CRPIX off the chip (stacked chips)."""
    shape = (1024, 1024)
    w = make_sip_wcs(shape, (150.1, 2.2), 0.04, 12.0, crpix=[512.5, 512.5 + crpix_offset])
    p = _chip_grid(shape)
    foc = w.sip_pix2foc(p, 0)
    # the distortion is real (a few pixels at the corners), so the test means something
    assert np.abs(w.pix2foc(p, 0) - p).max() > 1.0
    assert np.abs(w.sip_foc2pix(foc, 0) - p).max() < ROUND_TRIP_PX
    assert w.sip.ap.shape[0] - 1 >= w.sip.a_order + 1


def test_demo_files_carry_an_inverse_that_works(tmp_path):
    """As FITS readers see them: every chip of a 2-chip demo file, through its header."""
    demo = make_demo_visit(tmp_path, n_images=1, shape=(256, 384), n_chips=2, seed=3)
    with fits.open(demo.paths[0]) as hdul, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        chips = [(WCS(h.header, hdul), h.data.shape) for h in hdul if h.name == "SCI"]
    assert len(chips) == 2
    for w, shape in chips:
        assert w.sip.ap is not None and w.sip.bp is not None
        p = _chip_grid(shape)
        back = w.sip_foc2pix(w.sip_pix2foc(p, 0), 0)
        assert np.abs(back - p).max() < ROUND_TRIP_PX
        # and the inverse gives sky -> pixel without iteration to the same precision
        sky = w.all_pix2world(p, 0)
        lin = w.wcs_world2pix(sky, 0)  # focal-plane pixel, 0-based
        rel = lin - (w.wcs.crpix - 1)
        direct = w.sip_foc2pix(rel - 1, 0)
        assert np.abs(direct - p).max() < ROUND_TRIP_PX
