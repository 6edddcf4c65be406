"""Display stretches for astronomical images (no Qt)."""

from __future__ import annotations

import numpy as np

__all__ = ["STRETCHES", "stretch_image"]

STRETCHES = ("zscale asinh", "zscale linear", "min–max linear", "99.5% asinh")


def _limits(finite: np.ndarray, mode: str) -> tuple[float, float]:
    if finite.size == 0:
        return 0.0, 1.0
    if mode.startswith("zscale"):
        from astropy.visualization import ZScaleInterval

        # zscale samples ~1000 pixels itself; hand it a strided view for speed
        step = max(1, finite.size // 200_000)
        lo, hi = ZScaleInterval().get_limits(finite[::step])
    elif mode.startswith("99.5"):
        lo, hi = np.percentile(finite[:: max(1, finite.size // 500_000)], [0.25, 99.75])
    else:
        lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def stretch_image(data: np.ndarray, mask: np.ndarray | None = None,
                  mode: str = STRETCHES[0]) -> tuple[np.ndarray, tuple[float, float]]:
    """Map ``data`` to 0…1 (float32) with the named stretch.

    Masked and non-finite pixels become 0.  Returns the image and the data
    limits that map to 0 and 1.  The asinh stretch keeps faint sources
    visible while the cores of bright ones do not saturate.
    """
    data = np.asarray(data, dtype=np.float32)
    good = np.isfinite(data)
    if mask is not None:
        good &= ~np.asarray(mask, bool)
    lo, hi = _limits(data[good], mode)
    out = (np.where(good, data, lo) - lo) / (hi - lo)
    np.clip(out, 0.0, 1.0, out=out)
    if mode.endswith("asinh"):
        a = 0.1  # astropy's AsinhStretch default: linear near 0, log-like above
        out = np.arcsinh(out / a) / np.arcsinh(1.0 / a)
    return out.astype(np.float32, copy=False), (lo, hi)
