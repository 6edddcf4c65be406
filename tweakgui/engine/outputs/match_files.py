"""drizzlepac's match files (``save_match_files``) and the expanded reference catalog.

Per image and stage, the matched sources the fit used, in the layout of
drizzlepac's ``<rootname>_catalog_fit.match`` (``imgclasses.write_fit_catalog``):
a commented header (the coordinate mapping, then "Column 1: X (reference)" ...
"Column 18: Ref source provenience"), then one line per source::

    X, Y (reference)   X, Y (input)   X, Y (fit)   X, Y (residual = fit - reference)
    Original X, Y (reference)   Original X, Y (input)
    Ref ID   Input ID   Input EXTVER ID   RA, Dec (fit)   Ref source provenience

- **Frame.** Columns 1-8 are pixels (1-based) of one undistorted TAN frame per
  run: for HST, the frame of the shiftfile's ``tweakreg_shifts_wcs.fits``
  (:func:`~tweakgui.engine.outputs.shiftfile.output_frame` of the reference
  image's final WCS); for JWST, the same construction at the reference point
  of the reference image's final GWCS.  Relative and absolute files share it.
  drizzlepac writes columns 1-4 about its reference CRPIX and 5-6 absolute;
  here all are absolute, so residual = fit - reference holds column by column.
- **Input.** Input X, Y: the source through the WCS the stage started from;
  fit: the same source after the stage's fit.  Original X, Y: the chip pixel
  (1-based, as drizzlepac; the written catalogs are 0-based).  Input ID: the
  row (0-based) of the chip's source catalog, ``<root>_sci<EXTVER>_cat.<ext>``
  (``<root>_cat.<ext>`` for one chip) with ``save_catalogs``; EXTVER: the chip
  the source was detected on (drizzlepac #374 guessed it from ID ranges).
- **Reference.** Relative fit: Ref ID is the row of the reference source in
  its own chip's catalog and the provenance names that image and chip
  (``demo01_flt.fits[SCI,2]``); original X, Y are its chip pixel (1-based).
  Absolute fit: Ref ID is the catalog's own ID (Gaia ``source_id``, ``objID``,
  ``id``) when it has an integer one, else its row in the reference catalog as
  used (``tweakreg_abs_refcat.<ext>`` with ``save_abs_catalog``); original X, Y
  are the frame's, as drizzlepac; the provenance is the catalog's name.

With ``expand_refcat``, the relative stage's final reference list is written
as ``tweakreg_expanded_refcat.<ext>`` (drizzlepac: ``cumulative_sky_refcat_*.coo``):
RA, DEC and each source's origin (``image[chip]``), image, EXTVER and row.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui import __version__
from tweakgui.engine.geometry import sky_function
from tweakgui.engine.io.atomic import atomic_write_text
from tweakgui.engine.model import (
    STATUS_FAILED,
    STATUS_REFERENCE,
    STATUS_SUCCESS,
    VisitResult,
)
from tweakgui.engine.outputs.fitsio import chip_extver, output_path, write_table
from tweakgui.engine.outputs.images import catalog_extension
from tweakgui.engine.outputs.shiftfile import output_frame, reference_wcs

__all__ = ["MATCH_SUFFIX", "COLUMNS", "match_file_path", "expanded_refcat_path", "planned_match_files",
           "write_match_files", "match_table", "reference_frame", "read_match_file", "expanded_refcat_table"]

# relative: drizzlepac's name (its fit is to the first image); absolute: abs_ as abs_refcat
MATCH_SUFFIX = {"relative": "_catalog_fit.match", "absolute": "_abs_catalog_fit.match"}
EXPANDED_REFCAT = "tweakreg_expanded_refcat"

# (name in read_match_file's table, drizzlepac's column description)
COLUMNS = (
    ("x_ref", "X (reference)"), ("y_ref", "Y (reference)"), ("x_in", "X (input)"), ("y_in", "Y (input)"),
    ("x_fit", "X (fit)"), ("y_fit", "Y (fit)"), ("x_res", "X (residual)"), ("y_res", "Y (residual)"),
    ("x_ref_orig", "Original X (reference)"), ("y_ref_orig", "Original Y (reference)"),
    ("x_in_orig", "Original X (input)"), ("y_in_orig", "Original Y (input)"),
    ("ref_id", "Ref ID"), ("input_id", "Input ID"), ("extver", "Input EXTVER ID "),
    ("ra_fit", "RA (fit)"), ("dec_fit", "Dec (fit)"), ("ref_origin", "Ref source provenience"),
)
_ID_COLUMNS = ("source_id", "objID", "id", "ID")


def _root(exposure, output_dir) -> str:
    return output_path(exposure, output_dir).name.removesuffix("_tweakreg.fits")


def match_file_path(exposure, output_dir, kind: str) -> Path:
    """``<root>_catalog_fit.match`` (relative) or ``<root>_abs_catalog_fit.match`` (absolute)."""
    return Path(output_dir) / f"{_root(exposure, output_dir)}{MATCH_SUFFIX[kind]}"


def expanded_refcat_path(output_dir, fmt: str) -> Path:
    return Path(output_dir) / f"{EXPANDED_REFCAT}.{catalog_extension(fmt)}"


def planned_match_files(exposures, output_dir, params) -> list[tuple[Path, str, object]]:
    """Every file :func:`write_match_files` may write, before the run: ``(path, what, exposure)``."""
    if not params.save_match_files:
        return []
    relative = len({e.group_id for e in exposures}) >= 2
    absolute = bool((params.abs_refcat or "").strip())
    plan = []
    for e in exposures:
        if relative:
            plan.append((match_file_path(e, output_dir, "relative"), "match file", e))
        if absolute:
            plan.append((match_file_path(e, output_dir, "absolute"), "absolute match file", e))
    if relative and params.expand_refcat:
        plan.append((expanded_refcat_path(output_dir, params.catalog_format), "expanded reference catalog", None))
    return plan


def write_match_files(result: VisitResult, chosen, output_dir, params) -> list[Path]:
    """Write the match files of the ``chosen`` images' successful fits, and the expanded reference catalog.

    Each match file is also added to its image's ``extra_outputs``.  Returns the paths written.
    """
    out: list[Path] = []
    todo = [(r, f) for r in chosen if r.status != STATUS_FAILED for f in r.fits
            if f.status == STATUS_SUCCESS and f.kind in MATCH_SUFFIX and f.matches is not None]
    frame = reference_frame(result) if todo else None
    mappings: dict[int, dict] = {}  # one per fit: a visit-wide fit is shared by every image
    for r, fit in todo:
        table = match_table(fit, r, frame, result)
        if id(fit) not in mappings:
            mappings[id(fit)] = _mapping(fit, frame)
        text = _header(fit, r, frame, table, result, mappings[id(fit)], params.catalog_format) + _lines(table)
        out.append(atomic_write_text(match_file_path(r.exposure, output_dir, fit.kind), text))
        r.extra_outputs.append(out[-1])  # listed by the report with the image
    expanded = expanded_refcat_table(result)
    if expanded is not None and params.expand_refcat:
        out.append(write_table(expanded, expanded_refcat_path(output_dir, params.catalog_format),
                               params.catalog_format))
    return out


# ------------------------------------------------------------------ the frame


def _reference_image(result: VisitResult):
    images = result.images
    return next((r for r in images if r.status == STATUS_REFERENCE),
                next((r for r in images if r.status == STATUS_SUCCESS), images[0]))


def reference_frame(result: VisitResult) -> WCS:
    """The undistorted TAN frame of a run's match files (see the module doc)."""
    if any(r.exposure.kind == "fits" for r in result.images):
        frame = output_frame(reference_wcs(result)[0])
        frame.wcs.set()
        return frame
    ref = _reference_image(result)
    chip = ref.exposure.chips[0]
    w = ref.new_wcs[0] if ref.new_wcs else chip.wcs
    from tweakgui.engine.fit.correction import reference_pixel  # the fit stage loads while detection runs

    x0, y0 = reference_pixel(chip)
    d = 8.0
    ra, dec = (np.asarray(v, float)
               for v in sky_function(w)([x0, x0 + d, x0 - d, x0, x0], [y0, y0, y0, y0 + d, y0 - d]))
    frame = WCS(naxis=2)
    frame.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    frame.wcs.crval = [ra[0], dec[0]]
    frame.wcs.crpix = [x0 + 1, y0 + 1]
    frame.wcs.cd = np.eye(2)
    frame.wcs.set()
    # the local pixel -> intermediate (deg) Jacobian, made the nearest similarity (as output_frame)
    u, v = frame.wcs_world2pix(ra, dec, 1)
    u, v = u - frame.wcs.crpix[0], v - frame.wcs.crpix[1]
    jac = np.array([[u[1] - u[2], u[3] - u[4]], [v[1] - v[2], v[3] - v[4]]]) / (2 * d)
    su, _, svt = np.linalg.svd(jac)
    frame.wcs.cd = math.sqrt(abs(np.linalg.det(jac))) * (su @ svt)
    frame.wcs.set()
    return frame


# ------------------------------------------------------------------ rows


def _column(t: Table, name: str, default) -> np.ndarray:
    return np.asarray(t[name]) if name in t.colnames else np.full(len(t), default)


def _own_rows(fit, image: str) -> Table:
    t = fit.matches
    keep = np.asarray(t["used"], bool) & ~_column(t, "excluded", False).astype(bool)
    return t[keep & (np.asarray(t["image"]).astype(str) == image)]


def _reference_ids(t: Table, refcat: Table | None) -> tuple[np.ndarray, str]:
    """An absolute fit's Ref IDs: the catalog's own integer IDs, else its rows; and what they are."""
    rows = np.asarray(t["ref_idx"], int)
    if refcat is not None and len(refcat) and rows.size and rows.max() < len(refcat):
        for name in _ID_COLUMNS:
            if name in refcat.colnames and np.issubdtype(np.asarray(refcat[name]).dtype, np.integer):
                return np.asarray(refcat[name])[rows].astype(np.int64), f"the catalog's {name}"
    return rows, "row (0-based) of the reference catalog as used (tweakreg_abs_refcat with save_abs_catalog)"


def _ref_chip_pixels(t: Table, result: VisitResult) -> tuple[np.ndarray, np.ndarray]:
    """1-based chip pixels of relative reference sources, from their own catalogs."""
    by_name = {r.exposure.name: r for r in result.images}
    x, y = np.full(len(t), np.nan), np.full(len(t), np.nan)
    for k, (im, ch, row) in enumerate(zip(_column(t, "ref_image", ""), _column(t, "ref_chip", ""),
                                          _column(t, "ref_row", -1))):
        r = by_name.get(str(im))
        names = [c.name for c in r.exposure.chips] if r is not None else []
        if str(ch) in names and r.catalogs and 0 <= int(row) < len(r.catalogs[names.index(str(ch))]):
            cat = r.catalogs[names.index(str(ch))]
            x[k], y[k] = float(cat["x"][int(row)]) + 1.0, float(cat["y"][int(row)]) + 1.0
    return x, y


def match_table(fit, image_result, frame: WCS, result: VisitResult) -> Table:
    """The rows of one image's match file for ``fit``, named as :data:`COLUMNS`."""
    t = _own_rows(fit, image_result.exposure.name)
    out = Table()
    out["x_ref"], out["y_ref"] = frame.wcs_world2pix(np.asarray(t["ref_ra"], float), np.asarray(t["ref_dec"], float), 1)
    out["x_in"], out["y_in"] = frame.wcs_world2pix(_column(t, "ra0", np.nan).astype(float),
                                                   _column(t, "dec0", np.nan).astype(float), 1)
    out["x_fit"], out["y_fit"] = frame.wcs_world2pix(np.asarray(t["ra"], float), np.asarray(t["dec"], float), 1)
    out["x_res"], out["y_res"] = out["x_fit"] - out["x_ref"], out["y_fit"] - out["y_ref"]
    if fit.kind == "relative":
        out["x_ref_orig"], out["y_ref_orig"] = _ref_chip_pixels(t, result)
        out["ref_id"] = _column(t, "ref_row", -1).astype(np.int64)
        out["ref_origin"] = [f"{im}[{ch}]" for im, ch in zip(_column(t, "ref_image", ""), _column(t, "ref_chip", ""))]
    else:
        out["x_ref_orig"], out["y_ref_orig"] = out["x_ref"], out["y_ref"]
        out["ref_id"] = _reference_ids(t, result.refcat)[0]
        name = str(result.refcat.meta.get("name", "refcat")) if result.refcat is not None else "refcat"
        out["ref_origin"] = [name] * len(t)
    out["x_in_orig"] = np.asarray(t["x"], float) + 1.0
    out["y_in_orig"] = np.asarray(t["y"], float) + 1.0
    out["input_id"] = np.asarray(t["input_idx"], np.int64)
    extver = {c.name: chip_extver(c) for c in image_result.exposure.chips}
    out["extver"] = np.array([extver.get(str(c), 1) for c in t["chip"]], np.int64)
    out["ra_fit"], out["dec_fit"] = np.asarray(t["ra"], float), np.asarray(t["dec"], float)
    return out[[n for n, _ in COLUMNS]]


def _lines(table: Table) -> str:
    # drizzlepac's widths (%15.6f, %8d, %20.12f, "   %s"), with a space kept before every field:
    # a 19-digit Gaia source_id fills more than 8 characters
    rows = []
    for row in table:
        rows.append("".join(f" {row[n]:14.6f}" for n, _ in COLUMNS[:12])
                    + "".join(f" {int(row[n]):7d}" for n, _ in COLUMNS[12:15])
                    + f" {row['ra_fit']:19.12f} {row['dec_fit']:19.12f}   {row['ref_origin']}\n")
    return "".join(rows)


# ------------------------------------------------------------------ header


def _mapping(fit, frame: WCS) -> dict:
    """The stage's fit in the frame, drizzlepac's convention: input - c = A (fit - c) + shift.

    Fitted by least squares to all the group's used matches (input and fitted
    positions in the frame), decomposed as drizzlepac's ``linearfit.build_fit``.
    """
    t = fit.matches
    used = np.asarray(t["used"], bool) & ~_column(t, "excluded", False).astype(bool)
    t = t[used]
    c = np.asarray(frame.wcs.crpix, float)
    q = np.column_stack(frame.wcs_world2pix(np.asarray(t["ra"], float), np.asarray(t["dec"], float), 1)) - c
    p = np.column_stack(frame.wcs_world2pix(_column(t, "ra0", np.nan).astype(float),
                                            _column(t, "dec0", np.nan).astype(float), 1)) - c
    ok = np.all(np.isfinite(p), axis=1) & np.all(np.isfinite(q), axis=1)
    p, q = p[ok], q[ok]
    if len(p) >= 3 and fit.fitgeom != "shift":
        coef, *_ = np.linalg.lstsq(np.column_stack([q, np.ones(len(q))]), p, rcond=None)
        a, shift = coef[:2].T, coef[2]
    else:
        a, shift = np.eye(2), (p - q).mean(axis=0) if len(p) else np.zeros(2)
    return _decompose(a, shift, fit.fitgeom)


def _decompose(a: np.ndarray, shift, fitgeom: str) -> dict:
    m = a.T  # drizzlepac's fit_matrix
    det = float(np.linalg.det(m))
    out = {"shift": (float(shift[0]), float(shift[1])), "scale": (1.0, 1.0), "rot": (0.0, 0.0, 0.0, 0.0)}
    if fitgeom == "shift":
        return out
    s = math.sqrt(abs(det))
    sx, sy = (math.hypot(m[0, 0], m[0, 1]), math.hypot(m[1, 0], m[1, 1])) if fitgeom == "general" else (s, s)
    w = m / np.array([[sx], [sy]])
    sdet = 1.0 if det >= 0 else -1.0
    prop = math.degrees(math.atan2(w[1, 0] - sdet * w[0, 1], w[0, 0] + sdet * w[1, 1])) % 360.0
    if det >= 0 and fitgeom != "general":
        out["rot"] = (prop, prop, prop, 0.0)
    else:
        rx = math.degrees(math.atan2(-w[0, 1], w[0, 0])) % 360.0
        ry = math.degrees(math.atan2(w[1, 0], w[1, 1])) % 360.0
        out["rot"] = (rx, ry, 0.5 * (rx + ry), ry - rx)
    out["scale"] = (sx, sy)
    return out


def _frame_line(frame: WCS) -> str:
    w = frame.wcs
    cd = w.cd
    return (f"TAN, CRVAL = ({w.crval[0]:.10f}, {w.crval[1]:.10f}) deg, CRPIX = ({w.crpix[0]:.4f}, {w.crpix[1]:.4f}), "
            f"CD = [[{cd[0, 0]:.8e}, {cd[0, 1]:.8e}], [{cd[1, 0]:.8e}, {cd[1, 1]:.8e}]] deg/pix")


def _header(fit, r, frame: WCS, table: Table, result: VisitResult, mp: dict, fmt: str) -> str:
    rms = (np.std(table["x_res"]), np.std(table["y_res"])) if len(table) else (math.nan, math.nan)
    rot = mp["rot"]
    cats = f"{_root(r.exposure, '.')}{'_sci<EXTVER>' if len(r.exposure.chips) > 1 else ''}_cat.{catalog_extension(fmt)}"
    if fit.kind == "relative":
        ref_ids = "the row (0-based) of the reference source in the catalog of the image and chip its provenience names"
    else:
        ref_ids = _reference_ids(_own_rows(fit, r.exposure.name), result.refcat)[1]
    lines = [
        f"# Input image: {r.exposure.name}",
        "# Coordinate mapping parameters: ",
        f"#    X and Y rms: {rms[0]:.2g}  {rms[1]:.2g}",
        f"#    X and Y shift: {mp['shift'][0]:.4f}  {mp['shift'][1]:.4f}",
        f"#    X and Y scale: {mp['scale'][0]:.10g}  {mp['scale'][1]:.10g}",
        f"#    X and Y rotation: {rot[0]:.10g}  {rot[1]:.10g}",
        f"#    <rotation> and skew: {rot[2]:.10g}  {rot[3]:.10g}",
        "# ",
        (f"# tweakgui {__version__}: {fit.kind} fit ({fit.fitgeom}) of group {fit.group_id}; the {len(table)} "
         "matches it used for this image"),
        f"# Frame of columns 1-8 (1-based pixels): {_frame_line(frame)}",
        "#    shift, scale and rotation: input = A (fit - CRPIX) + CRPIX + shift, as drizzlepac's shiftfile",
        "# Residual = fit - reference.  Original X, Y (input): the chip's pixel, 1-based",
        f"# Input ID: the row (0-based) of the chip's source catalog {cats} (save_catalogs)",
        f"# Ref ID: {ref_ids}",
        "# ",
        "# Input Coordinate Listing",
    ]
    lines += [f"#     Column {i}: {text}" for i, (_, text) in enumerate(COLUMNS, start=1)]
    return "\n".join(lines) + "\n#\n"


# ------------------------------------------------------------------ reading back, expanded catalog


def read_match_file(path) -> Table:
    """A match file (ours or drizzlepac's) as a table with the names of :data:`COLUMNS`."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, len(COLUMNS) - 1)
        rows.append(parts + [""] * (len(COLUMNS) - len(parts)))
    types = [float] * 12 + [np.int64] * 3 + [float, float, str]
    cols = list(zip(*rows)) if rows else [[] for _ in COLUMNS]
    return Table([np.array([typ(v) for v in col], dtype=typ) if typ is not str else np.array(col, dtype=str)
                  for col, typ in zip(cols, types)], names=[n for n, _ in COLUMNS])


def expanded_refcat_table(result: VisitResult) -> Table | None:
    """The expanded reference list of the relative stage (``expand_refcat``), or None."""
    fit = next((f for f in result.fits if f.kind == "relative" and f.expanded_refcat is not None), None)
    if fit is None:
        return None
    t = fit.expanded_refcat.copy()
    extver = {(r.exposure.name, c.name): chip_extver(c) for r in result.images for c in r.exposure.chips}
    images, chips = np.asarray(t["image"]).astype(str), np.asarray(t["chip"]).astype(str)
    out = Table()
    out["RA"], out["DEC"] = np.asarray(t["RA"], float), np.asarray(t["DEC"], float)
    out["RA"].unit = out["DEC"].unit = "deg"
    out["origin"] = [f"{im}[{ch}]" for im, ch in zip(images, chips)]
    out["image"] = images
    out["extver"] = np.array([extver.get((im, ch), 1) for im, ch in zip(images, chips)], np.int64)
    out["row"] = np.asarray(t["row"], np.int64)
    out.meta["comments"] = [
        f"tweakgui {__version__}: the relative stage's reference list with expand_refcat: the sources of the",
        "reference group, then each aligned group's unmatched sources (as corrected), in the order added.",
        "origin: image[chip]; row: the source's row (0-based) in that chip's catalog (save_catalogs).",
    ]
    return out
