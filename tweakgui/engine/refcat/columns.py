"""The optional columns of a reference catalog: magnitude, position errors, proper motions, epoch.

Each is found by a name the user gives (``abs_refcat_magcol``,
``abs_refcat_errcols``: a name in any case or a 1-based column number) or
recognised among the usual names of Gaia, VizieR and the STScI catalog
service.  The normalised table has

- ``mag``;
- ``ra_error``, ``dec_error``: position errors (mas) at ``ref_epoch``;
- ``pmra`` (times cos dec), ``pmdec`` and their ``pmra_error``, ``pmdec_error`` (mas/yr);
- ``ref_epoch``: the catalog epoch of each source (Julian year).

A column named by the user that does not exist, or is not numeric, is an
:class:`~tweakgui.engine.model.InputError` naming the parameter; a recognised
column that is not numeric is left out with a warning.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.tables import find_column, numbers
from tweakgui.engine.model import InputError

__all__ = ["MAG_NAMES", "ERROR_PAIRS", "named_column", "add_optional_columns"]

log = logging.getLogger(__name__)

MAG_NAMES = ("mag", "phot_g_mean_mag", "gmag", "g_mag", "magnitude", "mag_auto")
ERROR_PAIRS = (("ra_error", "dec_error"), ("raerr", "decerr"), ("ra_err", "dec_err"),
               ("e_ra_icrs", "e_de_icrs"), ("e_raj2000", "e_dej2000"))
PM_PAIRS = (("pmra", "pmdec"), ("pmra", "pmde"), ("pm_ra", "pm_dec"))
PM_ERROR_PAIRS = (("pmra_error", "pmdec_error"), ("e_pmra", "e_pmde"), ("pmraerr", "pmdecerr"),
                  ("pmra_err", "pmdec_err"), ("e_pmra", "e_pmdec"))
EPOCH_NAMES = ("ref_epoch", "epoch", "epoch_ra", "ep_ra")


def _columns_listed(t: Table) -> str:
    names = t.colnames[:12]
    return ", ".join(names) + (", ..." if len(t.colnames) > 12 else "")


def named_column(t: Table, spec: str, param: str, source) -> str:
    """The column ``spec`` names (any case, or a 1-based number), or an InputError naming ``param``."""
    spec = str(spec).strip()
    if spec.isdigit():
        i = int(spec)
        if 1 <= i <= len(t.colnames):
            return t.colnames[i - 1]
        raise InputError(f"{param}: {source} has {len(t.colnames)} columns, no column {i}")
    name = find_column(t, spec)
    if name is None:
        raise InputError(f"{param}: no column '{spec}' in {source} (columns: {_columns_listed(t)})")
    return name


def _values(t: Table, name: str, source, unit: str, param: str | None) -> np.ndarray | None:
    """Column ``name`` as floats in ``unit`` (when it carries a unit); None if a recognised column is not numeric."""
    try:
        values = numbers(t, name, source)
    except InputError as exc:
        if param:
            raise InputError(f"{param}: {exc}") from None
        log.warning("%s: column '%s' ignored (%s)", source, name, exc)
        return None
    col_unit = getattr(t[name], "unit", None)
    if col_unit is not None and unit:
        try:
            values = values * col_unit.to(unit)
        except Exception:  # a unit of another kind (a "mag" error given in "deg"...): the numbers as they are
            log.debug("%s: column '%s' in %s, not convertible to %s", source, name, col_unit, unit)
    return values


def _pair(t: Table, pairs) -> tuple[str, str] | None:
    for a, b in pairs:
        ca, cb = find_column(t, a), find_column(t, b)
        if ca is not None and cb is not None:
            return ca, cb
    return None


def _magnitude(out: Table, t: Table, source, spec: str) -> None:
    if spec:
        name = named_column(t, spec, "abs_refcat_magcol", source)
        out["mag"] = _values(t, name, source, "", "abs_refcat_magcol")
        out.meta["magcol"] = name
        return
    name = find_column(t, *MAG_NAMES)
    if name is not None and getattr(t[name], "ndim", 1) == 1:
        values = _values(t, name, source, "", None)
        if values is not None:
            out["mag"] = values
            out.meta["magcol"] = name


def _errors(out: Table, t: Table, source, spec: str) -> None:
    if spec:
        names = [s for s in str(spec).replace(";", ",").split(",") if s.strip()]
        if len(names) not in (1, 2):
            raise InputError(f"abs_refcat_errcols: give 'RA_ERR,DEC_ERR' or one column, got {spec!r}")
        cols = [named_column(t, n, "abs_refcat_errcols", source) for n in names]
        pair = (cols[0], cols[-1])
        param = "abs_refcat_errcols"
    else:
        pair = _pair(t, ERROR_PAIRS)
        param = None
        if pair is None:
            return
    ra_e = _values(t, pair[0], source, "mas", param)
    dec_e = _values(t, pair[1], source, "mas", param)
    if ra_e is not None and dec_e is not None:
        out["ra_error"], out["dec_error"] = ra_e, dec_e
        out.meta["errcols"] = f"{pair[0]},{pair[1]}"


def _motions(out: Table, t: Table, source) -> None:
    pair = _pair(t, PM_PAIRS)
    if pair is None:
        return
    pmra, pmdec = _values(t, pair[0], source, "mas/yr", None), _values(t, pair[1], source, "mas/yr", None)
    if pmra is None or pmdec is None:
        return
    out["pmra"], out["pmdec"] = pmra, pmdec
    err = _pair(t, PM_ERROR_PAIRS)
    if err is not None:
        ea, ed = _values(t, err[0], source, "mas/yr", None), _values(t, err[1], source, "mas/yr", None)
        if ea is not None and ed is not None:
            out["pmra_error"], out["pmdec_error"] = ea, ed


def _epoch(out: Table, t: Table, source) -> None:
    name = find_column(t, *EPOCH_NAMES)
    if name is None:
        return
    values = _values(t, name, source, "yr", None)
    if values is not None:
        out["ref_epoch"] = values


def add_optional_columns(out: Table, t: Table, source, params=None) -> Table:
    """Add ``mag``, the errors, the proper motions and ``ref_epoch`` of ``t`` to ``out`` (same rows)."""
    _magnitude(out, t, source, str(getattr(params, "abs_refcat_magcol", "") or "").strip())
    _errors(out, t, source, str(getattr(params, "abs_refcat_errcols", "") or "").strip())
    _motions(out, t, source)
    _epoch(out, t, source)
    return out
