"""Numbers of a linear correction read from its 2×2 matrix, and the one pixel scale of a WCS.

A fit is refined in steps (coarse match, then refits), each a small matrix; what an image
received is their product, the *total* matrix.  The rotation reported for it must come from
that product, not from the last step's ``fit_info``.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict

import numpy as np
from astropy.modeling import Model

from tweakgui.engine.fast_models import fast, uses_quantity

__all__ = ["proper_rotation_deg", "compose", "separation_arcsec", "gnomonic_deg", "scale_from_steps",
           "pixel_scale_arcsec", "sky_function", "chained", "gwcs_forward", "pixel_bounds"]


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


def separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular distance (arcsec) between positions in degrees (haversine)."""
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(s))) * 3600.0


def gnomonic_deg(ra, dec, ra0, dec0):
    """Gnomonic (TAN) projection of positions in degrees about (ra0, dec0): degrees east and north."""
    r, d, r0, d0 = (np.radians(np.asarray(v, float)) for v in (ra, dec, ra0, dec0))
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(r - r0)
    x = np.cos(d) * np.sin(r - r0) / cosc
    y = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(r - r0)) / cosc
    return np.degrees(x), np.degrees(y)


def scale_from_steps(ra, dec) -> float:
    """Arcsec per unit step from the sky positions of (x, y), (x + 1, y), (x, y + 1).

    The geometric mean of the two steps: the square root of the pixel's area.
    """
    steps = separation_arcsec(ra[0], dec[0], ra[1:3], dec[1:3])
    return float(np.sqrt(steps[0] * steps[1]))


def pixel_scale_arcsec(to_world, x: float, y: float) -> float:
    """Arcsec per pixel at (x, y) of any pixel → (lon, lat) function (a WCS, a corrector's det_to_world)."""
    ra, dec = to_world(np.array([x, x + 1.0, x]), np.array([y, y, y + 1.0]))[:2]
    return scale_from_steps(np.asarray(ra, float), np.asarray(dec, float))


def sky_function(wcs):
    """``(x, y) -> (ra, dec)`` (0-based pixels, degrees) of a FITS WCS or a GWCS, with no bounding box.

    A GWCS is evaluated step by step (:func:`gwcs_forward`), not through the
    forward transform it builds on every call.
    """
    if hasattr(wcs, "all_pix2world"):
        return lambda x, y: tuple(wcs.all_pix2world(np.atleast_1d(x), np.atleast_1d(y), 0))
    forward = gwcs_forward(wcs)
    return lambda x, y: tuple(forward(np.atleast_1d(x), np.atleast_1d(y))[:2])


def chained(models):
    """``a | b | c`` as a function: each model evaluated on the previous one's outputs.

    The same arithmetic as the compound model, without building it: astropy
    maps every parameter of every part on each ``|`` (a JWST distortion has
    hundreds), ~1.6 ms per GWCS forward transform, more than evaluating it.
    The models are a GWCS's steps, never changed in place: each is evaluated
    through :func:`~tweakgui.engine.fast_models.fast` with its parameters read once.
    """
    models = tuple(fast(m, frozen=True) if isinstance(m, Model) else m for m in models)

    def evaluate(*args):
        for m in models:
            args = m(*args)
            if not isinstance(args, tuple):
                args = (args,)
        return args

    return evaluate


_SMALL = 128  # points: the reference pixel's cross, a chip's grid or corners, the SIP check's grid
_MEMO_SIZE = 1024
_memo: OrderedDict = OrderedDict()  # (id(model), shape, x bytes, y bytes) -> (weakref(model), outputs)
_memo_lock = threading.Lock()
memo_hits = [0, 0]  # hits, misses: for tests and benchmarks


def remembered(model):
    """``model(x, y)`` remembered for a few points: a detector's distortion, shared by the GWCS of
    all its pointings and by each GWCS before and after a correction, is evaluated at the
    same few pixels again and again (~1.5 ms each for NIRCam, whatever the number of points).

    Only for a model never changed in place (a GWCS's shared steps).  The caller gets copies.
    """
    try:
        ref = weakref.ref(model)
    except TypeError:
        return model
    call = fast(model, frozen=True)

    def evaluate(x, y):
        xa, ya = np.asarray(x), np.asarray(y)
        if xa.size > _SMALL or xa.shape != ya.shape or xa.dtype != np.float64 or ya.dtype != np.float64:
            return call(x, y)
        key = (id(model), xa.shape, xa.tobytes(), ya.tobytes())
        with _memo_lock:
            hit = _memo.get(key)
            if hit is not None and hit[0]() is model:
                _memo.move_to_end(key)
                memo_hits[0] += 1
                return tuple(np.copy(o) for o in hit[1])
            memo_hits[1] += 1
        out = call(x, y)
        with _memo_lock:
            _memo[key] = (ref, tuple(np.copy(o) for o in out))
            while len(_memo) > _MEMO_SIZE:
                _memo.popitem(last=False)
        return out

    return evaluate


def pixel_bounds(wcs) -> tuple[float, float, float, float] | None:
    """``(x0, x1, y0, y1)`` of a GWCS's bounding box (pixel edges), or None when it has none."""
    try:
        (x0, x1), (y0, y1) = (tuple(map(float, b)) for b in wcs.bounding_box.bounding_box(order="F"))
    except Exception:  # noqa: BLE001 - no bounding box: gwcs raises or has none
        return None
    return x0, x1, y0, y1


def gwcs_forward(wcs, bounding_box: bool = False, fill_value=np.nan):
    """A GWCS's pixel → world function: its steps chained (:func:`chained`), the results of
    ``wcs.forward_transform`` (and, with ``bounding_box``, of ``wcs(x, y)``: ``fill_value``
    outside the box, edges inside).  Transforms with units get gwcs' own evaluation."""
    steps = [s.transform for s in wcs.pipeline[:-1]]
    if not steps or steps[0] is None or steps[0].n_inputs != 2 or \
            any(uses_quantity(t) for t in steps):
        transform = wcs.forward_transform
        return lambda x, y: transform(x, y, with_bounding_box=bounding_box, fill_value=fill_value)
    evaluate = chained([remembered(steps[0]), *steps[1:]])
    box = pixel_bounds(wcs) if bounding_box else None
    if box is None:
        return evaluate
    x0, x1, y0, y1 = box

    def in_box(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        out = evaluate(x, y)
        outside = (x < x0) | (x > x1) | (y < y0) | (y > y1)
        if np.any(outside):
            out = tuple(np.where(outside, fill_value, o) for o in out)
        return out

    return in_box
