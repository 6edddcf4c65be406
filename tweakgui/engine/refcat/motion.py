"""Epochs and proper motions: each exposure's date, and the reference catalog moved to it.

Epochs are Julian years (``2016.0`` is J2016.0, Gaia DR3's reference epoch).
An exposure's epoch is its own observation date: ``EXPSTART`` or ``MJD-OBS``
(MJD, HST and most FITS files), else ``DATE-OBS`` [+ ``TIME-OBS``] or the
JWST model's ``meta.observation.date``/``time``; ``abs_epoch`` overrides them
all.

A normalised reference table (see :mod:`.columns`) holds its positions
``RA``/``DEC`` at ``meta['epoch']`` and, when it has proper motions, ``pmra``
(times cos dec, as Gaia gives it) and ``pmdec`` in mas/yr.  :func:`at_epoch`
moves it to one exposure's epoch and gives each source its position error
there: the catalog's error at ``ref_epoch`` grown by the proper-motion error
times the time since (``sigma(t)^2 = sigma_0^2 + (dt * sigma_pm)^2``).
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from tweakgui.engine.footprint import unit_vectors

__all__ = ["MAS2RAD", "move", "exposure_epoch", "first_epoch", "group_epoch", "to_epoch", "at_epoch",
           "position_sigma_mas", "fit_weights", "has_motion", "decimal_year"]

log = logging.getLogger(__name__)

MAS2RAD = np.pi / (180.0 * 3600.0 * 1000.0)
_MJD_KEYS = ("EXPSTART", "MJD-OBS", "MJD_OBS", "MJD-AVG")


def move(ra, dec, pmra, pmdec, dt):
    """Positions (deg) moved along the sphere by ``pm * dt`` (mas/yr, years; pmra times cos dec).

    Parallax and radial velocity are ignored: below 0.1 mas over a decade for
    all but the nearest stars.  NaN motions move nothing.
    """
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    dt = np.broadcast_to(np.asarray(dt, float), ra.shape)
    pa = np.nan_to_num(np.asarray(pmra, float) * dt, nan=0.0)
    pd = np.nan_to_num(np.asarray(pmdec, float) * dt, nan=0.0)
    a, d = np.radians(ra), np.radians(dec)
    p = unit_vectors(ra, dec)
    e_ra = np.stack([-np.sin(a), np.cos(a), np.zeros_like(a)], axis=-1)
    e_dec = np.stack([-np.sin(d) * np.cos(a), -np.sin(d) * np.sin(a), np.cos(d)], axis=-1)
    q = p + (pa * MAS2RAD)[:, None] * e_ra + (pd * MAS2RAD)[:, None] * e_dec
    q /= np.linalg.norm(q, axis=1)[:, None]
    return np.degrees(np.arctan2(q[:, 1], q[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(q[:, 2], -1, 1)))


def exposure_epoch(exposure) -> float | None:
    """The Julian-year epoch of one exposure's observation, or None when it has no date."""
    from astropy.time import Time

    meta = getattr(exposure, "meta", None) or {}
    for key in _MJD_KEYS:
        mjd = meta.get(key)
        try:
            mjd = float(mjd)
        except (TypeError, ValueError):
            continue
        if np.isfinite(mjd) and mjd > 0:
            return float(Time(mjd, format="mjd", scale="utc").jyear)
    date = meta.get("date_obs") or meta.get("DATE-OBS")
    if date:
        date = str(date).strip()
        clock = str(meta.get("TIME-OBS") or "").strip()
        stamp = f"{date}T{clock}" if clock and "T" not in date else date
        for text in (stamp, date):
            try:
                return float(Time(text, scale="utc").jyear)
            except ValueError:
                continue
    epoch = meta.get("epoch")
    try:
        return None if epoch is None else float(epoch)
    except (TypeError, ValueError):
        return None


def first_epoch(exposures, override: float | None = None) -> float | None:
    """``override``, else the epoch of the first exposure that has a date (the visit's, as jwst takes it)."""
    if override is not None:
        return float(override)
    for e in exposures:
        epoch = exposure_epoch(e)
        if epoch is not None:
            return epoch
    return None


def to_epoch(ref: Table, epoch: float | None) -> Table:
    """A table whose sources hold positions at their own ``ref_epoch``, moved to ``epoch``.

    ``meta['epoch']`` becomes ``epoch``; without proper motions, or without
    an epoch, the positions stay and ``meta['epoch']`` is the catalog's epoch
    when all sources share one (else None).
    """
    ref = ref.copy()
    ref_epoch = np.asarray(ref["ref_epoch"], float) if "ref_epoch" in ref.colnames else None
    if epoch is None or not has_motion(ref):
        single = None if ref_epoch is None else np.unique(ref_epoch[np.isfinite(ref_epoch)])
        ref.meta["epoch"] = float(single[0]) if single is not None and len(single) == 1 else None
        return ref
    if ref_epoch is None:
        log.warning("%s: no ref_epoch column: assuming 2016.0 (Gaia DR3)", ref.meta.get("name", "reference catalog"))
        ref_epoch = np.full(len(ref), 2016.0)
        ref["ref_epoch"] = ref_epoch
    dt = np.where(np.isfinite(ref_epoch), epoch - ref_epoch, 0.0)
    ref["RA"], ref["DEC"] = move(ref["RA"], ref["DEC"], ref["pmra"], ref["pmdec"], dt)
    ref.meta["epoch"] = float(epoch)
    return ref


def group_epoch(exposures, override: float | None = None) -> float | None:
    """The epoch a group is fitted at: ``override``, else the mean of its exposures' epochs."""
    if override is not None:
        return float(override)
    epochs = [e for e in (exposure_epoch(x) for x in exposures) if e is not None]
    if not epochs:
        return None
    if max(epochs) - min(epochs) > 30 / 365.25:
        names = ", ".join(dict.fromkeys(getattr(x, "name", "?") for x in exposures))
        log.warning("the exposures fitted together (%s) span %.2f years: the reference catalog is moved to "
                    "their mean epoch %.3f; abs_mode=group fits each exposure group at its own epoch",
                    names, max(epochs) - min(epochs), float(np.mean(epochs)))
    return float(np.mean(epochs))


def has_motion(ref: Table) -> bool:
    return "pmra" in ref.colnames and "pmdec" in ref.colnames


def _col(ref: Table, name: str) -> np.ndarray:
    if name in ref.colnames:
        return np.asarray(ref[name], float)
    return np.full(len(ref), np.nan)


def position_sigma_mas(ref: Table, epoch: float | None) -> np.ndarray:
    """Each source's position error per axis (mas) at ``epoch``; NaN where the catalog cannot say.

    The rms of the two axes' errors, each grown from ``ref_epoch`` by its
    proper-motion error.  A source that moves (or may move: no proper motion
    kept by ``keep_no_pm``) without a stated motion error has no known error
    away from its catalog epoch.
    """
    ra_e, dec_e = _col(ref, "ra_error"), _col(ref, "dec_error")
    if epoch is None or "ref_epoch" not in ref.colnames:
        dt = np.zeros(len(ref))
    else:
        dt = np.nan_to_num(epoch - _col(ref, "ref_epoch"), nan=0.0)
    moves = dt != 0
    pm_ra_e, pm_dec_e = _col(ref, "pmra_error"), _col(ref, "pmdec_error")
    grow_ra = np.where(moves, dt * pm_ra_e, 0.0)
    grow_dec = np.where(moves, dt * pm_dec_e, 0.0)
    return np.sqrt(0.5 * (ra_e ** 2 + grow_ra ** 2 + dec_e ** 2 + grow_dec ** 2))


def fit_weights(sigma_mas: np.ndarray, floor_mas: float) -> np.ndarray:
    """``1 / (sigma^2 + floor^2)`` (mas^-2); a source without an error gets the largest one of the catalog."""
    sigma = np.asarray(sigma_mas, float)
    finite = np.isfinite(sigma)
    if not finite.all():
        worst = float(sigma[finite].max()) if finite.any() else 0.0
        sigma = np.where(finite, sigma, worst)
    return 1.0 / (sigma ** 2 + float(floor_mas) ** 2)


def at_epoch(ref: Table, epoch: float | None, params=None) -> Table:
    """The reference list of one fit: ``RA``, ``DEC`` at ``epoch``, ``mag`` and ``weight``.

    Parameters
    ----------
    ref : Table
        A normalised reference table (positions at ``meta['epoch']``).
    epoch : float or None
        Julian year of the exposure(s) fitted; None: the positions as they are.
    params : TweakRegParams, optional
        ``abs_weights='errors'`` makes ``weight`` ``1/(sigma_ref(epoch)^2 +
        abs_weight_floor^2)``; otherwise the catalog's own ``weight`` column, if any.

    Returns
    -------
    Table
        ``meta['epoch']`` is the epoch of the positions (``epoch`` when the
        catalog has proper motions, else the catalog's own).
    """
    out = Table()
    base = ref.meta.get("epoch")
    moved = epoch is not None and base is not None and has_motion(ref) and epoch != base
    if moved:
        out["RA"], out["DEC"] = move(ref["RA"], ref["DEC"], ref["pmra"], ref["pmdec"], epoch - base)
    else:
        out["RA"], out["DEC"] = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    if "mag" in ref.colnames:
        out["mag"] = np.asarray(ref["mag"], float)
    shown = epoch if (epoch is not None and base is not None and has_motion(ref)) else base
    if params is not None and getattr(params, "abs_weights", "none") == "errors":
        sigma = position_sigma_mas(ref, shown)
        out["sigma_mas"] = sigma
        out["weight"] = fit_weights(sigma, params.abs_weight_floor)
    elif "weight" in ref.colnames:
        out["weight"] = np.asarray(ref["weight"], float)
    out.meta.update({k: v for k, v in ref.meta.items() if k in ("name", "frame")})
    out.meta["epoch"] = shown
    return out


def decimal_year(epoch: float | None) -> float | None:
    """The calendar decimal year of the instant of a Julian-year ``epoch`` (what jwst sends the service)."""
    if epoch is None:
        return None
    from astropy.time import Time

    return float(Time(epoch, format="jyear", scale="utc").decimalyear)
