"""Poisson and Gaussian tail probabilities of the verdict, from ``scipy.special``.

The same numbers as ``scipy.stats.poisson.sf``/``logsf`` and ``scipy.stats.norm.isf``
(which compute them with these very functions), without importing
``scipy.stats``: that import alone costs a run more CPU than its matching
and fitting together.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri, pdtrc

__all__ = ["poisson_sf", "poisson_logsf", "gauss_isf"]


def poisson_sf(k: float, mu: float) -> float:
    """P(N > k) for N ~ Poisson(``mu``), ``mu`` >= 0 (``scipy.stats.poisson.sf``)."""
    if math.isnan(k) or not mu >= 0:
        return math.nan
    if k < 0:
        return 1.0
    if math.isinf(k):
        return 0.0
    return float(np.clip(pdtrc(math.floor(k), mu), 0.0, 1.0))


def poisson_logsf(k: float, mu: float) -> float:
    """log P(N > k) for N ~ Poisson(``mu``) (``scipy.stats.poisson.logsf``)."""
    if math.isnan(k) or not mu >= 0:
        return math.nan
    if k < 0:
        return 0.0
    if math.isinf(k):
        return -math.inf
    with np.errstate(divide="ignore"):
        return float(np.log(pdtrc(math.floor(k), mu)))


def gauss_isf(q: float) -> float:
    """z such that P(Z > z) = ``q`` for a standard normal Z (``scipy.stats.norm.isf``)."""
    if not 0.0 <= q <= 1.0:
        return math.nan
    return float(-ndtri(q))
