"""Numbers of a linear correction read from its 2×2 matrix.

A fit is refined in steps (coarse match, then refits), each a small matrix; what an image
received is their product, the *total* matrix.  The rotation reported for it must come from
that product, not from the last step's ``fit_info``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["proper_rotation_deg", "compose"]


def proper_rotation_deg(matrix) -> float:
    """Rotation (degrees) of a 2×2 linear transform as if it were proper: tweakwcs' ``proper_rot``.

    With the columns scaled to unit length (removing the x and y scales) and the sign of
    the determinant ``d`` undoing a reflection, ``atan2(m01 - d m10, m00 + d m11)``: for a
    rotation ``[[cos t, sin t], [-sin t, cos t]]`` (tweakwcs' convention) it is ``t``, and
    for a general matrix the mean rotation of its two axes.
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (2, 2) or not np.all(np.isfinite(m)):
        msg = f"matrix must be a finite 2x2 array, got shape {m.shape}"
        raise ValueError(msg)
    sx, sy = np.hypot(m[0, 0], m[1, 0]), np.hypot(m[0, 1], m[1, 1])
    if sx == 0 or sy == 0:
        msg = "matrix must be non-singular"
        raise ValueError(msg)
    w = m / [sx, sy]
    d = 1.0 if np.linalg.det(m) >= 0 else -1.0
    return math.degrees(math.atan2(w[0, 1] - d * w[1, 0], w[0, 0] + d * w[1, 1]))


def compose(*matrices) -> np.ndarray:
    """The total matrix of corrections applied in order (first, then second, ...)."""
    total = np.eye(2)
    for m in matrices:
        total = np.asarray(m, dtype=float) @ total
    return total
