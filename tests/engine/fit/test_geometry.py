"""proper_rotation_deg of a total matrix, against tweakwcs' own fits."""

from __future__ import annotations

import numpy as np
import pytest
from tweakwcs.linearfit import iter_linear_fit

from tweakgui.engine.geometry import compose, proper_rotation_deg


def _rot(t_deg, sx=1.0, sy=1.0):
    t = np.radians(t_deg)
    return np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) @ np.diag([sx, sy])


@pytest.mark.parametrize("fitgeom", ["rshift", "rscale", "general"])
def test_same_as_tweakwcs_proper_rot(fitgeom):
    rng = np.random.default_rng(3)
    uv = rng.uniform(-500, 500, (200, 2))
    m = _rot(0.037, 1.0002, 1.0002 if fitgeom != "general" else 0.9997)
    if fitgeom == "rshift":
        m = _rot(0.037)
    xy = uv @ m.T + [1.5, -0.25]
    fit = iter_linear_fit(xy, uv, fitgeom=fitgeom, nclip=0)
    assert proper_rotation_deg(fit["matrix"]) == pytest.approx(fit["proper_rot"], abs=1e-10)
    assert proper_rotation_deg(fit["matrix"]) == pytest.approx(0.037, abs=1e-8)


def test_total_of_two_stages_is_the_sum_of_rotations():
    """A relative stage of +0.013 deg then an absolute one of -0.004 deg: +0.009 deg in total,
    while the last stage alone says -0.004 deg."""
    first, second = _rot(0.013, 1.0001, 1.0001), _rot(-0.004)
    total = compose(first, second)
    np.testing.assert_allclose(total, second @ first)
    assert proper_rotation_deg(total) == pytest.approx(0.009, abs=1e-12)
    assert proper_rotation_deg(second) == pytest.approx(-0.004, abs=1e-12)


def test_reflection_as_tweakwcs():
    """A parity flip (improper matrix): the same angle tweakwcs reports."""
    rng = np.random.default_rng(4)
    uv = rng.uniform(-500, 500, (200, 2))
    xy = uv @ (np.diag([-1.0, 1.0]) @ _rot(0.02)).T
    fit = iter_linear_fit(xy, uv, fitgeom="general", nclip=0)
    assert not fit["proper"]
    assert proper_rotation_deg(fit["matrix"]) == pytest.approx(fit["proper_rot"], abs=1e-10)


def test_bad_matrices_are_named():
    with pytest.raises(ValueError, match="2x2"):
        proper_rotation_deg(np.eye(3))
    with pytest.raises(ValueError, match="non-singular"):
        proper_rotation_deg(np.zeros((2, 2)))
