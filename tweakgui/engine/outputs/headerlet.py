"""Headerlets: the WCS of an HST image as a small FITS file, in stwcs' layout.

A headerlet has a PRIMARY HDU whose header describes the solution (HDRNAME,
DESTIM, WCSNAME, DISTNAME, SIPNAME, NPOLFILE, D2IMFILE, IDCTAB, AUTHOR,
DESCRIP, RMS_RA, RMS_DEC, NMATCH, CATALOG, UPWCSVER, PYWCSVER, DATE, and, as
MAST pipeline headerlets do, FITMETH, FIT_RMS and the fit in HISTORY), then
one ``SIPWCS`` extension per chip (EXTVER = the chip's EXTVER, TG_ENAME /
TG_EVER naming the science extension) with the WCS and SIP keywords, followed
by that chip's ``WCSDVARR`` / ``D2IMARR`` lookup tables when it has any.
RMS_RA / RMS_DEC are in mas as in MAST headerlets.  Numbers are written with
full double precision (wcslib's own header writer keeps 14 digits, i.e.
~1e-6 mas on CRVAL).
"""

from __future__ import annotations

import gzip
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import astropy
import numpy as np
from astropy.io import fits
from astropy.io.fits.hdu.nonstandard import FitsHDU
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui import __version__
from tweakgui.engine.io.atomic import check_writable_dir
from tweakgui.engine.model import Chip, ImageResult, InputError
from tweakgui.engine.outputs.fitsio import (
    chip_extver,
    fit_rms_radec,
    open_fits,
    output_path,
    sources_used,
    write_hdulist,
)

__all__ = ["Headerlet", "headerlet_path", "wcs_header", "build_headerlet", "write_headerlet", "sources_used",
           "read_headerlet", "headerlet_extension", "attached_headerlets", "archive_as_headerlet"]

log = logging.getLogger(__name__)

_CHIP_KEYS = ("OCX10", "OCX11", "OCY10", "OCY11", "IDCSCALE", "IDCTHETA", "IDCXREF", "IDCYREF",
              "IDCV2REF", "IDCV3REF", "VAFACTOR", "D2IMERR1", "D2IMERR2", "CPERR1", "CPERR2",
              "D2IMEXT", "NPOLEXT")


def headerlet_path(exposure, output_dir) -> Path:
    """``<output_dir>/<root>_hlet.fits``."""
    return output_path(exposure, output_dir).with_name(f"{_root(exposure)}_hlet.fits")


def _root(exposure) -> str:
    return output_path(exposure, ".").name.removesuffix("_tweakreg.fits")


def wcs_header(w: WCS, use_cd: bool = True) -> fits.Header:
    """FITS header of an astropy WCS (with SIP), every number at full precision.

    ``use_cd`` writes a CD matrix (as stwcs does when the image has one)
    instead of PC + CDELT.
    """
    h = w.to_header(relax=True)
    ww = w.wcs
    for i in range(2):
        h[f"CRPIX{i + 1}"] = float(ww.crpix[i])
        h[f"CRVAL{i + 1}"] = float(ww.crval[i])
    m = ww.cd if ww.has_cd() else np.diag(ww.get_cdelt()) @ ww.get_pc()
    if use_cd:
        for k in ("CDELT1", "CDELT2", "PC1_1", "PC1_2", "PC2_1", "PC2_2"):
            h.remove(k, ignore_missing=True)
        pos = "CRPIX2"
        for i in range(2):
            for j in range(2):
                h.set(f"CD{i + 1}_{j + 1}", float(m[i, j]), after=pos)
                pos = f"CD{i + 1}_{j + 1}"
    elif not ww.has_cd():
        for i in range(2):
            h[f"CDELT{i + 1}"] = float(ww.cdelt[i])
            for j in range(2):
                h[f"PC{i + 1}_{j + 1}"] = float(ww.get_pc()[i, j])
    for k, v in (("LONPOLE", ww.lonpole), ("LATPOLE", ww.latpole)):
        if k in h and np.isfinite(v):
            h[k] = float(v)
    if w.sip is not None:
        for name in ("a", "b", "ap", "bp"):
            arr = getattr(w.sip, name)
            if arr is None:
                continue
            for (p, q), v in np.ndenumerate(arr):
                key = f"{name.upper()}_{p}_{q}"
                if key in h:
                    h[key] = float(v)
    return h


def _file_info(hdul: fits.HDUList, sci_header: fits.Header, has_sip: bool, root: str) -> dict:
    p = hdul[0].header

    def rootname(value: str, suffix: str) -> str:
        value = str(value).strip()
        if value in ("", "N/A", "NONE"):
            return "NOMODEL"
        return Path(value.split("$")[-1]).name.removesuffix(".fits").removesuffix(suffix)

    idctab = str(p.get("IDCTAB", "N/A")).strip() or "N/A"
    sipname = sci_header.get("SIPNAME", p.get("SIPNAME"))
    if not sipname:
        if idctab != "N/A":
            sipname = f"{root}_{rootname(idctab, '_idc')}"
        else:
            sipname = "UNKNOWN" if has_sip else "NOMODEL"
    npolfile = str(p.get("NPOLFILE", "N/A")).strip() or "N/A"
    d2imfile = str(p.get("D2IMFILE", "N/A")).strip() or "N/A"
    distname = f"{sipname}-{rootname(npolfile, '_npl')}-{rootname(d2imfile, '_d2i')}"
    return {"SIPNAME": sipname, "IDCTAB": idctab, "NPOLFILE": npolfile, "D2IMFILE": d2imfile,
            "DISTNAME": distname}


def build_headerlet(src: fits.HDUList, chips, wcslist, *, wcsname: str, hdrname: str,
                    author: str = "tweakgui", descrip: str = "", catalog: str = "",
                    fit=None, root: str = "", nmatch: int | None = None,
                    rms_mas: tuple[float, float] | None = None, date: str | None = None) -> fits.HDUList:
    """Build a headerlet (in memory) for ``chips`` of the open file ``src``.

    ``wcslist`` holds one astropy WCS per chip; ``fit`` (a FitResult), or
    ``nmatch`` and ``rms_mas``, fill the fit keywords.  ``date`` (default:
    now, UTC) goes to DATE.
    """
    destim = str(src[0].header.get("ROOTNAME", "")).strip() or root
    first = src[chips[0].hdu].header
    info = _file_info(src, first, wcslist[0].sip is not None, destim)
    rms_ra, rms_dec = rms_mas if rms_mas is not None else fit_rms_radec(fit)
    if nmatch is None:
        nmatch = sources_used(fit)
    ph = fits.Header()
    _put(ph, "DESTIM", destim, "Destination observation root name")
    _put(ph, "HDRNAME", hdrname, "Headerlet name")
    if date is None:
        date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    _put(ph, "DATE", date, "Date FITS file was generated")
    _put(ph, "WCSNAME", wcsname, "Coordinate system title")
    _put(ph, "DISTNAME", info["DISTNAME"], "Distortion model name")
    _put(ph, "SIPNAME", info["SIPNAME"], "origin of SIP polynomial distortion model")
    _put(ph, "NPOLFILE", info["NPOLFILE"], "origin of non-polynmial distortion model")
    _put(ph, "D2IMFILE", info["D2IMFILE"], "origin of detector to image correction")
    _put(ph, "IDCTAB", info["IDCTAB"], "origin of Polynomial Distortion")
    _put(ph, "AUTHOR", author, "headerlet created by this user")
    _put(ph, "DESCRIP", descrip, "Short description of headerlet solution")
    _put(ph, "RMS_RA", _num(rms_ra), "RMS in RA of WCS fit(mas)")
    _put(ph, "RMS_DEC", _num(rms_dec), "RMS in Dec of WCS fit(mas)")
    _put(ph, "NMATCH", int(nmatch), "Number of sources used for headerlet solution")
    _put(ph, "CATALOG", catalog, "Astrometric catalog used for headerlet solution")
    _put(ph, "UPWCSVER", str(src[0].header.get("UPWCSVER", "")), "Version of STWCS used to update the WCS")
    _put(ph, "PYWCSVER", astropy.__version__, "Version of PYWCS used to update the WCS")
    _put(ph, "TWKVER", __version__, "Version of tweakgui that wrote this headerlet")
    if fit is not None:
        ph["FITMETH"] = fit.kind
        ph["FITGEOM"] = fit.fitgeom
        _put(ph, "FIT_RMS", _num(fit.rmse_arcsec * 1000), "RMS (mas) of the 2D fit")
        ph.add_history("~~~~~ FIT PARAMETERS ~~~~~")
        for label, value, unit in (("x_shift", fit.shift_pix[0], "pixels"),
                                   ("y_shift", fit.shift_pix[1], "pixels"),
                                   ("rotation", fit.rotation_deg, "degrees"),
                                   ("scale", fit.scale, ""), ("skew", fit.skew_deg, "degrees")):
            ph.add_history(f"{label:>16s} : {value:12.6f} {unit}")
    hdus: list = [fits.PrimaryHDU(header=ph)]
    nlookup = {"WCSDVARR": 0, "D2IMARR": 0}
    for chip, w in zip(chips, wcslist):
        hdus.extend(_chip_hdus(w, src[chip.hdu].header, chip, wcsname, nlookup))
    return fits.HDUList(hdus)


def write_headerlet(image_result: ImageResult, path: str | Path, hdrname: str | None = None,
                    wcsname: str = "TWEAK", author: str = "tweakgui",
                    descrip: str = "WCS aligned by tweakgui", catalog: str = "") -> Path:
    """Write the (new) WCS of an image as an stwcs-layout headerlet, atomically.

    Parameters
    ----------
    image_result : ImageResult
        Its ``new_wcs`` (or, when None, the chips' current WCS) is written.
    path : str or Path
        The headerlet file.
    hdrname : str, optional
        Unique name of the headerlet (default ``<root>_<wcsname>``).
    wcsname, author, descrip, catalog : str
        Primary header values (``catalog``: the astrometric reference
        catalog, e.g. ``GAIADR3`` or a file name).

    Returns
    -------
    Path
        ``path``.
    """
    exp = image_result.exposure
    wcslist = image_result.new_wcs or [c.wcs for c in exp.chips]
    root = _root(exp)
    with _source_hdus(exp) as src:
        hlet = build_headerlet(src, exp.chips, wcslist, wcsname=wcsname,
                               hdrname=hdrname or f"{root}_{wcsname}", author=author,
                               descrip=descrip, catalog=catalog, fit=image_result.fit, root=root)
    check_writable_dir(Path(path).parent, create=True)
    out = write_hdulist(hlet, path)
    log.info("%s: wrote headerlet %s", exp.name, out)
    return out


def _source_hdus(exposure) -> fits.HDUList:
    """The image's HDUs, or for a catalog input (no pixels) its headers as a data-less HDU list."""
    if exposure.has_pixels:
        return open_fits(exposure.path)
    from tweakgui.engine.io.catalogs import header_hdulist

    return header_hdulist(exposure)


def _put(h: fits.Header, key: str, value, comment: str) -> None:
    """Set a card, dropping the comment when it would not fit in 80 characters."""
    if isinstance(value, str) and not (value.isascii() and value.isprintable()):
        # FITS strings are printable ASCII: a file name like démo01 is kept as d\xe9mo01
        value = value.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")
    text = f"'{value}'" if isinstance(value, str) else str(value)
    h[key] = (value, comment if 10 + max(len(text), 20) + 3 + len(comment) <= 80 else "")


def _num(v: float) -> float:
    return float(v) if v is not None and math.isfinite(v) else 0.0


def _chip_hdus(w: WCS, sci: fits.Header, chip, wcsname: str, nlookup: dict) -> list:
    # always CD: stwcs reads only CDi_j (HSTWCS turns PC into CD with CDELT2 alone) and
    # apply_headerlet_as_primary copies CDi_j without removing a target's PCi_j
    h = wcs_header(w, use_cd=True)
    h["WCSNAME"] = (wcsname, "Coordinate system title")
    extver = chip_extver(chip, sci)
    cd = w.wcs.cd if w.wcs.has_cd() else np.diag(w.wcs.get_cdelt()) @ w.wcs.get_pc()
    h["ORIENTAT"] = (float(np.rad2deg(np.arctan2(cd[0, 1], cd[1, 1]))),
                     "positions angle of image y axis (deg. e of n)")
    h["TG_ENAME"] = (str(sci.get("EXTNAME", "SCI")).strip() or "SCI", "Target science data extname")
    h["TG_EVER"] = (extver, "Target science data extver")
    ny, nx = chip.shape
    h["NPIX1"] = (int(sci.get("NAXIS1", nx)), "Length of array axis 1")
    h["NPIX2"] = (int(sci.get("NAXIS2", ny)), "Length of array axis 2")
    for k in _CHIP_KEYS:
        if k in sci:
            h[k] = (sci[k], sci.comments[k])
    extra = []
    if w.cpdis1 is not None or w.cpdis2 is not None or w.det2im1 is not None or w.det2im2 is not None:
        full = w.to_fits(relax=True)
        for k, card in ((c.keyword, c) for c in full[0].header.cards):
            if k.startswith(("DP1", "DP2", "CPDIS", "D2IM1", "D2IM2", "D2IMDIS")) and k not in h:
                h.append(card)
        for lut in full[1:]:
            name = lut.header["EXTNAME"]
            nlookup[name] += 1
            axis = int(lut.header.get("EXTVER", 1))
            prefix = "DP" if name == "WCSDVARR" else "D2IM"
            h[f"{prefix}{axis}.EXTVER"] = float(nlookup[name])
            lut = lut.copy()
            lut.ver = nlookup[name]
            extra.append(lut)
    ihdu = fits.ImageHDU(header=h, name="SIPWCS")
    ihdu.ver = extver
    return [ihdu, *extra]


@dataclass
class Headerlet:
    """A headerlet read from disk: primary header and one WCS per target chip."""

    path: Path
    header: fits.Header
    # (TG_ENAME, TG_EVER) -> astropy WCS with SIP and lookup tables
    wcs: dict[tuple[str, int], Any] = field(default_factory=dict)
    # (TG_ENAME, TG_EVER) -> SIPWCS header
    headers: dict[tuple[str, int], fits.Header] = field(default_factory=dict)

    @property
    def hdrname(self) -> str:
        return str(self.header.get("HDRNAME", ""))

    @property
    def wcsname(self) -> str:
        return str(self.header.get("WCSNAME", ""))

    @property
    def destim(self) -> str:
        return str(self.header.get("DESTIM", ""))


def read_headerlet(path: str | Path) -> Headerlet:
    """Read a headerlet written by tweakgui or stwcs.

    Raises
    ------
    InputError
        When the file is missing, not FITS, or has no SIPWCS extension.
    """
    path = Path(path)
    with open_fits(path) as hdul:
        if "HDRNAME" not in hdul[0].header:
            raise InputError(f"{path}: not a headerlet (no HDRNAME in the primary header)")
        out = Headerlet(path=path, header=hdul[0].header.copy())
        for h in hdul[1:]:
            if h.header.get("EXTNAME", "").strip().upper() != "SIPWCS":
                continue
            tg = (str(h.header.get("TG_ENAME", "SCI")).strip(), int(h.header.get("TG_EVER", h.ver)))
            with warnings.catch_warnings():
                # a SIPWCS extension has NAXIS=0 by design
                warnings.simplefilter("ignore", FITSFixedWarning)
                out.wcs[tg] = WCS(h.header, hdul)
            out.headers[tg] = h.header.copy()
        if not out.wcs:
            raise InputError(f"{path}: not a headerlet (no SIPWCS extension)")
    return out


class _HeaderletHDU(FitsHDU):
    """stwcs' HDRLET extension: a whole headerlet file embedded as an extension.

    Not registered with astropy (reading gives a NonstandardExtHDU, see
    :func:`attached_headerlets`), so loading tweakgui changes nothing globally.
    """

    _extension = "HDRLET"


def headerlet_extension(hlet: fits.HDUList, extver: int) -> fits.hdu.base.NonstandardExtHDU:
    """Wrap a headerlet as an ``HDRLET`` extension (uncompressed, as MAST does)."""
    hdu = _HeaderletHDU.fromhdulist(hlet, compress=False)
    p = hlet[0].header
    for k in ("HDRNAME", "DATE", "SIPNAME", "WCSNAME", "DISTNAME", "NPOLFILE", "D2IMFILE"):
        _put(hdu.header, k, p[k], p.comments[k])
    hdu.header["EXTNAME"] = ("HDRLET", "Extension name")
    hdu.header["EXTVER"] = extver
    return hdu


def attached_headerlets(hdul: fits.HDUList) -> list[fits.HDUList]:
    """The headerlets embedded in a file as HDRLET extensions (by stwcs or tweakgui)."""
    out = []
    for h in hdul:
        if h.header.get("XTENSION", "").strip() != "HDRLET":
            continue
        raw = h.data.tobytes() if isinstance(h.data, np.ndarray) else bytes(h.data)
        if h.header.get("COMPRESS"):
            raw = gzip.decompress(raw)
        out.append(fits.HDUList.fromstring(raw))
    return out


def archive_as_headerlet(hdul: fits.HDUList, hdus: list[int], key: str, root: str = "") -> str:
    """Append the current primary WCS of ``chips`` to ``hdul`` as an HDRLET extension.

    Called before the primary WCS is replaced, so the full WCS (SIP and
    lookup tables included) survives even if another tool later rewrites
    the alternate WCSs.  Returns the HDRNAME (``<rootname>_<wcsname>-<key>``).
    """
    chips = [Chip(name=f"{hdul[i].header.get('EXTNAME', 'SCI')},{hdul[i].header.get('EXTVER', 1)}",
                  hdu=i, shape=(hdul[i].header.get("NAXIS2", 0), hdul[i].header.get("NAXIS1", 0)),
                  wcs=None) for i in hdus]
    sci = hdul[hdus[0]].header
    name = str(sci.get("WCSNAME", "")).strip() or "ORIGINAL"
    destim = str(hdul[0].header.get("ROOTNAME", "")).strip() or root
    hdrname = f"{destim}_{name}-{key}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcslist = [WCS(hdul[c.hdu].header, hdul) for c in chips]
    rms = (sci.get("RMS_RA", math.nan), sci.get("RMS_DEC", math.nan))
    hlet = build_headerlet(hdul, chips, wcslist, wcsname=name, hdrname=hdrname,
                           descrip=f"WCS archived by tweakgui as alternate WCS {key}",
                           nmatch=int(sci.get("NMATCH", sci.get("NMATCHES", 0)) or 0),
                           rms_mas=rms, root=root,
                           # the file's own date keeps outputs reproducible byte for byte
                           date=str(hdul[0].header.get("DATE", sci.get("DATE", ""))))
    vers = [int(h.header.get("EXTVER", 1)) for h in hdul if h.header.get("XTENSION", "").strip() == "HDRLET"]
    hdul.append(headerlet_extension(hlet, max(vers, default=0) + 1))
    return hdrname
