"""Custom source catalogs: pixel positions per image instead of detection.

Custom catalogs (``use_custom_catalogs``) list pixel positions per image
(``x``/``y`` or ``xcentroid``/``ycentroid``, 0-based, optional ``weight``).
They come from ``catfile`` (image name then one catalog per chip, paths
relative to the catfile; an empty entry means detect) or from an ASN
member's ``tweakreg_catalog``; ``catfile`` wins.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.atomic import file_version
from tweakgui.engine.io.tables import find_column, is_file, numbers, read_table
from tweakgui.engine.model import Exposure, InputError

__all__ = ["parse_catfile", "attach_custom_catalogs", "check_custom_catalogs", "read_custom_catalog"]


def parse_catfile(path) -> dict[str, list[Path | None]]:
    """Parse a catfile: ``image cat_chip1 [cat_chip2 ...]`` per line."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read catfile: {getattr(e, 'strerror', None) or e}") from None
    out: dict[str, list[Path | None]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if not parts:  # a line of commas
            continue
        image, cats = parts[0], parts[1:]
        entries: list[Path | None] = []
        for c in cats:
            if c.lower() in ("none", "indef", '""', "''"):
                entries.append(None)
            else:
                entries.append(Path(c) if Path(c).is_absolute() else path.parent / c)
        out[Path(image).name] = entries
    return out


def attach_custom_catalogs(exposures: list[Exposure], catfile: str | None) -> None:
    """Set ``chip.catalog_path`` from the catfile (which wins over ASN catalogs).

    Every catalog named (by the catfile or an ASN) must exist.
    """
    if catfile:
        table = parse_catfile(catfile)
        for e in exposures:
            entries = table.get(e.name)
            if entries is None or e.meta.get("catalog_input"):  # a catalog input is its own catalog
                continue
            for i, chip in enumerate(e.chips):
                chip.catalog_path = entries[i] if i < len(entries) else None
    for e in exposures:
        for c in e.chips:
            if c.catalog_path is not None and not is_file(c.catalog_path):
                where = f" (named in catfile {catfile})" if catfile else ""
                raise InputError(f"{c.catalog_path}: custom catalog for {e.name} not found{where}")


def check_custom_catalogs(exposures: list[Exposure]) -> None:
    """Read every attached custom catalog once, so that a bad one stops the run before it starts.

    Raises
    ------
    InputError
        A catalog cannot be read or has no x/y columns; the message names it
        and the image it belongs to.
    """
    for e in exposures:
        for c in e.chips:
            if c.catalog_path is None or e.meta.get("catalog_input"):  # read when it was loaded
                continue
            try:
                read_custom_catalog(c.catalog_path)
            except InputError as exc:
                raise InputError(f"{exc} (custom catalog of {e.name}[{c.name}])") from None


_READ: OrderedDict = OrderedDict()  # the catalogs read last, by file identity (see read_custom_catalog)
_READ_MAX = 4096
_READ_LOCK = threading.Lock()


def _file_key(path, select):
    """A catalog file as it is now and the rows kept from it (see :func:`file_version`), or None."""
    version = file_version(path)
    return None if version is None else (version, select)


def read_custom_catalog(path, select: tuple[str, int] | None = None) -> Table:
    """A custom source catalog: ``x``, ``y`` (0-based), optional ``weight``, ``flux`` and ``x_err``, ``y_err`` (px).

    ``select`` ``(column, value)`` keeps the rows of one chip of a catalog of
    several (a catalog input's ``chip`` column).  A file unchanged since its
    last read is not parsed again (a run checks every catalog before it
    starts, then reads it): the caller gets its own copy.
    """
    key = _file_key(path, select)
    with _READ_LOCK:
        known = _READ.get(key) if key is not None else None
    if known is not None:
        return known.copy()
    out = _read_custom_catalog(path, select)
    if key is not None:
        _keep(key, out)
    return out.copy()


def _keep(key, table) -> None:
    with _READ_LOCK:
        _READ[key] = table
        while len(_READ) > _READ_MAX:
            _READ.popitem(last=False)


def read_catalog_batch(paths) -> list:
    """In a worker process: ``(file key, catalog)`` of each of ``paths`` (absolute), None for one
    it cannot read (the run reads that one again and says why)."""
    out = []
    for p in paths:
        try:
            out.append((_file_key(p, None), _read_custom_catalog(p, None)))
        except Exception:  # noqa: BLE001 - reported when the run reads it itself
            out.append(None)
    return out


def remember_catalogs(read) -> int:
    """Keep what :func:`read_catalog_batch` read elsewhere for :func:`read_custom_catalog`; the number kept.

    A file changed since it was read there is not kept.
    """
    kept = 0
    for item in read:
        if item is None or item[0] is None:
            continue
        key, table = item
        if _file_key(key[0][0], None) != key:
            continue
        _keep(key, table)
        kept += 1
    return kept


def _read_custom_catalog(path, select) -> Table:
    t = read_table(path)
    if select is not None:
        t = t[numbers(t, select[0], path) == select[1]]
    xc = find_column(t, "x", "xcentroid", "x_centroid")
    yc = find_column(t, "y", "ycentroid", "y_centroid")
    if xc is None or yc is None:
        if t.colnames and all(c.startswith("col") for c in t.colnames) and len(t.colnames) >= 2:
            xc, yc = t.colnames[:2]
        else:
            raise InputError(f"{path}: catalog has no x/y (or xcentroid/ycentroid) columns")
    out = Table()
    out["x"] = numbers(t, xc, path)
    out["y"] = numbers(t, yc, path)
    wc = find_column(t, "weight")
    if wc is not None:
        out["weight"] = numbers(t, wc, path)
    fc = find_column(t, "flux", "flux_auto", "segment_flux")
    if fc is not None:
        out["flux"] = numbers(t, fc, path)
    ex, ey = find_column(t, "x_err", "xerr", "xcentroid_err"), find_column(t, "y_err", "yerr", "ycentroid_err")
    if ex is not None and ey is not None:  # centroid errors, pixels (weights of abs_weights=errors)
        out["x_err"], out["y_err"] = numbers(t, ex, path), numbers(t, ey, path)
    out.meta["name"] = Path(path).name
    good = np.isfinite(out["x"]) & np.isfinite(out["y"])
    return out[good]

