"""The anchor path: jwst's tweakreg recipe with photutils and tweakwcs, on HST-like FITS files.

Per image, as ``jwst.tweakreg.tweakreg_catalog.make_tweakreg_catalog`` does with
TweakRegStep's defaults: ``Background2D`` (box 400, 3x3 filter, 3-sigma
clipping, median), threshold = median of 10 x background RMS,
``DAOStarFinder`` (FWHM 2.5, sigma_radius 1.5, min_separation 2, sharpness
0.5..2, roundness 0..0.2, 200 brightest) on the background-subtracted image.
Then ``stcal.tweakreg``'s two steps with TweakRegStep's defaults: relative
``align_wcs`` (one group per image, rshift, searchrad 2", separation 1",
tolerance 0.7", 2D histogram, nclip 3, sigma 3) and absolute ``align_wcs`` of
all images as one group to the reference catalog (searchrad 6").  For FITS
WCS correctors tweakwcs' tangent plane is in pixels: the radii are given in
pixels (arcsec / pixel scale), the one thing jwst need not do.

Usage: python anchor_tweakreg.py LIST REFCAT OUT.json [ABS_SEPARATION]

(``ABS_SEPARATION``, default TweakRegStep's 1", only to show why the anchor's
visit-wide absolute fit is inaccurate: see README.md.)
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import SigmaClip
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, FITSFixedWarning
from photutils import use_future_column_names
from photutils.background import Background2D, MedianBackground
from photutils.detection import DAOStarFinder
from tweakwcs import align_wcs
from tweakwcs.correctors import FITSWCSCorrector
from tweakwcs.matchutils import XYXYMatch

BAD_DQ = 4 | 16 | 32 | 256 | 512 | 4096 | 8192  # the same HST flags tweakgui masks


def catalog(path):
    with fits.open(path) as h, warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        data = np.asarray(h["SCI"].data, dtype=np.float32)
        dq = h["DQ"].data
        wcs = WCS(h["SCI"].header, h)
    coverage = ((dq & BAD_DQ) != 0) | ~np.isfinite(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        kw = dict(filter_size=(3, 3), coverage_mask=coverage, sigma_clip=SigmaClip(sigma=3.0),
                  bkg_estimator=MedianBackground())
        try:
            bkg = Background2D(data, (400, 400), **kw)
        except ValueError:
            bkg = Background2D(data, data.shape, exclude_percentile=100.0, **kw)
        threshold_img = 10.0 * bkg.background_rms
        sub = data - bkg.background
    finder = DAOStarFinder(float(np.median(threshold_img)), 2.5, sigma_radius=1.5, min_separation=2,
                           sharpness_range=(0.5, 2.0), roundness_range=(0.0, 0.2), n_brightest=200)
    with warnings.catch_warnings(), use_future_column_names():
        warnings.simplefilter("ignore")
        src = finder(sub, mask=coverage)
    cat = Table({"x": np.asarray(src["x_centroid"]), "y": np.asarray(src["y_centroid"])})
    return cat, wcs


def main(list_file, refcat_file, out_file, abs_separation="1.0"):
    lst = Path(list_file)
    names = [n.strip() for n in lst.read_text().splitlines() if n.strip()]
    correctors = []
    for name in names:
        cat, wcs = catalog(lst.parent / name)
        correctors.append(FITSWCSCorrector(wcs, meta={"catalog": cat, "name": name, "group_id": name}))
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(correctors[0].wcs.celestial))) * 3600.0  # arcsec/px
    align_wcs(correctors, refcat=None, enforce_user_order=False, expand_refcat=False, minobj=15,
              match=XYXYMatch(searchrad=2.0 / scale, separation=1.0 / scale, use2dhist=True,
                              tolerance=0.7 / scale),
              fitgeom="rshift", nclip=3, sigma=(3.0, "rmse"))
    ref = Table.read(refcat_file)
    refcat = Table({"RA": np.asarray(ref["RA"], float), "DEC": np.asarray(ref["DEC"], float)})
    for c in correctors:
        c.meta["group_id"] = 987654
        if "REFERENCE" in c.meta.get("fit_info", {}).get("status", ""):
            del c.meta["fit_info"]
    align_wcs(correctors, refcat=refcat, enforce_user_order=True, expand_refcat=False, minobj=15,
              match=XYXYMatch(searchrad=6.0 / scale, separation=float(abs_separation) / scale, use2dhist=True,
                              tolerance=0.7 / scale),
              fitgeom="rshift", nclip=3, sigma=(3.0, "rmse"))
    out = {c.meta["name"]: {"header": c.wcs.to_header(relax=True).tostring(),
                            "status": c.meta.get("fit_info", {}).get("status"),
                            "nsources": len(c.meta["catalog"])} for c in correctors}
    Path(out_file).write_text(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:5])
