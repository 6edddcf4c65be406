"""Truth for the real ACS/HRC frames of 47 Tuc, built independently of tweakgui's matcher.

The four derived frames' header WCSs disagree by 5-35 mas (real pointing
errors).  The *consensus* WCS of each frame is found here with libraries
only: sep detects stars above 20 sigma in each unperturbed frame, tweakwcs
matches them (no 2D histogram, 2 px tolerance: the header offsets are below
2 px) and fits every frame to the first, ``j8bt06nyq``, with the default
geometry ``rshift``.  The consensus WCSs are the truth; the star catalog of
the field is every star seen in any frame, placed on the sky through its
frame's consensus WCS, duplicates (within 2 px) kept once.

Perturbed copies get a known rotation about CRPIX and a shift of CRVAL; the
truth of a perturbed frame is still its consensus WCS (the SIP and CRPIX are
untouched, so a linear correction reaches it exactly).
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

FRAMES = ("j8bt06nyq", "j8bt06o6q", "j8bt05njq", "j8bt09jcq")


def frame_paths(derived: Path) -> list[Path]:
    return [derived / f"{name}_flt.fits" for name in FRAMES]


def _stars(path: Path, nsigma=20.0):
    import sep

    with fits.open(path) as h:
        data = np.ascontiguousarray(h["SCI"].data, dtype=np.float64)
        dq = h["DQ"].data
    mask = (dq & 2048) > 0
    bkg = sep.Background(data, mask=mask)
    sub = data - bkg
    obj = sep.extract(sub, nsigma, err=bkg.globalrms, mask=mask, minarea=5)
    ok = (obj["flag"] == 0) & (obj["npix"] < 200)
    x, y = obj["x"][ok], obj["y"][ok]
    xw, yw, flag = sep.winpos(sub, x, y, np.full(len(x), 1.0))
    good = flag == 0
    return np.column_stack([xw[good], yw[good]]), obj["flux"][ok][good]


def _header_wcs(path: Path) -> WCS:
    with fits.open(path) as h:
        return WCS(h["SCI"].header, h)


@lru_cache(maxsize=2)
def consensus(derived: Path):
    """(consensus WCS per frame, star catalog Table RA/DEC/flux)."""
    from tweakwcs import align_wcs
    from tweakwcs.correctors import FITSWCSCorrector
    from tweakwcs.matchutils import XYXYMatch

    paths = frame_paths(Path(derived))
    stars = [_stars(p) for p in paths]
    corr = []
    for p, (xy, flux) in zip(paths, stars):
        cat = Table({"x": xy[:, 0], "y": xy[:, 1]})
        corr.append(FITSWCSCorrector(_header_wcs(p), meta={"catalog": cat, "name": p.name, "group_id": p.name}))
    align_wcs(corr, enforce_user_order=True, expand_refcat=False, fitgeom="rshift", nclip=3, sigma=(3.0, "rmse"),
              match=XYXYMatch(searchrad=4.0, separation=4.0, tolerance=2.0, use2dhist=False))
    for c in corr[1:]:
        assert c.meta["fit_info"]["status"] == "SUCCESS", c.meta["fit_info"]["status"]
    wcss = [c.wcs for c in corr]
    ra, dec, flux = [], [], []
    kept = np.zeros((0, 3))
    for w, (xy, fl) in zip(wcss, stars):
        r, d = w.all_pix2world(xy[:, 0], xy[:, 1], 0)
        v = _unit(r, d)
        if len(kept):
            from scipy.spatial import cKDTree

            dist, _ = cKDTree(kept).query(v)
            new = dist > np.radians(2 * 0.025 / 3600)
        else:
            new = np.ones(len(r), bool)
        kept = np.concatenate([kept, v[new]])
        ra.append(r[new]), dec.append(d[new]), flux.append(fl[new])
    cat = Table({"RA": np.concatenate(ra), "DEC": np.concatenate(dec), "flux": np.concatenate(flux)})
    return wcss, cat


def _unit(ra, dec):
    r, d = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def perturb(src: Path, dst: Path, shift_arcsec=(0.0, 0.0), rot_deg=0.0) -> None:
    """Copy ``src`` to ``dst`` with its SCI WCS rotated by ``rot_deg`` about CRPIX and CRVAL moved."""
    shutil.copyfile(src, dst)
    with fits.open(dst, mode="update") as h:
        hd = h["SCI"].header
        cd = np.array([[hd["CD1_1"], hd["CD1_2"]], [hd["CD2_1"], hd["CD2_2"]]])
        t = np.radians(rot_deg)
        r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        cd = r @ cd
        for (i, j), v in np.ndenumerate(cd):
            hd[f"CD{i + 1}_{j + 1}"] = v
        hd["CRVAL1"] += shift_arcsec[0] / 3600.0 / np.cos(np.radians(hd["CRVAL2"]))
        hd["CRVAL2"] += shift_arcsec[1] / 3600.0


def wcs_error_mas(wcs, truth, shape=(1024, 1024), n=9) -> float:
    """RMS (mas) over an n×n grid of the chip of the sky distance between ``wcs`` and ``truth``."""
    yy, xx = np.mgrid[0:shape[0] - 1:n * 1j, 0:shape[1] - 1:n * 1j]
    a = _unit(*wcs.all_pix2world(xx.ravel(), yy.ravel(), 0))
    b = _unit(*truth.all_pix2world(xx.ravel(), yy.ravel(), 0))
    d = np.degrees(2 * np.arcsin(np.linalg.norm(a - b, axis=1) / 2)) * 3.6e6
    return float(np.sqrt(np.mean(d ** 2)))


def write_catalog(cat: Table, path: Path) -> Path:
    cat.write(path, format="ascii.ecsv", overwrite=True)
    return path


# injected errors: (shift arcsec, rotation deg) per frame, within the bounds
PERTURBATIONS = (((0.31, -0.42), 0.012), ((-0.55, 0.18), -0.018), ((0.22, 0.58), 0.02), ((-0.4, -0.35), -0.009))
