"""Exclusions keyed by sky position find their star again in a renumbered catalog."""

from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine import model
from tweakgui.engine.detect.exclusion_keys import (
    make_exclusion,
    rows_for,
    run_with_exclusions,
)
from tweakgui.engine.params.spec import TweakRegParams


def _visit():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [100.5, 100.5]
    w.wcs.cdelt = [-0.1 / 3600, 0.1 / 3600]
    chip = model.Chip("SCI,1", 1, (200, 200), w)
    return model.Visit([model.Exposure(Path("a.fits"), "fits", [chip], "g", "a")])


def test_rows_follow_the_star_and_drop_what_is_gone():
    visit = _visit()
    e, c = visit.exposures[0], visit.exposures[0].chips[0]
    cat = Table({"x": [10.0, 50.0, 90.0], "y": [20.0, 60.0, 120.0]})
    ex = [make_exclusion(e, c, 50.0, 60.0, "relative"), make_exclusion(e, c, 90.0, 120.0)]
    # renumbered, one source moved by 0.8 px (within half of kernel_fwhm=2.5), the other gone
    new = Table({"x": [150.0, 10.0, 50.8], "y": [5.0, 20.0, 60.0]})
    rows, dropped = rows_for(ex, visit, {("a.fits", "SCI,1"): new}, 1.25)
    assert rows == {ex[0]: 2} and dropped == [ex[1]]
    assert rows_for(ex, visit, {("a.fits", "SCI,1"): cat}, 1.25)[0] == {ex[0]: 1, ex[1]: 2}


def test_run_fits_again_when_detection_renumbered():
    visit = _visit()
    e, c = visit.exposures[0], visit.exposures[0].chips[0]
    old = Table({"x": [10.0, 50.0], "y": [20.0, 60.0]})
    new = Table({"x": [50.0, 10.0], "y": [60.0, 20.0]})
    calls = []

    def run(v, p, progress=None, cancel=None, catalogs=None, excluded=None):
        calls.append((catalogs, excluded))
        r = model.ImageResult(e, model.STATUS_SUCCESS, catalogs=[catalogs[("a.fits", "SCI,1")] if catalogs
                                                                 else new])
        return model.VisitResult([r], [], p)

    ex = make_exclusion(e, c, 50.0, 60.0)
    out = run_with_exclusions(run, visit, TweakRegParams(), [ex], known={("a.fits", "SCI,1"): old})
    assert [c[1] for c in calls] == [{("a.fits", "SCI,1", 1)}, {("a.fits", "SCI,1", 0)}]
    assert calls[0][0] is None  # the first call detects; the second reuses its catalogs
    assert out.rows == {ex: 0} and out.dropped == []
    assert np.isclose(ex.ra, c.wcs.pixel_to_world_values(50.0, 60.0)[0])
