"""``tweakreg_fits.ecsv``: one row per image and stage, for visits of hundreds of files.

Beside the JSON report, a table a user sorts and filters (TOPCAT, astropy)
instead of scrolling a log: status, verdict and its statistic, matcher, the
image's own matches, shift (arcsec and pixels), rotation, scale, skew, rmse,
mae, reference catalog and the epoch its positions were moved to for the
image (each exposure's own observation date); a ``total`` row per image holds
its total correction of every stage at its reference pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from tweakgui.engine.io.atomic import atomic_path
from tweakgui.engine.model import VisitResult

__all__ = ["fits_table", "write_fits_table", "QA_TABLE_NAME"]

QA_TABLE_NAME = "tweakreg_fits.ecsv"

_COLUMNS = [
    ("image", str, ""), ("stage", str, ""), ("group_id", str, ""), ("status", str, ""), ("reason", str, ""),
    ("matcher", str, ""), ("significance", float, "sigma"), ("n_chance", float, ""),
    ("false_alarm", float, ""), ("nmatch", int, ""), ("nused", int, ""), ("group_nmatch", int, ""),
    ("fitgeom", str, ""), ("shift_x_arcsec", float, "arcsec"), ("shift_y_arcsec", float, "arcsec"),
    ("shift_x_pix", float, "pix"), ("shift_y_pix", float, "pix"), ("rotation_deg", float, "deg"),
    ("scale", float, ""), ("skew_deg", float, "deg"), ("rmse_mas", float, "mas"), ("mae_mas", float, "mas"),
    ("match_radius_mas", float, "mas"), ("refcat", str, ""), ("epoch", str, ""),
]


def _row(**values):
    out = {}
    for name, typ, _ in _COLUMNS:
        v = values.get(name)
        if v is None:
            v = "" if typ is str else (-1 if typ is int else np.nan)
        out[name] = typ(v)
    return out


def _epoch(value) -> str:
    """A Julian-year epoch as text (``2022.4712``); empty when unknown."""
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return ""


def fits_table(result: VisitResult) -> Table:
    """The QA table of a run (see the module doc)."""
    refname = "" if result.refcat is None else str(result.refcat.meta.get("name", ""))
    catalog_epoch = None if result.refcat is None else result.refcat.meta.get("epoch")
    rows = []
    for r in result.images:
        name = r.exposure.name
        for f in r.fits:
            own = f.image_numbers(name)
            ok = f.status == "SUCCESS"
            rows.append(_row(
                image=name, stage=f.kind, group_id=f.group_id, status=f.status, reason=f.reason,
                matcher=f.matcher, significance=f.significance, n_chance=f.n_chance,
                false_alarm=f.checks.get("chance", {}).get("value"), nmatch=own["nmatch"], nused=own["nused"],
                group_nmatch=f.nmatch, fitgeom=f.fitgeom,
                shift_x_arcsec=f.shift_arcsec[0] if ok else None, shift_y_arcsec=f.shift_arcsec[1] if ok else None,
                shift_x_pix=f.shift_pix[0] if ok else None, shift_y_pix=f.shift_pix[1] if ok else None,
                rotation_deg=f.rotation_deg if ok else None, scale=f.scale if ok else None,
                skew_deg=f.skew_deg if ok else None, rmse_mas=own["rmse_arcsec"] * 1000,
                mae_mas=own["mae_arcsec"] * 1000, match_radius_mas=f.match_radius_arcsec * 1000,
                refcat=refname if f.kind == "absolute" else "relative",
                epoch=(_epoch(f.ref_epoch if f.ref_epoch is not None else catalog_epoch)
                       if f.kind == "absolute" else "")))
        c = r.correction
        rows.append(_row(
            image=name, stage="total", group_id=r.exposure.group_id, status=r.status, reason=r.reason,
            shift_x_arcsec=None if c is None else c.shift_arcsec[0],
            shift_y_arcsec=None if c is None else c.shift_arcsec[1],
            shift_x_pix=None if c is None else c.shift_pix[0], shift_y_pix=None if c is None else c.shift_pix[1],
            rotation_deg=None if c is None else c.rotation_deg, scale=None if c is None else c.scale))
    t = Table(rows=[[row[n] for n, _, _ in _COLUMNS] for row in rows] or None,
              names=[n for n, _, _ in _COLUMNS], dtype=[t for _, t, _ in _COLUMNS])
    for n, _, unit in _COLUMNS:
        if unit:
            t[n].unit = unit
    t.meta["comments"] = [
        "tweakgui: one row per image and stage; 'total' rows: the image's total correction at its reference",
        "pixel, shift (dRA*cos(Dec), dDec) arcsec and detector (x, y) pixels, rotation counter-clockwise from",
        "east toward north. Stage rows: the stage's fit in the reference tangent plane; nmatch, nused, rmse,",
        "mae are the image's own matches; significance and false_alarm are the fit's verdict statistic.",
        "epoch: Julian year the reference catalog's positions were moved to for the image's absolute fit",
        "(its exposure group's observation date when the catalog has proper motions, else the catalog's own).",
    ]
    return t


def write_fits_table(result: VisitResult, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fits_table(result).write(tmp, format="ascii.ecsv", overwrite=True)
    return path
