"""A rotation- and scale-invariant coarse match, for a pointing the 2D histogram cannot find.

tweakwcs' 2D histogram searches translations only: a WCS off by tens of
arcsec *and* a degree or more (a misidentified guide star) smears the peak
into nothing.  astroalign matches triangles of the brightest sources (their
side ratios do not change with rotation, scale or translation) and returns
a similarity transform, verified by RANSAC on the control points.  Its
result seeds the usual refinement and verdict; a shift beyond ``searchrad``
is refused, so a search radius still means what it says.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["pattern_match", "N_CONTROL"]

log = logging.getLogger(__name__)

N_CONTROL = 50  # brightest sources of each list handed to astroalign


def _brightest(xy, key, n):
    if key is None or len(xy) <= n:
        return xy[:n]
    return xy[np.argsort(-key, kind="stable")[:n]]


def pattern_match(in_xy, in_key, ref_xy, ref_key, searchrad, pix, scale=1.0):
    """``(matrix, shift)`` mapping input to reference (plane units), or None with the reason logged.

    ``*_key``: brightness (larger is brighter) or None for the given order;
    ``pix``: one detector pixel in plane units (astroalign's tolerances are
    in pixels); ``scale``: arcsec per plane unit (for the messages).
    """
    import astroalign

    if len(in_xy) < 3 or len(ref_xy) < 3:
        return None, "fewer than 3 sources for a pattern match"
    centre = in_xy.mean(axis=0)
    reach = np.max(np.hypot(*(in_xy - centre).T)) + searchrad
    near = np.hypot(*(ref_xy - centre).T) <= reach
    src = _brightest(in_xy, in_key, N_CONTROL)
    dst = _brightest(ref_xy[near], None if ref_key is None else ref_key[near], N_CONTROL)
    if len(dst) < 3:
        return None, "fewer than 3 reference sources within searchrad for a pattern match"
    try:
        t, _ = astroalign.find_transform((src - centre) / pix, (dst - centre) / pix,
                                         max_control_points=N_CONTROL)
    except (astroalign.MaxIterError, ValueError, TypeError) as e:
        return None, f"pattern match found no transformation ({e})"
    m = np.asarray(t.params[:2, :2], float)
    shift = np.asarray(t.params[:2, 2], float) * pix + centre - m @ centre
    moved = centre @ m.T + shift - centre
    if np.hypot(*moved) > searchrad:
        return None, f"the pattern match's offset of {np.hypot(*moved) * scale:.3g}\" lies beyond searchrad"
    return (m, shift), ""
