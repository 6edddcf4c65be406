"""The ``iraf`` finder's own kernel and measurements against photutils' IRAFStarFinder on the same peaks.

:mod:`tweakgui.engine.detect.starfind` computes what photutils' IRAFStarFinder
computes, operation for operation, so that the ``iraf`` catalogs stay those of
jwst's recipe.  Same peaks in (``xycoords``), same sources and numbers out.
"""

import numpy as np
import pytest
from _stars import make_star_field

from tweakgui.engine.detect import finders, starfind
from tweakgui.engine.detect.finders import detect_sources
from tweakgui.engine.params.spec import TweakRegParams

photutils_detection = pytest.importorskip("photutils.detection")


@pytest.mark.parametrize("fwhm", [1.2, 2.5, 3.7])
@pytest.mark.parametrize("sigma_radius", [1.0, 1.5, 3.0])
def test_kernel_is_photutils_kernel(fwhm, sigma_radius):
    ours = starfind.star_kernel(fwhm, sigma_radius)
    theirs = photutils_detection.IRAFStarFinder(1.0, fwhm, sigma_radius=sigma_radius).kernel
    assert ours.data.shape == theirs.data.shape
    assert np.array_equal(ours.data, theirs.data)
    assert np.array_equal(ours.mask, theirs.mask)
    assert (ours.x_radius, ours.y_radius) == (theirs.x_radius, theirs.y_radius)


def _photutils_iraf(sub, xy, p, min_sep):
    import warnings

    from photutils import use_future_column_names

    finder = photutils_detection.IRAFStarFinder(
        1.0, p.kernel_fwhm, sigma_radius=p.sigma_radius, min_separation=min_sep,
        sharpness_range=(p.sharplo, p.sharphi), roundness_range=(p.roundlo, p.roundhi), xycoords=xy)
    with use_future_column_names(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return finder(sub)


@pytest.mark.parametrize("kw", [{}, dict(kernel_fwhm=3.0, sigma_radius=2.0),
                                dict(sharplo=0.2, sharphi=1.0, roundlo=0.0, roundhi=1.0)])
def test_measurements_are_photutils_measurements(kw):
    field = make_star_field(shape=(400, 300), nstars=120, n_cosmic=25, nan_columns=(40,), seed=11)
    p = TweakRegParams(starfinder="iraf", brightest=None, **kw)
    data = np.where(np.isfinite(field.data), field.data, 0.0).astype(np.float32) - 100.0
    bad = ~np.isfinite(field.data)
    kernel = starfind.star_kernel(p.kernel_fwhm, p.sigma_radius)
    from scipy.ndimage import convolve

    conv = convolve(data, kernel.data.astype(np.float32), mode="constant", cval=0.0)
    min_sep = max(2, int(p.minsep_fwhm * p.kernel_fwhm + 0.5))
    xy = finders._local_peaks(conv, 20.0, min_sep, bad)
    # sources at the edges too: cutouts beyond the image are zero-filled in both
    xy = np.vstack([xy, [[0, 0], [299, 399], [1, 200], [150, 398]]])
    ours = starfind.measure_stars(data, xy, kernel, (p.sharplo, p.sharphi), (p.roundlo, p.roundhi))
    theirs = _photutils_iraf(data, xy, p, min_sep)
    assert len(theirs) > 50
    assert len(ours["x"]) == len(theirs)
    for a, b in (("x", "x_centroid"), ("y", "y_centroid"), ("flux", "flux"), ("peak", "peak"),
                 ("sharpness", "sharpness"), ("roundness", "roundness")):
        np.testing.assert_array_equal(ours[a], np.asarray(getattr(theirs[b], "value", theirs[b]), float))


def test_detect_sources_iraf_needs_no_photutils(monkeypatch):
    """The default finder runs without importing photutils (a detection process then never pays for it)."""
    import sys

    field = make_star_field(shape=(256, 256), nstars=30, seed=5)
    monkeypatch.setitem(sys.modules, "photutils", None)  # any import of photutils now fails
    monkeypatch.setitem(sys.modules, "photutils.detection", None)
    cat = detect_sources(field.data, TweakRegParams(starfinder="iraf", brightest=None))
    assert len(cat) >= 25
