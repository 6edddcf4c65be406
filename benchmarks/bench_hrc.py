"""Real ACS/HRC frames of 47 Tuc: tweakgui's defaults against drizzlepac TweakReg's, side by side.

The four frames of ``../shared/data/hst-acs-hrc-47tuc/derived`` get the
injected pointing errors of ``tests/realdata/hrc_truth.py`` (first frame
unperturbed: the relative reference); both tools align the same copies with
their defaults, relative only, in one session, alternating, ``--repeat``
times.  Accuracy is the RMS sky distance over each chip from the consensus
truth of ``hrc_truth``; times are wall times of the whole command (tweakgui)
and of the ``TweakReg`` call (drizzlepac, in the peers venv; its import is
not counted).  With ``--baseline DIR`` (another checkout of tweakgui) that
tree's command runs too, in the same rounds.  Writes
``benchmarks/results/hrc_47tuc.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "realdata"))
import hrc_truth as H  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

DERIVED = ROOT.parent / "shared" / "data" / "hst-acs-hrc-47tuc" / "derived"
PEERS = Path("/opt/peers/bin/python")
DRIZZLEPAC = """
import sys, time
from drizzlepac import tweakreg
t, c = time.perf_counter(), time.process_time()
tweakreg.TweakReg(sys.argv[1:], updatewcs=False, updatehdr=True, wcsname="TWEAK", interactive=False,
                  see2dplot=False, residplot="No plot", shiftfile=False, clean=True, verbose=False)
print("SECONDS", time.perf_counter() - t)
print("CPU", time.process_time() - c)
"""


def _copies(d: Path) -> list[str]:
    d.mkdir(parents=True)
    names = []
    for k, (p, (shift, rot)) in enumerate(zip(H.frame_paths(DERIVED), H.PERTURBATIONS)):
        if k == 0:
            shift, rot = (0.0, 0.0), 0.0
        H.perturb(p, d / p.name, shift, rot)
        names.append(p.name)
    return names


def _errors(paths, truth):
    out = []
    for p, t in zip(paths, truth):
        with fits.open(p) as h:
            out.append(round(H.wcs_error_mas(WCS(h["SCI"].header, h), t), 3))
    return out


def _tweakgui(work: Path, names, out: Path, tree: Path | None = None) -> tuple[float, float, dict]:
    """Wall and CPU seconds of the whole command (this checkout, or ``tree``), and its report."""
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    c0 = _children_cpu()
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "tweakgui", "align", *[str(work / "ours" / n) for n in names],
                        "--output_dir", str(out)], capture_output=True, text=True, cwd=tree, env=env)
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    return wall, _children_cpu() - c0, json.loads((out / "tweakreg_report.json").read_text())


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="another tweakgui checkout, run in the same rounds")
    args = ap.parse_args(argv)
    truth, _ = H.consensus(DERIVED)
    runs = []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp())
        names = _copies(work / "ours")
        shutil.copytree(work / "ours", work / "drizzlepac")
        ours_s, ours_cpu, report = _tweakgui(work, names, work / "out")
        if args.baseline:
            base_s, base_cpu, _ = _tweakgui(work, names, work / "out_baseline", args.baseline.resolve())
        d = subprocess.run([str(PEERS), "-c", DRIZZLEPAC, *names], cwd=work / "drizzlepac", capture_output=True,
                           text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        assert d.returncode == 0, d.stderr[-2000:]
        dz_s = float([ln for ln in d.stdout.splitlines() if ln.startswith("SECONDS")][-1].split()[1])
        dz_cpu = float([ln for ln in d.stdout.splitlines() if ln.startswith("CPU")][-1].split()[1])
        runs.append({
            "tweakgui_seconds": round(ours_s, 2), "tweakgui_cpu_seconds": round(ours_cpu, 2),
            "drizzlepac_seconds": round(dz_s, 2), "drizzlepac_cpu_seconds": round(dz_cpu, 2),
            "ratio": round(ours_s / dz_s, 3),
            **({"baseline_seconds": round(base_s, 2), "baseline_cpu_seconds": round(base_cpu, 2),
                "baseline_ratio": round(base_s / dz_s, 3)} if args.baseline else {}),
            "tweakgui_mas": _errors([im["output"] for im in report["images"]], truth),
            "drizzlepac_mas": _errors([work / "drizzlepac" / n for n in names], truth),
        })
        shutil.rmtree(work, ignore_errors=True)
    out = {"frames": list(H.FRAMES), "runs": runs, "cores": os.cpu_count(),
           **({"baseline_tree": str(args.baseline)} if args.baseline else {}),
           "load": os.getloadavg()[0], "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = ROOT / "benchmarks" / "results" / "hrc_47tuc.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
