"""The rows of a big reference catalog file that lie in the visit's cone, read without the rest.

A dense-field catalog (a million Gaia sources around a cluster) is mostly sky
the images never see. Reading it whole costs time and memory in proportion to
the file; here the cost follows the rows inside the cone:

- FITS binary table: the rows are read in blocks of raw bytes; only the
  position (and proper-motion) fields of each block are decoded, and the
  records inside are kept as bytes. astropy then reads the kept records as a
  small table, with every column, unit and null value as in a full read.
- ECSV: the text is scanned in blocks of lines with astropy's fast (C) reader
  on the position (and proper-motion) columns only; the ECSV reader then
  parses the header with the kept lines. Between blocks the GIL is released,
  so a GUI thread stays responsive while a worker reads.

A row is kept when its position is within ``radius + |pm| * PM_YEARS`` of the
cone's centre, or when its position is not a number (the full read's check
then names it). Files smaller than :data:`BIG_FILE_BYTES`, other formats, FITS
tables with a heap or scaled positions, and positions given as galactic
coordinates or sky coordinates are read whole (None is returned).
"""

from __future__ import annotations

import io
import logging
import re
import time
from itertools import islice
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.tables import find_column

__all__ = ["read_in_cone", "BIG_FILE_BYTES", "BLOCK_ROWS", "PM_YEARS", "PM_NAMES"]

log = logging.getLogger(__name__)

BIG_FILE_BYTES = 8 * 2**20
BLOCK_ROWS = 4096
PM_YEARS = 100.0  # the longest span between a catalog's epoch and an observation the cut allows for
PM_NAMES = (("pmra", "pmdec"), ("pmra", "pmde"), ("pm_ra", "pm_dec"))


def read_in_cone(path, cone, radec_columns) -> tuple[Table, int] | None:
    """The rows of ``path`` in ``cone`` = (ra, dec, radius deg) as read_table gives them, and the file's row count.

    ``radec_columns(table)`` names the (ra, dec) columns of a table with the
    file's columns (no rows), or (None, None). None when the file is read
    whole instead (see the module's notes).
    """
    path = Path(path)
    try:
        if path.stat().st_size < BIG_FILE_BYTES:
            return None
    except OSError:
        return None
    name = path.name.lower()
    reader = (_fits_in_cone if name.endswith((".fits", ".fit")) else
              _ecsv_in_cone if name.endswith(".ecsv") else None)
    if reader is None:
        return None
    t0 = time.perf_counter()
    try:
        out = reader(path, cone, radec_columns)
    except (OSError, ValueError, KeyError, TypeError) as e:  # the full read reports the file's problem
        log.debug("%s: read whole (%s: %s)", path.name, type(e).__name__, e)
        return None
    if out is not None:
        log.info("%s: %d of %d rows in the visit's cone (radius %.4g deg), read in %.2f s", path.name,
                 len(out[0]), out[1], cone[2], time.perf_counter() - t0)
    return out


def _inside(cone, ra, dec, pm) -> np.ndarray:
    """Rows within the cone (grown by each row's motion over PM_YEARS), or whose position is not a number."""
    ra0, dec0, radius = cone
    d1, d2 = np.radians(dec0), np.radians(dec)
    cos_sep = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(np.radians(ra - ra0))
    with np.errstate(invalid="ignore"):
        sep = np.degrees(np.arccos(np.clip(cos_sep, -1.0, 1.0)))
        return ~(sep > radius + np.nan_to_num(pm) * PM_YEARS / 3.6e6)


def _unit_factor(unit, to: str) -> float:
    """The factor from ``unit`` to ``to`` (1 when none); ValueError when it is not convertible."""
    if unit is None or str(unit).strip() == "":
        return 1.0
    import astropy.units as u

    try:
        return float(u.Unit(unit).to(to))
    except (u.UnitsError, ValueError, TypeError):
        raise ValueError(f"unit {unit!r} is not {to}") from None


def _cut_columns(empty: Table, radec_columns):
    """((ra, dec), (pmra, pmdec) or None) of a table without rows; None when positions are not plain columns."""
    rc, dc = radec_columns(empty)
    if rc is None or dc is None or empty[rc].dtype.kind != "f" or empty[dc].dtype.kind != "f":
        return None
    pm = None
    for a, b in PM_NAMES:
        pa, pb = find_column(empty, a), find_column(empty, b)
        if pa is not None and pb is not None:
            pm = (pa, pb) if empty[pa].dtype.kind == "f" and empty[pb].dtype.kind == "f" else None
            if pm is None:
                raise ValueError("proper motions are not floating-point columns")
            break
    return (rc, dc), pm


def _block_inside(cone, get, cols, units) -> np.ndarray:
    """The rows of one block in the cone; ``get(name)`` gives a column of the block as floats."""
    (rc, dc), pm = cols
    ra, dec = get(rc) * units[rc], get(dc) * units[dc]
    motion = 0.0
    if pm is not None:
        motion = np.hypot(get(pm[0]) * units[pm[0]], get(pm[1]) * units[pm[1]])
    return _inside(cone, ra, dec, motion)


def _units(empty: Table, cols) -> dict:
    (rc, dc), pm = cols
    out = {rc: _unit_factor(empty[rc].unit, "deg"), dc: _unit_factor(empty[dc].unit, "deg")}
    for c in pm or ():
        out[c] = _unit_factor(empty[c].unit, "mas / yr")
    return out


# ------------------------------------------------------------------ FITS binary tables


def _fits_layout(path: Path):
    """(header, data offset, raw record dtype) of the first binary table; None when it cannot be read in blocks."""
    from astropy.io import fits

    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        for i, hdu in enumerate(hdul):
            if isinstance(hdu, fits.BinTableHDU):
                break
        else:
            return None
        header, offset = hdu.header.copy(), hdul.fileinfo(i)["datLoc"]
        native = np.dtype(hdu.columns.dtype)
        scaled = {c.name for c in hdu.columns if c.bscale not in (None, 1) or c.bzero not in (None, 0)}
    if header.get("PCOUNT", 0) or native.itemsize != header["NAXIS1"]:
        return None  # a heap (variable-length arrays) or an unusual layout
    fields = {n: (native.fields[n][0].newbyteorder(">") if native.fields[n][0].kind in "fiu" else
                  native.fields[n][0], native.fields[n][1]) for n in native.names}
    raw = np.dtype({"names": list(fields), "formats": [f[0] for f in fields.values()],
                    "offsets": [f[1] for f in fields.values()], "itemsize": native.itemsize})
    return header, offset, raw, scaled


def _fits_in_cone(path: Path, cone, radec_columns):
    layout = _fits_layout(path)
    if layout is None:
        return None
    header, offset, raw, scaled = layout
    nrows = int(header["NAXIS2"])
    empty = _fits_table(header, b"")
    cols = _cut_columns(empty, radec_columns)
    if cols is None or scaled & {c for c in (*cols[0], *(cols[1] or ()))}:
        return None
    units = _units(empty, cols)
    kept = []
    with open(path, "rb") as f:
        f.seek(offset)
        for start in range(0, nrows, BLOCK_ROWS):
            block = np.fromfile(f, dtype=raw, count=min(BLOCK_ROWS, nrows - start))
            keep = _block_inside(cone, lambda c: block[c].astype(float), cols, units)
            kept.append(block.view(np.dtype((np.void, raw.itemsize)))[keep].copy())
            time.sleep(0)  # let a GUI thread run between blocks
    rows = np.concatenate(kept) if kept else np.zeros(0, np.dtype((np.void, raw.itemsize)))
    return _fits_table(header, rows.tobytes()), nrows


def _fits_table(header, data: bytes) -> Table:
    """The binary table of ``header`` holding the records ``data``, read by astropy as a whole file would be."""
    from astropy.io import fits

    h = header.copy()
    h["NAXIS2"] = len(data) // h["NAXIS1"]
    pad = (-len(data)) % 2880
    buf = io.BytesIO((fits.PrimaryHDU().header.tostring() + h.tostring()).encode("ascii") + data + b"\0" * pad)
    with fits.open(buf, memmap=False) as hdul:
        return Table.read(hdul[1])


# ------------------------------------------------------------------ ECSV


def _ecsv_header(f) -> tuple[list[str], str, str]:
    """(comment lines, the column-names line, the delimiter) at the start of an ECSV file."""
    head = []
    for line in f:
        if line.startswith("#"):
            head.append(line)
            continue
        if line.strip():
            names = line
            break
    else:
        raise ValueError("no column names")
    m = next((re.match(r"#\s*delimiter:\s*'?(.)'?\s*$", h) for h in head if "delimiter:" in h), None)
    return head, names, m.group(1) if m else " "


def _ecsv_in_cone(path: Path, cone, radec_columns):
    from astropy.io import ascii

    with open(path, encoding="utf-8") as f:
        head, names_line, delim = _ecsv_header(f)
        empty = Table.read(head + [names_line], format="ascii.ecsv")
        cols = _cut_columns(empty, radec_columns)
        if cols is None:
            return None
        units = _units(empty, cols)
        wanted = list(dict.fromkeys([*cols[0], *(cols[1] or ())]))
        kept, nrows = [], 0
        while True:
            lines = [ln for ln in islice(f, BLOCK_ROWS) if ln.strip()]
            if not lines:
                break
            nrows += len(lines)
            block = ascii.read(lines, format="basic", names=empty.colnames, data_start=0, delimiter=delim,
                               include_names=wanted, fast_reader=True, guess=False)
            if len(block) != len(lines):
                raise ValueError("a row spans several lines")
            keep = _block_inside(cone, lambda c: np.ma.filled(np.ma.asarray(block[c], float), np.nan), cols, units)
            kept.extend(ln for ln, k in zip(lines, keep) if k)
            time.sleep(0)  # let a GUI thread run between blocks
    return Table.read(head + [names_line] + kept, format="ascii.ecsv"), nrows
