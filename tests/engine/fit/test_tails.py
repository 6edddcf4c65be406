"""The verdict's tail probabilities are scipy.stats' numbers, without importing scipy.stats."""

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from tweakgui.engine.fit.tails import gauss_isf, poisson_logsf, poisson_sf

KS = [-3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.9999999999, 3.0, 7.5, 40.0, 1e3, math.inf]
MUS = [0.0, 1e-3, 0.25, 1.0, 3.7, 50.0, 1e4]


@pytest.mark.parametrize("mu", MUS)
@pytest.mark.parametrize("k", KS)
def test_poisson_tails_are_scipy_stats(k, mu):
    assert poisson_sf(k, mu) == float(stats.poisson.sf(k, mu))
    assert poisson_logsf(k, mu) == float(stats.poisson.logsf(k, mu))


def test_poisson_tails_outside_the_domain_are_nan():
    for f in (poisson_sf, poisson_logsf):
        assert math.isnan(f(math.nan, 1.0)) and math.isnan(f(1.0, -1.0))


@pytest.mark.parametrize("q", [0.0, 1e-300, 1e-30, 1e-7, 0.01, 0.3, 0.5, 0.9, 1.0])
def test_gauss_isf_is_scipy_stats(q):
    assert gauss_isf(q) == float(stats.norm.isf(q))


def test_gauss_isf_outside_zero_one_is_nan():
    assert math.isnan(gauss_isf(-0.1)) and math.isnan(gauss_isf(1.5))
    assert np.isnan(stats.norm.isf(1.5))


def test_the_fit_code_does_not_import_scipy_stats():
    """scipy.stats costs a run more CPU than its matching and fitting (0.4-0.7 s on import)."""
    code = ("import sys, tweakgui.engine.pipeline, tweakgui.engine.outputs.save, tweakgui.engine.fit.verdict; "
            "print('scipy.stats' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
