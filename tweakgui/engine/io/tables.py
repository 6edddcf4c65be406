"""Tables from files in any astropy format, and their columns found by name in any case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.inputs import check_regular_file
from tweakgui.engine.model import InputError

__all__ = ["read_table", "find_column", "numbers", "degrees", "is_file"]


def is_file(path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def read_table(path) -> Table:
    """Read a table in any astropy format (ECSV, FITS, VOTable, CSV, plain text)."""
    path = Path(path)
    check_regular_file(path, "catalog")
    if not path.is_file():
        raise InputError(f"{path}: catalog file not found")
    name = path.name.lower()
    tries = []
    if name.endswith(".ecsv"):
        tries = ["ascii.ecsv"]
    elif name.endswith((".fits", ".fit", ".fits.gz", ".cat.fits")):
        tries = ["fits"]
    elif name.endswith((".xml", ".vot", ".votable")):
        tries = ["votable"]
    elif name.endswith(".csv"):
        tries = ["ascii.csv"]
    tries += [None, "ascii.commented_header", "ascii.no_header"]
    last = None
    for fmt in tries:
        try:
            t = Table.read(path, format=fmt) if fmt else Table.read(path)
            return t
        except Exception as e:  # try the next format
            last = e
    why = str(last).splitlines()[0] if str(last) else ""
    raise InputError(f"{path}: cannot read catalog ({type(last).__name__}: {why})")


def find_column(t: Table, *names):
    lower = {c.lower(): c for c in t.colnames}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def numbers(t: Table, name: str, path) -> np.ndarray:
    """Column ``name`` as a 1-D float array (masked entries NaN); InputError if it is not numeric."""
    col = t[name]
    if getattr(col, "ndim", 1) != 1:
        raise InputError(f"{path}: column '{name}' is not a single column of numbers")
    try:
        values = np.ma.asarray(col).astype(float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: column '{name}' is not numeric") from None
    return np.ma.filled(values, np.nan)


def degrees(t: Table, name: str, path) -> np.ndarray:
    col = t[name]
    unit = getattr(col, "unit", None)
    if unit is not None:
        try:
            return numbers(t, name, path) * unit.to("deg")
        except InputError:
            raise
        except Exception:  # a unit that is not an angle: take the numbers as degrees
            pass
    return numbers(t, name, path)

