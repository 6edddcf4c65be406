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
    from .inputs import check_regular_file

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
    # a position that is not a number is an error in the file, not a star to skip quietly
    if rc is not None and dc is not None:
        names = {"RA": rc, "DEC": dc}
    elif _col(t, "l", "glon") is not None:
        names = {"RA": _col(t, "l", "glon"), "DEC": _col(t, "b", "glat")}
    else:
        names = {"RA": _col(t, "sky_centroid", "skycoord", "coord")}
        names["DEC"] = names["RA"]
    for axis in ("RA", "DEC"):
        values = np.asarray(out[axis], float)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) if axis == "RA" else ~(np.abs(values) <= 90.0)
        if bad.any():
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:5])
            more = ", ..." if bad.sum() > 5 else ""
            what = "not finite" if axis == "RA" else "not finite or beyond ±90 deg"
            raise InputError(f"{path}: column '{names[axis]}' has {int(bad.sum())} value(s) {what} "
                             f"(rows {rows}{more})")
    out.meta["name"] = Path(path).name
    return out


def drop_far_sources(ref: Table, visit, margin_deg: float = 10.0) -> Table:
    """Drop reference sources more than ``margin_deg`` beyond the visit's footprint, with a count logged.

    A star on the far side of the sky has no position on the tangent plane of
    the visit (the projection diverges at 90 deg): it could never match and
    would break the fit.
    """
    if ref is None or len(ref) == 0 or visit is None or not getattr(visit, "exposures", None):
        return ref
    try:
        from .gaia import footprint_search_params

        ra0, dec0, radius = footprint_search_params(visit.exposures)
    except Exception:  # no usable footprint: the fit reports the images' own problems
        log.debug("no footprint for the reference catalog cut", exc_info=True)
        return ref
    r1, d1 = np.radians(ra0), np.radians(dec0)
    r2, d2 = np.radians(np.asarray(ref["RA"], float)), np.radians(np.asarray(ref["DEC"], float))
    cos_sep = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r2 - r1)
    sep = np.degrees(np.arccos(np.clip(cos_sep, -1.0, 1.0)))
    keep = sep <= radius + margin_deg
    n = int(np.count_nonzero(~keep))
    if n:
        log.warning("reference catalog %s: %d of %d sources lie more than %.3g deg beyond the visit "
                    "and were dropped", ref.meta.get("name", ""), n, len(ref), margin_deg)
        meta = dict(ref.meta)
        ref = ref[keep]
        ref.meta.update(meta)
        ref.meta["dropped_far"] = n
    return ref


def visit_frame(visit):
    """The celestial frame of the visit's FITS WCS when it is not equatorial (ICRS, FK5), else None.

    Raises
    ------
    InputError
        The images use different frames.
    """
    from astropy.wcs.utils import wcs_to_celestial_frame

    frames = {}
    for e in getattr(visit, "exposures", []):
        if e.kind != "fits":
            return None
        for c in e.chips:
            try:
                f = wcs_to_celestial_frame(c.wcs)
            except Exception:  # unknown frame: left as the catalog's
                return None
            frames.setdefault(f.name, (f, e.path))
    if len(frames) > 1:
        (a, pa), (b, pb) = list(frames.values())[:2]
        raise InputError(f"{pa} and {pb} use different celestial frames ({a.name}, {b.name}); "
                         "align them separately")
    if not frames:
        return None
    frame, _ = next(iter(frames.values()))
    return None if frame.name in ("icrs", "fk5") else frame


def to_visit_frame(ref: Table, visit) -> Table:
    """Reference positions (ICRS) expressed in the frame of the visit's WCS.

    Images with a galactic (GLON/GLAT), ecliptic or FK4 WCS are aligned in
    their own frame: the ``RA``/``DEC`` columns then hold that frame's
    longitude and latitude (``meta['frame']`` says which).
    """
    frame = visit_frame(visit)
    if ref is None or len(ref) == 0 or frame is None:
        return ref
    from astropy.coordinates import SkyCoord

    c = SkyCoord(np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float), unit="deg",
                 frame="icrs").transform_to(frame)
    sph = c.spherical
    out = ref.copy()
    out["RA"] = sph.lon.deg
    out["DEC"] = sph.lat.deg
    out.meta["frame"] = frame.name
    log.info("reference catalog converted from ICRS to the images' %s frame", frame.name)
    return out
