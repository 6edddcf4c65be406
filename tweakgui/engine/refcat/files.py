"""Absolute reference catalogs read from files: positions in degrees, cut to the visit.

Reference catalogs hold ``RA``/``DEC`` in degrees (any case, or the columns
``abs_refcat_racol``/``abs_refcat_deccol`` name), galactic ``l``/``b``, or a
``sky_centroid`` column; the other columns a fit may use are found by
:mod:`.columns`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.tables import degrees, find_column, numbers, read_table
from tweakgui.engine.model import InputError
from tweakgui.engine.refcat import window
from tweakgui.engine.refcat.columns import add_optional_columns, named_column

__all__ = ["read_refcat", "reference_table", "drop_far_sources", "visit_frame", "to_visit_frame"]

log = logging.getLogger(__name__)

RA_NAMES = ("ra", "raj2000", "ra_icrs", "alpha_j2000")
DEC_NAMES = ("dec", "dej2000", "decj2000", "dec_icrs", "de_icrs", "delta_j2000")


def read_refcat(path, params=None, cone=None) -> Table:
    """An absolute reference catalog file as a normalised reference table.

    ``RA``, ``DEC`` (deg), and what the file has of ``weight``, ``mag``,
    position errors, proper motions and ``ref_epoch`` (see
    :mod:`.columns`); ``params`` may name the columns (``abs_refcat_racol``,
    ``abs_refcat_deccol``, ``abs_refcat_magcol``, ``abs_refcat_errcols``).
    With ``cone`` = (ra, dec, radius deg), a big FITS or ECSV file gives only
    its rows in the cone (:mod:`.window`), and ``meta['rows_in_file']`` its
    row count.
    """
    if cone is not None:
        part = window.read_in_cone(path, cone, lambda t: _radec_columns(t, path, params))
        if part is not None:
            ref = reference_table(part[0], path, params)
            ref.meta["rows_in_file"] = part[1]
            return ref
    return reference_table(read_table(path), path, params)


def _radec_columns(t: Table, path, params):
    """(ra column, dec column) named by the user or recognised; (None, None) when there are none."""
    given = {k: str(getattr(params, k, "") or "").strip() for k in ("abs_refcat_racol", "abs_refcat_deccol")}
    rc = (named_column(t, given["abs_refcat_racol"], "abs_refcat_racol", path) if given["abs_refcat_racol"]
          else find_column(t, *RA_NAMES))
    dc = (named_column(t, given["abs_refcat_deccol"], "abs_refcat_deccol", path) if given["abs_refcat_deccol"]
          else find_column(t, *DEC_NAMES))
    if (rc is None or dc is None) and len(t.colnames) >= 2 and all(c.startswith("col") for c in t.colnames):
        # a table without a header: the first two columns, drizzlepac's refxcol=1, refycol=2
        rc, dc = rc or t.colnames[0], dc or t.colnames[1]
    return rc, dc


def reference_table(t: Table, path, params=None) -> Table:
    """A table read from ``path`` (a file or the catalog service) as a normalised reference table."""
    out = Table()
    rc, dc = _radec_columns(t, path, params)
    if rc is not None and dc is not None:
        out["RA"] = degrees(t, rc, path)
        out["DEC"] = degrees(t, dc, path)
        names = {"RA": rc, "DEC": dc}
    elif find_column(t, "l", "glon") is not None and find_column(t, "b", "glat") is not None:
        from astropy.coordinates import SkyCoord

        lc, bc = find_column(t, "l", "glon"), find_column(t, "b", "glat")
        lon, lat = degrees(t, lc, path), degrees(t, bc, path)
        lat = np.where(np.abs(lat) <= 90.0, lat, np.nan)  # refused below, as any non-finite row
        g = SkyCoord(lon, lat, unit="deg", frame="galactic").icrs
        out["RA"] = g.ra.deg
        out["DEC"] = g.dec.deg
        names = {"RA": lc, "DEC": bc}
    else:
        sc = find_column(t, "sky_centroid", "skycoord", "coord")
        if sc is None:
            raise InputError(f"{path}: reference catalog has no RA/DEC (or sky_centroid) columns; "
                             "name them with abs_refcat_racol and abs_refcat_deccol")
        coords = t[sc]
        try:
            icrs = coords.icrs
            out["RA"] = icrs.ra.deg
            out["DEC"] = icrs.dec.deg
        except AttributeError:
            raise InputError(f"{path}: column '{sc}' is not a sky coordinate") from None
        names = {"RA": sc, "DEC": sc}
    wc = find_column(t, "weight")
    if wc is not None:
        out["weight"] = numbers(t, wc, path)
    for extra in ("source_id", "objID", "id"):
        c = find_column(t, extra)
        if c is not None and c not in names.values() and len(t[c].shape) == 1:
            out[extra] = t[c]
            break
    add_optional_columns(out, t, path, params)
    # a position that is not a number is an error in the file, not a star to skip quietly
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
    out.meta["name"] = Path(str(path)).name
    return out


def drop_far_sources(ref: Table, visit, margin_deg: float = 10.0, footprint=None) -> Table:
    """Drop reference sources more than ``margin_deg`` beyond the visit's footprint, with a count logged.

    A star on the far side of the sky has no position on the tangent plane of
    the visit (the projection diverges at 90 deg): it could never match and
    would break the fit.  ``footprint``: the visit's ``(ra, dec, radius)``
    (:func:`~tweakgui.engine.refcat.gaia.footprint_search_params`) when the
    caller has it.
    """
    if ref is None or len(ref) == 0 or visit is None or not getattr(visit, "exposures", None):
        return ref
    if footprint is None:
        try:
            from tweakgui.engine.refcat.gaia import footprint_search_params

            footprint = footprint_search_params(visit.exposures)
        except Exception:  # no usable footprint: the fit reports the images' own problems
            log.debug("no footprint for the reference catalog cut", exc_info=True)
            return ref
    ra0, dec0, radius = footprint
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
    longitude and latitude (``meta['frame']`` says which), and ``pmra``,
    ``pmdec`` the motion along them.
    """
    frame = visit_frame(visit)
    if ref is None or len(ref) == 0 or frame is None:
        return ref
    from astropy.coordinates import SkyCoord

    ra, dec = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    sph = SkyCoord(ra, dec, unit="deg", frame="icrs").transform_to(frame).spherical
    out = ref.copy()
    out["RA"] = sph.lon.deg
    out["DEC"] = sph.lat.deg
    if "pmra" in ref.colnames and "pmdec" in ref.colnames:
        # the motion along the frame's own axes: where each source is a year later, seen in the frame
        from tweakgui.engine.refcat.motion import move

        ra1, dec1 = move(ra, dec, ref["pmra"], ref["pmdec"], 1.0)
        sph1 = SkyCoord(ra1, dec1, unit="deg", frame="icrs").transform_to(frame).spherical
        dlon = (sph1.lon.deg - sph.lon.deg + 180.0) % 360.0 - 180.0
        known = np.isfinite(np.asarray(ref["pmra"], float)) & np.isfinite(np.asarray(ref["pmdec"], float))
        out["pmra"] = np.where(known, dlon * np.cos(sph.lat.rad) * 3.6e6, np.nan)
        out["pmdec"] = np.where(known, (sph1.lat.deg - sph.lat.deg) * 3.6e6, np.nan)
    out.meta["frame"] = frame.name
    log.info("reference catalog converted from ICRS to the images' %s frame", frame.name)
    return out

