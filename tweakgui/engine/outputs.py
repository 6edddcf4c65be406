"""Updated FITS images and source catalogs, written atomically.

:func:`write_updated_fits` copies an input image (never opening it for
writing unless ``in_place``), archives the primary WCS of every science chip
as an alternate WCS (see :mod:`tweakgui.engine.restore`) and makes the fitted
WCS the primary one under ``WCSNAME`` (default ``TWEAK``).  The fit is
recorded in the primary header (``TWK*`` keywords and a HISTORY line).  The
output holds no time stamp: the same result always gives the same bytes.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from tweakgui import __version__
from tweakgui.engine.atomic import OutputError, atomic_path, check_writable_dir
from tweakgui.engine.model import STATUS_SUCCESS, Chip, Exposure, FitResult, ImageResult, InputError
from tweakgui.engine.restore import archive_current_wcs

__all__ = [
    "output_path",
    "write_updated_fits",
    "write_catalogs",
    "write_hdulist",
    "open_fits",
    "chip_extver",
    "fit_rms_radec",
    "sources_used",
    "check_sip",
    "set_primary_wcs",
]

log = logging.getLogger(__name__)

_SUFFIX_RE = re.compile(r"_(cal|flt|flc|rate|crf|c0f|c0m)$", re.IGNORECASE)
# unkeyed per-WCS fit keywords that describe the previous primary WCS
_STALE = ("CRDER1", "CRDER2", "CSYER1", "CSYER2", "WCSTYPE", "RMS_RA", "RMS_DEC", "NMATCH",
          "FITNAME", "HDRNAME")


def output_path(exposure: Exposure, output_dir: str | Path | None) -> Path:
    """``<output_dir>/<root>_tweakreg.fits`` for an exposure."""
    root = exposure.root
    if not root:
        root = _SUFFIX_RE.sub("", Path(exposure.path).name.removesuffix(".gz").removesuffix(".fits"))
    return Path(output_dir if output_dir is not None else ".") / f"{root}_tweakreg.fits"


def open_fits(path: str | Path) -> fits.HDUList:
    """Open a FITS file read-only, fully in memory, raw (unscaled) data."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        hdul = fits.open(path, mode="readonly", memmap=False, do_not_scale_image_data=True)
        hdul.readall()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from exc
    return hdul


def write_hdulist(hdul: fits.HDUList, path: str | Path) -> Path:
    """Write ``hdul`` to ``path`` atomically (temp file in the same directory, rename)."""
    checksum = any("CHECKSUM" in h.header for h in hdul)
    shapes = [h.shape if h.is_image else None for h in hdul]

    def verify(tmp: Path) -> None:
        # read back before it may replace anything: every HDU there, at its full size
        size = tmp.stat().st_size
        try:
            with fits.open(tmp, memmap=False, lazy_load_hdus=False) as back:
                got = [h.shape if h.is_image else None for h in back]
                compressed = tmp.name.lower().endswith((".gz", ".bz2", ".xz", ".zip"))
                ok = got == shapes and (compressed or size % 2880 == 0)
        except Exception as exc:
            raise OutputError(f"{path}: the new file reads back wrong ({exc}); nothing replaced") from None
        if not ok:
            raise OutputError(f"{path}: the new file reads back incomplete; nothing replaced")

    with atomic_path(path, verify=verify) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="silentfix+ignore", checksum=checksum)
    return Path(path)


def chip_extver(chip: Chip, header: fits.Header | None = None) -> int:
    """EXTVER of a chip: from its header, else from its name (``"SCI,2"``), else 1."""
    if header is not None and "EXTVER" in header:
        return int(header["EXTVER"])
    m = re.search(r",\s*(\d+)\s*$", chip.name or "")
    return int(m.group(1)) if m else 1


def fit_rms_radec(fit: FitResult | None) -> tuple[float, float]:
    """RMS of the used matches in RA·cos(Dec) and Dec, in mas (NaN when unknown)."""
    if fit is None or fit.matches is None or len(fit.matches) == 0:
        return math.nan, math.nan
    t = fit.matches
    if not {"ra", "dec", "ref_ra", "ref_dec"} <= set(t.colnames):
        r = fit.rmse_arcsec * 1000 / math.sqrt(2)
        return r, r
    used = np.asarray(t["used"], bool) if "used" in t.colnames else np.ones(len(t), bool)
    if not used.any():
        return math.nan, math.nan
    ra, dec = np.asarray(t["ra"], float)[used], np.asarray(t["dec"], float)[used]
    rra, rdec = np.asarray(t["ref_ra"], float)[used], np.asarray(t["ref_dec"], float)[used]
    dra = ((ra - rra + 180.0) % 360.0 - 180.0) * np.cos(np.deg2rad(rdec)) * 3.6e6
    ddec = (dec - rdec) * 3.6e6
    return float(np.sqrt(np.mean(dra**2))), float(np.sqrt(np.mean(ddec**2)))


def sources_used(fit) -> int:
    """The number of sources a fit used: matches left after clipping and the user's exclusions.

    ``fit.nused`` when the fit recorded it, else the ``used`` rows of its matches table,
    else ``fit.nmatch`` (0 without a fit).
    """
    if fit is None:
        return 0
    if getattr(fit, "nused", 0):
        return int(fit.nused)
    t = fit.matches
    if t is not None and len(t):
        return int(np.count_nonzero(np.asarray(t["used"], bool))) if "used" in t.colnames else len(t)
    return int(fit.nmatch)


def _header_sip(header: fits.Header, letter: str) -> np.ndarray | None:
    order = header.get(f"{letter}_ORDER")
    if order is None:
        return None
    a = np.zeros((order + 1, order + 1))
    for i in range(order + 1):
        for j in range(order + 1 - i):
            a[i, j] = header.get(f"{letter}_{i}_{j}", 0.0)
    return a


def check_sip(header: fits.Header, w, where: str) -> None:
    for letter, new in (("A", None if w.sip is None else w.sip.a), ("B", None if w.sip is None else w.sip.b)):
        old = _header_sip(header, letter)
        if old is None and new is None:
            continue
        same = old is not None and new is not None and old.shape == new.shape and np.allclose(
            old, new, rtol=1e-12, atol=1e-12 * max(np.abs(old).max(), 1e-300))
        if not same:
            raise ValueError(f"{where}: the new WCS changes the SIP distortion; tweakgui writes "
                             "only linear corrections (CRVAL, CD/PC, CRPIX)")


def set_primary_wcs(header: fits.Header, w, wcsname: str, fit: FitResult | None) -> None:
    """Write the linear part of ``w`` into the primary WCS keywords of ``header``."""
    ww = w.wcs
    for i in range(2):
        header[f"CRPIX{i + 1}"] = float(ww.crpix[i])
        header[f"CRVAL{i + 1}"] = float(ww.crval[i])
    uses_cd = any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)) or not any(
        f"PC{i}_{j}" in header for i in (1, 2) for j in (1, 2))
    if uses_cd:
        m = ww.cd if ww.has_cd() else np.diag(ww.cdelt) @ ww.get_pc()
        for k in ("CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
            header.remove(k, ignore_missing=True)
        for i in range(2):
            for j in range(2):
                header[f"CD{i + 1}_{j + 1}"] = float(m[i, j])
    else:
        if ww.has_cd():
            cdelt = np.array([header.get("CDELT1", 1.0), header.get("CDELT2", 1.0)], float)
            pc = ww.cd / cdelt[:, None]
        else:
            cdelt, pc = ww.cdelt, ww.get_pc()
        for i in range(2):
            header[f"CDELT{i + 1}"] = float(cdelt[i])
            for j in range(2):
                header[f"PC{i + 1}_{j + 1}"] = float(pc[i, j])
    for k, v in (("LONPOLE", ww.lonpole), ("LATPOLE", ww.latpole)):
        if k in header and np.isfinite(v):
            header[k] = float(v)
    if "WCSNAME" in header:
        header["WCSNAME"] = wcsname
    else:
        header.set("WCSNAME", wcsname, "Coordinate system title", after="CRVAL2")
    for k in _STALE:
        header.remove(k, ignore_missing=True)
    if fit is not None and fit.status == STATUS_SUCCESS:
        rms_ra, rms_dec = fit_rms_radec(fit)
        header.set("WCSTYPE", f"a posteriori {fit.kind} solution by tweakgui", after="WCSNAME")
        if np.isfinite(rms_ra):
            header.set("RMS_RA", round(rms_ra, 6), "RMS in RA of WCS fit (mas)", after="WCSTYPE")
            header.set("RMS_DEC", round(rms_dec, 6), "RMS in Dec of WCS fit (mas)", after="RMS_RA")
        header.set("NMATCH", sources_used(fit), "number of sources used in the fit", after="WCSTYPE")


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
        Unreadable input; :class:`~tweakgui.engine.atomic.OutputError` when
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
    key = None
    with open_fits(src) as hdul:
        if new is not None:
            if len(new) != len(exp.chips):
                raise ValueError(f"{src}: {len(new)} new WCS for {len(exp.chips)} chips")
            hdus = [c.hdu for c in exp.chips]
            for chip, w in zip(exp.chips, new):
                check_sip(hdul[chip.hdu].header, w, f"{src}[{chip.name}]")
            key = archive_current_wcs(hdul, hdus, exp.root)
            for chip, w in zip(exp.chips, new):
                set_primary_wcs(hdul[chip.hdu].header, w, wcsname, image_result.fit)
        _record(hdul[0].header, image_result, wcsname, key)
        write_hdulist(hdul, dest)
    image_result.output = dest
    log.info("%s: wrote %s (WCS %s, previous kept as %s)", exp.name, dest, wcsname, key)
    return dest


_EXT = {"ecsv": "ecsv", "csv": "csv", "fits": "fits", "votable": "xml", "hdf5": "h5",
        "html": "html", "latex": "tex", "ipac": "tbl"}


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
    short = fmt.lower().split(".")[-1]
    ext = _EXT.get(short, "txt" if fmt.lower().startswith("ascii") else short)
    out = []
    for chip, cat in zip(exp.chips, image_result.catalogs):
        if cat is None:
            continue
        tag = "" if len(exp.chips) == 1 else f"_sci{chip_extver(chip)}"
        path = d / f"{root}{tag}_cat.{ext}"
        try:
            with atomic_path(path) as tmp:
                cat.write(tmp, format=fmt, overwrite=True)
        except OutputError:
            raise
        except Exception as exc:  # astropy's IORegistryError and format errors
            raise OutputError(f"{path}: cannot write catalog in format {fmt!r}: {exc}") from exc
        out.append(path)
    return out
