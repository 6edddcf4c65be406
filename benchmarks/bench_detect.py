"""Detection of one 2048x2048 frame: each finder of tweakgui against the anchor's photutils recipe.

Times (CPU of this process and wall, median of R repeats after one warm-up)
of reading the frame and ``detect_sources`` with ``starfinder`` = sep, iraf (the default), dao,
and of the anchor recipe (``Background2D`` + ``DAOStarFinder``, see
anchor_tweakreg.py), on the first image of the benchmark visit.  Also the
centroid RMS of each finder against the positions of isolated stars in the
reference catalog (px; that catalog carries 1 mas = 0.025 px of noise), and the mesh background of tweakgui against ``Background2D`` (sigma).

Usage: python benchmarks/bench_detect.py [--repeat 5]
"""

import argparse
import time
import warnings

import _common as C
import numpy as np
from anchor_tweakreg import catalog as anchor_catalog
from scipy.spatial import cKDTree

from tweakgui.engine.detect import finders as detect
from tweakgui.engine.io.inputs import read_pixels
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.detect.chip import detect_chip
from tweakgui.engine.visit import load_visit


def timed(fn, repeat):
    fn()
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return float(np.median(cpu)), float(np.median(wall)), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    d = C.visit(8)
    truth, shape = C.truth_of(d)
    path = d / "demo01_flt.fits"
    exp = load_visit([str(path)], TweakRegParams()).exposures[0]
    data, mask = read_pixels(exp, exp.chips[0])
    # true star positions: the reference catalog through the true WCS
    from astropy.table import Table

    ref = Table.read(d / "refcat.ecsv")
    tx, ty = truth[path.name][0].all_world2pix(ref["RA"], ref["DEC"], 0)
    inside = (tx > 10) & (tx < shape[1] - 10) & (ty > 10) & (ty < shape[0] - 10)
    txy = np.column_stack([tx[inside], ty[inside]])
    d_nn, _ = cKDTree(txy).query(txy, k=2)
    isolated = txy[d_nn[:, 1] > 12]  # no other star within 12 px
    rows = {}
    for finder in ("sep", "iraf", "dao"):
        p = TweakRegParams(starfinder=finder)
        # read + detect, as the anchor's timing includes reading the file
        cpu, wall, cat = timed(lambda p=p: detect_chip(exp, exp.chips[0], p), args.repeat)
        rows[finder] = (cpu, wall, cat)
    cpu, wall, (acat, _) = timed(lambda: anchor_catalog(path), args.repeat)
    rows["anchor (Background2D + DAOStarFinder)"] = (cpu, wall, acat)
    bad = mask | ~np.isfinite(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b1, r1 = detect.estimate_background(data, bad, 400)
    b2, r2 = detect.mesh_background(data, bad, 400)
    bkg_diff = float(np.max(np.abs(b1 - b2)[~bad]) / np.median(r1))
    result = {"machine": C.machine(), "background_max_diff_sigma": bkg_diff, "finders": {}}
    print("| finder | CPU s | wall s | sources | centroid RMS (isolated stars, px) |")
    print("|---|---|---|---|---|")
    for name, (cpu, wall, cat) in rows.items():
        xy = np.column_stack([np.asarray(cat["x"], float), np.asarray(cat["y"], float)])
        dist, j = cKDTree(xy).query(isolated, distance_upper_bound=1.0)
        ok = np.isfinite(dist)
        rms = float(np.sqrt(np.mean(dist[ok] ** 2))) if ok.any() else float("nan")
        result["finders"][name] = {"cpu_s": cpu, "wall_s": wall, "n": len(cat), "centroid_rms_px": rms,
                                   "n_isolated_matched": int(ok.sum())}
        print(f"| {name} | {cpu:.3f} | {wall:.3f} | {len(cat)} | {rms:.4f} ({ok.sum()} stars) |")
    print(f"mesh background vs Background2D: max |diff| {bkg_diff:.3f} sigma")
    C.save("detect_2048", result)


if __name__ == "__main__":
    main()
