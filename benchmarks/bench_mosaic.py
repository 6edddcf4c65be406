"""690-image catalog-level alignment: CEERS' NIRCam mosaic against the HST catalog.

Catalogs are the HST reference sources projected through CEERS' *published*
WCS (+0.03 px noise), the images carry the *pre-tweak* WCS (see
ceers_mosaic.py).  One group per image (CEERS tweaked each detector), CEERS'
own TweakReg settings, ``abs_mode='group'``; ``pipeline.run`` does the
relative then the absolute alignment.  Reports wall and CPU time (this
process and its workers), the time to read the 690 GWCS files, and the RMS
distance of every aligned WCS from the published one (mas).

``--baseline K`` also times tweakwcs' own ``align_wcs`` (one call, every
group, the whole reference catalog: what tweakgui did before) on the first K
images, to show its growth.

``--end-to-end`` starts from files instead: the pre-tweak GWCS files, their
catalogs and an association (one group per image) written once by
``ceers_mosaic.prepare_files``; it times the ``tweakgui align`` command
(its own process: start-up, reading, both fits, the WCS files and the report
written), splits its wall time by the timestamps of its log, and measures
every written ``<root>_tweakreg.asdf`` against the published WCS.  With
``--profile`` one more run of this checkout goes under py-spy
(``benchmarks/_spy.py``).  With
``--other DIR`` (another checkout, e.g. ``git archive`` of an older commit)
both run in every round, alternating.  Results go under ``--label`` into
``results/mosaic_end_to_end.json``.

Usage: python benchmarks/bench_mosaic.py [--n 690] [--baseline 30]
       python benchmarks/bench_mosaic.py --end-to-end [--n 690] [--repeat 2] [--other DIR] [--profile]
                                         [--label NAME]
"""

import argparse
import json
import os
import resource
import shutil
import time
from datetime import datetime
from pathlib import Path

import _common as C
import ceers_mosaic as M
import numpy as np

from tweakgui.engine import pipeline
from tweakgui.engine.model import Visit
from tweakgui.engine.params.spec import TweakRegParams


def cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def baseline(visit, truth, k):
    """tweakwcs.align_wcs on all groups at once with the whole catalog (absolute only)."""
    from astropy.table import Table
    from tweakwcs import align_wcs
    from tweakwcs.matchutils import XYXYMatch

    from tweakgui.engine.detect import custom
    from tweakgui.engine.fit import align
    from tweakgui.engine.refcat import files as refcat_files

    ref = refcat_files.read_refcat(M.REFCAT)
    refcat = Table({"RA": np.asarray(ref["RA"], float), "DEC": np.asarray(ref["DEC"], float)})
    cs = []
    for e in visit.exposures[:k]:
        cat = custom.read_custom_catalog(e.chips[0].catalog_path)
        c = align.make_corrector(e.chips[0].wcs, e, e.chips[0].meta, cat, e.name)
        c.meta["group_id"] = e.name
        cs.append(c)
    t0 = time.perf_counter()
    align_wcs(cs, refcat=refcat, enforce_user_order=True, expand_refcat=False, minobj=15,
              match=XYXYMatch(searchrad=1.0, separation=0.2, tolerance=0.1), fitgeom="rshift", nclip=1,
              sigma=(0.7, "rmse"))
    return time.perf_counter() - t0


def align_command(asn: Path, out: Path, jobs=None) -> list[str]:
    """``tweakgui align`` on the association with CEERS' parameters, the log in ``out.log``."""
    cmd = [C.PY, "-m", "tweakgui", "align", str(asn), "--output_dir", str(out), "--quiet",
           "--log", str(out) + ".log", "--abs_refcat", str(M.REFCAT)]
    for k, v in M.CEERS_PARAMS.items():
        cmd += [f"--{k}", str(v).lower() if isinstance(v, bool) else str(v)]
    return cmd + ([] if jobs is None else ["--jobs", str(jobs)])


def _log_times(log: Path, start: float) -> dict:
    """Wall time of the command's steps, from its log's timestamps (s since the command started)."""
    def when(line):
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - start

    lines = log.read_text().splitlines()
    first = next(x for x in lines if "detect.visit" in x)  # catalogs in hand: inputs read
    fitted = next(x for x in lines if "engine.pipeline" in x)  # the first image's verdict
    saved = [x for x in lines if "outputs.save" in x][-1]
    return {"start_and_read_s": when(first), "fit_s": when(fitted) - when(first),
            "write_s": when(saved) - when(fitted), "end_s": when(saved)}


def _timed_run(asn: Path, out: Path, jobs, tree: Path) -> dict:
    """One ``tweakgui align`` of ``tree``'s code: wall, CPU of the process tree, its steps' wall."""
    shutil.rmtree(out, ignore_errors=True)
    Path(str(out) + ".log").unlink(missing_ok=True)  # --log appends
    start = time.time()
    # from the checkout itself: ``python -m`` imports from the working directory before PYTHONPATH
    r = C.run_measured(align_command(asn, out, jobs), cwd=str(tree), env={**os.environ, "PYTHONPATH": str(tree)})
    r.pop("output")
    r.update(_log_times(Path(str(out) + ".log"), start))
    r["load_avg_1m"] = os.getloadavg()[0]
    return r


def _summary(runs: list, asn: Path, out: Path) -> dict:
    v = np.array(list(M.written_wcs_errors(asn, out).values()))
    return {"runs": runs, "wall_median_s": float(np.median([r["wall_s"] for r in runs])),
            "cpu_tree_median_s": float(np.median([r["cpu_tree_s"] for r in runs])), "n_written": len(v),
            "error_median_mas": float(np.median(v)), "error_p95_mas": float(np.percentile(v, 95)),
            "error_max_mas": float(v.max())}


def end_to_end(args) -> None:
    """Time ``tweakgui align`` from the files on disk; accuracy of the WCS files it wrote.

    With ``--other DIR`` (another checkout) both run in every round, in
    alternating order, and the per-round ratios are kept.
    """
    d = C.BENCH_DIR / f"ceers_e2e_{args.n}"
    asn = M.prepare_files(d, n=args.n)
    trees = {"this": M.REPO}
    if args.other:
        trees["other"] = args.other.resolve()
    runs = {name: [] for name in trees}
    for i in range(args.repeat):
        for name in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
            runs[name].append(_timed_run(asn, d / f"out_{name}", args.jobs, trees[name]))
            print(name, json.dumps({k: round(v, 1) for k, v in runs[name][-1].items()}), flush=True)
    res = {"machine": C.machine(), "n_images": args.n}
    for name, tree in trees.items():
        res[name] = {"tree": str(tree), **_summary(runs[name], asn, d / f"out_{name}")}
        if args.profile and name == "this":
            import _spy

            raw = str(d / f"spy_{name}.txt")
            _spy.record(align_command(asn, d / f"out_spy_{name}", args.jobs), raw,
                        cwd=str(tree), env={**os.environ, "PYTHONPATH": str(tree)})
            res[name]["profile_cpu_s"] = _spy.phases(raw)
    if args.other:
        res["wall_ratio_per_round"] = [a["wall_s"] / b["wall_s"] for a, b in zip(runs["this"], runs["other"])]
        res["cpu_ratio_per_round"] = [a["cpu_tree_s"] / b["cpu_tree_s"] for a, b in zip(runs["this"], runs["other"])]
    path = C.RESULTS / "mosaic_end_to_end.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    saved[args.label] = res
    C.RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(saved, indent=1, default=float))
    print(json.dumps({k: v for k, v in res.items() if k not in trees}, default=float))
    for name in trees:
        print(name, {k: v for k, v in res[name].items() if k != "runs"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=690)
    ap.add_argument("--baseline", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--baseline-only", action="store_true", help="only time tweakwcs' align_wcs")
    ap.add_argument("--end-to-end", action="store_true", help="time `tweakgui align` from the files on disk")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the end-to-end command")
    ap.add_argument("--profile", action="store_true", help="one more end-to-end run under py-spy")
    ap.add_argument("--label", default="latest", help="key of the end-to-end figures in the results")
    ap.add_argument("--other", type=Path, help="another tweakgui checkout, run in the same rounds (end-to-end)")
    args = ap.parse_args()
    if args.end_to_end:
        end_to_end(args)
        return
    d = C.BENCH_DIR / f"ceers_{args.n}"
    if not (d / "visit.pkl").is_file():
        M.prepare(d, n=args.n)
    files = M.files(args.n)
    from tweakgui.engine.io.jwst import read_wcs_exposure

    t0 = time.perf_counter()
    for f in files[:20]:
        read_wcs_exposure(f)
    read_per_file = (time.perf_counter() - t0) / 20
    visit, truth = M.load(d / "visit.pkl")
    for e in visit.exposures:
        e.group_id = e.root
    if args.baseline_only:
        t = baseline(visit, truth, args.baseline)
        C.save(f"mosaic_baseline_{args.baseline}", {"machine": C.machine(), "images": args.baseline,
                                                    "align_wcs_s": t})
        print(f"tweakwcs align_wcs, {args.baseline} images, whole catalog: {t:.1f} s")
        return
    params = TweakRegParams(abs_refcat=str(M.REFCAT), **M.CEERS_PARAMS)
    sampler = C.TreeSampler(os.getpid())
    sampler.start()
    c0, t0 = cpu(), time.perf_counter()
    stages = {}

    def progress(stage, done, total, msg):
        if stage != "detect":
            stages[f"{stage}_{done}"] = time.perf_counter() - t0

    result = pipeline.run(Visit(visit.exposures), params, progress=progress, jobs=args.jobs, cache=None)
    wall, cpu_s = time.perf_counter() - t0, cpu() - c0
    sampler.stop()
    errs = M.errors_mas(result, truth)
    pre = {e.name: M.errors_mas(type("R", (), {"images": [type("I", (), {"new_wcs": [e.chips[0].wcs],
                                                                          "exposure": e})()]})(), truth)[e.name]
           for e in visit.exposures}
    v = np.array(list(errs.values()))
    out = {
        "machine": C.machine(), "n_images": len(visit.exposures), "wall_s": wall, "cpu_s": cpu_s,
        "relative_s": stages.get("relative_1", 0) - stages.get("relative_0", 0),
        "absolute_s": stages.get("absolute_1", 0) - stages.get("absolute_0", 0),
        "peak_rss_tree_mb": sampler.peak_total / 2**20,
        "read_wcs_file_s": read_per_file,
        "n_success": sum(r.status == "SUCCESS" for r in result.images),
        "error_median_mas": float(np.median(v)), "error_p95_mas": float(np.percentile(v, 95)),
        "error_max_mas": float(v.max()), "pre_fit_median_mas": float(np.median(list(pre.values()))),
    }
    if args.baseline:
        out["baseline_images"] = args.baseline
        out["baseline_align_wcs_s"] = baseline(visit, truth, args.baseline)
    C.save(f"mosaic_{args.n}", out)
    for k, val in out.items():
        print(f"{k}: {val}")


if __name__ == "__main__":
    main()
