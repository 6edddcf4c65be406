"""Whole visit: the anchor path against ``tweakgui align`` with its defaults, same files, same run.

Builds (once) a synthetic visit of N 2048x2048 HST-like images (stars,
galaxies, cosmic rays, a NaN column, DQ flags) with known true WCS, then
runs, alternating, R times each, as separate processes:

(a) ``anchor_tweakreg.py``: jwst's recipe (Background2D + DAOStarFinder,
    relative + absolute ``tweakwcs.align_wcs``, radii in pixels);
(b) ``tweakgui align @images.lst --abs_refcat refcat.ecsv`` (defaults).

Reports wall time, CPU time and peak RSS (sum over the process tree, sampled
every 20 ms) of each, their ratios, and the RMS WCS error of every image
against the truth (mas).  Results go to ``results/visit_<N>.json``.

Usage: python benchmarks/bench_visit.py [--n 8] [--repeat 2]
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import _common as C
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

HERE = Path(__file__).resolve().parent


def run_anchor(d: Path, work: Path) -> dict:
    out = work / "anchor.json"
    m = C.run_measured([C.PY, str(HERE / "anchor_tweakreg.py"), str(d / "images.lst"), str(d / "refcat.ecsv"),
                        str(out)])
    res = json.loads(out.read_text())
    wcs = {k: WCS(fits.Header.fromstring(v["header"])) for k, v in res.items()}
    m["errors_mas"] = C.errors_mas(wcs, d)
    m["failed"] = [k for k, v in res.items() if v["status"] != "SUCCESS"]
    return m


def run_tweakgui(d: Path, work: Path, extra=()) -> dict:
    out = work / "tg"
    shutil.rmtree(out, ignore_errors=True)
    m = C.run_measured([C.PY, "-m", "tweakgui", "align", f"@{d / 'images.lst'}", "--abs_refcat",
                        str(d / "refcat.ecsv"), "--output_dir", str(out), "--quiet", *extra])
    m["errors_mas"] = C.errors_mas(C.tweakgui_output_wcs(out, d), d)
    report = json.loads((out / "tweakreg_report.json").read_text())
    m["failed"] = [im["input"] for im in report["images"] if im["status"] == "FAILED"]
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    d = C.visit(args.n, (args.size, args.size))
    runs = {"anchor": [], "tweakgui": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in range(args.repeat):
            runs["anchor"].append(run_anchor(d, work))
            runs["tweakgui"].append(run_tweakgui(d, work))
            print(f"round {r + 1}: anchor {runs['anchor'][-1]['wall_s']:.1f} s, "
                  f"tweakgui {runs['tweakgui'][-1]['wall_s']:.1f} s", flush=True)
    summary = {}
    for k, ms in runs.items():
        errs = ms[-1]["errors_mas"]
        summary[k] = {
            "wall_s": float(np.median([m["wall_s"] for m in ms])),
            "cpu_s": float(np.median([m["cpu_s"] for m in ms])),
            "peak_rss_tree_mb": float(max(m["peak_rss_tree_mb"] for m in ms)),
            "failed": ms[-1]["failed"],
            **C.summary(errs),
        }
    summary["wall_ratio"] = summary["anchor"]["wall_s"] / summary["tweakgui"]["wall_s"]
    summary["cpu_ratio"] = summary["anchor"]["cpu_s"] / summary["tweakgui"]["cpu_s"]
    for ms in runs.values():
        for m in ms:
            m.pop("output", None)
    p = C.save(f"visit_{args.n}x{args.size}", {"machine": C.machine(), "summary": summary, "runs": runs})
    a, t = summary["anchor"], summary["tweakgui"]
    print(f"| {args.n} x {args.size}² | anchor | {a['wall_s']:.1f} s | {a['cpu_s']:.1f} s | "
          f"{a['peak_rss_tree_mb']:.0f} MB | {a['median_mas']:.2f} / {a['max_mas']:.2f} mas |")
    print(f"| | tweakgui | {t['wall_s']:.1f} s | {t['cpu_s']:.1f} s | {t['peak_rss_tree_mb']:.0f} MB | "
          f"{t['median_mas']:.2f} / {t['max_mas']:.2f} mas |")
    print(f"speed-up: wall {summary['wall_ratio']:.2f}x, CPU {summary['cpu_ratio']:.2f}x  ({p})")


if __name__ == "__main__":
    main()
