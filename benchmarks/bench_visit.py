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

With ``--baseline DIR`` (another checkout of tweakgui, e.g. ``git archive`` of
an older commit), that tree's ``tweakgui align`` runs too, in the same rounds:
before/after figures measured under the same load.

Usage: python benchmarks/bench_visit.py [--n 8] [--repeat 2] [--baseline DIR]
"""

import argparse
import json
import os
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


def run_tweakgui(d: Path, work: Path, extra=(), tree: Path | None = None) -> dict:
    """``tweakgui align`` of this checkout, or of ``tree`` (run from there, on its own path)."""
    out = work / "tg"
    shutil.rmtree(out, ignore_errors=True)
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    m = C.run_measured([C.PY, "-m", "tweakgui", "align", f"@{d / 'images.lst'}", "--abs_refcat",
                        str(d / "refcat.ecsv"), "--output_dir", str(out), "--quiet", *extra],
                       cwd=tree, env=env)
    m["errors_mas"] = C.errors_mas(C.tweakgui_output_wcs(out, d), d)
    report = json.loads((out / "tweakreg_report.json").read_text())
    m["failed"] = [im["input"] for im in report["images"] if im["status"] == "FAILED"]
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="another tweakgui checkout, run in the same rounds")
    args = ap.parse_args()
    d = C.visit(args.n, (args.size, args.size))
    runs = {"anchor": [], "tweakgui": []}
    if args.baseline:
        runs["baseline"] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in range(args.repeat):
            runs["anchor"].append(run_anchor(d, work))
            runs["tweakgui"].append(run_tweakgui(d, work))
            if args.baseline:
                runs["baseline"].append(run_tweakgui(d, work, tree=args.baseline.resolve()))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items()),
                  flush=True)
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
    # tweakgui's time as a fraction of the anchor's, round by round (issue #15: <= 0.10)
    summary["fraction_of_anchor_per_round"] = [t["wall_s"] / a["wall_s"] for a, t in
                                               zip(runs["anchor"], runs["tweakgui"])]
    if args.baseline:
        summary["baseline_fraction_of_anchor_per_round"] = [b["wall_s"] / a["wall_s"] for a, b in
                                                            zip(runs["anchor"], runs["baseline"])]
        summary["baseline_tree"] = str(args.baseline)
    for ms in runs.values():
        for m in ms:
            m.pop("output", None)
    p = C.save(f"visit_{args.n}x{args.size}", {"machine": C.machine(), "summary": summary, "runs": runs})
    a, t = summary["anchor"], summary["tweakgui"]
    print(f"| {args.n} x {args.size}² | anchor | {a['wall_s']:.1f} s | {a['cpu_s']:.1f} s | "
          f"{a['peak_rss_tree_mb']:.0f} MB | {a['median_mas']:.2f} / {a['max_mas']:.2f} mas |")
    print(f"| | tweakgui | {t['wall_s']:.1f} s | {t['cpu_s']:.1f} s | {t['peak_rss_tree_mb']:.0f} MB | "
          f"{t['median_mas']:.2f} / {t['max_mas']:.2f} mas |")
    if args.baseline:
        b = summary["baseline"]
        print(f"| | baseline | {b['wall_s']:.1f} s | {b['cpu_s']:.1f} s | {b['peak_rss_tree_mb']:.0f} MB | "
              f"{b['median_mas']:.2f} / {b['max_mas']:.2f} mas |")
    print(f"speed-up: wall {summary['wall_ratio']:.2f}x, CPU {summary['cpu_ratio']:.2f}x; fraction of the anchor "
          f"per round {', '.join(f'{f:.3f}' for f in summary['fraction_of_anchor_per_round'])}  ({p})")


if __name__ == "__main__":
    main()
