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
