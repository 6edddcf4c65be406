"""drizzlepac-format shiftfiles and their reference WCS file.

A shiftfile (as written by drizzlepac's TweakReg) is::

    # frame: output
    # refimage: tweak_wcs.fits[wcs]
    # form: delta
    # units: pixels
    j8bt06nyq_flt.fits    0.000000  0.000000    0.00000000     1.00000000   0.000000  0.000000
    j8bt06nzq_flt.fits    0.409113  -0.567020    359.99830000     1.00016500   0.012000  0.011000

with, per image, the shift in x and y and the rotation (degrees, 0..360) and
scale of the fit in the frame of the reference WCS, then optionally the RMS
of the fit in x and y (pixels).  The reference WCS file has an empty primary
HDU and a ``WCS`` extension holding the reference frame: an undistorted TAN WCS
with square pixels (:func:`output_frame`), as drizzlepac's output frame.
Failed images have no row, as in drizzlepac.

Each row is the image's *total* correction (all stages), from its input WCS
to its final WCS, in drizzlepac's convention (``updatehdr.updatewcs_with_shift``):
with ``c`` the reference WCS's CRPIX, ``p`` where the input WCS puts a source
and ``q`` where the final WCS puts it (reference pixels, 1-based),

    p - c = F.T @ (q - c) + (xsh, ysh),   F = scale * [[cos rot, -sin rot], [sin rot, cos rot]]

so the shift is image minus reference.  The row is fitted to a grid of pixels
over every chip of the image, so it does not depend on how the fit was done.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from tweakgui.engine.io.atomic import atomic_write_text, check_writable_dir
from tweakgui.engine.model import (
    STATUS_REFERENCE,
    STATUS_SUCCESS,
    InputError,
    VisitResult,
)
from tweakgui.engine.outputs.fitsio import write_hdulist
from tweakgui.engine.outputs.headerlet import wcs_header

__all__ = ["ShiftRow", "ShiftFile", "write_shiftfile", "read_shiftfile", "reference_wcs",
           "drizzlepac_shift", "output_frame"]

log = logging.getLogger(__name__)


@dataclass
class ShiftRow:
    image: str
    xsh: float
    ysh: float
    rot: float = 0.0  # degrees in (-180, 180]
    scale: float = 1.0
    xrms: float | None = None
    yrms: float | None = None


@dataclass
class ShiftFile:
    path: Path
    frame: str = "output"
    refimage: str = ""  # as written, e.g. "tweak_wcs.fits[wcs]"
    form: str = "delta"
    units: str = "pixels"
    rows: list[ShiftRow] = field(default_factory=list)

    @property
    def refimage_path(self) -> Path | None:
        """The reference WCS file, resolved against the shiftfile's folder."""
        if not self.refimage:
            return None
        name = re.sub(r"\[.*\]$", "", self.refimage.strip())
        p = Path(name)
        return p if p.is_absolute() else self.path.parent / p

    def reference_wcs(self) -> WCS:
        """The WCS stored in the reference WCS file."""
        p = self.refimage_path
        if p is None or not p.is_file():
            raise InputError(f"{self.path}: reference WCS file {p} not found")
        with fits.open(p) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)  # a data-less WCS extension
            return WCS(hdul["WCS"].header if "WCS" in hdul else hdul[0].header)


def reference_wcs(visit_result: VisitResult) -> tuple[WCS, tuple[int, int]]:
    """The WCS of the reference frame: final WCS of the REFERENCE image's first chip.

    Without a FITS REFERENCE image, the first aligned FITS image (else the first FITS image).
    """
    fits_images = [r for r in visit_result.images if r.exposure.kind == "fits"] or visit_result.images
    ref = next((r for r in fits_images if r.status == STATUS_REFERENCE),
               next((r for r in fits_images if r.status == STATUS_SUCCESS), fits_images[0]))
    w = ref.new_wcs[0] if ref.new_wcs else ref.exposure.chips[0].wcs
    return w, tuple(ref.exposure.chips[0].shape)


def output_frame(w: WCS) -> WCS:
    """drizzlepac's kind of output frame for ``w``: TAN, same CRVAL and CRPIX, square pixels.

    The CD matrix is the similarity nearest to ``w``'s (same pixel area, orientation and
    parity, no skew), as drizzlepac's undistorted output WCS: a shift, rotation and scale in
    its pixels is then a shift, rotation and scale on the sky.  In a skewed frame (ACS's CD
    matrices carry the linear distortion) a sky rotation is not a rotation of the pixels, and a
    drizzlepac row could not describe it (0.9 mas over an HRC chip for 0.017 deg).
    """
    ww = w.wcs
    cd = ww.cd if ww.has_cd() else np.diag(ww.get_cdelt()) @ ww.get_pc()
    u, _, vt = np.linalg.svd(cd)
    out = WCS(naxis=2)
    out.wcs.crpix = ww.crpix
    out.wcs.crval = ww.crval
    out.wcs.cd = math.sqrt(abs(np.linalg.det(cd))) * (u @ vt)
    out.wcs.ctype = [t.replace("-SIP", "") for t in ww.ctype]
    out.wcs.cunit = ww.cunit
    if ww.radesys:
        out.wcs.radesys = ww.radesys
    out.wcs.set()
    return out


def _rms_pixels(fit, scale_arcsec: float, image: str | None = None) -> tuple[float, float]:
    """RMS of a fit's residuals along x and y, reference pixels: the image's own matches if it has any."""
    t = fit.matches
    if t is not None and len(t) and image is not None and "image" in t.colnames:
        mine = np.asarray(t["image"]).astype(str) == image
        if mine.any():
            t = t[mine]
    if t is not None and len(t) and {"dx", "dy"} <= set(t.colnames):
        used = np.asarray(t["used"], bool) if "used" in t.colnames else np.ones(len(t), bool)
        if used.any():
            dx = np.asarray(t["dx"], float)[used]
            dy = np.asarray(t["dy"], float)[used]
            return (float(np.sqrt(np.mean(dx**2))) / scale_arcsec,
                    float(np.sqrt(np.mean(dy**2))) / scale_arcsec)
    r = fit.rmse_arcsec / math.sqrt(2) / scale_arcsec
    return r, r


def drizzlepac_shift(start_wcs, final_wcs, shapes, ref: WCS,
                     n: int = 11) -> tuple[float, float, float, float, float]:
    """The correction from ``start_wcs`` to ``final_wcs`` as drizzlepac's shift, rotation, scale.

    Parameters
    ----------
    start_wcs, final_wcs : list of astropy.wcs.WCS
        Per chip, the input and the final WCS (same chip order).
    shapes : list of (ny, nx)
        Chip sizes; an ``n`` × ``n`` grid of pixels over each chip is fitted.
    ref : astropy.wcs.WCS
        The linear reference WCS the row is measured in (as written to the
        reference WCS file).

    Returns
    -------
    xsh, ysh, rot, scale, resid
        Shift (reference pixels, image − reference), rotation (degrees,
        in (-180, 180]), scale, and the largest residual of the fit (reference
        pixels): what a drizzlepac row cannot express, such as skew.
    """
    c = np.asarray(ref.wcs.crpix, float)
    ps, qs = [], []
    for w0, w1, (ny, nx) in zip(start_wcs, final_wcs, shapes):
        yy, xx = np.mgrid[0 : ny - 1 : n * 1j, 0 : nx - 1 : n * 1j]
        pix = np.column_stack([xx.ravel(), yy.ravel()])
        ps.append(ref.wcs_world2pix(w0.all_pix2world(pix, 0), 1) - c)
        qs.append(ref.wcs_world2pix(w1.all_pix2world(pix, 0), 1) - c)
    p, q = np.vstack(ps), np.vstack(qs)
    # p = A q + t with A = F.T = [[a, b], [-b, a]]: linear in (a, b, tx, ty)
    one, zero = np.ones(len(q)), np.zeros(len(q))
    m = np.vstack([np.column_stack([q[:, 0], q[:, 1], one, zero]),
                   np.column_stack([q[:, 1], -q[:, 0], zero, one])])
    rhs = np.concatenate([p[:, 0], p[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(m, rhs, rcond=None)
    resid = float(np.max(np.abs(m @ [a, b, tx, ty] - rhs)))
    return float(tx), float(ty), math.degrees(math.atan2(b, a)), math.hypot(a, b), resid


def _row_values(r, ref: WCS, scale_arcsec: float, with_rms: bool) -> list[float] | None:
    """A row's numbers for one image, or None for an image without a row."""
    if r.status not in (STATUS_SUCCESS, STATUS_REFERENCE) or r.exposure.kind != "fits":
        return None
    chips = r.exposure.chips
    if r.new_wcs:
        xsh, ysh, rot, scale, resid = drizzlepac_shift(
            [c.wcs for c in chips], r.new_wcs, [c.shape for c in chips], ref)
        # drizzlepac's rows hold shift, rotation and scale only; 0.05 px is ~2 mas on HST
        if resid > 0.05:
            log.warning("%s: its shiftfile row reproduces its WCS to %.3f reference pixels only "
                        "(a drizzlepac row has no skew)", r.exposure.name, resid)
        vals = [xsh, ysh, rot % 360.0, scale]
    else:
        vals = [0.0, 0.0, 0.0, 1.0]
    if with_rms:
        fit = r.fit
        vals += list(_rms_pixels(fit, scale_arcsec, r.exposure.name)) if fit is not None else [0.0, 0.0]
    return [0.0 if not math.isfinite(v) else v for v in vals]


def _row_text(name: str, vals: list, with_rms: bool) -> str:
    text = f"{name}    {vals[0]:.6f}  {vals[1]:.6f}    {vals[2]:.8f}     {vals[3]:.8f}"
    if with_rms:
        text += f"   {vals[4]:.6f}  {vals[5]:.6f}"
    return text + "\n"


def write_shiftfile(visit_result: VisitResult, path: str | Path, ref_wcs: WCS | None = None,
                    ref_shape: tuple[int, int] | None = None,
                    wcsfile: str | Path | None = None, with_rms: bool = True) -> tuple[Path, Path] | None:
    """Write a drizzlepac shiftfile and its reference WCS file, both atomically.

    Parameters
    ----------
    visit_result : VisitResult
        One row per FITS image with status SUCCESS or REFERENCE: its total
        correction from its input WCS (``exposure.chips[i].wcs``) to its
        final WCS (``new_wcs``), see :func:`drizzlepac_shift`; zero when it
        has no new WCS.  FAILED images are left out.
    path : str or Path
        The shiftfile.
    ref_wcs : astropy.wcs.WCS, optional
        The WCS whose :func:`output_frame` the shifts are measured in (default:
        the final WCS of the reference image's first chip); that frame is
        written to the reference WCS file.
    ref_shape : (ny, nx), optional
        Its size (written as NPIX1/NPIX2).
    wcsfile : str or Path, optional
        The reference WCS file (default ``<shiftfile stem>_wcs.fits`` beside
        the shiftfile); the shiftfile names it relative to its own folder.
    with_rms : bool
        Add the x and y RMS columns of the image's last fit (7 columns, as
        drizzlepac; stsci.tools' ``ShiftFile`` reader only takes 5).

    Returns
    -------
    (Path, Path) or None
        The shiftfile and WCS file, or None when no image has a row.
    """
    path = Path(path)
    check_writable_dir(path.parent, create=True)
    if ref_wcs is None:
        ref_wcs, shape = reference_wcs(visit_result)
        ref_shape = ref_shape or shape
    lin = output_frame(ref_wcs)
    scale = math.sqrt(abs(np.linalg.det(lin.wcs.cd))) * 3600.0
    rows = [_row_text(r.exposure.name, v, with_rms) for r in visit_result.images
            if (v := _row_values(r, lin, scale, with_rms)) is not None]
    if not rows:
        log.warning("no image has a fit: shiftfile %s not written", path)
        return None
    wpath = Path(wcsfile) if wcsfile is not None else path.with_name(f"{path.stem}_wcs.fits")
    if not wpath.is_absolute() and wpath.parent == Path("."):
        wpath = path.parent / wpath
    _write_wcsfile(lin, ref_shape, wpath)
    try:
        ref_name = str(wpath.relative_to(path.parent))
    except ValueError:
        ref_name = str(wpath)
    header = f"# frame: output\n# refimage: {ref_name}[wcs]\n# form: delta\n# units: pixels\n"
    atomic_write_text(path, header + "".join(rows))
    log.info("wrote shiftfile %s with reference WCS %s", path, wpath)
    return path, wpath


def _write_wcsfile(lin: WCS, shape, path: Path) -> None:
    h = wcs_header(lin, use_cd=True)
    h["EXTNAME"] = "WCS"
    h["EXTVER"] = 1
    if shape is not None:
        h["NPIX1"] = (int(shape[1]), "Length of array axis 1")
        h["NPIX2"] = (int(shape[0]), "Length of array axis 2")
    h["PIXVALUE"] = (0.0, "values of pixels in array")
    cd = lin.wcs.cd
    h["ORIENTAT"] = (float(np.rad2deg(np.arctan2(cd[0, 1], cd[1, 1]))),
                     "position angle of image y axis (deg. e of n)")
    write_hdulist(fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(None, h)]), path)


def read_shiftfile(path: str | Path) -> ShiftFile:
    """Read a drizzlepac shiftfile (5 or 7 columns per image).

    Raises
    ------
    InputError
        Missing file or a line that is not ``image xsh ysh [rot [scale [xrms yrms]]]``.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read shiftfile ({exc})") from exc
    sf = ShiftFile(path=path)
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, _, value = s.lstrip("#").partition(":")
            key = key.strip().lower()
            if key in ("frame", "refimage", "reference", "form", "units"):
                setattr(sf, "refimage" if key == "reference" else key, value.strip())
            continue
        cols = s.split()
        try:
            nums = [float(c) for c in cols[1:]]
        except ValueError:
            raise InputError(f"{path}: line {n}: shifts must be numbers: {s!r}") from None
        if len(nums) not in (2, 3, 4, 6):
            raise InputError(f"{path}: line {n}: expected image xsh ysh [rot scale [xrms yrms]], "
                             f"got {len(cols)} columns")
        nums += [0.0, 1.0][len(nums) - 2:] if len(nums) < 4 else []
        rot = nums[2] - 360.0 if nums[2] > 180.0 else nums[2]
        rms = (nums[4], nums[5]) if len(nums) == 6 else (None, None)
        sf.rows.append(ShiftRow(cols[0], nums[0], nums[1], rot, nums[3], *rms))
    return sf
