"""Benchmark: a 1-million-row Gaia-like reference catalog (FITS and ECSV) against the rows of the visit.

    python benchmarks/bench_refcat.py [--rows 1000000] [--no-align]

A demo visit (4 images 1024², its ``refcat.ecsv`` holds the true stars) and a
catalog of ``--rows`` random Gaia-like sources spread over 2°×2° around it
(plus the true stars) are written once under ``$TWEAKGUI_BENCH_DIR``. Each case
runs in its own process: ``load_refcat`` alone (wall, CPU, peak RSS of the
process, RSS before the load), then the whole ``tweakgui align``. The anchor is
the same catalog cut to the visit's footprint (a small ECSV file): the cost of
the rows inside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, PY, machine, run_measured, save, visit  # noqa: E402

COLUMNS = ("source_id", "ra", "dec", "ra_error", "dec_error", "pmra", "pmdec", "pmra_error", "pmdec_error",
           "phot_g_mean_mag", "ref_epoch")

LOAD = """
import json, sys, time
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.visit import load_visit
from tweakgui.engine.refcat.load import load_refcat
params = TweakRegParams(abs_refcat=sys.argv[2])
visit = load_visit(["@" + sys.argv[1]], params)
rss0 = int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
t0, c0 = time.perf_counter(), time.process_time()
ref = load_refcat(visit, params)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024  # ru_maxrss keeps the parent's
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak, "rss_before_mb": rss0, "rows": len(ref),
                  "selection": ref.meta["selection"]}))
"""


def gaia_like(n: int, ra0: float, dec0: float, seed: int = 5, side_deg: float = 2.0) -> Table:
    rng = np.random.default_rng(seed)
    t = Table()
    t["source_id"] = np.arange(n, dtype=np.int64) + 10**15
    t["ra"] = ra0 + rng.uniform(-side_deg / 2, side_deg / 2, n) / np.cos(np.radians(dec0))
    t["dec"] = dec0 + rng.uniform(-side_deg / 2, side_deg / 2, n)
    t["ra_error"] = rng.uniform(0.02, 1.0, n)
    t["dec_error"] = rng.uniform(0.02, 1.0, n)
    t["pmra"] = rng.normal(0, 5, n)
    t["pmdec"] = rng.normal(0, 5, n)
    t["pmra_error"] = rng.uniform(0.02, 1.0, n)
    t["pmdec_error"] = rng.uniform(0.02, 1.0, n)
    t["phot_g_mean_mag"] = rng.uniform(19.0, 21.0, n)
    t["ref_epoch"] = np.full(n, 2016.0)
    for c, u in (("ra", "deg"), ("dec", "deg"), ("ra_error", "mas"), ("dec_error", "mas"), ("pmra", "mas / yr"),
                 ("pmdec", "mas / yr"), ("pmra_error", "mas / yr"), ("pmdec_error", "mas / yr"),
                 ("phot_g_mean_mag", "mag"), ("ref_epoch", "yr")):
        t[c].unit = u
    return t


def with_true_stars(t: Table, d: Path) -> Table:
    true = Table.read(d / "refcat.ecsv")
    s = Table({c: np.zeros(len(true), t[c].dtype) for c in COLUMNS})
    s["source_id"] = np.arange(len(true)) + 1
    s["ra"], s["dec"], s["phot_g_mean_mag"] = true["RA"], true["DEC"], true["mag"]
    for c in ("ra_error", "dec_error", "pmra_error", "pmdec_error"):
        s[c] = 0.05
    s["ref_epoch"] = 2016.0
    out = vstack([t, s])
    for c in COLUMNS:
        out[c].unit = t[c].unit
    return out


def catalogs(rows: int) -> tuple[Path, dict]:
    """The visit and its catalogs: 1M FITS, 1M ECSV and the anchor (rows inside the footprint) as ECSV."""
    d = visit(4, (1024, 1024), seed=11)
    files = {"fits": BENCH_DIR / f"gaia_{rows}.fits", "ecsv": BENCH_DIR / f"gaia_{rows}.ecsv",
             "anchor": BENCH_DIR / f"gaia_{rows}_footprint.ecsv"}
    if all(p.is_file() for p in files.values()):
        return d, files
    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.refcat.gaia import footprint_search_params
    from tweakgui.engine.visit import load_visit

    v = load_visit([f"@{d / 'images.lst'}"], TweakRegParams())
    ra0, dec0, radius = footprint_search_params(v.exposures)
    t = with_true_stars(gaia_like(rows, ra0, dec0), d)
    t.write(files["fits"], overwrite=True)
    t.write(files["ecsv"], overwrite=True)
    sep = np.degrees(np.arccos(np.clip(
        np.sin(np.radians(dec0)) * np.sin(np.radians(t["dec"])) + np.cos(np.radians(dec0))
        * np.cos(np.radians(t["dec"])) * np.cos(np.radians(t["ra"] - ra0)), -1, 1)))
    t[sep <= radius].write(files["anchor"], overwrite=True)
    return d, files


def measure(d: Path, files: dict, align: bool) -> dict:
    env = dict(os.environ)
    out = {}
    for case, path in files.items():
        r = run_measured([PY, "-c", LOAD, str(d / "images.lst"), str(path)], env=env)
        load = json.loads(r["output"].strip().splitlines()[-1])
        load["file_mb"] = path.stat().st_size / 2**20
        out[case] = {"load_refcat": load}
        if align:
            res = run_measured([PY, "-m", "tweakgui", "align", f"@{d / 'images.lst'}", "--abs_refcat", str(path),
                                "--output_dir", str(BENCH_DIR / f"out_refcat_{case}")], env=env)
            res.pop("output")
            out[case]["align"] = res
        print(case, json.dumps(out[case]), flush=True)
    for case in ("fits", "ecsv"):
        for step in out[case]:
            a, b = out["anchor"][step], out[case][step]
            out[case][step]["ratio_to_anchor"] = {k: b[k] / a[k] for k in b
                                                  if k.endswith(("_s", "_mb")) and k in a and a[k]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-align", action="store_true")
    ap.add_argument("--name", default="refcat_1m")
    args = ap.parse_args(argv)
    d, files = catalogs(args.rows)
    res = measure(d, files, not args.no_align)
    p = save(args.name, {"machine": machine(), "rows": args.rows, "cases": res})
    print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
