"""Visits whose answer is known, for the reference-catalog tests: catalogs rendered from true WCSs.

A Gaia-like catalog (``ra``, ``dec`` at ``ref_epoch`` 2016.0, ``pmra``,
``pmdec``, their errors, ``ra_error``, ``dec_error``, ``phot_g_mean_mag``)
describes a field of stars; each exposure has a true TAN-SIP WCS, a header WCS
off by a known shift and rotation, an observation date, and a custom catalog:
the stars' pixel positions at that date through the true WCS (moved with
astropy's ``apply_space_motion``, an implementation independent of
tweakgui's), plus centroid noise with its ``x_err``, ``y_err``.

No pixels are rendered: the images are blank and the catalogs are the
detections, so a fit's error against the true WCS is the alignment's alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _gaia_service import space_motion
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from tweakgui.engine.outputs.headerlet import wcs_header
from tweakgui.engine.synthetic import make_sip_wcs, perturb_wcs

SHAPE = (1024, 1024)
SCALE = 0.04  # arcsec per pixel
CENTRE = (210.0, -45.0)


@dataclass
class PMVisit:
    paths: list[Path]
    refcat: Path
    catfile: Path
    catalog: Table  # the Gaia-like table as written
    truth: dict = field(default_factory=dict)  # file name -> true WCS
    epochs: dict = field(default_factory=dict)  # file name -> Julian year of the observation


def gaia_like(rng, n=400, mean_pm=(40.0, -25.0), pm_spread=8.0, no_pm=0.1, half_arcsec=30.0,
              pos_error=(0.05, 1.0), pm_error=(0.03, 0.8)) -> Table:
    """A field of ``n`` stars around CENTRE with a common motion plus a spread (mas/yr)."""
    cosd = np.cos(np.radians(CENTRE[1]))
    ra = CENTRE[0] + rng.uniform(-half_arcsec, half_arcsec, n) / 3600 / cosd
    dec = CENTRE[1] + rng.uniform(-half_arcsec, half_arcsec, n) / 3600
    mag = rng.uniform(16.0, 21.0, n)
    t = Table({"source_id": np.arange(1, n + 1, dtype=np.int64), "ra": ra, "dec": dec,
               "ref_epoch": np.full(n, 2016.0),
               "pmra": mean_pm[0] + rng.normal(0, pm_spread, n), "pmdec": mean_pm[1] + rng.normal(0, pm_spread, n),
               "ra_error": rng.uniform(*pos_error, n), "dec_error": rng.uniform(*pos_error, n),
               "pmra_error": rng.uniform(*pm_error, n), "pmdec_error": rng.uniform(*pm_error, n),
               "phot_g_mean_mag": mag})
    for c in ("ra_error", "dec_error"):
        t[c].unit = "mas"
    for c in ("pmra", "pmdec", "pmra_error", "pmdec_error"):
        t[c].unit = "mas / yr"
    t["true_pmra"], t["true_pmdec"] = t["pmra"], t["pmdec"]  # not written to the catalog file
    if no_pm:
        gone = rng.random(n) < no_pm  # two-parameter sources: the catalog does not know their motion
        t["pmra"] = np.ma.masked_array(t["pmra"], mask=gone)
        t["pmdec"] = np.ma.masked_array(t["pmdec"], mask=gone)
    return t


def true_positions(cat: Table, epoch: float):
    """Where the stars are at ``epoch`` (Julian year): their true motions, astropy's propagation."""
    return space_motion(np.asarray(cat["ra"], float), np.asarray(cat["dec"], float), np.asarray(cat["true_pmra"]),
                        np.asarray(cat["true_pmdec"]), 2016.0, epoch)


def write_visit(directory, cat: Table, dates, rng, offsets=((0.35, -0.2, 0.01), (-0.25, 0.3, -0.008)),
                centroid_px=0.01, date_keys=("EXPSTART", "DATE-OBS")) -> PMVisit:
    """One blank FITS image per date (ISO strings) with its custom catalog, the catalog and a catfile."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    refcat = directory / "gaia.ecsv"
    cat[[c for c in cat.colnames if not c.startswith("true_")]].write(refcat, overwrite=True)
    paths, truth, epochs, lines = [], {}, {}, []
    for i, (date, (dx, dy, rot)) in enumerate(zip(dates, offsets)):
        t = Time(date, scale="utc")
        epochs_i = float(t.jyear)
        w_true = make_sip_wcs(SHAPE, (CENTRE[0] + 3e-4 * i, CENTRE[1] - 2e-4 * i), SCALE, 30.0)
        w_hdr = perturb_wcs(w_true, dx, dy, rot)
        prim = fits.PrimaryHDU()
        prim.header["TELESCOP"] = "HST"
        key = date_keys[i % len(date_keys)]
        if key == "EXPSTART":
            prim.header["EXPSTART"] = float(t.mjd)
            prim.header["DATE-OBS"] = t.isot[:10]  # a date alone: EXPSTART must win
        else:
            prim.header["DATE-OBS"], prim.header["TIME-OBS"] = t.isot[:10], t.isot[11:19]
        hdr = wcs_header(w_hdr, use_cd=True)
        sci = fits.ImageHDU(np.zeros(SHAPE, np.float32), header=hdr, name="SCI")
        path = directory / f"pm{i + 1:02d}_flt.fits"
        fits.HDUList([prim, sci]).writeto(path, overwrite=True)
        ra, dec = true_positions(cat, epochs_i)
        x, y = w_true.all_world2pix(ra, dec, 0)
        inside = (x > 5) & (x < SHAPE[1] - 6) & (y > 5) & (y < SHAPE[0] - 6)
        n = int(inside.sum())
        src = Table({"x": x[inside] + rng.normal(0, centroid_px, n), "y": y[inside] + rng.normal(0, centroid_px, n),
                     "flux": 10 ** (-0.4 * (np.asarray(cat["phot_g_mean_mag"])[inside] - 30)),
                     "x_err": np.full(n, centroid_px), "y_err": np.full(n, centroid_px)})
        catpath = directory / f"pm{i + 1:02d}_cat.ecsv"
        src.write(catpath, overwrite=True)
        lines.append(f"{path.name} {catpath.name}\n")
        paths.append(path)
        truth[path.name] = w_true
        epochs[path.name] = epochs_i
    catfile = directory / "catfile.txt"
    catfile.write_text("".join(lines))
    return PMVisit(paths, refcat, catfile, cat, truth, epochs)
