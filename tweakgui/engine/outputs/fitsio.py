"""FITS helpers every writer of images and headerlets shares.

Output names, reading and atomic writing of HDU lists, a chip's EXTVER, the
fit numbers stwcs keeps with a WCS, and replacing the primary WCS of a header.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from tweakgui.engine.io.atomic import OutputError, atomic_path
from tweakgui.engine.model import STATUS_SUCCESS, Chip, Exposure, FitResult, InputError

__all__ = ["write_table", "output_path", "open_fits", "write_hdulist", "chip_extver", "fit_rms_radec", "sources_used",
           "check_sip", "set_primary_wcs"]

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



def write_table(table, path: Path, fmt: str | None) -> Path:
    """Write a table atomically in astropy format ``fmt`` (default ECSV); a bad format is an OutputError."""
    fmt = fmt or "ecsv"
    try:
        with atomic_path(path) as tmp:
            table.write(tmp, format="ascii.ecsv" if fmt == "ecsv" else fmt, overwrite=True)
    except OutputError:
        raise
    except Exception as exc:  # astropy's IORegistryError and format errors
        raise OutputError(f"{path}: cannot write a table in format {fmt!r}: {exc}") from exc
    return path
