"""Peak memory of ``tweakgui align`` on a 100-image visit of 2048x2048 frames (defaults).

Builds (once) the 100-image synthetic visit, runs ``tweakgui align`` with its
default settings (parallel detection on all cores) and samples the RSS of
the whole process tree every 20 ms: the sum over all processes (main and
detection workers) and the largest single process.  Also the alignment
error against the truth.

Usage: python benchmarks/bench_memory.py [--n 100]
"""

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import _common as C


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    d = C.visit(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        m = C.run_measured([C.PY, "-m", "tweakgui", "align", f"@{d / 'images.lst'}", "--abs_refcat",
                            str(d / "refcat.ecsv"), "--output_dir", str(out), "--quiet"])
        errs = C.errors_mas(C.tweakgui_output_wcs(out, d), d)
        report = json.loads((out / "tweakreg_report.json").read_text())
        shutil.rmtree(out, ignore_errors=True)
    m.pop("output")
    res = {"machine": C.machine(), "images": args.n, **m, **C.summary(errs),
           "failed": [im["input"] for im in report["images"] if im["status"] == "FAILED"]}
    C.save(f"memory_{args.n}x2048", res)
    for k, v in res.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
