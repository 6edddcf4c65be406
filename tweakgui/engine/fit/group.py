"""Match → fit → refine → verdict for one group against one reference list.

Every stage (relative, absolute) and every number of groups goes through
:func:`fit_group`.  Positions are in the tangent plane of the stage's
reference corrector; tweakwcs' ``iter_linear_fit`` does the fitting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree
from tweakwcs.linearfit import iter_linear_fit

from tweakgui.engine.fit import match
from tweakgui.engine.fit.stage import Stage
from tweakgui.engine.fit.verdict import chance_matches, judge

__all__ = ["ChipSources", "GroupFit", "fit_group", "FALLBACK"]

log = logging.getLogger(__name__)

# fewer degrees of freedom when the data cannot constrain the asked geometry
FALLBACK = {"general": "rscale", "rscale": "rshift", "rshift": "shift"}
_MIN_POINTS = {"general": 3, "rscale": 2, "rshift": 2, "shift": 1}
REFINE_PASSES = 3
RADIUS_PER_MEDIAN = 8.0


@dataclass
class ChipSources:
    """One chip's sources in the stage's tangent plane."""

    xy: np.ndarray  # (n, 2)
    weight: np.ndarray | None = None
    bright: np.ndarray | None = None  # the sources of the coarse match (None: all)
    key: np.ndarray | None = None  # brightness, larger is brighter (None: the given order)

    @property
    def coarse_xy(self) -> np.ndarray:
        return self.xy if self.bright is None else self.xy[self.bright]

    @cached_property
    def neighbours(self) -> np.ndarray:
        """Distance of each source to its nearest neighbour in the chip (the separation rule's input)."""
        return match.neighbour_distances(self.xy)


@dataclass
class GroupFit:
    """The outcome of :func:`fit_group` (tangent-plane units)."""

    status: str  # "SUCCESS" or "FAILED"
    reason: str = ""
    matcher: str = ""
    fitgeom: str = ""
    matrix: np.ndarray = field(default_factory=lambda: np.identity(2))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    info: dict = field(default_factory=dict)  # tweakwcs' fit fields (rmse, mae, <rot>, ...)
    # per chip: (reference rows, input rows, used) of the final pairs
    pairs: list = field(default_factory=list)
    radius: float = float("nan")
    coarse_offset: tuple | None = None
    histogram: match.Histogram | None = None
    offsets: np.ndarray | None = None
    n_chance: float = float("nan")
    significance: float = float("nan")
    checks: dict = field(default_factory=dict)
    # the last step (matrix, shift) when the fit was made in two steps (see align._polish)
    step: tuple | None = None

    @property
    def nmatch(self) -> int:
        return int(sum(len(p[0]) for p in self.pairs))


def _linear_fit(ref_xy, in_xy, ref_w, in_w, fitgeom, nclip, sigma):
    fit = iter_linear_fit(ref_xy, in_xy, ref_w, in_w, fitgeom=fitgeom, nclip=nclip, sigma=(sigma, "rmse"),
                          center=None, clip_accum=False)
    # tweakwcs fits about a centre: shift of the plain form xy_ref = M @ xy_in + shift
    fit["shift_ld"] += fit["center_ld"] - np.dot(fit["center_ld"], fit["matrix_ld"].T)
    fit["shift"] = fit["shift_ld"].astype(np.double)
    return fit


def _fit_with_fallback(ref_xy, in_xy, ref_w, in_w, stage: Stage):
    """Fit with the asked geometry, or fewer degrees of freedom where it is degenerate."""
    geom, notes = stage.fitgeometry, []
    spread = _spread(in_xy)
    while True:
        if len(in_xy) < _MIN_POINTS[geom]:
            why = f"{len(in_xy)} matches"
        elif geom in ("general", "rscale") and spread[1] <= 1e-3 * spread[0]:
            # a line maps onto itself by a reflection too: only a rotation is defined
            why = "collinear matches"
        elif geom in ("rscale", "rshift") and spread[0] <= 1e-9:
            why = "all matches at one position"
        else:
            try:
                fit = _linear_fit(ref_xy, in_xy, ref_w, in_w, geom, stage.nclip, stage.sigma)
                finite = np.all(np.isfinite(fit["matrix"])) and np.all(np.isfinite(fit["shift"]))
                if finite and np.linalg.det(fit["matrix"]) > 0:
                    return fit, geom, "; ".join(notes)
                why = "non-finite solution" if not finite else "mirrored solution"
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as e:
                why = str(e) or type(e).__name__
        if geom not in FALLBACK:
            raise ValueError(f"no fit possible ({why})")
        notes.append(f"{geom} degenerate ({why}): fitted {FALLBACK[geom]}")
        geom = FALLBACK[geom]


def _spread(xy) -> tuple[float, float]:
    """Largest and smallest singular values of the centred positions (collinearity test)."""
    if len(xy) < 2:
        return 0.0, 0.0
    sv = np.linalg.svd(xy - xy.mean(axis=0), compute_uv=False)
    return float(sv[0]), float(sv[-1]) if len(sv) > 1 else 0.0


def _weights(chips, idx_per_chip):
    ws = [c.weight for c in chips]
    if any(w is None for w in ws):
        return None
    return np.concatenate([w[i] for w, i in zip(ws, idx_per_chip)])


def _match_all(chips, ref_xy, ref_iso, matrix, shift, radius, sep):
    """Unique nearest-neighbour pairs of every chip, isolated sources only."""
    keep_ref = np.flatnonzero(ref_iso)
    tree = cKDTree(ref_xy[keep_ref]) if len(keep_ref) else None
    pairs = []
    for c in chips:
        moved = c.xy @ matrix.T + shift
        keep_in = np.flatnonzero(match.isolated(c.xy, sep, c.neighbours))
        mr, mi = match.nearest_pairs(ref_xy[keep_ref], moved[keep_in], radius, tree=tree)
        pairs.append((keep_ref[mr], keep_in[mi]))
    return pairs


def _coarse(chips, ref_xy, stage: Stage, scale, pix_tp, ref_bright=None):
    """(offset, initial radius, histogram, offsets, matcher, trials area) of the coarse match."""
    tol = stage.tolerance / scale
    if not stage.use2dhist:
        # x/yoffset are input − reference (tweakwcs' and TweakRegStep's sense); the shift is its opposite
        off = (-stage.xoffset / scale, -stage.yoffset / scale) if stage.kind == "relative" else (0.0, 0.0)
        return off, tol, None, None, "offset", np.pi * tol ** 2
    rad = stage.searchrad / scale
    # the brightest sources first (``brightest``); every source when they show no peak
    # (crowded fields, other filters, small overlaps)
    in_b = np.concatenate([c.coarse_xy for c in chips])
    ref_b = ref_xy if ref_bright is None else ref_xy[ref_bright]
    offsets = match.candidate_offsets(in_b, ref_b, rad)
    hist = match.offset_histogram(offsets, rad, pix_tp)
    in_all = np.concatenate([c.xy for c in chips])
    if not hist.significant and (len(in_all) > len(in_b) or len(ref_xy) > len(ref_b)):
        offsets = match.candidate_offsets(in_all, ref_xy, rad)
        hist = match.offset_histogram(offsets, rad, pix_tp)
    r0 = match.peak_radius(offsets, hist, min(2 * pix_tp, tol), tol)
    return hist.peak, r0, hist, offsets, "2dhist", (2 * rad) ** 2


def _pattern(chips, ref_xy, ref_key, stage: Stage, scale, pix_tp):
    """The pattern matcher's seed ``((matrix, shift), why)`` when the histogram found nothing."""
    from tweakgui.engine.fit.pattern import pattern_match

    in_xy = np.concatenate([c.xy for c in chips])
    keys = [c.key for c in chips]
    in_key = np.concatenate(keys) if all(k is not None for k in keys) else None
    return pattern_match(in_xy, in_key, ref_xy, ref_key, stage.searchrad / scale, pix_tp, scale)


def _raise(stage: Stage) -> str:
    """What a user can do about an offset beyond the search (x/yoffset exist for the relative stage)."""
    what = f"raise {stage.prefix}searchrad"
    return what + " or set x/yoffset" if stage.kind == "relative" else what


@dataclass
class _Seed:
    """Where the refinement starts: a transform, a radius, what found it and how wide it searched."""

    matrix: np.ndarray
    shift: np.ndarray
    radius: float
    offset: tuple  # displacement of the group's centre (the coarse match)
    matcher: str
    search_area: float  # plane area of the offsets the matcher could pick, times other freedoms
    hist: match.Histogram | None = None


def fit_group(chips: list[ChipSources], ref_xy: np.ndarray, ref_w, stage: Stage, scale: float,
              pix_tp: float, ref_bright=None, ref_key=None, pattern: bool = True) -> GroupFit:
    """Match the group's chips to ``ref_xy``, fit, refine and judge (see the package doc).

    ``scale``: arcsec per tangent-plane unit; ``pix_tp``: one detector pixel
    in tangent-plane units (the bin of the 2D histogram and the smallest
    matching radius).  When the 2D histogram shows no significant peak, or
    the fit it seeds fails its verdict, and ``pattern`` is on, a rotation-
    and scale-invariant pattern match of the brightest sources
    (:mod:`.pattern`) seeds the fit instead.
    """
    chips = [c for c in chips if len(c.xy)]
    if not chips or len(ref_xy) == 0:
        return GroupFit("FAILED", "no sources" if not chips else "no reference sources near the group")
    offset, radius, hist, offsets, matcher, search_area = _coarse(chips, ref_xy, stage, scale, pix_tp, ref_bright)
    out = GroupFit("FAILED", matcher=matcher, fitgeom=stage.fitgeometry, histogram=hist, offsets=offsets,
                   coarse_offset=offset)
    if offset is None:
        out.reason = "no candidate pairs within searchrad"
        return out
    if hist is None or hist.significant:
        seed = _Seed(np.identity(2), np.asarray(offset, float), radius, offset, matcher, search_area, hist)
        out = _refine(chips, ref_xy, ref_w, stage, scale, pix_tp, seed, out)
        if out.status == "SUCCESS" or hist is None or not pattern:
            return out
    found, why = _pattern(chips, ref_xy, ref_key, stage, scale, pix_tp) if pattern else (None, "")
    if found is None:
        if hist.significant:
            return out  # the histogram's fit and its reason
        out.reason = (f"no significant peak in the 2D histogram within {stage.prefix}searchrad="
                      f"{stage.searchrad:g}\" (peak of {hist.peak_count:.0f} pairs where chance gives "
                      f"{hist.chance_count:.1f}; false-alarm probability {hist.false_alarm:.2g})"
                      + (f"; {why}" if why else "")
                      + f"; if the pointing is farther off, {_raise(stage)}")
        out.checks = {"peak": {"value": hist.false_alarm, "limit": match.PEAK_FALSE_ALARM, "passed": False}}
        out.significance = 0.0
        return out
    # the triangles' transform seeds the refinement; the rotation searched widens the trials
    matrix, shift = found
    xy = np.concatenate([c.xy for c in chips])
    centre = xy.mean(axis=0)
    radius = min(4 * pix_tp, stage.tolerance / scale)
    extent = float(np.ptp(xy, axis=0).max())
    seed = _Seed(matrix, shift, radius, tuple(centre @ matrix.T + shift - centre), "pattern",
                 search_area * max(2 * np.pi * extent / radius, 1.0))
    first = out
    out = _refine(chips, ref_xy, ref_w, stage, scale, pix_tp, seed,
                  GroupFit("FAILED", matcher="pattern", fitgeom=stage.fitgeometry, histogram=hist, offsets=offsets,
                           coarse_offset=seed.offset))
    if out.status != "SUCCESS" and first.reason and hist.significant:
        out.reason = f"{first.reason}; pattern match: {out.reason}"
    return out


@dataclass
class _Solution:
    """The last accepted fit of the refinement and the matches it used."""

    fit: dict
    geom: str
    note: str | None
    pairs: list
    radius: float


def _refine(chips, ref_xy, ref_w, stage: Stage, scale, pix_tp, seed: _Seed, out: GroupFit,
            ref_nn=None) -> GroupFit:
    """Nearest-neighbour matching and fitting from ``seed``, then the verdict (fills ``out``).

    ``ref_nn``: :func:`.match.neighbour_distances` of ``ref_xy`` (computed here when not given).
    """
    tol = stage.tolerance / scale
    ref_nn = match.neighbour_distances(ref_xy) if ref_nn is None else ref_nn
    matrix, shift, radius = seed.matrix, seed.shift, seed.radius
    ratio = stage.separation / stage.tolerance if stage.tolerance > 0 else 0.0
    sol = None
    for _ in range(REFINE_PASSES):
        new_pairs = _match_all(chips, ref_xy, match.isolated(ref_xy, ratio * radius, ref_nn), matrix, shift, radius,
                               ratio * radius)
        n = sum(len(p[0]) for p in new_pairs)
        if n < max(stage.minobj, 1):
            if sol is None:
                return _too_few_matches(out, stage, n, radius, scale, new_pairs)
            break  # keep the previous solution
        mr = np.concatenate([p[0] for p in new_pairs])
        mi = [p[1] for p in new_pairs]
        in_xy = np.concatenate([c.xy[i] for c, i in zip(chips, mi)])
        try:
            fit, geom, note = _fit_with_fallback(
                ref_xy[mr], in_xy, None if ref_w is None else ref_w[mr], _weights(chips, mi), stage)
        except ValueError as e:
            if sol is None:
                out.reason = str(e)
                return out
            break
        same = sol is not None and all(
            np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(sol.pairs, new_pairs))
        sol = _Solution(fit, geom, note, new_pairs, radius)
        matrix, shift = np.asarray(fit["matrix"], float), np.asarray(fit["shift"], float)
        used = np.asarray(fit["fitmask"], bool).ravel()
        resid = np.hypot(*(in_xy[used] @ matrix.T + shift - ref_xy[mr][used]).T)
        if same or resid.size == 0:
            break
        radius = float(np.clip(RADIUS_PER_MEDIAN * np.median(resid), min(pix_tp, tol), tol))
    return _finish(out, chips, (ref_xy, ref_nn), stage, seed, sol, pix_tp)


def _too_few_matches(out: GroupFit, stage: Stage, n: int, radius: float, scale: float, pairs) -> GroupFit:
    """FAILED before any fit: too few matches at the first radius, with what to change."""
    hint = (f"if the offset exceeds {stage.prefix}searchrad={stage.searchrad:g}\", {_raise(stage)}"
            if stage.use2dhist else
            f"if the offset exceeds {stage.prefix}tolerance={stage.tolerance:g}\", turn on "
            f"{stage.prefix}use2dhist or set x/yoffset")
    out.reason = (f"{n} matches within {radius * scale * 1000:.0f} mas, fewer than "
                  f"{stage.prefix}minobj={stage.minobj}; {hint}")
    out.radius = radius
    out.pairs = [(a, b, np.zeros(len(a), bool)) for a, b in pairs]
    out.checks = {"minobj": {"value": n, "limit": stage.minobj, "passed": False}}
    return out


def _finish(out: GroupFit, chips, ref, stage: Stage, seed: _Seed, sol: _Solution, pix_tp) -> GroupFit:
    """Fill ``out`` with the solution and its verdict, judged on the sources the final matching could use.

    ``ref``: the reference positions and their neighbour distances.
    """
    ref_xy, ref_nn = ref
    fit, radius, hist = sol.fit, sol.radius, seed.hist
    matrix, shift = np.asarray(fit["matrix"], float), np.asarray(fit["shift"], float)
    used = np.asarray(fit["fitmask"], bool).ravel()
    bounds = np.cumsum([0] + [len(p[0]) for p in sol.pairs])
    out.pairs = [(p[0], p[1], used[a:b]) for p, a, b in zip(sol.pairs, bounds[:-1], bounds[1:])]
    out.matrix, out.shift, out.fitgeom, out.radius = matrix, shift, sol.geom, radius
    out.info = {k: fit[k] for k in ("rmse", "mae", "<rot>", "proper_rot", "<scale>", "skew", "rot", "scale")
                if k in fit}
    ratio = stage.separation / stage.tolerance if stage.tolerance > 0 else 0.0
    in_all = np.concatenate([c.xy[match.isolated(c.xy, ratio * radius, c.neighbours)] for c in chips])
    ref_all = ref_xy[match.isolated(ref_xy, ratio * radius, ref_nn)]
    n_chance, n_in, n_ref = chance_matches(in_all @ matrix.T + shift, ref_all, radius)
    centre = np.concatenate([c.xy for c in chips]).mean(axis=0)
    checks, reason, significance = judge(
        nmatch=out.nmatch, n_chance=n_chance, n_in=n_in, n_ref=n_ref,
        trials=max(seed.search_area / (np.pi * radius ** 2), 1.0), radius=radius,
        rmse=float(fit["rmse"]), coarse_offset=seed.offset, final_offset=centre @ matrix.T + shift - centre,
        coarse_radius=max(seed.radius, 3 * (hist.binsize if hist else pix_tp)), minobj=stage.minobj,
        peak_false_alarm=hist.false_alarm if hist is not None else None)
    out.checks, out.n_chance, out.significance = checks, n_chance, significance
    if sol.note:
        out.checks["geometry"] = {"value": sol.geom, "limit": stage.fitgeometry, "passed": True, "note": sol.note}
        log.warning("%s", sol.note)
    out.status = "FAILED" if reason else "SUCCESS"
    out.reason = reason
    return out
