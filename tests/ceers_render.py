"""Render NIRCam ``_cal.fits`` images whose correct alignment is CEERS' published one.

CEERS (Bagley et al. 2023) published the tweaked GWCS of each NIRCam image of
their June 2022 epoch, and the HST catalog they aligned to
(``../shared/data/ceers-nircam/``).  Removing the ``v2v3corr`` step of a
published GWCS gives the pipeline's pre-tweak WCS.  This module renders an
image whose sources are the HST reference sources projected through the
*published* WCS, but stores the *pre-tweak* WCS in the file: aligning it to
the HST catalog must give back the published WCS.

The images are JWST ``ImageModel`` files with ``meta.wcsinfo`` from the
published file (its reference angles, FITS SIP and S_REGION describe the
pre-tweak WCS: CEERS' SIP equals ``to_fits_sip`` of the untweaked GWCS), the
observation attributes parsed from the file name (so jwst grouping works)
and an observation date in CEERS' epoch 1.  The sky holds Gaussian sources
(sigma from ``rh``, flux from ``MAG``), Gaussian noise, unflagged cosmic-ray
hits, and DQ-flagged pixels (reference-pixel border, hot pixels and a dead
column with wild values; a few NaNs) that detection must ignore.

Run ``python tests/ceers_render.py OUTDIR`` to render the default visit.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asdf
import gwcs
import numpy as np
from astropy.table import Table

CEERS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ceers-nircam"
WCS_DIR = Path("batch_scripts") / "tweakreg_wcs"
REFCAT = Path("tweakreg") / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv"

# CEERS nircam1 (observation 001), exposure group 02201 = F115W
DEFAULT_EXPOSURES = ("jw01345001001_02201_00001", "jw01345001001_02201_00002",
                     "jw01345001001_02201_00003")
DEFAULT_DETECTORS = ("nrca1", "nrcb1")

# Flux zero point (counts for MAG = ZP) and noise: MAG 25.4 (the catalog median)
# has S/N ~ 30 for a median-sized source, MAG 27.6 is near the detection limit.
ZP = 32.0
NOISE = 1.0
SKY = 0.2
# HST mosaic pixel (rh unit) / NIRCam SW pixel
RH_TO_NIRCAM_PIX = 0.030 / 0.031
SIGMA_MIN = 0.8  # the NIRCam PSF core, pixels

_NAME = re.compile(
    r"jw(?P<program_number>\d{5})(?P<observation_number>\d{3})(?P<visit_number>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<sequence_id>\d)(?P<activity_id>\d{2})"
    r"_(?P<exposure_number>\d{5})_(?P<detector>nrc[ab](?:[1-4]|long))"
)
# CEERS epoch 1 observation 001 date (approximate start time of each exposure)
# CEERS batch_scripts/tweakreg_cfgs/nircam1/f115w.cfg; relative fitgeom was hard-coded to shift.
# The detection settings are tweakgui's sep finder with CEERS' kernel, threshold, box and minarea.
CEERS_F115W = dict(
    starfinder="sep", kernel_fwhm=1.5, snr_threshold=2.5, bkg_boxsize=100, npixels=16,
    minobj=20, searchrad=1.0, separation=0.2, tolerance=0.1, nclip=1, sigma=0.7, fitgeometry="shift",
    abs_minobj=20, abs_searchrad=1.0, abs_separation=0.6, abs_tolerance=0.4, abs_nclip=1,
    abs_sigma=0.6, abs_fitgeometry="rshift", abs_mode="group",
)

# Catalog-level mosaic of CEERS images (tests/engine/fit/test_mosaic.py, benchmarks/): CEERS' own TweakReg
# settings, tight radii for a dense catalog whose pre-tweak errors are below 0.4"
CEERS_MOSAIC = dict(use_custom_catalogs=True, minobj=20, searchrad=1.0, separation=0.1, tolerance=0.05,
                    fitgeometry="shift", nclip=1, sigma=0.7, abs_minobj=15, abs_searchrad=1.0,
                    abs_separation=0.2, abs_tolerance=0.1, abs_fitgeometry="rshift", abs_nclip=1,
                    abs_sigma=0.7, abs_mode="group")
OBS_DATE = "2022-06-21"
_FILTERS = {"02201": ("F115W", "F277W"), "04201": ("F115W", "F277W"),
            "06201": ("F115W", "F356W"), "08201": ("F115W", "F356W"),
            "10201": ("F150W", "F410M"), "12201": ("F150W", "F410M"),
            "14201": ("F200W", "F444W")}


@dataclass
class Rendered:
    """One rendered image and its truth."""

    path: Path
    published_wcs: object  # gwcs.WCS (the truth)
    pretweak_wcs: object  # gwcs.WCS (stored in the file)
    wcsinfo: dict
    nsources: int  # reference sources rendered on the detector
    group_id: str  # jwst group_id from the observation attributes


def untweak(wcs):
    """The published GWCS without its ``v2v3corr`` step (the pre-tweak pipeline WCS)."""
    frames = wcs.available_frames
    if "v2v3corr" not in frames:
        return wcs
    i = frames.index("v2v3corr")
    steps = []
    for k, step in enumerate(wcs.pipeline):
        if k == i - 1:  # v2v3vacorr -> v2v3corr: the correction, dropped
            continue
        frame = wcs.pipeline[i - 1].frame if k == i else step.frame
        steps.append((frame, step.transform))
    out = gwcs.WCS(steps, name=wcs.name)
    out.bounding_box = wcs.bounding_box
    return out


def load_refcat(ceers: Path = CEERS) -> Table:
    """The CEERS HST reference catalog (RA, DEC, MAG, rh)."""
    return Table.read(ceers / REFCAT, format="ascii.ecsv")


def wcs_file(name: str, detector: str, ceers: Path = CEERS) -> Path:
    return ceers / WCS_DIR / f"{name}_{detector}_tweakreg.asdf"


def observation_attrs(name: str) -> dict:
    m = _NAME.search(name)
    if m is None:
        raise ValueError(f"not a CEERS NIRCam name: {name}")
    return m.groupdict()


def grid(shape=(2048, 2048), n=9):
    """A n x n grid of pixel positions over the detector (0-based x, y)."""
    ny, nx = shape
    y, x = np.mgrid[0:ny - 1:complex(n), 0:nx - 1:complex(n)]
    return x.ravel(), y.ravel()


def wcs_distance_mas(w1, w2, shape=(2048, 2048), n=9):
    """Angular distances (mas) between two WCSs over a grid of detector points."""
    x, y = grid(shape, n)
    ra1, dec1 = w1(x, y, with_bounding_box=False)
    ra2, dec2 = w2(x, y, with_bounding_box=False)
    d1, d2 = np.radians(dec1), np.radians(dec2)
    dra = np.radians(ra2 - ra1)
    # haversine: accurate for milliarcsecond separations
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin(dra / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h))) * 3.6e6


def _add_sources(img, x, y, flux, sigma):
    ny, nx = img.shape
    for xi, yi, fi, si in zip(x, y, flux, sigma):
        r = int(np.ceil(4.5 * si)) + 1
        x0, x1 = max(int(xi) - r, 0), min(int(xi) + r + 2, nx)
        y0, y1 = max(int(yi) - r, 0), min(int(yi) + r + 2, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.exp(-0.5 * ((np.arange(x0, x1) - xi) / si) ** 2)
        gy = np.exp(-0.5 * ((np.arange(y0, y1) - yi) / si) ** 2)
        img[y0:y1, x0:x1] += (fi / (2 * np.pi * si * si)) * np.outer(gy, gx)


def render_image(name, detector, out_dir, refcat=None, seed=0, ceers: Path = CEERS,
                 n_cosmic=400, n_hot=300, suffix="cal") -> Rendered:
    """Render ``<name>_<detector>_<suffix>.fits`` into ``out_dir``.

    Parameters
    ----------
    name : str
        CEERS exposure name, e.g. ``"jw01345001001_02201_00001"``.
    detector : str
        ``"nrca1"`` ... ``"nrcb4"`` (SW) or ``"nrcalong"``/``"nrcblong"``.
    out_dir : Path
        Where the file goes.
    refcat : Table, optional
        The HST catalog (read once and pass it in when rendering several).
    seed : int
        Noise seed.
    """
    from stdatamodels.jwst import datamodels
    from stdatamodels.jwst.datamodels import dqflags

    refcat = load_refcat(ceers) if refcat is None else refcat
    with asdf.open(wcs_file(name, detector, ceers), lazy_load=False, memmap=False) as af:
        published = af["wcs"]
        wcsinfo = dict(af["wcsinfo"])
    shape = (2048, 2048)
    published.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    pre = untweak(published)

    # reference sources near the detector, projected through the published WCS
    ra_c, dec_c = published(1023.5, 1023.5)
    near = (np.abs(refcat["DEC"] - dec_c) < 0.06) & (
        np.abs((refcat["RA"] - ra_c) * np.cos(np.radians(dec_c))) < 0.06)
    cat = refcat[near]
    x, y = published.invert(np.asarray(cat["RA"]), np.asarray(cat["DEC"]),
                            with_bounding_box=False)
    inside = np.isfinite(x) & np.isfinite(y) & (x > -10) & (x < shape[1] + 9) & (
        y > -10) & (y < shape[0] + 9)
    x, y, cat = x[inside], y[inside], cat[inside]
    on_chip = int(np.count_nonzero((x >= 0) & (x < shape[1]) & (y >= 0) & (y < shape[0])))
    sigma = np.hypot(np.asarray(cat["rh"]) * RH_TO_NIRCAM_PIX / 1.1774, SIGMA_MIN)
    flux = 10 ** (-0.4 * (np.asarray(cat["MAG"]) - ZP))

    rng = np.random.default_rng(seed)
    img = np.full(shape, SKY, dtype=np.float64)
    _add_sources(img, x, y, flux, sigma)
    img += rng.normal(0.0, NOISE, shape)
    # unflagged cosmic-ray residuals: 1-3 pixel sharp hits
    cy, cx = rng.integers(4, shape[0] - 5, n_cosmic), rng.integers(4, shape[1] - 5, n_cosmic)
    amp = rng.uniform(20, 500, n_cosmic)
    img[cy, cx] += amp
    trail = rng.random(n_cosmic) < 0.5
    img[cy[trail] + 1, cx[trail]] += 0.6 * amp[trail]

    dq = np.zeros(shape, dtype=np.uint32)
    ref = dqflags.pixel["REFERENCE_PIXEL"] | dqflags.pixel["DO_NOT_USE"]
    dq[:4, :] |= ref
    dq[-4:, :] |= ref
    dq[:, :4] |= ref
    dq[:, -4:] |= ref
    hy, hx = rng.integers(0, shape[0], n_hot), rng.integers(0, shape[1], n_hot)
    dq[hy, hx] |= dqflags.pixel["HOT"] | dqflags.pixel["DO_NOT_USE"]
    img[hy, hx] = 5e4
    dead = int(rng.integers(100, shape[1] - 100))
    dq[:, dead] |= dqflags.pixel["DEAD"] | dqflags.pixel["DO_NOT_USE"]
    img[:, dead] = -1e4
    img[dq & dqflags.pixel["REFERENCE_PIXEL"] != 0] = 0.0
    ny_nan = rng.integers(0, shape[0], 20)
    img[ny_nan, rng.integers(0, shape[1], 20)] = np.nan

    obs = observation_attrs(f"{name}_{detector}")
    det = obs.pop("detector")
    model = datamodels.ImageModel(data=img.astype(np.float32), dq=dq,
                                  err=np.full(shape, NOISE, dtype=np.float32))
    model.meta.telescope = "JWST"
    model.meta.filename = f"{name}_{detector}_{suffix}.fits"
    for k, v in obs.items():
        setattr(model.meta.observation, k, v)
    expnum = int(obs["exposure_number"])
    model.meta.observation.date = OBS_DATE
    model.meta.observation.time = f"{6 + expnum // 60:02d}:{(12 * expnum) % 60:02d}:00.000"
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = det.upper()
    sw, lw = _FILTERS.get(obs["visit_group"] + obs["sequence_id"] + obs["activity_id"],
                          ("F115W", "F277W"))
    model.meta.instrument.filter = lw if det.endswith("long") else sw
    model.meta.instrument.pupil = "CLEAR"
    model.meta.instrument.channel = "LONG" if det.endswith("long") else "SHORT"
    model.meta.instrument.module = det[3].upper()
    model.meta.exposure.type = "NRC_IMAGE"
    model.meta.wcs = pre
    # CEERS' wcsinfo (reference angles and FITS SIP) describes the pre-tweak WCS
    # (checked: its SIP equals to_fits_sip of the untweaked GWCS to 1e-13)
    for k, v in wcsinfo.items():
        model.meta.wcsinfo.instance[k] = v.item() if isinstance(v, np.generic) else v
    out = Path(out_dir) / model.meta.filename
    model.save(out)
    model.close()
    gid = (f"jw{obs['program_number']}{obs['observation_number']}{obs['visit_number']}"
           f"_{obs['visit_group']}{obs['sequence_id']}{obs['activity_id']}"
           f"_{obs['exposure_number']}")
    return Rendered(path=out, published_wcs=published, pretweak_wcs=pre,
                    wcsinfo=dict(wcsinfo),
                    nsources=on_chip, group_id=gid)


def render_visit(out_dir, exposures=DEFAULT_EXPOSURES, detectors=DEFAULT_DETECTORS,
                 ceers: Path = CEERS, seed=1) -> list[Rendered]:
    """Render every (exposure, detector) pair; returns them in that order."""
    refcat = load_refcat(ceers)
    out = []
    for i, name in enumerate(exposures):
        for j, det in enumerate(detectors):
            out.append(render_image(name, det, out_dir, refcat=refcat,
                                    seed=seed * 1000 + 10 * i + j, ceers=ceers))
    return out


if __name__ == "__main__":
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    dest.mkdir(parents=True, exist_ok=True)
    for r in render_visit(dest):
        pre = wcs_distance_mas(r.pretweak_wcs, r.published_wcs)
        print(f"{r.path.name}: {r.nsources} sources, pre-tweak offset "
              f"rms {np.sqrt(np.mean(pre ** 2)):.1f} mas")
