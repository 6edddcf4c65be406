"""An image's own numbers in a group fit's matches table."""

import numpy as np
from astropy.table import Table

from tweakgui.engine.fit.residual_frames import image_numbers


def _matches():
    return Table({"image": ["a", "b", "a", "a", "b", "a"],
                  "used": [True, True, False, True, True, False],
                  "excluded": [False, False, False, False, False, True],
                  "dx": [0.001, 0.010, 0.5, -0.003, 0.020, 0.9],
                  "dy": [0.002, 0.0, 0.5, 0.004, 0.0, 0.9]})


def test_counts_and_rms_of_one_image():
    n = image_numbers(_matches(), "a")
    # a's rows: used, clipped, used, excluded by the user
    assert (n.nmatch, n.nused, n.nclipped, n.nexcluded) == (3, 2, 1, 1)
    assert np.isclose(n.rms_dx_mas, np.sqrt(np.mean(np.array([1.0, -3.0]) ** 2)))
    assert np.isclose(n.rms_dy_mas, np.sqrt(np.mean(np.array([2.0, 4.0]) ** 2)))


def test_all_rows_and_no_rows():
    everything = image_numbers(_matches(), None)
    assert (everything.nmatch, everything.nused, everything.nexcluded) == (5, 4, 1)
    assert image_numbers(_matches(), "c").nmatch == 0 and np.isnan(image_numbers(_matches(), "c").rms_dx_mas)
    assert image_numbers(Table(), "a").nmatch == 0


def test_numbers_by_image_equal_each_image_numbers():
    from tweakgui.engine.fit.residual_frames import numbers_by_image

    rng = np.random.default_rng(3)
    n = 400
    t = Table({"image": rng.choice(["a", "b", "c", "d"], n), "used": rng.random(n) > 0.2,
               "excluded": rng.random(n) > 0.9, "dx": rng.normal(0, 0.01, n), "dy": rng.normal(0, 0.01, n)})
    t["used"] &= ~t["excluded"]
    t["used"][t["image"] == "d"] = False  # an image with no used match: NaN RMS
    every = numbers_by_image(t)
    assert sorted(every) == ["a", "b", "c", "d"]
    for name, got in every.items():
        want = image_numbers(t, name)
        counts = ("nmatch", "nused", "nclipped", "nexcluded")
        assert [getattr(got, k) for k in counts] == [getattr(want, k) for k in counts]
        assert np.allclose([got.rms_dx_mas, got.rms_dy_mas], [want.rms_dx_mas, want.rms_dy_mas], equal_nan=True)
    assert np.isnan(every["d"].rms_dx_mas)
    assert numbers_by_image(Table()) == {}


def test_detector_components_follow_the_chip_axes():
    """A sky residual equal to a step along the chip's +x (or +y) axis comes back as that axis's
    component, with the sign, on a rotated WCS."""
    from astropy.wcs import WCS

    from tweakgui.engine.fit.residual_frames import detector_components

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [512, 512]
    scale, theta = 0.05 / 3600, np.radians(30.0)
    w.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    x, y = np.array([100.0, 500.0, 900.0]), np.array([200.0, 512.0, 800.0])
    ra0, dec0 = w.pixel_to_world_values(x, y)
    for step, want in (((2.0, 0.0), (0.1, 0.0)), ((0.0, -3.0), (0.0, -0.15))):
        ra1, dec1 = w.pixel_to_world_values(x + step[0], y + step[1])
        de = (ra1 - ra0) * np.cos(np.radians(dec0)) * 3600
        dn = (dec1 - dec0) * 3600
        cx, cy = detector_components(w, x, y, de, dn)
        assert np.allclose(cx, want[0], atol=1e-4) and np.allclose(cy, want[1], atol=1e-4)
