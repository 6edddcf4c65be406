"""Where the time of ``tweakgui align`` goes, stage by stage, against each stage's floor.

Two views of the same command (defaults), on the synthetic visit of
``bench_visit.py`` (``visit``) or on perturbed copies of the four real
ACS/HRC frames of ``bench_hrc.py`` (``hrc``):

1. **CPU per stage**, in one process (``--jobs 1``): the stages are timed by
   wrapping the engine's functions (exclusive times: a stage nested in
   another is charged to itself only).  Start-up is the interpreter and the
   imports of everything the run needs, measured in a fresh process.
2. **Wall timeline** of the real command (default jobs: detection in worker
   processes), from the timestamps of its ``--log``.

Floors, measured here on the same files and arrays:

- start-up and imports: ``python -c "import numpy, astropy.io.fits"``; the row
  itself is the interpreter's start plus the imports of every module a run
  of the same command imports (lazy ones included);
- reading headers: ``astropy.io.fits`` opening every input and building its
  ``astropy.wcs.WCS`` (what any aligner must do);
- reading pixels: ``numpy.fromfile`` of the SCI and DQ bytes, converted to
  native float32 (page cache warm, as in the run);
- background: ``sep.Background`` (3x3 filter, box ``bkg_boxsize``) and its
  two maps on the same array (one mesh pass);
- detection: one convolution (``scipy.ndimage.convolve``) of the frame with
  the default finder's kernel (every finder filters the image at least once);
- matching: one KD-tree nearest-neighbour pass of every chip's sources
  against its reference list, per stage;
- fitting: one least-squares solve on the matched pairs, per group;
- writing: ``numpy.ndarray.tofile`` of the same bytes as the outputs, with
  ``fsync``, in the output directory.

Usage: python benchmarks/profile_stages.py visit|hrc [--repeat 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable

# (label, module, function): exclusive CPU and wall time of each call is charged to label
WRAPPED = [
    ("reading headers", "tweakgui.engine.visit", "load_visit"),
    ("checks before the run", "tweakgui.cli", "_check_paths"),
    ("checks before the run", "tweakgui.cli", "_check_archivable"),
    ("reference catalog", "tweakgui.engine.pipeline", "load_refcat"),
    ("reading pixels", "tweakgui.engine.detect.chip", "read_pixels"),
    ("background", "tweakgui.engine.detect.finders", "mesh_background"),
    ("detection", "tweakgui.engine.detect.finders", "detect_sources"),
    ("matching", "tweakgui.engine.fit.group", "_coarse"),
    ("matching", "tweakgui.engine.fit.group", "_match_all"),
    ("matching", "tweakgui.engine.fit.group", "_pattern"),
    ("fitting", "tweakgui.engine.fit.group", "_fit_with_fallback"),
    ("verdict", "tweakgui.engine.fit.group", "_finish"),
    ("fit bookkeeping (correctors, WCS)", "tweakgui.engine.pipeline", "_relative_stage"),
    ("fit bookkeeping (correctors, WCS)", "tweakgui.engine.pipeline", "_absolute_stage"),
    ("results (corrections)", "tweakgui.engine.pipeline", "_image_result"),
    ("writing", "tweakgui.engine.outputs.save", "save_visit_outputs"),
]
ORDER = ["start-up and imports", "reading headers", "checks before the run", "reference catalog",
         "reading pixels", "background", "detection", "matching", "fitting", "verdict",
         "fit bookkeeping (correctors, WCS)", "results (corrections)", "writing", "other"]


# ---------------------------------------------------------------- inputs

def visit_inputs(n: int) -> tuple[list[str], Path]:
    sys.path.insert(0, str(HERE))
    import _common as C

    d = C.visit(n)
    return [f"@{d / 'images.lst'}", "--abs_refcat", str(d / "refcat.ecsv")], d


def hrc_inputs(work: Path) -> tuple[list[str], Path]:
    sys.path.insert(0, str(ROOT / "tests" / "realdata"))
    import hrc_truth as H

    derived = ROOT.parent / "shared" / "data" / "hst-acs-hrc-47tuc" / "derived"
    d = work / "hrc"
    d.mkdir(parents=True, exist_ok=True)
    names = []
    for k, (p, (shift, rot)) in enumerate(zip(H.frame_paths(derived), H.PERTURBATIONS)):
        if k == 0:
            shift, rot = (0.0, 0.0), 0.0
        H.perturb(p, d / p.name, shift, rot)
        names.append(str(d / p.name))
    return names, d


def input_files(args: list[str]) -> list[Path]:
    out = []
    for a in args:
        if a.startswith("--"):
            break
        if a.startswith("@"):
            lst = Path(a[1:])
            out += [lst.parent / n.strip() for n in lst.read_text().splitlines() if n.strip()]
        else:
            out.append(Path(a))
    return out


# ---------------------------------------------------------------- 1. CPU per stage, one process

class _Clock:
    """Exclusive CPU and wall time per label over nested wrapped calls."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[list] = []

    def wrap(self, label, fn):
        def timed(*a, **k):
            c0, w0 = time.process_time(), time.perf_counter()
            self.stack.append([0.0, 0.0])
            try:
                return fn(*a, **k)
            finally:
                inner_c, inner_w = self.stack.pop()
                dc, dw = time.process_time() - c0, time.perf_counter() - w0
                self.cpu[label] = self.cpu.get(label, 0.0) + dc - inner_c
                self.wall[label] = self.wall.get(label, 0.0) + dw - inner_w
                self.calls[label] = self.calls.get(label, 0) + 1
                if self.stack:
                    self.stack[-1][0] += dc
                    self.stack[-1][1] += dw
        return timed


def inner(argv: list[str]) -> None:
    """Run in a fresh process: the imports of a run, then the align command in-process with stage clocks.

    The modules are those a first run of the same command imported (``--modules``
    printed them), in the order it imported them; lazy imports are then part
    of the start-up row, not of the stage that first needed them.
    """
    import importlib

    modules = json.loads(Path(os.environ["TWEAKGUI_PROFILE_MODULES"]).read_text())
    c0, w0 = time.process_time(), time.perf_counter()
    for m in modules:
        try:
            importlib.import_module(m)
        except Exception:  # __main__ of the first run and the like
            pass
    imports = (time.process_time() - c0, time.perf_counter() - w0)
    n_modules = len(sys.modules)
    try:  # what ``tweakgui align`` does as a process (cli.main with argv None)
        from tweakgui.engine.processes import keep_freed_memory

        keep_freed_memory()
    except ImportError:  # a tree from before it
        pass
    clock = _Clock()
    for label, mod, fn in WRAPPED:
        m = importlib.import_module(mod)
        setattr(m, fn, clock.wrap(label, getattr(m, fn)))
    from tweakgui import cli
    from tweakgui.engine.detect import parallel

    n_sources = []
    detect_chip = parallel.detect_chip

    def counted(*a, **k):
        cat = detect_chip(*a, **k)
        n_sources.append(len(cat))
        return cat
    parallel.detect_chip = counted
    c1, w1 = time.process_time(), time.perf_counter()
    rc = cli.main(["align", *argv, "--jobs", "1", "--quiet"])
    total = (time.process_time() - c1, time.perf_counter() - w1)
    clock.cpu["other"] = total[0] - sum(clock.cpu.values())
    clock.wall["other"] = total[1] - sum(clock.wall.values())
    print("STAGES " + json.dumps({"rc": rc, "imports": imports, "run": total, "cpu": clock.cpu,
                                  "wall": clock.wall, "calls": clock.calls, "n_sources": n_sources,
                                  "modules_imported_during_run": len(sys.modules) - n_modules}))


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmd: list[str], env=None) -> tuple[float, float, str]:
    """(wall, CPU of the process tree, stdout) of a command."""
    c0, w0 = _child_cpu(), time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - w0, _child_cpu() - c0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:4]} exited {p.returncode}: {p.stderr[-2000:]}")
    return wall, cpu, p.stdout


def run_modules(argv: list[str]) -> None:
    """Run the command in-process (``--jobs 1``); print the modules it imported, in import order."""
    from tweakgui import cli

    cli.main(["align", *argv, "--jobs", "1", "--quiet"])
    print("MODULES " + json.dumps([m for m in sys.modules if m not in ("__main__", "__mp_main__")]))


def stage_cpu(args: list[str], out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    _, _, stdout = measure([PY, __file__, "--modules", *args, "--output_dir", str(out)])
    modules = out.parent / "modules.json"
    modules.write_text(stdout.split("MODULES ", 1)[1])
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "TWEAKGUI_PROFILE_MODULES": str(modules)}
    wall, cpu, stdout = measure([PY, __file__, "--inner", *args, "--output_dir", str(out)], env=env)
    line = next(ln for ln in stdout.splitlines() if ln.startswith("STAGES "))
    res = json.loads(line[len("STAGES "):])
    bare = measure([PY, "-c", "pass"])
    # start-up: the interpreter (python -c pass) and the imports, measured by the process itself
    res["cpu"]["start-up and imports"] = bare[1] + res["imports"][0]
    res["wall"]["start-up and imports"] = bare[0] + res["imports"][1]
    res["process"] = {"wall_s": wall, "cpu_s": cpu}
    return res


# ---------------------------------------------------------------- floors

def _best(fn, n=3) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(n):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        best = min(best, (time.process_time() - c0, time.perf_counter() - w0))
    return best


def floors(files: list[Path], out_dir: Path, result: dict) -> dict:
    """Floor of each stage (CPU s, wall s) on these files; see the module docstring."""
    import numpy as np
    import sep
    from astropy.io import fits
    from astropy.wcs import WCS
    from scipy.ndimage import convolve
    from scipy.spatial import cKDTree

    f: dict[str, tuple[float, float]] = {}
    runs = [measure([PY, "-c", "import numpy, astropy.io.fits"]) for _ in range(3)]
    f["start-up and imports"] = (min(r[1] for r in runs), min(r[0] for r in runs))

    def headers():
        for p in files:
            with fits.open(p) as h:
                WCS(h["SCI"].header, h)
    f["reading headers"] = _best(headers, 2)

    spans = []
    for p in files:
        with fits.open(p) as h:
            for ext in ("SCI", "DQ"):
                hdu = h[ext]
                spans.append((p, hdu._data_offset, hdu.data.dtype, hdu.data.shape))

    def read():
        for p, off, dt, shape in spans:
            a = np.fromfile(p, dtype=dt, count=int(np.prod(shape)), offset=off)
            if dt.kind == "f":
                a.astype(np.float32)
    f["reading pixels"] = _best(read)

    arrays = []
    for p in files:
        with fits.open(p) as h:
            data = np.ascontiguousarray(h["SCI"].data, dtype=np.float32)
            arrays.append((data, (h["DQ"].data != 0).astype(np.uint8)))
    box = min(400, *arrays[0][0].shape)  # bkg_boxsize

    def background():
        for data, bad in arrays:
            b = sep.Background(data, mask=bad, bw=box, bh=box, fw=3, fh=3)
            b.back(), b.rms()
    f["background"] = _best(background)
    try:
        from tweakgui.engine.detect.starfind import star_kernel
    except ImportError:  # a tree from before it (profiling the old code)
        from photutils.detection import IRAFStarFinder

        def star_kernel(fwhm, sigma_radius):
            return IRAFStarFinder(1.0, fwhm, sigma_radius=sigma_radius).kernel
    kernel = star_kernel(2.5, 1.5).data.astype(np.float32)  # the default finder's filter

    def detection():
        for data, _ in arrays:
            convolve(data, kernel, mode="constant", cval=0.0)
    f["detection"] = _best(detection)

    rng = np.random.default_rng(1)
    n_src = result.get("n_sources", [1000] * len(files))
    pts = [rng.uniform(0, 2048, (n, 2)) for n in n_src]

    def matching():
        for stage in range(result.get("n_stages", 2)):
            for xy in pts[1:] if stage == 0 else pts:
                cKDTree(pts[0]).query(xy, distance_upper_bound=3.0)
    f["matching"] = _best(matching)

    def fitting():
        for xy in pts[1:]:
            a = np.column_stack([xy, np.ones(len(xy))])
            np.linalg.lstsq(a, xy, rcond=None)
    f["fitting"] = _best(fitting)

    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = [p.stat().st_size for p in files]
    blob = np.zeros(max(sizes), np.uint8)

    def writing():
        for k, s in enumerate(sizes):
            t = out_dir / f"floor{k}.bin"
            with open(t, "wb") as fh:
                blob[:s].tofile(fh)
                fh.flush()
                os.fsync(fh.fileno())
            t.unlink()
    f["writing"] = _best(writing, 2)
    return {k: {"cpu_s": v[0], "wall_s": v[1]} for k, v in f.items()}


# ---------------------------------------------------------------- 2. wall timeline of the real command

_MARKS = [
    ("start-up, imports, reading headers, checks", r"tweakgui\.engine\.detect\.visit INFO: detecting sources"),
    ("detection (worker processes)", r"tweakgui\.engine\.detect\.visit INFO: .*: \d+ sources"),
    ("fits (relative, absolute)", r"tweakgui\.engine\.pipeline INFO: .*: (SUCCESS|FAILED|REFERENCE)"),
    ("writing", r"tweakgui\.engine\.outputs\.save INFO: wrote"),
]


def timeline(args: list[str], out: Path, logfile: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    logfile.unlink(missing_ok=True)
    t0 = time.time()
    wall, cpu, _ = measure([PY, "-m", "tweakgui", "align", *args, "--output_dir", str(out), "--quiet",
                            "--log", str(logfile)])
    end = t0 + wall
    stamps = []
    for ln in logfile.read_text().splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)", ln)
        if m:
            stamps.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), m.group(2)))
    phases, prev = {}, t0
    for label, pattern in _MARKS:
        hits = [t for t, msg in stamps if re.search(pattern, msg)]
        if not hits:
            continue
        last = hits[0] if label.startswith("start-up") else hits[-1]
        phases[label] = max(0.0, last - prev)
        prev = last
    phases["exit"] = max(0.0, end - prev)
    return {"wall_s": wall, "cpu_s": cpu, "phases_s": phases}


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", choices=("visit", "hrc"))
    ap.add_argument("--n", type=int, default=8, help="images of the synthetic visit")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tweakgui-profile-"))
    try:
        args, _ = visit_inputs(a.n) if a.case == "visit" else hrc_inputs(work)
        stages = [stage_cpu(args, work / "out1") for _ in range(a.repeat)]
        lines = [timeline(args, work / "out2", work / "run.log") for _ in range(a.repeat)]
        fl = floors(input_files(args), work / "floors", {"n_stages": 2 if a.case == "visit" else 1,
                                                         "n_sources": stages[0]["n_sources"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {"case": a.case, "load_avg_1m": os.getloadavg()[0], "stage_runs": stages, "timelines": lines,
           "floors": fl}
    _print(res)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return res


def _print(res):
    import numpy as np

    runs = res["stage_runs"]
    print(f"\n{res['case']}: CPU per stage, one process (--jobs 1), median of {len(runs)}; load {res['load_avg_1m']:.1f}")
    print(f"| stage | CPU s | wall s | floor CPU s | floor wall s |\n|---|---|---|---|---|")
    for k in ORDER:
        cpu = [r["cpu"].get(k, 0.0) for r in runs]
        wall = [r["wall"].get(k, 0.0) for r in runs]
        fl = res["floors"].get(k)
        fcol = f"{fl['cpu_s']:.2f} | {fl['wall_s']:.2f}" if fl else "– | –"
        print(f"| {k} | {np.median(cpu):.2f} | {np.median(wall):.2f} | {fcol} |")
    tot = [r["process"]["cpu_s"] for r in runs]
    print(f"| whole process | {np.median(tot):.2f} | {np.median([r['process']['wall_s'] for r in runs]):.2f} | | |")
    print(f"\nwall timeline of the real command (default jobs), {len(res['timelines'])} runs:")
    for t in res["timelines"]:
        ph = ", ".join(f"{k} {v:.2f}" for k, v in t["phases_s"].items())
        print(f"  wall {t['wall_s']:.2f} s, CPU {t['cpu_s']:.2f} s: {ph}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--modules":
        run_modules(sys.argv[2:])
    else:
        main()
