"""Updated FITS images and source catalogs, written atomically.

:func:`write_updated_fits` copies an input image (never opening it for
writing unless ``in_place``), archives the primary WCS of every science chip
as an alternate WCS (see :mod:`tweakgui.engine.outputs.restore`) and makes the fitted
WCS the primary one under ``WCSNAME`` (default ``TWEAK``).  The fit is
recorded in the primary header (``TWK*`` keywords and a HISTORY line).  The
output holds no time stamp: the same result always gives the same bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.io import fits

from tweakgui import __version__
from tweakgui.engine.io.atomic import OutputError, check_writable_dir
from tweakgui.engine.model import (
    ImageResult,
)
from tweakgui.engine.outputs.fitsio import (
    check_sip,
    chip_extver,
    open_fits,
    output_path,
    set_primary_wcs,
    write_hdulist,
    write_table,
)
from tweakgui.engine.outputs.history import archive_current_wcs

__all__ = ["write_updated_fits", "write_catalogs", "catalog_extension"]

log = logging.getLogger(__name__)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _record(header: fits.Header, result: ImageResult, wcsname: str, key: str | None) -> None:
    fit = result.fit if result.fit is not None else (result.fits[-1] if result.fits else None)
    values = [
        ("TWKVER", __version__, "tweakgui version"),
        ("TWKSTAT", result.status, "tweakgui alignment status"),
        ("TWKREASN", _ascii(result.reason or "")[:60], "why the image failed, if it did"),
        ("TWKWCS", wcsname if result.new_wcs is not None else "", "WCSNAME written by tweakgui"),
        ("TWKARCH", key or "", "alternate key of the WCS replaced"),
    ]
    if fit is not None:
        values += [
            ("TWKKIND", fit.kind, "relative or absolute fit"),
            ("TWKGEOM", fit.fitgeom, "fit geometry"),
            ("TWKNMAT", int(fit.nmatch), "number of matched sources"),
            ("TWKRMS", fit.rmse_arcsec * 1000, "fit RMSE (mas)"),
            ("TWKMAE", fit.mae_arcsec * 1000, "fit MAE (mas)"),
            ("TWKDX", fit.shift_arcsec[0], "shift in x of the tangent plane (arcsec)"),
            ("TWKDY", fit.shift_arcsec[1], "shift in y of the tangent plane (arcsec)"),
            ("TWKROT", fit.rotation_deg, "rotation (deg)"),
            ("TWKSCALE", fit.scale, "scale"),
        ]
    for k in ("TWKKIND", "TWKGEOM", "TWKNMAT", "TWKRMS", "TWKMAE", "TWKDX", "TWKDY", "TWKROT",
              "TWKSCALE"):
        header.remove(k, ignore_missing=True)
    for k, v, c in values:
        if isinstance(v, (float, np.floating)):
            if not np.isfinite(v):
                continue
            v = float(v)
        if isinstance(v, str) and 10 + max(len(v) + 2, 20) + 3 + len(c) > 80:
            c = ""  # a long reason: keep the value, drop the comment (astropy would warn)
        header[k] = (v, c)
    if result.new_wcs is not None:
        what = "new WCS" if fit is None else (
            f"{fit.kind} fit {fit.fitgeom} nmatch={fit.nmatch} shift=({fit.shift_arcsec[0]:+.4f}, "
            f"{fit.shift_arcsec[1]:+.4f}) arcsec rot={fit.rotation_deg:+.5f} deg "
            f"scale={fit.scale:.6f} rmse={fit.rmse_arcsec * 1000:.2f} mas")
        header.add_history(f"tweakgui {__version__}: primary WCS {wcsname!r} from {what}; "
                           f"previous WCS kept as alternate WCS {key}")
    else:
        header.add_history(_ascii(f"tweakgui {__version__}: WCS unchanged ({result.status}"
                                  + (f": {result.reason})" if result.reason else ")")))


def write_updated_fits(image_result: ImageResult, output_dir: str | Path | None = None,
                       wcsname: str = "TWEAK", in_place: bool = False) -> Path:
    """Write the image with its new WCS; the previous WCS is archived, never lost.

    The previous primary WCS is kept twice: as an alternate WCS (next free
    letter) and as an embedded stwcs ``HDRLET`` extension holding the full
    WCS with its distortion.

    Parameters
    ----------
    image_result : ImageResult
        ``new_wcs`` holds one astropy WCS per chip (same order as
        ``exposure.chips``), or None when the WCS is unchanged (the copy then
        only records the status; with ``in_place`` nothing is written).
    output_dir : str or Path, optional
        Where ``<root>_tweakreg.fits`` goes (default: current directory);
        ignored with ``in_place``.
    wcsname : str
        WCSNAME of the new primary WCS.
    in_place : bool
        Replace the input itself (atomically) instead of writing a copy.

    Returns
    -------
    Path
        The file written (also stored in ``image_result.output``).

    Raises
    ------
    InputError
        Unreadable input; :class:`~tweakgui.engine.io.atomic.OutputError` when
        the output cannot be written (the target keeps its old content).
    """
    exp = image_result.exposure
    if exp.kind != "fits":
        raise ValueError(f"{exp.path}: write_updated_fits handles FITS-WCS images, not {exp.kind!r}")
    src = Path(exp.path)
    # in place, a symbolic link is followed: the file it names is the one replaced
    dest = src.resolve() if in_place else output_path(exp, output_dir)
    if not in_place and dest.resolve() == src.resolve():
        raise OutputError(f"{dest}: output would overwrite the input; use --in_place or another output_dir")
    new = image_result.new_wcs
    if in_place and new is None:
        return dest
    check_writable_dir(dest.parent, create=True)
    with open_fits(src) as hdul:
        key = None if new is None else _replace_wcs(hdul, exp, new, wcsname, image_result.fit)
        _record(hdul[0].header, image_result, wcsname, key)
        write_hdulist(hdul, dest)
    image_result.output = dest
    log.info("%s: wrote %s (WCS %s, previous kept as %s)", exp.name, dest, wcsname, key)
    return dest


def _replace_wcs(hdul, exp, new: list, wcsname: str, fit) -> str:
    """Archive every chip's primary WCS, then make ``new`` primary; the archive's letter."""
    if len(new) != len(exp.chips):
        raise ValueError(f"{exp.path}: {len(new)} new WCS for {len(exp.chips)} chips")
    for chip, w in zip(exp.chips, new):
        check_sip(hdul[chip.hdu].header, w, f"{exp.path}[{chip.name}]")
    key = archive_current_wcs(hdul, [c.hdu for c in exp.chips], exp.root)
    for chip, w in zip(exp.chips, new):
        set_primary_wcs(hdul[chip.hdu].header, w, wcsname, fit)
    return key


_EXT = {"ecsv": "ecsv", "csv": "csv", "fits": "fits", "votable": "xml", "hdf5": "h5",
        "html": "html", "latex": "tex", "ipac": "tbl"}


def catalog_extension(fmt: str) -> str:
    """The file extension of catalogs written in astropy table format ``fmt``."""
    fmt = (fmt or "ecsv").lower()
    short = fmt.split(".")[-1]
    return _EXT.get(short, "txt" if fmt.startswith("ascii") else short)


def write_catalogs(image_result: ImageResult, output_dir: str | Path | None = None,
                   fmt: str = "ecsv") -> list[Path]:
    """Write the source catalog of every chip (``save_catalogs``).

    Files are ``<root>_cat.<ext>`` for a one-chip image and
    ``<root>_sci<extver>_cat.<ext>`` otherwise; ``fmt`` is an astropy table
    format (``ecsv``, ``ascii.ecsv``, ``fits``, ...).

    Returns
    -------
    list of Path
        The files written.
    """
    exp = image_result.exposure
    d = check_writable_dir(output_dir if output_dir is not None else ".", create=True)
    root = output_path(exp, d).name.removesuffix("_tweakreg.fits")
    ext = catalog_extension(fmt)
    out = []
    for chip, cat in zip(exp.chips, image_result.catalogs):
        if cat is None:
            continue
        tag = "" if len(exp.chips) == 1 else f"_sci{chip_extver(chip)}"
        out.append(write_table(cat, d / f"{root}{tag}_cat.{ext}", fmt))
    return out
