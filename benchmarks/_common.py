"""Shared helpers of the benchmarks: synthetic visits with their truth, measured runs, accuracy.

Run the benchmarks from the repository root, e.g. ``python benchmarks/bench_visit.py``.
Visits are written once under ``$TWEAKGUI_BENCH_DIR`` (default
``/tmp/tweakgui-bench``) and reused.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from astropy.io import fits
from astropy.wcs import WCS

from tweakgui.engine.synthetic import make_demo_visit, wcs_error_mas

BENCH_DIR = Path(os.environ.get("TWEAKGUI_BENCH_DIR", "/tmp/tweakgui-bench"))
RESULTS = Path(__file__).resolve().parent / "results"


def visit(n_images: int, shape=(2048, 2048), seed=3) -> Path:
    """A synthetic HST-like visit (stars, galaxies, cosmic rays, a NaN column, DQ flags).

    Written once to ``BENCH_DIR/visit_<n>x<size>_s<seed>`` with ``images.lst``,
    ``refcat.ecsv`` and ``truth.json`` (the true WCS header of every image).
    """
    d = BENCH_DIR / f"visit_{n_images}x{shape[0]}_s{seed}"
    if (d / "truth.json").is_file():
        return d
    demo = make_demo_visit(d, n_images=n_images, shape=shape, seed=seed)
    truth = {name: [w.to_header(relax=True).tostring() for w in ws] for name, ws in demo.truth.items()}
    (d / "truth.json").write_text(json.dumps({"shape": list(shape), "truth": truth}))
    return d


def truth_of(d: Path) -> tuple[dict, tuple]:
    t = json.loads((d / "truth.json").read_text())
    return ({k: [WCS(fits.Header.fromstring(h)) for h in v] for k, v in t["truth"].items()},
            tuple(t["shape"]))


def errors_mas(wcs_by_name: dict, d: Path) -> dict:
    """RMS error (mas, 11x11 grid) of each image's WCS against the truth."""
    truth, shape = truth_of(d)
    return {name: wcs_error_mas(wcs_by_name[name], truth[name][0], shape) for name in truth}


def tweakgui_output_wcs(out_dir: Path, d: Path) -> dict:
    """WCS of ``<root>_tweakreg.fits`` written by ``tweakgui align`` for each input."""
    truth, _ = truth_of(d)
    out = {}
    for name in truth:
        root = name.replace("_flt.fits", "")
        with fits.open(out_dir / f"{root}_tweakreg.fits") as h:
            out[name] = WCS(h["SCI", 1].header, h)
    return out


class TreeSampler(threading.Thread):
    """Peak RSS of a process and all its descendants, sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.02):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_single = 0
        self.peak_procs = 0
        self._cpu: dict[int, float] = {}  # last CPU time (user + system) seen of every process
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                        t = p.cpu_times()
                        self._cpu[p.pid] = t.user + t.system
                    except psutil.Error:
                        pass
                if rss:
                    self.peak_total = max(self.peak_total, sum(rss))
                    self.peak_single = max(self.peak_single, max(rss))
                    self.peak_procs = max(self.peak_procs, len(rss))
            except psutil.Error:
                pass
            self._halt.wait(self.interval)

    @property
    def cpu_total(self) -> float:
        """CPU seconds of every process of the tree (workers of a forkserver included), as last seen."""
        return sum(self._cpu.values())

    def stop(self):
        self._halt.set()
        self.join()


def run_measured(cmd: list[str], cwd=None, env=None) -> dict:
    """Run ``cmd``; wall time, CPU time of the tree and peak RSS (sum over the tree and largest process)."""
    before = _children_cpu()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = TreeSampler(p.pid)
    sampler.start()
    out, _ = p.communicate()
    wall = time.perf_counter() - t0
    sampler.stop()
    if p.returncode not in (0,):
        raise RuntimeError(f"{cmd[:3]}... exited {p.returncode}:\n{out[-3000:]}")
    return {"wall_s": wall, "cpu_s": _children_cpu() - before, "cpu_tree_s": sampler.cpu_total,
            "peak_rss_tree_mb": sampler.peak_total / 2**20,
            "peak_rss_process_mb": sampler.peak_single / 2**20,
            "max_processes": sampler.peak_procs, "output": out}


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def machine() -> dict:
    return {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "load_avg_1m": os.getloadavg()[0], "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    p = RESULTS / f"{name}.json"
    p.write_text(json.dumps(data, indent=1, default=float))
    return p


def summary(errs: dict) -> dict:
    v = np.array(list(errs.values()))
    return {"median_mas": float(np.median(v)), "max_mas": float(v.max())}


PY = sys.executable
