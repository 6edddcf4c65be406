"""The verdict on a fit: could chance explain the match, and is the solution plausible?

A fit is SUCCESS only when every check passes:

- ``peak``: the 2D-histogram peak stands above chance (false-alarm
  probability below 1e-3 over all cells searched; 2D-histogram matcher only);
- ``chance``: the matches are far more than the pairs chance gives within
  the final radius for the two source densities in the overlap:
  the Poisson tail of ``nmatch`` given ``n_chance``, times the number of
  independent offsets the search could have chosen, below 1e-6;
- ``rmse``: the fit's rmse is below half the matching radius (pairs placed
  at random inside the radius give 0.71 of it);
- ``coarse``: the final solution moves the matched sources by what the
  coarse match found (within the initial radius);
- ``fraction``: at least 5 % of the sources that could match did;
- ``minobj``: at least ``minobj`` matches.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from tweakgui.engine.fit.tails import gauss_isf, poisson_logsf

__all__ = ["chance_matches", "judge", "sigma_of_log", "MATCH_FALSE_ALARM", "MAX_RMSE_FRACTION", "MIN_FRACTION"]

MATCH_FALSE_ALARM = 1e-6
MAX_RMSE_FRACTION = 0.5
MIN_FRACTION = 0.05


def _inside(points, hull_points) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0, bool)
    if len(hull_points) < 3:
        return np.ones(len(points), bool)
    try:
        eq = ConvexHull(hull_points).equations  # (facets, 3): n·p + d <= 0 inside
    except QhullError:  # collinear: a line has no inside, take every point
        return np.ones(len(points), bool)
    scale = float(np.ptp(hull_points, axis=0).max()) or 1.0
    return np.all(points @ eq[:, :2].T + eq[:, 2] <= 1e-9 * scale, axis=1)


def _buffered_area(points, radius) -> float:
    """Area of the convex hull of ``points`` grown by ``radius`` (hull + perimeter·r + πr²).

    Chance pairs within ``radius`` of an input source come from reference
    sources within that grown region, so it stays meaningful for thin or
    collinear sets.
    """
    try:
        hull = ConvexHull(points)
        area, perimeter = hull.volume, hull.area
    except QhullError:  # collinear: a segment of length L has perimeter 2L
        centred = points - points.mean(axis=0)
        length = float(np.ptp(centred @ np.linalg.svd(centred, full_matrices=False)[2][0])) if len(points) > 1 else 0
        area, perimeter = 0.0, 2 * length
    return area + perimeter * radius + math.pi * radius ** 2


def chance_matches(in_xy, ref_xy, radius) -> tuple[float, int, int]:
    """(pairs expected by chance within ``radius``, inputs in the overlap, references in the overlap).

    The overlap is the convex hull of the input sources inside the
    reference sources' hull, grown by ``radius``; a random input source finds
    a reference source within ``radius`` with probability
    ``1 - exp(-density * pi * radius**2)``.
    """
    in_ov = in_xy[_inside(in_xy, ref_xy)]
    if len(in_ov) == 0:
        return 0.0, 0, 0
    ref_ov = int(_inside(ref_xy, in_ov).sum()) if len(in_ov) >= 3 else len(ref_xy)
    density = ref_ov / _buffered_area(in_ov, radius)
    return float(len(in_ov) * -math.expm1(-density * math.pi * radius ** 2)), len(in_ov), ref_ov


def sigma_of_log(log_p: float) -> float:
    """The one-sided Gaussian significance of probability exp(``log_p``), for any tiny p."""
    if log_p >= math.log(0.5):
        return 0.0
    if log_p > -700:
        return gauss_isf(math.exp(log_p))
    z = math.sqrt(-2 * log_p)
    for _ in range(8):  # log sf(z) ~ -z²/2 - log(z √(2π))
        z = math.sqrt(max(-2 * (log_p + math.log(z * math.sqrt(2 * math.pi))), 1.0))
    return z


def _log_tail(n: int, mu: float) -> float:
    """log P(N >= n) for Poisson(mu); the Chernoff bound where it underflows."""
    if n <= 0:
        return 0.0
    if mu <= 0:
        return -np.inf
    lp = poisson_logsf(n - 1, mu)
    if np.isfinite(lp):
        return lp
    return n * math.log(mu / n) + n - mu if n > mu else 0.0


def judge(*, nmatch: int, n_chance: float, n_in: int, n_ref: int, trials: float, radius: float,
          rmse: float, coarse_offset, final_offset, coarse_radius: float, minobj: int,
          peak_false_alarm: float | None) -> tuple[dict, str, float]:
    """``(checks, reason, significance)``; ``reason`` is empty when every check passes.

    Lengths share one unit (tangent plane); ``trials`` is the number of
    independent offsets the search could have picked.
    """
    checks: dict = {}
    reasons: list[str] = []
    if peak_false_alarm is not None:
        ok = peak_false_alarm < 1e-3
        checks["peak"] = {"value": peak_false_alarm, "limit": 1e-3, "passed": ok}
        if not ok:
            reasons.append(f"no significant peak in the 2D histogram (false-alarm probability "
                           f"{peak_false_alarm:.2g})")
    log_fa = _log_tail(nmatch, n_chance) + math.log(max(trials, 1.0))
    fa = math.exp(min(log_fa, 0.0))
    ok = fa < MATCH_FALSE_ALARM
    checks["chance"] = {"value": fa, "limit": MATCH_FALSE_ALARM, "passed": ok, "n_chance": n_chance}
    if not ok:
        reasons.append(f"{nmatch} matches where chance gives {n_chance:.1f} (false-alarm probability {fa:.2g})")
    frac = rmse / radius if radius > 0 and np.isfinite(rmse) else np.inf
    ok = frac < MAX_RMSE_FRACTION
    checks["rmse"] = {"value": frac, "limit": MAX_RMSE_FRACTION, "passed": ok}
    if not ok:
        reasons.append(f"rmse is {frac:.2f} of the matching radius (random pairs give 0.71)")
    if coarse_offset is not None and final_offset is not None:
        dev = float(np.hypot(*(np.asarray(final_offset) - np.asarray(coarse_offset))))
        ok = dev <= coarse_radius
        checks["coarse"] = {"value": dev, "limit": coarse_radius, "passed": ok}
        if not ok:
            reasons.append("the final solution disagrees with the coarse match")
    denom = max(min(n_in, n_ref), 1)
    ok = nmatch / denom >= MIN_FRACTION
    checks["fraction"] = {"value": nmatch / denom, "limit": MIN_FRACTION, "passed": ok}
    if not ok:
        reasons.append(f"only {nmatch} of {denom} sources in the overlap matched")
    ok = nmatch >= minobj
    checks["minobj"] = {"value": nmatch, "limit": minobj, "passed": ok}
    if not ok:
        reasons.append(f"{nmatch} matches, fewer than minobj={minobj}")
    mu = max(n_chance, 1e-12)
    significance = sigma_of_log(_log_tail(nmatch, mu) + math.log(max(trials, 1.0)))
    return checks, "; ".join(reasons), significance
