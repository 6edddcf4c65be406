"""Custom source catalogs and absolute reference catalogs.

Custom catalogs (``use_custom_catalogs``) list pixel positions per image
(``x``/``y`` or ``xcentroid``/``ycentroid``, 0-based, optional ``weight``).
They come from ``catfile`` (image name then one catalog per chip, paths
relative to the catfile; an empty entry means detect) or from an ASN
member's ``tweakreg_catalog``; ``catfile`` wins.  Reference catalogs hold
``RA``/``DEC`` in degrees (any case), galactic ``l``/``b``, or a
``sky_centroid`` column.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from .model import Exposure, InputError

__all__ = [
    "parse_catfile",
    "attach_custom_catalogs",
    "check_custom_catalogs",
    "read_table",
    "read_custom_catalog",
    "read_refcat",
    "GAIA_CATALOGS",
]

log = logging.getLogger(__name__)

GAIA_CATALOGS = ("GAIADR1", "GAIADR2", "GAIADR3", "GAIAREFCAT")


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
            if entries is None:
                continue
            for i, chip in enumerate(e.chips):
                chip.catalog_path = entries[i] if i < len(entries) else None
    for e in exposures:
        for c in e.chips:
            if c.catalog_path is not None and not _is_file(c.catalog_path):
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
            if c.catalog_path is None:
                continue
            try:
                read_custom_catalog(c.catalog_path)
            except InputError as exc:
                raise InputError(f"{exc} (custom catalog of {e.name}[{c.name}])") from None


def _is_file(path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def read_table(path) -> Table:
    """Read a table in any astropy format (ECSV, FITS, VOTable, CSV, plain text)."""
    path = Path(path)
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
    raise InputError(f"{path}: cannot read catalog ({type(last).__name__}: {str(last).splitlines()[0] if str(last) else ''})")


def _col(t: Table, *names):
    lower = {c.lower(): c for c in t.colnames}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def read_custom_catalog(path) -> Table:
    """A custom source catalog as a table with ``x``, ``y`` (0-based) and optional ``weight``."""
    t = read_table(path)
    xc = _col(t, "x", "xcentroid", "x_centroid")
    yc = _col(t, "y", "ycentroid", "y_centroid")
    if xc is None or yc is None:
        if t.colnames and all(c.startswith("col") for c in t.colnames) and len(t.colnames) >= 2:
            xc, yc = t.colnames[:2]
        else:
            raise InputError(f"{path}: catalog has no x/y (or xcentroid/ycentroid) columns")
    out = Table()
    out["x"] = _numbers(t, xc, path)
    out["y"] = _numbers(t, yc, path)
    wc = _col(t, "weight")
    if wc is not None:
        out["weight"] = _numbers(t, wc, path)
    fc = _col(t, "flux", "flux_auto", "segment_flux")
    if fc is not None:
        out["flux"] = _numbers(t, fc, path)
    out.meta["name"] = Path(path).name
    good = np.isfinite(out["x"]) & np.isfinite(out["y"])
    return out[good]


def _numbers(t: Table, name: str, path) -> np.ndarray:
    """Column ``name`` as a 1-D float array (masked entries NaN); InputError if it is not numeric."""
    col = t[name]
    if getattr(col, "ndim", 1) != 1:
        raise InputError(f"{path}: column '{name}' is not a single column of numbers")
    try:
        values = np.ma.asarray(col).astype(float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: column '{name}' is not numeric") from None
    return np.ma.filled(values, np.nan)


def _degrees(t: Table, name: str, path) -> np.ndarray:
    col = t[name]
    unit = getattr(col, "unit", None)
    if unit is not None:
        try:
            return _numbers(t, name, path) * unit.to("deg")
        except InputError:
            raise
        except Exception:  # a unit that is not an angle: take the numbers as degrees
            pass
    return _numbers(t, name, path)


def read_refcat(path) -> Table:
    """An absolute reference catalog as a table with ``RA``, ``DEC`` (deg) and optional ``weight``."""
    t = read_table(path)
    out = Table()
    rc = _col(t, "ra", "raj2000", "ra_icrs", "alpha_j2000")
    dc = _col(t, "dec", "dej2000", "decj2000", "dec_icrs", "de_icrs", "delta_j2000")
    if rc is not None and dc is not None:
        out["RA"] = _degrees(t, rc, path)
        out["DEC"] = _degrees(t, dc, path)
    elif _col(t, "l", "glon") is not None and _col(t, "b", "glat") is not None:
        from astropy.coordinates import SkyCoord

        lon, lat = _degrees(t, _col(t, "l", "glon"), path), _degrees(t, _col(t, "b", "glat"), path)
        lat = np.where(np.abs(lat) <= 90.0, lat, np.nan)  # dropped below, as any non-finite row
        g = SkyCoord(lon, lat, unit="deg", frame="galactic").icrs
        out["RA"] = g.ra.deg
        out["DEC"] = g.dec.deg
    else:
        sc = _col(t, "sky_centroid", "skycoord", "coord")
        if sc is None:
            raise InputError(f"{path}: reference catalog has no RA/DEC (or sky_centroid) columns")
        coords = t[sc]
        try:
            icrs = coords.icrs
            out["RA"] = icrs.ra.deg
            out["DEC"] = icrs.dec.deg
        except AttributeError:
            raise InputError(f"{path}: column '{sc}' is not a sky coordinate") from None
    wc = _col(t, "weight")
    if wc is not None:
        out["weight"] = _numbers(t, wc, path)
    for extra in ("mag", "MAG", "phot_g_mean_mag", "source_id", "id"):
        if extra in t.colnames and extra not in out.colnames and len(t[extra].shape) == 1:
            out[extra] = t[extra]
    with np.errstate(invalid="ignore"):
        good = np.isfinite(out["RA"]) & np.isfinite(out["DEC"]) & (np.abs(out["DEC"]) <= 90.0)
    out = out[good]
    out.meta["name"] = Path(path).name
    return out
