"""Small multi-chip FITS images with TAN-SIP WCS for the output tests.

``make_image`` writes an HST-like file (PRIMARY + SCI,1 [+ ERR] + SCI,2 ...)
with a CD-matrix TAN-SIP WCS per chip and returns an ``Exposure``.
``tweaked`` applies a known shift / rotation / scale to a WCS, which is what
the aligner hands to the writers.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from tweakgui.engine.model import Chip, Exposure, FitResult, ImageResult

SIP_A = {"A_2_0": 2.1e-6, "A_1_1": -1.3e-6, "A_0_2": 4.4e-7, "A_3_0": 1.7e-10, "A_0_3": -2.2e-10}
SIP_B = {"B_2_0": -7.0e-7, "B_1_1": 2.5e-6, "B_0_2": -1.1e-6, "B_2_1": 9.0e-11, "B_1_2": 3.0e-11}


def chip_header(crval=(53.1, -27.8), crpix=(32.5, 32.5), scale_arcsec=0.04, pa_deg=30.0,
                wcsname="IDC_test", sip=True, pc_form=False) -> fits.Header:
    """A TAN(-SIP) SCI header; ``pc_form`` writes PC+CDELT instead of CD."""
    s = scale_arcsec / 3600.0
    c, n = np.cos(np.deg2rad(pa_deg)), np.sin(np.deg2rad(pa_deg))
    cd = s * np.array([[-c, n], [n, c]])
    h = fits.Header()
    h["WCSAXES"] = 2
    h["CRPIX1"], h["CRPIX2"] = crpix
    h["CRVAL1"], h["CRVAL2"] = crval
    suffix = "-SIP" if sip else ""
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN" + suffix, "DEC--TAN" + suffix
    if pc_form:
        h["CDELT1"], h["CDELT2"] = s, s
        for i in range(2):
            for j in range(2):
                h[f"PC{i + 1}_{j + 1}"] = cd[i, j] / s
    else:
        for i in range(2):
            for j in range(2):
                h[f"CD{i + 1}_{j + 1}"] = cd[i, j]
    if wcsname:
        h["WCSNAME"] = wcsname
    if sip:
        h["A_ORDER"], h["B_ORDER"] = 3, 3
        h.update(SIP_A)
        h.update(SIP_B)
    return h


def make_image(path: Path, nchips: int = 2, shape=(64, 64), with_err: bool = True,
               rootname: str | None = None, **hdr_kw) -> Exposure:
    """Write a FITS image with ``nchips`` SCI extensions; return its Exposure."""
    path = Path(path)
    rng = np.random.default_rng(len(path.name))
    prim = fits.PrimaryHDU()
    prim.header["ROOTNAME"] = rootname or path.name.split("_")[0]
    prim.header["TELESCOP"] = "HST"
    hdus = [prim]
    for k in range(nchips):
        kw = dict(hdr_kw)
        kw.setdefault("crval", (53.1, -27.8 + 0.001 * k))
        h = chip_header(**kw)
        sci = fits.ImageHDU(rng.normal(10, 1, shape).astype(np.float32), h, name="SCI", ver=k + 1)
        hdus.append(sci)
        if with_err:
            hdus.append(fits.ImageHDU(np.ones(shape, np.float32), h.copy(), name="ERR", ver=k + 1))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return exposure_of(path)


def exposure_of(path: Path, group_id: str = "1") -> Exposure:
    """Build the Exposure of a FITS file from its SCI extensions."""
    path = Path(path)
    chips = []
    with fits.open(path) as hdul:
        for i, h in enumerate(hdul):
            if h.header.get("EXTNAME") == "SCI":
                w = WCS(h.header, hdul)
                chips.append(Chip(name=f"SCI,{h.header.get('EXTVER', 1)}", hdu=i,
                                  shape=h.data.shape, wcs=w))
    root = path.name.removesuffix(".fits")
    for sfx in ("_flt", "_flc", "_cal"):
        root = root.removesuffix(sfx)
    return Exposure(path=path, kind="fits", chips=chips, group_id=group_id, root=root)


def tweaked(w: WCS, dra_arcsec=0.12, ddec_arcsec=-0.07, rot_deg=0.01, scale=1.0001) -> WCS:
    """A copy of ``w`` with CRVAL moved and the CD matrix rotated and scaled."""
    out = copy.deepcopy(w)
    dec = np.deg2rad(out.wcs.crval[1])
    out.wcs.crval = out.wcs.crval + [dra_arcsec / 3600 / np.cos(dec), ddec_arcsec / 3600]
    t = np.deg2rad(rot_deg)
    r = scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    if out.wcs.has_cd():
        out.wcs.cd = r @ out.wcs.cd
    else:
        out.wcs.pc = r @ out.wcs.pc
    out.wcs.set()
    return out


def fit_result(nmatch=40, rms_mas=(3.0, 4.0), status="SUCCESS", kind="absolute", seed=1) -> FitResult:
    """A FitResult whose matches have RA/Dec residuals of known RMS."""
    rng = np.random.default_rng(seed)
    ref_ra = 53.1 + rng.uniform(-1e-3, 1e-3, nmatch)
    ref_dec = -27.8 + rng.uniform(-1e-3, 1e-3, nmatch)
    dra = rng.normal(0, 1, nmatch)
    ddec = rng.normal(0, 1, nmatch)
    dra *= rms_mas[0] / np.sqrt(np.mean(dra**2))
    ddec *= rms_mas[1] / np.sqrt(np.mean(ddec**2))
    ra = ref_ra + dra / 3.6e6 / np.cos(np.deg2rad(ref_dec))
    dec = ref_dec + ddec / 3.6e6
    t = Table({"ra": ra, "dec": dec, "ref_ra": ref_ra, "ref_dec": ref_dec,
               "dx": dra / 1000, "dy": ddec / 1000, "used": np.ones(nmatch, bool)})
    rmse = float(np.hypot(*rms_mas)) / 1000
    return FitResult(group_id="1", kind=kind, status=status, fitgeom="rscale", nmatch=nmatch,
                     shift_arcsec=(0.12, -0.07), shift_pix=(3.0, -1.75), rotation_deg=0.01,
                     scale=1.0001, rmse_arcsec=rmse, mae_arcsec=rmse * 0.8, matches=t)


def image_result(exp: Exposure, status="SUCCESS", fit: FitResult | None = None, **tw) -> ImageResult:
    """An ImageResult with every chip's WCS tweaked by ``tweaked(**tw)``."""
    fit = fit if fit is not None else fit_result()
    new = [tweaked(c.wcs, **tw) for c in exp.chips] if status == "SUCCESS" else None
    return ImageResult(exposure=exp, status=status, fits=[fit] if fit else [], new_wcs=new)


def sky_grid(w: WCS, shape, n: int = 7) -> np.ndarray:
    """World coordinates (deg) of an n×n pixel grid through the full distortion."""
    ny, nx = shape
    x, y = np.meshgrid(np.linspace(0, nx - 1, n), np.linspace(0, ny - 1, n))
    return np.column_stack(w.all_pix2world(x.ravel(), y.ravel(), 0))


def max_sep_mas(a: np.ndarray, b: np.ndarray) -> float:
    """Largest separation between two (ra, dec) deg arrays, in mas (small-angle)."""
    dra = ((a[:, 0] - b[:, 0] + 180) % 360 - 180) * np.cos(np.deg2rad(a[:, 1]))
    return float(np.max(np.hypot(dra, a[:, 1] - b[:, 1])) * 3.6e6)
