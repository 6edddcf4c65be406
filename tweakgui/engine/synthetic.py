"""Synthetic dithered visits with a known answer (demo, tests, benchmarks).

A visit is rendered from one sky: stars and extended galaxies around a
pointing.  Each image has a *true* TAN-SIP WCS (dither offsets, SIP
distortion) through which the sources are rendered; its header carries the
true WCS perturbed by a known shift and rotation, which alignment must undo.
The reference catalog holds the true star positions (plus a small noise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, Sip

from tweakgui.engine.outputs.headerlet import wcs_header

__all__ = ["DemoVisit", "make_demo_visit", "make_catalog_visit", "make_sip_wcs", "perturb_wcs", "wcs_error_mas",
           "render", "CATALOG_WCS_PLACES"]

log = logging.getLogger(__name__)


@dataclass
class DemoVisit:
    paths: list[Path]
    refcat: Path
    # per file: list (per chip) of the true astropy WCS
    truth: dict[str, list[WCS]] = field(default_factory=dict)
    # per file: injected (dx, dy) arcsec and rotation deg
    injected: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    list_file: Path | None = None


def make_sip_wcs(shape, crval, scale_arcsec=0.04, pa_deg=0.0, sip_amp=2.0, crpix=None) -> WCS:
    """A TAN-SIP WCS with a 2nd/3rd-order distortion of about ``sip_amp`` px at the corners."""
    ny, nx = shape
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crpix = crpix if crpix is not None else [(nx + 1) / 2, (ny + 1) / 2]
    w.wcs.crval = list(crval)
    s = scale_arcsec / 3600.0
    c, sn = np.cos(np.radians(pa_deg)), np.sin(np.radians(pa_deg))
    w.wcs.cd = np.array([[-s * c, s * sn], [s * sn, s * c]])
    half = max(nx, ny) / 2.0
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[2, 0] = 0.6 * sip_amp / half**2
    a[1, 1] = -0.3 * sip_amp / half**2
    a[0, 2] = 0.2 * sip_amp / half**2
    a[3, 0] = 0.2 * sip_amp / half**3
    b[0, 2] = 0.5 * sip_amp / half**2
    b[1, 1] = 0.4 * sip_amp / half**2
    b[2, 0] = -0.2 * sip_amp / half**2
    b[0, 3] = 0.2 * sip_amp / half**3
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.pixel_shape = (nx, ny)
    return _with_inverse_sip(w)


def _with_inverse_sip(w: WCS, tol_px: float = 1e-3, max_order: int = 9) -> WCS:
    """Fit the inverse SIP (AP/BP) by least squares on a grid over the chip.

    astropy's ``sip_pix2foc`` returns focal-plane coordinates relative to
    CRPIX, ``U = u + A(u, v)``, which are the variables of AP/BP:
    ``u = U + AP(U, V)``.  The order grows from the forward order + 1 until
    the round trip is within ``tol_px`` over the chip (a CRPIX far from the
    chip, as for stacked chips, needs more terms).
    """
    nx, ny = w.pixel_shape
    yy, xx = np.mgrid[0 : ny - 1 : 41j, 0 : nx - 1 : 41j]
    pix = np.column_stack([xx.ravel() + 1, yy.ravel() + 1])
    u = pix[:, 0] - w.wcs.crpix[0]
    v = pix[:, 1] - w.wcs.crpix[1]
    U, V = w.sip_pix2foc(pix, 1).T
    # scaled variables keep the normal equations well conditioned
    norm = max(np.abs(U).max(), np.abs(V).max())
    Un, Vn = U / norm, V / norm
    forward = max(w.sip.a_order, w.sip.b_order)
    for order in range(forward + 1, max_order + 1):
        terms = [(i, j) for i in range(order + 1) for j in range(order + 1 - i)]
        M = np.column_stack([Un**i * Vn**j for i, j in terms])
        cu, *_ = np.linalg.lstsq(M, u - U, rcond=None)
        cv, *_ = np.linalg.lstsq(M, v - V, rcond=None)
        err = np.hypot(M @ cu - (u - U), M @ cv - (v - V)).max()
        if err <= tol_px:
            break
    ap = np.zeros((order + 1, order + 1))
    bp = np.zeros((order + 1, order + 1))
    for (i, j), p, q in zip(terms, cu, cv):
        ap[i, j] = p / norm ** (i + j)
        bp[i, j] = q / norm ** (i + j)
    w.sip = Sip(w.sip.a, w.sip.b, ap, bp, w.wcs.crpix)
    return w


def perturb_wcs(w: WCS, dx_arcsec: float, dy_arcsec: float, rot_deg: float) -> WCS:
    """Return a copy of ``w`` whose sky is shifted by (dx, dy) arcsec and rotated about CRPIX."""
    p = w.deepcopy()
    ra, dec = p.wcs.crval
    p.wcs.crval = [ra + dx_arcsec / 3600.0 / np.cos(np.radians(dec)), dec + dy_arcsec / 3600.0]
    c, s = np.cos(np.radians(rot_deg)), np.sin(np.radians(rot_deg))
    p.wcs.cd = np.array([[c, -s], [s, c]]) @ p.wcs.cd
    p.wcs.set()
    return p


def wcs_error_mas(w_fit, w_true, shape, n=11) -> float:
    """RMS sky separation (mas) between two WCSs over an n×n pixel grid of the chip."""
    ny, nx = shape
    yy, xx = np.mgrid[0 : ny - 1 : n * 1j, 0 : nx - 1 : n * 1j]
    r1, d1 = _pix2world(w_fit, xx.ravel(), yy.ravel())
    r2, d2 = _pix2world(w_true, xx.ravel(), yy.ravel())
    dra = (r1 - r2) * np.cos(np.radians(d2))
    return float(np.sqrt(np.mean(dra**2 + (d1 - d2) ** 2)) * 3.6e6)


def _pix2world(w, x, y):
    if isinstance(w, WCS):
        return w.all_pix2world(x, y, 0)
    return w(x, y)


def render(shape, x, y, flux, sigma, rng, background=50.0, noise=5.0, n_cr=200, nan_columns=1):
    """Render Gaussian sources (per-source sigma in px) on a noisy background."""
    ny, nx = shape
    img = np.full(shape, background, dtype=np.float32)
    for xi, yi, fi, si in zip(x, y, flux, sigma):
        r = int(np.ceil(5 * si)) + 1
        x0, x1 = max(int(xi) - r, 0), min(int(xi) + r + 1, nx)
        y0, y1 = max(int(yi) - r, 0), min(int(yi) + r + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1]
        img[y0:y1, x0:x1] += (fi / (2 * np.pi * si**2)) * np.exp(
            -((gx - xi) ** 2 + (gy - yi) ** 2) / (2 * si**2)
        )
    img += rng.normal(0.0, noise, shape).astype(np.float32)
    # cosmic rays: single or paired hot pixels
    cx = rng.integers(0, nx, n_cr)
    cy = rng.integers(0, ny, n_cr)
    img[cy, cx] += rng.uniform(200, 3000, n_cr).astype(np.float32)
    for _ in range(nan_columns):
        img[:, rng.integers(0, nx)] = np.nan
    return img


def make_demo_visit(
    directory,
    n_images=4,
    shape=(1024, 1024),
    n_chips=1,
    seed=1,
    scale_arcsec=0.04,
    max_shift_arcsec=0.6,
    max_rot_deg=0.02,
    n_stars=None,
    n_galaxies=None,
    refcat_noise_mas=1.0,
    write_list=True,
    exact_first=False,
) -> DemoVisit:
    """Write a dithered HST-like visit of ``n_images`` FITS files and a reference catalog.

    Returns a :class:`DemoVisit` with the paths, the reference catalog path
    (ECSV with RA, DEC) and the true WCS of every chip.  With ``exact_first``
    the first image's header WCS is its true WCS (for relative-only tests).
    """
    directory, rng, sky = _start(directory, seed, shape, n_chips, scale_arcsec, n_stars, n_galaxies)
    paths, truth, injected = [], {}, {}
    for i in range(n_images):
        dither, pa, (dx, dy, rot) = _pointing(rng, max_shift_arcsec, max_rot_deg)
        if i == 0:
            # the first image (the usual relative reference) is either exact or
            # carries the largest error, so the fit must do something
            dx, dy = (0.0, 0.0) if exact_first else (max_shift_arcsec * 0.9, -max_shift_arcsec * 0.7)
            rot = 0.0 if exact_first else rot
        root = f"demo{i + 1:02d}"
        hdus = [_primary_hdu(root)]
        chips_true = []
        for c in range(n_chips):
            w_true, chip_hdus = _chip(sky, rng, shape, n_chips, c, scale_arcsec, dither, pa, (dx, dy, rot))
            hdus += chip_hdus
            chips_true.append(w_true)
        path = directory / f"{root}_flt.fits"
        fits.HDUList(hdus).writeto(path, overwrite=True)
        paths.append(path)
        truth[path.name] = chips_true
        injected[path.name] = (dx, dy, rot)
    refpath = _write_refcat(directory / "refcat.ecsv", sky, rng, refcat_noise_mas)
    list_file = None
    if write_list:
        list_file = directory / "images.lst"
        list_file.write_text("".join(f"{p.name}\n" for p in paths))
    log.info("wrote a synthetic visit of %d images to %s", n_images, directory)
    return DemoVisit(paths, refpath, truth, injected, list_file)


CRVAL0 = (150.1, 2.2)
CHIP_GAP = 50  # px between stacked chips
PSF_SIGMA = 2.5 / 2.3548


@dataclass
class _Sky:
    """Stars and galaxies of a demo field (degrees, fluxes, galaxy widths in px)."""

    ra_s: np.ndarray
    dec_s: np.ndarray
    flux_s: np.ndarray
    ra_g: np.ndarray
    dec_g: np.ndarray
    flux_g: np.ndarray
    sig_g: np.ndarray

    @property
    def cosd(self) -> float:
        return float(np.cos(np.radians(CRVAL0[1])))

    @classmethod
    def random(cls, rng, shape, n_chips, scale_arcsec, n_stars, n_galaxies) -> "_Sky":
        ny, nx = shape
        fov = scale_arcsec * max(nx, ny * n_chips + CHIP_GAP * (n_chips - 1)) / 3600.0
        span = fov * 1.6
        if n_stars is None:
            n_stars = int(max(150, 300 * nx * ny * n_chips / 1024**2 * 1.6**2))
        if n_galaxies is None:
            n_galaxies = n_stars // 3
        cosd = np.cos(np.radians(CRVAL0[1]))
        ra_s = CRVAL0[0] + rng.uniform(-span / 2, span / 2, n_stars) / cosd
        dec_s = CRVAL0[1] + rng.uniform(-span / 2, span / 2, n_stars)
        flux_s = 10 ** rng.uniform(2.7, 4.7, n_stars)
        ra_g = CRVAL0[0] + rng.uniform(-span / 2, span / 2, n_galaxies) / cosd
        dec_g = CRVAL0[1] + rng.uniform(-span / 2, span / 2, n_galaxies)
        flux_g = 10 ** rng.uniform(3.0, 4.5, n_galaxies)
        sig_g = rng.uniform(3.0, 8.0, n_galaxies)
        return cls(ra_s, dec_s, flux_s, ra_g, dec_g, flux_g, sig_g)


def _start(directory, seed, shape, n_chips, scale_arcsec, n_stars, n_galaxies):
    """The output folder (created), the random generator and the field's sources."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return directory, rng, _Sky.random(rng, shape, n_chips, scale_arcsec, n_stars, n_galaxies)


def _pointing(rng, max_shift_arcsec: float, max_rot_deg: float):
    """A dither (arcsec), a position angle (deg) and the header WCS's error (dx, dy arcsec; rotation deg)."""
    dither = (rng.uniform(-3, 3), rng.uniform(-3, 3))
    pa = 12.0 + rng.uniform(-0.5, 0.5)
    error = (rng.uniform(-max_shift_arcsec, max_shift_arcsec), rng.uniform(-max_shift_arcsec, max_shift_arcsec),
             rng.uniform(-max_rot_deg, max_rot_deg))
    return dither, pa, error


def _primary_hdu(root: str) -> fits.PrimaryHDU:
    hdu = fits.PrimaryHDU()
    ph = hdu.header
    ph["TELESCOP"] = "HST"
    ph["INSTRUME"] = "SYNTH"
    ph["ROOTNAME"] = root
    ph["FILTER"] = "F814W"
    ph["EXPTIME"] = 400.0
    ph["DATE-OBS"] = "2024-03-01"
    return hdu


def _chip(sky: _Sky, rng, shape, n_chips, c, scale_arcsec, dither, pa, error) -> tuple[WCS, list]:
    """The true WCS of chip ``c`` and its SCI and DQ extensions (the header WCS carries ``error``)."""
    ny, nx = shape
    cosd = sky.cosd
    # chips stacked along y with a gap; each chip its own CRPIX
    crpix = [(nx + 1) / 2, (ny + 1) / 2 - (c - (n_chips - 1) / 2) * (ny + CHIP_GAP)]
    w_true = make_sip_wcs(shape, (CRVAL0[0] + dither[0] / 3600 / cosd, CRVAL0[1] + dither[1] / 3600),
                          scale_arcsec, pa, crpix=crpix)
    w_hdr = perturb_wcs(w_true, *error)
    xs, ys = w_true.all_world2pix(sky.ra_s, sky.dec_s, 0)
    xg, yg = w_true.all_world2pix(sky.ra_g, sky.dec_g, 0)
    x = np.concatenate([xs, xg])
    y = np.concatenate([ys, yg])
    fl = np.concatenate([sky.flux_s, sky.flux_g])
    sg = np.concatenate([np.full(len(sky.ra_s), PSF_SIGMA), sky.sig_g])
    inside = (x > -20) & (x < nx + 20) & (y > -20) & (y < ny + 20)
    img = render(shape, x[inside], y[inside], fl[inside], sg[inside], rng)
    # CD form, as in HST's calibrated files: drizzlepac and stwcs update only the CD
    # matrix, and leave a PC+CDELT header's rotation unchanged
    hdr = wcs_header(w_hdr, use_cd=True)
    hdr["WCSNAME"] = "OPUS"
    sci = fits.ImageHDU(img, header=hdr, name="SCI")
    sci.header["EXTVER"] = c + 1
    sci.header["BUNIT"] = "ELECTRONS"
    dq = np.zeros(shape, dtype=np.int16)
    dq[rng.integers(0, ny, 30), rng.integers(0, nx, 30)] = 16  # hot pixels
    dqh = fits.ImageHDU(dq, name="DQ")
    dqh.header["EXTVER"] = c + 1
    return w_true, [sci, dqh]


def _write_refcat(path: Path, sky: _Sky, rng, noise_mas: float) -> Path:
    """The reference catalog: true star positions with ``noise_mas`` of noise."""
    noise = noise_mas / 3.6e6
    ref = Table()
    ref["RA"] = sky.ra_s + rng.normal(0, noise, len(sky.ra_s)) / sky.cosd
    ref["DEC"] = sky.dec_s + rng.normal(0, noise, len(sky.ra_s))
    ref["mag"] = -2.5 * np.log10(sky.flux_s) + 30
    ref.meta["comments"] = ["synthetic reference catalog (true star positions)"]
    ref.write(path, overwrite=True)
    return path


# ------------------------------------------------------------------ catalog-only visits

# where make_catalog_visit puts each catalog's WCS
CATALOG_WCS_PLACES = ("meta", "keywords", "hdr", "fits", "fits_table")


def make_catalog_visit(directory, n_catalogs=3, shape=(1024, 1024), n_chips=1, seed=1, scale_arcsec=0.04,
                       max_shift_arcsec=0.6, max_rot_deg=0.02, wcs_in="meta", centroid_noise_px=0.02,
                       refcat_noise_mas=1.0) -> DemoVisit:
    """Write a catalog-only visit: source catalogs with a perturbed WCS, no pixels, and a reference catalog.

    Each catalog ``demo<NN>_cat.ecsv`` (``.fits`` for ``wcs_in="fits_table"``) holds
    the sources of a dithered image (``x``, ``y`` 0-based through the *true*
    TAN-SIP WCS, plus ``centroid_noise_px`` of noise; ``flux``; ``chip`` when
    ``n_chips`` > 1) and carries the true WCS perturbed by a known shift and
    rotation, which alignment must undo.  ``wcs_in`` says where the WCS goes:
    ``"meta"`` (``meta['wcs']`` FITS cards, a list for several chips),
    ``"keywords"`` (FITS keywords in the metadata itself), ``"hdr"`` (a text
    header sidecar ``demo<NN>_cat.hdr``), ``"fits"`` (a data-less FITS sidecar
    ``demo<NN>_cat.fits``, one SCI header per chip with NPIX1/NPIX2) or
    ``"fits_table"`` (a FITS-table catalog with the WCS in its table header).
    """
    if wcs_in not in CATALOG_WCS_PLACES:
        raise ValueError(f"wcs_in must be one of {CATALOG_WCS_PLACES}, got {wcs_in!r}")
    if n_chips > 1 and wcs_in in ("keywords", "hdr", "fits_table"):
        raise ValueError(f"wcs_in={wcs_in!r} holds one chip's WCS")
    directory, rng, sky = _start(directory, seed, shape, n_chips, scale_arcsec, None, None)
    paths, truth, injected = [], {}, {}
    for i in range(n_catalogs):
        dither, pa, error = _pointing(rng, max_shift_arcsec, max_rot_deg)
        chips = [_catalog_chip(sky, rng, shape, n_chips, c, scale_arcsec, dither, pa, error,
                               centroid_noise_px) for c in range(n_chips)]
        ext = "fits" if wcs_in == "fits_table" else "ecsv"
        path = _write_catalog(directory / f"demo{i + 1:02d}_cat.{ext}", chips, shape, wcs_in)
        paths.append(path)
        truth[path.name] = [c[0] for c in chips]
        injected[path.name] = error
    refpath = _write_refcat(directory / "refcat.ecsv", sky, rng, refcat_noise_mas)
    log.info("wrote a synthetic catalog-only visit of %d catalogs to %s", n_catalogs, directory)
    return DemoVisit(paths, refpath, truth, injected)


def _catalog_chip(sky: _Sky, rng, shape, n_chips, c, scale_arcsec, dither, pa, error, noise_px):
    """(true WCS, header of the perturbed WCS, sources on the chip) of chip ``c``."""
    ny, nx = shape
    crpix = [(nx + 1) / 2, (ny + 1) / 2 - (c - (n_chips - 1) / 2) * (ny + CHIP_GAP)]
    w_true = make_sip_wcs(shape, (CRVAL0[0] + dither[0] / 3600 / sky.cosd, CRVAL0[1] + dither[1] / 3600),
                          scale_arcsec, pa, crpix=crpix)
    hdr = wcs_header(perturb_wcs(w_true, *error), use_cd=True)
    hdr["WCSNAME"] = "OPUS"
    ra = np.concatenate([sky.ra_s, sky.ra_g])
    dec = np.concatenate([sky.dec_s, sky.dec_g])
    x, y = w_true.all_world2pix(ra, dec, 0)
    inside = (x > 0) & (x < nx - 1) & (y > 0) & (y < ny - 1)
    t = Table()
    t["x"] = x[inside] + rng.normal(0, noise_px, int(inside.sum()))
    t["y"] = y[inside] + rng.normal(0, noise_px, int(inside.sum()))
    t["flux"] = np.concatenate([sky.flux_s, sky.flux_g])[inside]
    if n_chips > 1:
        t["chip"] = np.full(len(t), c + 1, dtype=np.int16)
    return w_true, hdr, t


def _write_catalog(path: Path, chips, shape, wcs_in: str) -> Path:
    from astropy.table import vstack

    ny, nx = shape
    t = vstack([c[2] for c in chips]) if len(chips) > 1 else chips[0][2]
    headers = []
    for i, (_, hdr, _) in enumerate(chips):
        h = hdr.copy()
        h["EXTVER"] = i + 1
        h["NAXIS1" if wcs_in in ("meta", "keywords", "hdr") else "NPIX1"] = nx
        h["NAXIS2" if wcs_in in ("meta", "keywords", "hdr") else "NPIX2"] = ny
        headers.append(h)
    if wcs_in == "meta":
        cards = [{k: v for k, v in h.items() if k not in ("COMMENT", "HISTORY", "")} for h in headers]
        t.meta["wcs"] = cards[0] if len(cards) == 1 else cards
    elif wcs_in in ("keywords", "fits_table"):
        for k, v in headers[0].items():
            if k not in ("COMMENT", "HISTORY", "", "NAXIS1", "NAXIS2"):
                t.meta[k] = v
        if wcs_in == "keywords":
            t.meta["shape"] = [ny, nx]
    elif wcs_in == "hdr":
        headers[0].totextfile(path.with_suffix(".hdr"), overwrite=True)
    else:
        sci = [fits.ImageHDU(header=h, name="SCI") for h in headers]
        for i, hdu in enumerate(sci):
            hdu.ver = i + 1
        fits.HDUList([_primary_hdu(path.name.split("_")[0])] + sci).writeto(path.with_suffix(".fits"),
                                                                            overwrite=True)
    t.write(path, overwrite=True)
    return path
