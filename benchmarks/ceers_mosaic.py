"""CEERS' 690 NIRCam images as a catalog-level mosaic with a published answer.

For every published tweaked GWCS in ``../shared/data/ceers-nircam`` the HST
reference sources inside the detector are projected through the *published*
WCS (plus 0.03 px of Gaussian noise) into a custom catalog, and the exposure
gets the *pre-tweak* WCS (the published one without its ``v2v3corr`` step).
Aligning these catalogs to the HST catalog must give back the published WCS.

``prepare`` writes the catalogs (FITS tables) and a pickle of the exposures
and their truth once; ``load`` reads them back (much faster than parsing
690 ASDF files, which takes ~0.18 s each: see bench_mosaic.py).

``prepare_files`` writes the same inputs as files a user would have: one
pre-tweak GWCS file per image in CEERS' layout (``{filename, wcs, wcsinfo}``),
its catalog, and an association naming both with one group per image, for
``tweakgui align`` (``bench_mosaic.py --end-to-end``).
"""

from __future__ import annotations

import glob
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
CEERS = REPO.parent / "shared" / "data" / "ceers-nircam"
WCS_GLOB = str(CEERS / "batch_scripts" / "tweakreg_wcs" / "*_tweakreg.asdf")
REFCAT = CEERS / "tweakreg" / "CEERS_EGS_HST_v1.9_cat_radecmag.ecsv"

sys.path.insert(0, str(REPO / "tests"))
from ceers_render import CEERS_MOSAIC as CEERS_PARAMS  # noqa: E402,F401  (bench_mosaic uses it)

from tweakgui.engine.footprint import unit_vectors  # noqa: E402


def files(n: int | None = None, every: int = 1) -> list[str]:
    fs = sorted(glob.glob(WCS_GLOB))[::every]
    return fs[:n] if n else fs


def prepare(out_dir: Path, n: int | None = None, every: int = 1, noise_px: float = 0.03, seed: int = 0) -> Path:
    """Write catalogs and ``visit.pkl`` for the first ``n`` (every ``every``-th) published WCS files."""
    from ceers_render import untweak

    out_dir = Path(out_dir)
    (out_dir / "cats").mkdir(parents=True, exist_ok=True)
    ref = Table.read(REFCAT, format="ascii.ecsv")
    ra, dec = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    tree = cKDTree(unit_vectors(ra, dec))
    rng = np.random.default_rng(seed)
    exposures, truth, nsrc = [], {}, []
    t0 = time.perf_counter()
    for f in files(n, every):
        e, w, x, y = _catalog(f, tree, ra, dec, rng, noise_px)
        chip = e.chips[0]
        cat = out_dir / "cats" / f"{e.root}_cat.fits"
        Table({"x": x, "y": y}).write(cat, overwrite=True)
        chip.catalog_path = cat
        chip.wcs = untweak(w)
        truth[e.name] = w
        nsrc.append(len(x))
        exposures.append(e)
    with open(out_dir / "visit.pkl", "wb") as fh:
        pickle.dump({"exposures": exposures, "truth": truth}, fh)
    print(f"prepared {len(exposures)} exposures in {time.perf_counter() - t0:.0f} s; sources per image "
          f"median {np.median(nsrc):.0f}, min {min(nsrc)}", flush=True)
    return out_dir / "visit.pkl"


def _catalog(f, tree, ra, dec, rng, noise_px):
    """(exposure, published WCS, x, y) of one published WCS file: the HST sources on its detector."""
    from tweakgui.engine.io.jwst import read_wcs_exposure

    e = read_wcs_exposure(f)
    chip = e.chips[0]
    w = chip.wcs
    info = chip.meta["wcsinfo"]
    near = np.asarray(tree.query_ball_point(unit_vectors([info["ra_ref"]], [info["dec_ref"]])[0],
                                            np.radians(4.0 / 60)), int)
    x, y = w.backward_transform(ra[near], dec[near])
    ny, nx = chip.shape
    inside = np.isfinite(x) & np.isfinite(y) & (x > 0) & (x < nx - 1) & (y > 0) & (y < ny - 1)
    x = x[inside] + rng.normal(0, noise_px, inside.sum())
    y = y[inside] + rng.normal(0, noise_px, inside.sum())
    return e, w, x, y


def prepare_files(out_dir: Path, n: int | None = None, noise_px: float = 0.03, seed: int = 0) -> Path:
    """Write ``inputs/<root>_cal.asdf`` (pre-tweak GWCS), ``<root>_cat.fits`` and ``asn.json``.

    The catalogs are those of :func:`prepare` (same selection, noise and
    seed).  The association gives every image its own group (``group_id``)
    and its catalog (``tweakreg_catalog``), as jwst's ASNs do.  Returns the
    association's path; written once (``asn.json`` last).
    """
    import asdf
    import json

    from ceers_render import untweak

    d = Path(out_dir) / "inputs"
    asn = d / "asn.json"
    if asn.is_file():
        return asn
    d.mkdir(parents=True, exist_ok=True)
    ref = Table.read(REFCAT, format="ascii.ecsv")
    ra, dec = np.asarray(ref["RA"], float), np.asarray(ref["DEC"], float)
    tree = cKDTree(unit_vectors(ra, dec))
    rng = np.random.default_rng(seed)
    members = []
    t0 = time.perf_counter()
    for f in files(n):
        e, w, x, y = _catalog(f, tree, ra, dec, rng, noise_px)
        Table({"x": x, "y": y}).write(d / f"{e.root}_cat.fits", overwrite=True)
        tree_out = {"filename": f"{e.root}_cal.fits", "wcs": untweak(w), "wcsinfo": e.chips[0].meta["wcsinfo"]}
        asdf.AsdfFile(tree_out).write_to(d / f"{e.root}_cal.asdf")
        members.append({"expname": f"{e.root}_cal.asdf", "exptype": "science", "group_id": e.root,
                        "tweakreg_catalog": f"{e.root}_cat.fits"})
    asn.write_text(json.dumps({"asn_type": "image3", "asn_id": "ceers", "products": [
        {"name": "ceers_mosaic", "members": members}]}, indent=1))
    print(f"wrote {len(members)} GWCS files and catalogs in {time.perf_counter() - t0:.0f} s", flush=True)
    return asn


def load(pkl: Path):
    """(Visit, truth) from a prepared pickle."""
    from tweakgui.engine.model import Visit

    with open(pkl, "rb") as fh:
        d = pickle.load(fh)
    return Visit(d["exposures"], source=str(pkl)), d["truth"]


def grid_distance_mas(w1, w0, shape=(2048, 2048), n=9) -> float:
    """RMS distance (mas) between two GWCS over an n x n grid of the detector."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny - 1:complex(n), 0:nx - 1:complex(n)]
    ra1, de1 = w1(xx.ravel(), yy.ravel(), with_bounding_box=False)
    ra0, de0 = w0(xx.ravel(), yy.ravel(), with_bounding_box=False)
    d = np.hypot((ra1 - ra0) * np.cos(np.radians(de0)), de1 - de0) * 3.6e6
    return float(np.sqrt(np.mean(d**2)))


def written_wcs_errors(asn: Path, out_dir: Path) -> dict:
    """RMS distance (mas) of every ``<root>_tweakreg.asdf`` in ``out_dir`` from the published WCS."""
    import asdf
    import json

    from tweakgui.engine.io.jwst import jwst_root

    published = {Path(f).name.removesuffix("_tweakreg.asdf"): f for f in files()}
    out = {}
    for m in json.loads(Path(asn).read_text())["products"][0]["members"]:
        root = jwst_root(m["expname"])
        written = Path(out_dir) / f"{root}_tweakreg.asdf"
        if not written.is_file():
            continue
        with asdf.open(written, lazy_load=False, memmap=False) as a, \
                asdf.open(published[root], lazy_load=False, memmap=False) as b:
            out[root] = grid_distance_mas(a["wcs"], b["wcs"])
    return out


def errors_mas(result, truth, n=9) -> dict:
    """RMS distance (mas) between the aligned and the published WCS over an n x n grid, per image."""
    out = {}
    for r in result.images:
        if not r.new_wcs:
            continue
        w1, w0 = r.new_wcs[0], truth[r.exposure.name]
        ny, nx = r.exposure.chips[0].shape
        yy, xx = np.mgrid[0:ny - 1:complex(n), 0:nx - 1:complex(n)]
        ra1, de1 = w1(xx.ravel(), yy.ravel(), with_bounding_box=False)
        ra0, de0 = w0(xx.ravel(), yy.ravel(), with_bounding_box=False)
        d = np.hypot((ra1 - ra0) * np.cos(np.radians(de0)), de1 - de0) * 3.6e6
        out[r.exposure.name] = float(np.sqrt(np.mean(d**2)))
    return out


if __name__ == "__main__":
    prepare(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
